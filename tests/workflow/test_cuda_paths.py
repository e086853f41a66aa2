"""The trainer's CUDA-only code paths run on the CPU (``cuda_paths=True``) and agree with fp32 / eager.

On a GPU the trainer autocasts (bf16, or fp16 with a grad scaler), keeps weights and batches
channels_last and, on request, ``torch.compile``s its forward pass. None of that runs in a CPU
job, so these tests take the same paths on the CPU and compare with the plain CPU run:

- bf16 autocast: the loss of the first batch within 1 % of fp32, its gradient's direction
  (cosine >= 0.95) and norm (within 5 %); bf16 keeps 8 bits of mantissa (0.4 % per rounding);
- fp16 autocast with the grad scaler: loss within 1 %, gradient cosine >= 0.99, norm within 1 %
  (the gradients the optimizer sees are unscaled);
- channels_last: loss within 1e-5, gradient cosine >= 0.9999 and norm within 1e-4 (the same fp32
  arithmetic in another order);
- torch.compile of one 2-epoch round with bf16 and channels_last, as on an H100 (TorchDynamo and
  AOTAutograd; the ``aot_eager`` backend in place of Inductor, whose CPU build of C++ kernels took
  about 285 s here under load and is not the code a GPU runs): validation and test loss within 1e-2
  of the eager round's.

Each test also shows that the path really ran (the autocast dtype a forward hook sees, the
weights' memory format, the compiled module and its graphs), so a gate that stays shut fails it.
"""

import pytest
import torch
import torch.nn.functional as F
from test_train import settings, tiny_data
from torch import nn

from proxy_attention.models import load_checkpoint
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.trainer import Trainer, train_round


def first_batch(trainer: Trainer):
    """One epoch of one batch (8 images) through ``train_epoch``: (its loss, the gradient the optimizer
    stepped with, flattened in fp32, and the dtypes and input layouts the first conv saw)."""
    grads, seen = [], []
    step = trainer.optimizer.step

    def spy(*args, **kwargs):  # the grad scaler calls it after unscaling, so these are the true gradients
        grads.append(torch.cat([p.grad.detach().flatten().float() for p in trainer.model.parameters()
                                if p.grad is not None]))
        return step(*args, **kwargs)

    trainer.optimizer.step = spy
    conv = next(m for m in trainer.model.modules() if isinstance(m, nn.Conv2d))
    hook = conv.register_forward_hook(lambda m, inp, out: seen.append((out.dtype, inp[0].is_contiguous())))
    try:
        data = tiny_data()
        row = trainer.train_epoch(data["train_x"][:8], data["train_y"][:8])
    finally:
        hook.remove()
    assert len(grads) == 1, "the optimizer did not step once"
    return row["train_loss"], grads[0], seen


def compare(ours, ref, loss_rel, cos_min, norm_rel):
    loss, g, _ = ours
    loss_ref, g_ref, _ = ref
    assert abs(loss - loss_ref) <= loss_rel * abs(loss_ref), (loss, loss_ref)
    cos = float(F.cosine_similarity(g, g_ref, dim=0))
    assert cos >= cos_min, cos
    assert abs(float(g.norm() - g_ref.norm())) <= norm_rel * float(g_ref.norm()), (g.norm(), g_ref.norm())


def plain_cpu():
    """The default CPU run: fp32, contiguous, eager -- the reference (and unchanged by cuda_paths' existence)."""
    trainer = Trainer(settings(), parse_schedule("1"), threads=1)
    assert trainer.amp_dtype is None and not trainer.cuda_paths and trainer.forward is trainer.model
    return trainer


def test_bf16_autocast_on_cpu_matches_fp32():
    ref_trainer = plain_cpu()
    trainer = Trainer(settings(channels_last=False), parse_schedule("1"), threads=1, cuda_paths=True)
    assert trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()  # amp 'auto' as on an H100

    # evaluation (the same initial weights): autocast, fp32 logits within 5 % of fp32's largest
    x = tiny_data()["val_x"]
    logits, logits_ref = trainer.predict(x), ref_trainer.predict(x)
    assert logits.dtype == torch.float32 and not torch.equal(logits, logits_ref)
    assert torch.allclose(logits, logits_ref, atol=0.05 * float(logits_ref.abs().max()))

    ref = first_batch(ref_trainer)
    assert {dtype for dtype, _ in ref[2]} == {torch.float32}
    ours = first_batch(trainer)
    assert {dtype for dtype, _ in ours[2]} == {torch.bfloat16}, "the forward pass did not run under bf16 autocast"
    compare(ours, ref, loss_rel=1e-2, cos_min=0.95, norm_rel=5e-2)


