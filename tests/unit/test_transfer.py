"""Transfer learning from a local weights file, freezing the backbone, and the choice of AMP precision."""

import pytest
import timm
import torch
from safetensors.torch import save_file

from proxy_attention.errors import ModelError
from proxy_attention.models import create_model, load_checkpoint
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import amp_dtype, train_round

MODEL = "resnet10t"


def source_model(seed=5):
    torch.manual_seed(seed)
    return timm.create_model(MODEL, num_classes=1000)  # an "ImageNet" model: 1000 classes


@pytest.mark.parametrize("fmt", ["safetensors", "pth", "checkpoint"])
def test_local_weights_load_offline_with_a_new_classifier(tmp_path, fmt):
    src = source_model()
    sd = src.state_dict()
    path = tmp_path / f"weights.{'safetensors' if fmt == 'safetensors' else 'pth'}"
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    elif fmt == "pth":
        torch.save(sd, path)
    else:  # a training checkpoint that holds the state_dict under "model", like ours
        torch.save({"model": sd, "epoch": 3, "model_name": MODEL}, path)
    torch.manual_seed(0)
    model = create_model(MODEL, 3, str(path))
    got = model.state_dict()
    backbone = [k for k in sd if not k.startswith("fc.")]
    assert len(backbone) > 50
    for k in backbone:
        assert torch.equal(got[k], sd[k]), k
    assert got["fc.weight"].shape == (3, 512) and sd["fc.weight"].shape == (1000, 512)
    torch.manual_seed(0)
    scratch = create_model(MODEL, 3)
    assert not torch.equal(scratch.state_dict()["conv1.0.weight"], got["conv1.0.weight"])


def test_weights_that_do_not_fit_are_refused(tmp_path):
    torch.manual_seed(0)
    other = timm.create_model("resnet18", num_classes=1000)
    torch.save(other.state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(ModelError, match=f"cannot load pretrained weights .*resnet18.pth into '{MODEL}'"):
        create_model(MODEL, 3, str(tmp_path / "resnet18.pth"))  # shapes differ
    partial = {k: v for k, v in source_model().state_dict().items() if not k.startswith("layer4.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(ModelError, match=r"do not fit model 'resnet10t': it lacks \['layer4"):
        create_model(MODEL, 3, str(tmp_path / "partial.pth"))
    with pytest.raises(ModelError, match="does not exist"):
        create_model(MODEL, 3, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ModelError, match="model_kwargs of 'resnet10t' are not accepted"):
        create_model(MODEL, 3, model_kwargs={"img_sise": 32})


def tiny_data(n=40, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = (torch.rand(n, 3, size, size, generator=g) * 80).to(torch.uint8)
    x[:, 0] += (y * 60).to(torch.uint8)[:, None, None]
    return {"train_x": x[:24], "train_y": y[:24], "val_x": x[24:32], "val_y": y[24:32],
            "test_x": x[32:], "test_y": y[32:], "n_proxies": 0}


def params(sd):
    return {k: v for k, v in sd.items() if "running_" not in k and "num_batches" not in k}


def test_frozen_backbone_trains_only_the_classifier_then_everything(tmp_path):
    src = source_model()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    s = TrainSettings(model=MODEL, num_classes=3, classes=["a", "b", "c"], img_size=16, batch_size=8, lr=3e-3,
                      pretrained=str(tmp_path / "w.safetensors"), freeze_backbone_epochs=1)
    data = tiny_data()
    sched = parse_schedule("1p1")

    def run(name, schedule, round_, init=None):
        d = tmp_path / name
        d.mkdir()
        train_round(s, schedule, round_, data, init, d / "c.pt", d / "m.json", d / "e.csv", threads=1)
        return d / "c.pt"

    r0 = run("r0", sched, 0)
    after1 = params(load_checkpoint(r0)["model"])
    initial = create_model(MODEL, 3, s.pretrained).state_dict()
    for k, v in after1.items():
        if k.startswith("fc."):
            assert not torch.equal(v, initial[k]), f"the classifier trains in frozen epochs: {k}"
        else:
            assert torch.equal(v, initial[k]), f"frozen epoch changed backbone parameter {k}"
    r1 = run("r1", sched, 1, init=r0)
    after2 = params(load_checkpoint(r1)["model"])
    assert not torch.equal(after2["conv1.0.weight"], after1["conv1.0.weight"]), "the backbone trains after unfreezing"
    # freezing depends on the global epoch only: two rounds give the same weights as one go
    one = run("one", parse_schedule("2"), 0)
    one_sd = load_checkpoint(one)["model"]
    assert all(torch.equal(one_sd[k], load_checkpoint(r1)["model"][k]) for k in one_sd)


@pytest.mark.parametrize("amp,model,bf16,fp32_models,expected", [
    ("auto", "resnet18", True, [], torch.bfloat16),
    ("auto", "resnet18", False, [], torch.float16),
    ("auto", "vit_small_patch16_224", True, [], torch.bfloat16),
    ("auto", "vit_small_patch16_224", False, [], None),  # never fp16 for a transformer on auto
    ("auto", "swin_tiny_patch4_window7_224.ms_in1k", False, [], None),
    ("fp16", "vit_small_patch16_224", True, [], torch.float16),  # asked for by name
    ("fp16", "vit_small_patch16_224", True, ["vit_*"], None),  # ... unless listed in fp32_models
    ("bf16", "resnet50", True, ["resnet*"], None),
    ("bf16", "resnet50", False, [], torch.float16),
    ("none", "resnet18", True, [], None),
])
def test_amp_precision_choice(amp, model, bf16, fp32_models, expected):
    s = TrainSettings(model=model, num_classes=3, classes=["a", "b", "c"], img_size=32, amp=amp,
                      fp32_models=fp32_models)
    assert amp_dtype(s, torch.device("cuda"), bf16_supported=bf16) == expected
    assert amp_dtype(s, torch.device("cpu"), bf16_supported=bf16) is None  # AMP is CUDA only
