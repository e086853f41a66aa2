"""Training rounds: splitting a schedule into rounds and resuming after a crash change nothing."""

import json

import pytest
import torch

from proxy_attention.models import load_checkpoint
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import train_round

MODEL = "resnet10t"


def tiny_data(n=48, size=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = (torch.rand(n, 3, size, size, generator=g) * 80).to(torch.uint8)
    x[:, 0] += (y * 60).to(torch.uint8)[:, None, None]  # learnable: class sets the red level
    return {
        "train_x": x[:32], "train_y": y[:32], "n_proxies": 0,
        "val_x": x[32:40], "val_y": y[32:40],
        "test_x": x[40:], "test_y": y[40:],
    }


def settings(**kw):
    base = dict(model=MODEL, num_classes=3, classes=["a", "b", "c"], img_size=16, seed=3, batch_size=8,
                crop_pad=2, hflip=True, lr=3e-3)
    base.update(kw)
    return TrainSettings(**base)


def run(tmp, name, schedule, round_, data, init=None, **kw):
    d = tmp / name
    d.mkdir(exist_ok=True)
    m = train_round(settings(), parse_schedule(schedule), round_, data, init,
                    d / "checkpoint.pt", d / "metrics.json", d / "epochs.csv", threads=1, **kw)
    return d, m


def same_weights(a, b):
    sa, sb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_rounds_equal_one_go(tmp_path):
    data = tiny_data()
    one, m_one = run(tmp_path, "one", "4", 0, data)
    r0, _ = run(tmp_path, "r0", "2p2", 0, data)
    r1, m_split = run(tmp_path, "r1", "2p2", 1, data, init=r0 / "checkpoint.pt")
    assert same_weights(one / "checkpoint.pt", r1 / "checkpoint.pt")
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "images_seen", "optimizer_steps", "epoch"):
        assert m_one[key] == m_split[key], key
    ckpt = load_checkpoint(r1 / "checkpoint.pt")
    assert ckpt["epoch"] == 4 and ckpt["images_seen"] == 4 * 32 and ckpt["optimizer_steps"] == 4 * 4
    # the checkpoint restores a model with plain timm
    import timm

    model = timm.create_model(ckpt["model_name"], num_classes=ckpt["num_classes"])
    model.load_state_dict(ckpt["model"])
    assert ckpt["classes"] == ["a", "b", "c"] and ckpt["img_size"] == 16


def test_crash_mid_round_resumes_to_the_same_result(tmp_path):
    data = tiny_data()
    clean, m_clean = run(tmp_path, "clean", "3", 0, data)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "crash", "3", 0, data, stop_after_epochs=2)
    crashed = tmp_path / "crash"
    assert (crashed / "resume.pt").exists()
    assert not (crashed / "checkpoint.pt").exists() and not (crashed / "metrics.json").exists()
    assert load_checkpoint(crashed / "resume.pt")["epoch"] == 2
    _, m_resumed = run(tmp_path, "crash", "3", 0, data)
    assert not (crashed / "resume.pt").exists()
    assert same_weights(clean / "checkpoint.pt", crashed / "checkpoint.pt")
    assert {k: m_clean[k] for k in ("val_acc", "test_loss")} == {k: m_resumed[k] for k in ("val_acc", "test_loss")}
    epochs = (crashed / "epochs.csv").read_text().strip().splitlines()
    assert len(epochs) == 1 + 3  # header + every epoch, the two before the crash included


def test_resume_file_of_other_settings_is_ignored(tmp_path):
    data = tiny_data()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "x", "3", 0, data, stop_after_epochs=1)
    other = tiny_data(seed=1)  # different training data -> different fingerprint
    _, m = run(tmp_path, "x", "3", 0, other)
    ref, m_ref = run(tmp_path, "ref", "3", 0, other)
    assert m["val_loss"] == m_ref["val_loss"]


def test_metrics_file_holds_evaluation(tmp_path):
    d, m = run(tmp_path, "m", "2", 0, tiny_data())
    saved = json.loads((d / "metrics.json").read_text())
    assert 0.0 <= saved["test_acc"] <= 1.0 and 0.0 <= saved["val_acc"] <= 1.0
    assert len(saved["test_pred"]) == 8
    assert saved["n_train_images"] == 32 and saved["n_proxies"] == 0


def test_round_needs_matching_checkpoint(tmp_path):
    data = tiny_data()
    r0, _ = run(tmp_path, "r0", "1p2", 0, data)
    with pytest.raises(ValueError, match="starts at epoch 2"):
        run(tmp_path, "bad", "2p2", 1, data, init=r0 / "checkpoint.pt")


def test_compile_and_staging_are_cuda_only(tmp_path, monkeypatch):
    """On CPU, training.compile trains the eager model (same weights) and the images stay where they are."""
    from proxy_attention.train.trainer import Trainer

    calls = []

    def compile_spy(model, *args, **kwargs):  # returns the model: a call would not change the weights
        calls.append(model)
        return model

    monkeypatch.setattr(torch, "compile", compile_spy)
    trainer = Trainer(settings(compile=True), parse_schedule("1"), threads=1)
    assert trainer.forward is trainer.model and not calls
    x = tiny_data()["train_x"]
    assert trainer.stage(x) is x
    eager, _ = run(tmp_path, "eager", "2", 0, tiny_data())
    d = tmp_path / "compiled"
    d.mkdir()
    train_round(settings(compile=True), parse_schedule("2"), 0, tiny_data(), None, d / "checkpoint.pt",
                d / "metrics.json", d / "epochs.csv", threads=1)
    assert same_weights(eager / "checkpoint.pt", d / "checkpoint.pt")
    assert not calls, "torch.compile was called on CPU"  # the spy keeps the weights: only this shows a call


def test_a_truncated_resume_file_costs_only_its_epochs(tmp_path):
    data = tiny_data()
    clean, _ = run(tmp_path, "clean", "3", 0, data)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "crash", "3", 0, data, stop_after_epochs=2)
    resume = tmp_path / "crash" / "resume.pt"
    resume.write_bytes(resume.read_bytes()[: resume.stat().st_size // 2])  # e.g. killed while writing
    crashed, _ = run(tmp_path, "crash", "3", 0, data)
    assert same_weights(clean / "checkpoint.pt", crashed / "checkpoint.pt")
