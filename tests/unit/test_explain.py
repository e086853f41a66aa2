"""Explanation scores of final models: the same test images for every model, real metric values, run tables."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from proxy_attention.analysis.aggregate import run_tables
from proxy_attention.analysis.explain import (
    ExplainSettings,
    explain_checkpoint,
    sample_rows,
)
from proxy_attention.data.tensors import IMAGENET_MEAN, IMAGENET_STD, Normalize
from proxy_attention.models import create_model

SIZE = 32
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # inside pytorch-grad-cam's ROAD


def checkpoint(path, seed):
    torch.manual_seed(seed)
    model = create_model("resnet10t", 3)
    torch.save({"model": model.state_dict(), "model_name": "resnet10t", "model_kwargs": {}, "num_classes": 3,
                "classes": ["a", "b", "c"], "img_size": SIZE, "mean": list(IMAGENET_MEAN),
                "std": list(IMAGENET_STD)}, path)
    return model.eval()


@pytest.fixture
def test_split():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(20, 3, SIZE, SIZE, generator=g) * 255).to(torch.uint8)
    return x, torch.arange(20) % 3, np.arange(500, 520)


def settings(**kw):
    return ExplainSettings(**{"n_images": 6, "cam_target_layer": "layer2", "percentiles": [30, 70],
                              "batch_size": 4, **kw})


def test_sample_is_fixed_by_the_seed():
    a = sample_rows(100, 10, seed=0)
    assert np.array_equal(a, sample_rows(100, 10, seed=0))
    assert not np.array_equal(a, sample_rows(100, 10, seed=1))
    assert len(set(a)) == 10 and a.min() >= 0 and a.max() < 100 and (np.diff(a) > 0).all()
    assert len(sample_rows(4, 10, seed=0)) == 4


def test_scores_of_two_models_on_the_same_images(tmp_path, test_split):
    x, y, rows = test_split
    tables = {}
    for seed in (0, 1):
        checkpoint(tmp_path / f"m{seed}.pt", seed)
        tables[seed] = explain_checkpoint(tmp_path / f"m{seed}.pt", x, y, rows, settings(), seed=7,
                                          out_csv=tmp_path / f"e{seed}.csv", out_npz=tmp_path / f"e{seed}.npz")
    assert tables[0]["index_row"].tolist() == tables[1]["index_row"].tolist() == list(rows[sample_rows(20, 6, 7)])
    assert not np.allclose(tables[0]["road_combined"], tables[1]["road_combined"])
    for seed, t in tables.items():
        assert len(t) == 6 and np.isfinite(t[["road_combined", "cam_conf_change"]].to_numpy()).all()
        assert (t["road_combined"].abs() <= 0.5).all()  # half a difference of two probabilities
        flat = np.load(tmp_path / f"e{seed}.npz")["cam"].reshape(6, -1)
        assert t["cam_flat"].tolist() == (flat.max(1) == flat.min(1)).tolist()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "e0.csv"), tables[0], check_dtype=False)
    saved = np.load(tmp_path / "e0.npz")
    assert saved["cam"].shape == (6, SIZE, SIZE) and saved["index_row"].tolist() == tables[0]["index_row"].tolist()
    # the same model and seed give the same scores (ROAD's imputation noise is seeded)
    again = explain_checkpoint(tmp_path / "m0.pt", x, y, rows, settings(), seed=7,
                               out_csv=tmp_path / "again.csv", out_npz=tmp_path / "again.npz")
    pd.testing.assert_frame_equal(again, tables[0])


def test_confidence_change_is_the_probability_change_when_keeping_the_cam(tmp_path, test_split):
    x, y, rows = test_split
    model = checkpoint(tmp_path / "m.pt", 0)
    table = explain_checkpoint(tmp_path / "m.pt", x, y, rows, settings(cam_target="label"), seed=3,
                               out_csv=tmp_path / "e.csv", out_npz=tmp_path / "e.npz")
    cams = torch.from_numpy(np.load(tmp_path / "e.npz")["cam"].astype(np.float32))
    pick = sample_rows(20, 6, 3)
    xn = Normalize()(x[pick].float() / 255)
    with torch.no_grad():
        before = model(xn).softmax(1)
        after = model(xn * cams[:, None].float()).softmax(1)
    target = y[pick]
    expected = (after - before)[torch.arange(6), target].numpy()
    np.testing.assert_allclose(table["cam_conf_change"], expected, atol=2e-3)  # CAMs were saved as float16
    assert table["label_idx"].tolist() == target.tolist()
    np.testing.assert_allclose(table["prob_target"], before[torch.arange(6), target].numpy(), rtol=1e-5)


def test_run_tables_put_the_mean_scores_on_the_final_round(tmp_path):
    metrics = []
    for r in range(3):
        p = tmp_path / f"m{r}.json"
        p.write_text(json.dumps({"round": r, "test_acc": 0.5 + r / 10, "test_pred": [0, 1]}))
        metrics.append(p)
    pd.DataFrame({"round": [1], "epoch": [1], "train_loss": [0.1]}).to_csv(tmp_path / "e.csv", index=False)
    pd.DataFrame({"road_combined": [0.1, 0.3], "cam_conf_change": [-0.2, 0.0]}).to_csv(tmp_path / "x.csv", index=False)
    run = {"dataset": "d", "model": "m", "schedule": "1p1p1", "seed": 0, "fold": 0, "method": "baseline",
           "config": "baseline", "metrics": metrics, "epochs": [tmp_path / "e.csv"], "explain": tmp_path / "x.csv"}
    table, _ = run_tables([run])
    assert "explain" not in table.columns
    last = table[table["round"] == 2].iloc[0]
    assert last["explain_road_combined"] == pytest.approx(0.2)
    assert last["explain_cam_conf_change"] == pytest.approx(-0.1)
    assert last["explain_n_images"] == 2
    assert table[table["round"] < 2]["explain_road_combined"].isna().all()
    no_explain, _ = run_tables([{k: v for k, v in run.items() if k != "explain"}])
    assert "explain_road_combined" not in no_explain.columns