def test_fp16_autocast_with_grad_scaler_on_cpu_matches_fp32():
    ref = first_batch(plain_cpu())
    trainer = Trainer(settings(amp="fp16", channels_last=False), parse_schedule("1"), threads=1, cuda_paths=True)
    assert trainer.amp_dtype == torch.float16 and trainer.scaler.is_enabled()
    scale = trainer.scaler.get_scale()
    ours = first_batch(trainer)
    assert {dtype for dtype, _ in ours[2]} == {torch.float16}
    assert trainer.scaler.get_scale() == scale, "the scaler skipped the step (inf/NaN) or never ran"
    compare(ours, ref, loss_rel=1e-2, cos_min=0.99, norm_rel=1e-2)
    assert trainer.state()["scaler"]["scale"] == scale  # its state goes into the checkpoint for the next round


def test_channels_last_on_cpu_matches_contiguous():
    ref_trainer = plain_cpu()
    assert all(p.is_contiguous() for p in ref_trainer.model.parameters())
    ref = first_batch(ref_trainer)

    trainer = Trainer(settings(amp="none"), parse_schedule("1"), threads=1, cuda_paths=True)
    weights = [p for p in trainer.model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert not all(p.is_contiguous() for p in weights), "the weights are not channels_last"
    ours = first_batch(trainer)
    assert ours[2] and not any(contiguous for _, contiguous in ours[2]), "the batches are not channels_last"
    assert {dtype for dtype, _ in ours[2]} == {torch.float32}
    compare(ours, ref, loss_rel=1e-5, cos_min=0.9999, norm_rel=1e-4)


class TinyCNN(nn.Sequential):
    """Two conv-BN-ReLU blocks and a linear head: inductor compiles it in about 15 s of CPU time
    (resnet10t took 80-150 s on the project's 2-core machine)."""

    def __init__(self, num_classes: int):
        super().__init__(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))

    def get_classifier(self):  # what freeze_backbone asks a timm model for
        return self[-1]


@pytest.mark.slow
def test_compiled_round_on_cpu_matches_eager(tmp_path, monkeypatch):
    """One short round (2 epochs) with torch.compile, bf16 autocast and channels_last -- the H100 path."""
    import torch._dynamo
    from torch._dynamo.eval_frame import OptimizedModule
    from torch._dynamo.utils import counters

    import proxy_attention.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "create_model", lambda name, num_classes, *a, **k: TinyCNN(num_classes))
    compiled = []
    real_compile = torch.compile

    def compile_spy(model, *args, **kwargs):
        # TorchDynamo's graphs and AOTAutograd's backward as on the GPU, without Inductor's C++ build of CPU
        # kernels (minutes here, and not the code a GPU runs): the gate, the graphs and the saved weights are checked
        compiled.append(real_compile(model, *args, **{**kwargs, "backend": "aot_eager"}))
        return compiled[-1]

    monkeypatch.setattr(torch, "compile", compile_spy)
    torch._dynamo.reset()
    counters.clear()

    def round_(name, **kw):
        d = tmp_path / name
        d.mkdir()
        metrics = train_round(settings(**kw), parse_schedule("2"), 0, tiny_data(), None, d / "checkpoint.pt",
                              d / "metrics.json", d / "epochs.csv", threads=1, cuda_paths=True)
        return d, metrics

    eager_dir, eager = round_("eager")
    assert not compiled
    compiled_dir, ours = round_("compiled", compile=True)
    assert len(compiled) == 1 and isinstance(compiled[0], OptimizedModule)
    assert counters["stats"]["unique_graphs"] >= 2, dict(counters["stats"])  # training and evaluation graphs ran
    for key in ("val_loss", "test_loss"):
        assert abs(ours[key] - eager[key]) <= 1e-2, (key, ours[key], eager[key])
    agree = sum(a == b for a, b in zip(ours["test_pred"], eager["test_pred"]))
    assert agree >= len(eager["test_pred"]) - 1, (ours["test_pred"], eager["test_pred"])
    # the checkpoint holds the eager model's weights (no torch.compile '_orig_mod.' prefix)
    state = load_checkpoint(compiled_dir / "checkpoint.pt")["model"]
    assert state.keys() == load_checkpoint(eager_dir / "checkpoint.pt")["model"].keys()
    assert state["1.weight"].dtype == torch.float32


def test_staging_leaves_images_in_host_memory_when_the_gpu_is_full(monkeypatch):
    """The GPU staging decision, with the device and its free memory faked (the copy itself needs a GPU)."""
    trainer = plain_cpu()
    x = tiny_data()["train_x"]
    nbytes = x.numel() * x.element_size()
    monkeypatch.setattr(trainer, "device", torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * nbytes - 1, 10 * nbytes))
    assert trainer.stage(x) is x  # more than a quarter of the free memory: stays in host memory
