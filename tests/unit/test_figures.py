"""The report's figures and texts from synthetic tables: files written, right content, numbers traceable."""

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from proxy_attention.analysis.answer import answer_rst, comparison_html
from proxy_attention.analysis.stats import compare, final_rounds, paired_differences
from proxy_attention.report import comparison as pc
from proxy_attention.report import plots
from proxy_attention.report.gallery import plot_gallery

GRID = list(itertools.product(["gradcam", "gradcampp"], [0.3, 0.6], [0.2, 0.5]))


def config_name(cam, t, w):
    return (f"cam_method~{cam}/proxy_threshold~{t}/proxy_image_weight~{w}/subset_wrong~1.0/clear_every_step~False/"
            "subset_order~random/replacement~multiply/cam_target~predicted")


@pytest.fixture(scope="module")
def tables():
    """runs/epochs of a 2p2p2 schedule, 3 folds: gradcam with t=0.6 is clearly better, gradcampp t=0.3 worse."""
    rng = np.random.default_rng(1)
    runs, epochs = [], []
    for fold in range(3):
        base = 0.8 + 0.02 * fold
        for cfg in [None] + GRID:
            if cfg is None:
                ident = dict(method="baseline", config="baseline", cam_method=None, proxy_threshold=None,
                             proxy_image_weight=None)
                effect = 0.0
            else:
                cam, t, w = cfg
                ident = dict(method="proxy", config=config_name(cam, t, w), cam_method=cam, proxy_threshold=t,
                             proxy_image_weight=w)
                effect = {("gradcam", 0.6): 0.03, ("gradcampp", 0.3): -0.03}.get((cam, t), 0.0)
            for r in range(3):
                acc = base + 0.03 * r + (effect * r / 2 + rng.normal(0, 0.003) if r else 0)
                row = dict(dataset="digits", model="resnet18", schedule="2p2p2", seed=0, fold=fold, **ident,
                           round=r, epoch=2 * r + 2, test_acc=acc, val_acc=acc, cum_job_s=30.0 * (r + 1),
                           wrong_found=np.nan if (cfg is None or r == 0) else 100 - 30 * r,
                           proxies_written=np.nan if (cfg is None or r == 0) else 100 - 30 * r,
                           frac_pixels_changed=np.nan if (cfg is None or r == 0) else 0.25)
                runs.append(row)
                for e in (1, 2):
                    epochs.append(dict(row, epoch=2 * r + e, train_acc=acc + 0.02))
    runs, epochs = pd.DataFrame(runs), pd.DataFrame(epochs)
    final = final_rounds(runs)
    return runs, epochs, compare(final), paired_differences(final)


def svg_text(path) -> str:
    ET.parse(path)  # well-formed
    return path.read_text()


def test_answer_names_the_winners_and_every_number_is_in_comparison_csv(tables):
    _, _, comp, _ = tables
    text = answer_rst(comp)
    assert "**Yes for 2 of 8** configuration(s)" in text
    assert "2 of 8 are *worse*" in text
    best = comp[comp["method"] == "proxy"].iloc[0]
    assert best["rank"] == 1 and best["cam_method"] == "gradcam" and best["proxy_threshold"] == 0.6
    # the first listed configuration is the best one, with its numbers formatted from its row
    first = re.search(r"^- (gradcam t=0.6 w=0\.[25]): ([+-]\d+\.\d) pp \[([+-]\d+\.\d), ([+-]\d+\.\d)\], "
                      r"paired t p = ([\d.<]+)", text, re.M)
    assert first, text
    assert first.group(1) == f"gradcam t=0.6 w={best['proxy_image_weight']}"
    assert float(first.group(2)) == pytest.approx(100 * best["mean_diff"], abs=0.051)
    assert float(first.group(3)) == pytest.approx(100 * best["ci_low"], abs=0.051)
    assert float(first.group(4)) == pytest.approx(100 * best["ci_high"], abs=0.051)
    ref = comp[comp["method"] == "baseline"].iloc[0]
    assert f"baseline: {100 * ref['mean']:.1f}% ± {100 * ref['std']:.1f}" in text
    html = comparison_html(comp)
    assert html.count('<tr class="better">') == 2 and html.count('<tr class="worse">') == 2
    assert html.count('<tr class="reference">') == 1


def test_comparison_figures(tables, tmp_path):
    runs, epochs, comp, pairs = tables
    pc.plot_paired_differences(pairs, comp, tmp_path / "pd.svg")
    text = svg_text(tmp_path / "pd.svg")
    assert "gradcam t=0.6 w=0.2" in text and "better" in text and "worse" in text
    pc.plot_difference_heatmap(comp, tmp_path / "hm.svg")
    text = svg_text(tmp_path / "hm.svg")
    assert "gradcampp" in text and "proxy_threshold t" in text
    # the annotated cell values are the mean differences in percentage points, starred when the CI excludes 0
    best = comp[comp["method"] == "proxy"].iloc[0]
    assert f"{100 * best['mean_diff']:+.1f}*" in text


def test_training_and_proxy_figures(tables, tmp_path):
    runs, epochs, comp, _ = tables
    plots.plot_learning_curves(epochs, comp, "2p2p2", tmp_path / "lc.svg", top=3)
    text = svg_text(tmp_path / "lc.svg")
    assert "baseline" in text and "proxy step" in text
    assert text.count("gradcam t=0.6") == 2 and "gradcampp t=0.3" not in text  # only the best 3 + baseline
    plots.plot_proxy_counts(runs, comp, tmp_path / "pc.svg")
    assert "proxy images written" in svg_text(tmp_path / "pc.svg")
    plots.plot_accuracy_by_round(runs, tmp_path / "acc.svg")
    assert "test accuracy" in svg_text(tmp_path / "acc.svg")


