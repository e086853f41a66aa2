"""The HTML report as a person sees it: a tiny run, `snakemake --report`, headless Chromium.

Fails when the page raises a JavaScript error, a figure is missing or does not display,
or the first screen does not answer the question. Skips only when Chromium is not
installed and cannot be installed (Debian: apt-get install -y chromium).
"""

import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake, write_colour_classes
from report_check import check_report, embedded_results, find_chromium

pytestmark = pytest.mark.slow

FIGURES = ["comparison.html", "paired_differences.svg", "heatmap.svg", "confusion.svg", "learning_curves.svg",
           "proxy_counts.svg", "test_accuracy.svg", "classes.svg", "runtime.svg", "data_report.csv",
           "comparison.csv", "paired_differences.csv", "runs.csv", "epochs.csv"]


def chromium_or_skip() -> str:
    path = find_chromium()
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(cmd, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
            subprocess.run(cmd, capture_output=True, env=env, timeout=900)
        path = find_chromium()
    if path is None:
        pytest.skip("chromium is not installed and could not be installed (apt-get install -y chromium)")
    return path


def snakemake(workdir, config, *args):
    return run_snakemake(workdir, *args, config=config)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A finished tiny run (3 colour classes, 2 folds, [1, p, 1], two proxy configurations) and its report."""
    chromium = chromium_or_skip()
    root = tmp_path_factory.mktemp("report")
    write_colour_classes(root / "images", per_class=14, noise=120, strength=0.5)
    config = {
        "datasets": {"colours": {"type": "folder", "path": str(root / "images")}},
        "models": ["resnet10t"],
        "cam_target_layer": {"resnet10t": "layer3"},  # 2x2 at 32 px
        "folds": 2,
        "test_fraction": 0.25,
        "img_size": 32,
        "schedules": [[1, "p", 1]],
        "threads": 1,
        "training": {"batch_size": 16},
        "proxy": {"cam_method": ["gradcam"], "proxy_threshold": [0.3, 0.6], "proxy_image_weight": [0.5]},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    work = root / "work"
    snakemake(work, root / "config.yaml")
    snakemake(work, root / "config.yaml", "--report", "results/report.html")
    return work, chromium


def test_report_renders_without_errors_and_answers_first(report, tmp_path):
    work, chromium = report
    res = check_report(work / "results/report.html", tmp_path, expect_text=["Does Proxy Attention help?",
                       "against baseline", "How to read this"], expect_files=FIGURES, chromium=chromium)
    assert res.problems == []
    assert (tmp_path / "first_screen.png").stat().st_size > 10_000
    # every embedded figure displayed with a real size
    # 8 figures of the run, 2 proxy galleries (one per configuration), and the explainability
    # figures: a CAM gallery per fold (2) and explain-vs-accuracy
    assert len(res.images) == 13 and all(i["width"] > 50 and i["height"] > 50 for i in res.images)
    assert sum("/gallery/" in i["path"] for i in res.images) == 2
    assert sum(i["path"].endswith("explain_gallery.png") for i in res.images) == 2
    # the answer's numbers are comparison.csv's
    comp = pd.read_csv(work / "results/summary/comparison.csv")
    ref = comp[comp["method"] == "baseline"].iloc[0]
    assert f"baseline: {100 * ref['mean']:.1f}%" in res.text
    for row in comp[comp["method"] == "proxy"].itertuples():
        assert f"{100 * row.mean_diff:+.1f} pp" in res.text


def test_report_check_fails_on_a_script_error_and_a_broken_figure(report, tmp_path):
    work, chromium = report
    html = (work / "results/report.html").read_text()
    results = embedded_results(html)
    svg = next(p for p in results if p.endswith("heatmap.svg"))
    broken = html.replace(results[svg]["data_uri"], "data:image/svg+xml;base64,AAAA", 1)
    end = broken.rfind("</body>")
    broken = broken[:end] + "<script>undefinedFunction();</script>" + broken[end:]
    (tmp_path / "broken.html").write_text(broken)
    res = check_report(tmp_path / "broken.html", expect_text=["Does Proxy Attention help?"],
                       expect_files=FIGURES + ["no_such_figure.svg"], chromium=chromium)
    text = "\n".join(res.problems)
    assert "undefinedFunction" in text
    assert "heatmap.svg: not an SVG" in text and "heatmap.svg: image does not display" in text
    assert "missing from the report: no_such_figure.svg" in text
