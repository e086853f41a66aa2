"""A real `snakemake --report` after a config change, without running the jobs (issue 25, items 5-7, 17).

The report is built from the files that exist and says on its first screen that they are OUT OF
DATE: after a grid value is added (it stopped with "marked for report but does not exist"), after
a training setting is changed (it showed the old numbers without a word), after a fold's results
are deleted. All cases read the one finished tiny run of the session (conftest.tiny_run); only the
deletion works on a copy of it.
"""

import html
import re
import shutil

import pytest
import yaml
from conftest import TINY, copy_run, run_snakemake, write_colour_classes

pytestmark = pytest.mark.slow

RUN = "results/runs/digits/resnet10t/1p1/honest/seed0"


def config_with(tmp_path, change) -> str:
    cfg = yaml.safe_load(TINY.read_text())
    change(cfg, tmp_path)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def report(workdir, tmp_path, config=TINY) -> str:
    """`snakemake --report` in ``workdir`` (rc 0 or the test fails with its output): the text of its
    first screen's warning, "" when it has none."""
    out = tmp_path / "report.html"
    proc = run_snakemake(workdir, "--report", str(out), config=config, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Report created" in proc.stderr and out.stat().st_size > 100_000
    text = out.read_text()
    warnings = re.findall(r'admonition warning.*?<p class=\\"last\\">(.*?)</p>', text)
    assert len(warnings) <= 1
    return html.unescape(re.sub(r"<[^>]+>", "", warnings[0])) if warnings else ""


def test_a_finished_run_reports_no_warning(tiny_run, tmp_path):
    """The recorded settings of every round equal what the unchanged config asks: no false alarm."""
    assert report(tiny_run, tmp_path) == ""


def add_threshold(cfg, tmp_path):
    cfg["proxy"]["proxy_threshold"] = [0.5, 0.7]


def add_seed(cfg, tmp_path):
    cfg["seeds"] = [0, 1]


def add_dataset(cfg, tmp_path):
    write_colour_classes(tmp_path / "colours", per_class=4, noise=60, strength=0.7)
    cfg["datasets"]["colours"] = {"type": "folder", "path": str(tmp_path / "colours")}


@pytest.mark.parametrize(
    "change, lacking, left_out",
    [
        # the new configuration's proxy and matched runs, 2 folds; its proxy gallery
        (add_threshold, "4 of the 10 runs", "proxy_threshold~0.7"),
        (add_seed, "6 of the 12 runs", "seed1/fold0/explain_gallery.png"),
        # a new dataset's data rules stay out of the report's DAG (its index is a report item too)
        (add_dataset, "6 of the 12 runs", "results/runs/colours/resnet10t/1p1/honest/seed0/fold0/explain_gallery.png"),
    ],
    ids=["grid value", "seed", "dataset"],
)
def test_an_added_grid_value_gives_an_out_of_date_report(tiny_run, tmp_path, change, lacking, left_out):
    """Issue 25 item 5: rc 1 and "File ... marked for report but does not exist" before."""
    warning = report(tiny_run, tmp_path, config_with(tmp_path, change))
    assert warning.startswith("OUT OF DATE: these results do not match the current config."), warning
    assert f"{lacking} the current config asks for are not in it" in warning, warning
    assert "do not exist yet and are left out of this report" in warning and left_out in warning, warning
    assert warning.endswith("run snakemake --cores N, then rebuild the report."), warning


def test_a_changed_training_setting_gives_an_out_of_date_report(tiny_run, tmp_path):
    """Issue 25 item 6: `snakemake -n` plans every training job again; the report said nothing."""
    warning = report(tiny_run, tmp_path, config_with(tmp_path, lambda cfg, _: cfg["training"].update(label_smoothing=0.1)))
    assert warning.startswith("OUT OF DATE"), warning
    # every run of the 2 folds: baseline, proxy, matched baseline
    assert "6 runs in it were trained with other settings than the current config asks for" in warning, warning
    assert "label_smoothing 0.0 -> 0.1" in warning, warning
    assert "not in it" not in warning and "left out" not in warning, warning  # the same runs, the same files


def test_a_deleted_fold_gives_an_out_of_date_report(tiny_run, tmp_path):
    """Issue 25 item 7: `rm -rf .../fold1`, then the report showed fold 1's numbers from runs.csv."""
    work = tmp_path / "work"
    copy_run(tiny_run, work)
    shutil.rmtree(work / RUN / "fold1")
    warning = report(work, tmp_path)
    assert warning.startswith("OUT OF DATE"), warning
    assert "the result files of 3 runs in it no longer exist (deleted?)" in warning, warning
    assert f"{RUN}/fold1/" in warning and f"{RUN}/fold1/explain_gallery.png" in warning, warning


def test_report_after_run_still_plans_every_target(tiny_run, tmp_path):
    """`--report FILE --report-after-run` runs the jobs first: its targets are not cut to what exists."""
    config = config_with(tmp_path, add_threshold)
    proc = run_snakemake(tiny_run, "-n", "--report", str(tmp_path / "r.html"), "--report-after-run",
                         config=config, check=False)
    plan = proc.stdout.split("Job stats:")[1] if "Job stats:" in proc.stdout else ""
    assert re.search(r"^plot_gallery\s+1$", plan, re.M) and re.search(r"^train_proxy\s+2$", plan, re.M), proc.stdout[-3000:]


def test_a_report_before_any_run_says_no_comparison_yet(tmp_path):
    """Nothing run yet: the report says so (it stopped at the first missing file before)."""
    out = tmp_path / "report.html"
    proc = run_snakemake(tmp_path / "work", "--report", str(out), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "No comparison yet" in text and "OUT OF DATE" not in text
