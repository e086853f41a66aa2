"""Training with an augmentation arm keeps the pipeline's guarantees: splitting a schedule into
rounds and resuming a killed round give the same weights as one uninterrupted run; the same seed
gives the same weights, another seed other ones; 'none' is the plain loop."""

import pytest
import torch
from test_train import same_weights, tiny_data

from proxy_attention.models import load_checkpoint
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import Trainer, train_round

# Mixup (soft targets, timm), SaliencyMix (the model's own CAM per batch), RandAugment (per-image torchvision ops)
ARMS = ["mixup", "saliencymix", "randaugment"]


def settings(augmentation, seed=3, **kw):
    return TrainSettings(model="resnet10t", num_classes=3, classes=["a", "b", "c"], img_size=16, seed=seed,
                         batch_size=8, crop_pad=2, hflip=True, lr=3e-3, augmentation=augmentation, **kw)


def run(tmp, name, s, schedule, round_, data, init=None, **kw):
    d = tmp / name
    d.mkdir(exist_ok=True)
    m = train_round(s, parse_schedule(schedule), round_, data, init, d / "checkpoint.pt", d / "metrics.json",
                    d / "epochs.csv", threads=1, **kw)
    return d, m


@pytest.mark.parametrize("arm", ARMS)
def test_rounds_equal_one_go(tmp_path, arm):
    data = tiny_data()
    one, m_one = run(tmp_path, "one", settings(arm), "3", 0, data)
    r0, _ = run(tmp_path, "r0", settings(arm), "1p2", 0, data)
    r1, m_split = run(tmp_path, "r1", settings(arm), "1p2", 1, data, init=r0 / "checkpoint.pt")
    assert same_weights(one / "checkpoint.pt", r1 / "checkpoint.pt")
    assert m_one["test_acc"] == m_split["test_acc"] and m_one["images_seen"] == m_split["images_seen"]


@pytest.mark.parametrize("arm", ["mixup", "saliencymix"])
def test_killed_round_resumes_to_the_same_weights(tmp_path, arm):
    data = tiny_data()
    clean, _ = run(tmp_path, "clean", settings(arm), "3", 0, data)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "crash", settings(arm), "3", 0, data, stop_after_epochs=2)
    crashed, _ = run(tmp_path, "crash", settings(arm), "3", 0, data)
    assert same_weights(clean / "checkpoint.pt", crashed / "checkpoint.pt")


def test_seeded_arms_repeat_and_differ(tmp_path):
    data = tiny_data()
    a, _ = run(tmp_path, "a", settings("cutmix"), "2", 0, data)
    b, _ = run(tmp_path, "b", settings("cutmix"), "2", 0, data)
    c, _ = run(tmp_path, "c", settings("cutmix", seed=4), "2", 0, data)
    plain, _ = run(tmp_path, "plain", settings("none"), "2", 0, data)
    assert same_weights(a / "checkpoint.pt", b / "checkpoint.pt")
    assert not same_weights(a / "checkpoint.pt", c / "checkpoint.pt")
    assert not same_weights(a / "checkpoint.pt", plain / "checkpoint.pt")  # the arm changes training


def test_mixed_labels_report_no_training_accuracy(tmp_path):
    data = tiny_data()
    _, m_mix = run(tmp_path, "mix", settings("mixup"), "1", 0, data)
    rows = load_checkpoint(tmp_path / "mix" / "checkpoint.pt")["history"]
    assert all(r["train_acc"] != r["train_acc"] for r in rows)  # NaN
    _, m_cut = run(tmp_path, "cutout", settings("cutout"), "1", 0, data)
    rows = load_checkpoint(tmp_path / "cutout" / "checkpoint.pt")["history"]
    assert all(0 <= r["train_acc"] <= 1 for r in rows)
    assert m_mix["test_acc"] == m_mix["test_acc"] and m_cut["test_acc"] == m_cut["test_acc"]


def test_none_is_the_plain_loop():
    """The plain arm builds no augmentation and draws nothing beyond crop and flip."""
    t = Trainer(settings("none"), parse_schedule("1"), threads=1)
    assert t.augmentation is None
    x, y = tiny_data()["train_x"], tiny_data()["train_y"]
    gen_a, gen_b = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    xa, ta = t._batch(x[:8], y[:8], gen_a)
    xb = t._to_input(x[:8], gen_b)
    assert torch.equal(xa, xb) and torch.equal(ta, y[:8])
    assert torch.equal(gen_a.get_state(), gen_b.get_state())


def test_label_smoothing_reaches_the_loss():
    t = Trainer(settings("none", label_smoothing=0.2), parse_schedule("1"), threads=1)
    out = torch.tensor([[4.0, 0.0, 0.0]])
    target = torch.tensor([0])
    assert t._loss(out, target) > Trainer(settings("none"), parse_schedule("1"), threads=1)._loss(out, target)