def test_figures_with_random_parts_give_the_same_bytes_every_time(tables, tmp_path):
    # bootstrapped 95% bands, stripplot jitter, SVG ids and dates: all fixed, whatever NumPy's
    # global generator holds, and that generator is left as it was
    runs = tables[0].assign(explain_road_combined=lambda d: d["test_acc"] - 0.5,
                            explain_cam_conf_change=lambda d: d["test_acc"] / 10)
    jobs = pd.DataFrame({"rule": ["train_round0"] * 4 + ["explain"] * 3, "s": [60.0, 61, 59, 64, 12, 13, 11]})
    draw = {"acc": lambda out: plots.plot_accuracy_by_round(runs, out),
            "explain": lambda out: plots.plot_explain_vs_accuracy(runs, out),
            "runtime": lambda out: plots.plot_runtime(jobs, out)}
    for name, plot in draw.items():
        np.random.seed(1)
        plot(tmp_path / f"{name}1.svg")
        after = np.random.random()
        np.random.seed(1)
        np.random.random(7)
        plot(tmp_path / f"{name}2.svg")
        first, second = ((tmp_path / f"{name}{i}.svg").read_bytes() for i in (1, 2))
        assert first == second, name
        np.random.seed(1)
        assert np.random.random() == after, f"{name} left NumPy's global generator changed"


def test_confusion_counts_and_figure(tmp_path):
    labels = np.array([0, 0, 1, 1, 2])
    m = pc.confusion_counts(labels, [np.array([0, 1, 1, 1, 2]), np.array([0, 0, 1, 2, 2])], 3)
    assert m.tolist() == [[3, 1, 0], [0, 3, 1], [0, 0, 2]]
    pc.plot_confusion({"baseline": m, "best": m}, ["a", "b", "c"], tmp_path / "cm.svg")
    assert "test accuracy 80.0% (pooled)" in svg_text(tmp_path / "cm.svg")


def test_class_counts_and_runtime(tmp_path):
    split = pd.DataFrame({"label": list("aabbbc") * 2, "split": ["test"] * 3 + ["trainval"] * 9,
                          "fold": [-1] * 3 + [0, 1, 0, 1, 0, 1, 0, 1, 0]})
    report = pd.DataFrame({"path": ["x.png", "y.png"], "part": "train", "label": "a",
                           "action": ["skipped", "converted"], "reason": ["truncated", "mode L converted to RGB"]})
    plots.plot_class_counts(split, report, tmp_path / "cls.svg")
    text = svg_text(tmp_path / "cls.svg")
    assert "12 images in 3 classes" in text and "1 file(s) skipped, 1 converted" in text
    plots.plot_class_counts(split, report.iloc[:0], tmp_path / "cls0.svg")
    assert "nothing skipped" in svg_text(tmp_path / "cls0.svg")
    jobs = pd.DataFrame({"rule": ["train_round0", "train_round0", "proxy_step"], "s": [60.0, 120.0, 30.0]})
    plots.plot_runtime(jobs, tmp_path / "rt.svg")
    text = svg_text(tmp_path / "rt.svg")
    assert "3.0 min, 2 jobs" in text and "30 s, 1 job<" in text


def test_gallery(tmp_path):
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    steps = []
    for r in (1, 2):
        step = tmp_path / f"proxy{r}"
        (step / "images").mkdir(parents=True)
        rows = np.array([2, 5, 7]) + r
        cams = rng.random((3, 16, 16)).astype(np.float32)
        np.savez(step / "cams.npz", index_row=rows, cam=cams)
        names = []
        for i, row in enumerate(rows):
            names.append(f"images/r{r}_{row}.png")
            Image.fromarray(originals[row]).save(step / names[-1])
        pd.DataFrame({"index_row": rows, "label": ["3", "4", "5"], "pred_label": ["8", "8", "9"],
                      "proxy_file": names, "frac_changed": [0.1, 0.5, 0.9]}).to_csv(step / "manifest.csv", index=False)
        steps.append(step)
    plot_gallery(steps, originals, 0.5, "test gallery", tmp_path / "g.svg", images_per_step=2)
    text = svg_text(tmp_path / "g.svg")
    assert text.count("pred 8") + text.count("pred 9") == 4  # 2 images per step
    assert "proxy step 1" in text and "proxy step 2" in text and "10% changed" in text and "90% changed" in text
    empty = tmp_path / "proxy3"
    (empty / "images").mkdir(parents=True)
    pd.DataFrame(columns=["index_row", "label", "pred_label", "proxy_file", "frac_changed"]).to_csv(
        empty / "manifest.csv", index=False)
    plot_gallery([empty], originals, 0.5, "none", tmp_path / "g0.svg")
    assert "no proxy images were written" in svg_text(tmp_path / "g0.svg")


def test_answer_with_one_fold_cannot_say():
    rows = []
    for method, config, acc in [("baseline", "baseline", 0.8), ("proxy", config_name("gradcam", 0.5, 0.5), 0.9)]:
        rows.append(dict(dataset="d", model="m", schedule="1p1", seed=0, fold=0, method=method, config=config,
                         round=1, epoch=2, test_acc=acc))
    comp = compare(final_rounds(pd.DataFrame(rows)))
    text = answer_rst(comp)
    assert "**Cannot say**: too few paired runs" in text
    assert "+10.0 pp (no interval), no t-test (n = 1): *too few pairs*" in text
    assert "needs &gt;= 2 pairs (have 1)" in comparison_html(comp)
