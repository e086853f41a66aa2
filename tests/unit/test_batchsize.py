"""The batch size finder (thesis Algorithm 3) with a fake out-of-memory, and its CPU fallback."""

import json

import pytest
import torch

from proxy_attention.train.batchsize import (
    batch_size_file,
    device_tag,
    find_batch_size,
    read_batch_size,
)
from proxy_attention.train.settings import TrainSettings


def fake_gpu(limit, calls):
    def try_batch(bs):
        calls.append(bs)
        if bs > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for batch {bs}")

    return try_batch


@pytest.mark.parametrize("limit,cap,expected,tried", [
    (100, 512, 64, [2, 4, 8, 16, 32, 64, 128]),  # doubles until OOM, backs off to the last that fit
    (1000, 300, 300, [2, 4, 8, 16, 32, 64, 128, 256, 300]),  # the cap ends the search
    (64, 64, 64, [2, 4, 8, 16, 32, 64]),
])
def test_doubling_until_out_of_memory(limit, cap, expected, tried):
    calls = []
    bs, trials = find_batch_size(fake_gpu(limit, calls), cap)
    assert bs == expected and calls == tried
    assert [t["ok"] for t in trials] == [c <= limit for c in tried]


def test_old_style_cuda_oom_runtime_error_counts_as_oom():
    def try_batch(bs):
        if bs > 8:
            raise RuntimeError("CUDA error: out of memory")

    assert find_batch_size(try_batch, 64)[0] == 8


def test_other_errors_and_no_fit_are_errors():
    def broken(bs):
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        find_batch_size(broken, 64)
    with pytest.raises(RuntimeError, match="even a batch of 2 images runs out of memory"):
        find_batch_size(fake_gpu(1, []), 64)


def settings():
    return TrainSettings(model="resnet10t", num_classes=1000, classes=[], img_size=16)


def test_finder_file_on_cpu_is_the_cap(tmp_path):
    out = tmp_path / "batch_size" / "resnet10t_16px_cpu.json"
    result = batch_size_file(settings(), "cpu", 96, out)
    saved = json.loads(out.read_text())
    assert saved == result
    assert saved["batch_size"] == 96 and saved["trials"] == [] and saved["device_name"] == "cpu"
    assert read_batch_size(out) == 96


def test_finder_file_with_a_fake_gpu(tmp_path):
    out = tmp_path / "f.json"
    result = batch_size_file(settings(), "cpu", 512, out, try_batch=fake_gpu(40, []))
    assert result["batch_size"] == 32 and result["trials"][-1] == {"batch_size": 64, "ok": False}
    assert read_batch_size(out) == 32


def test_real_training_steps_probe_runs_on_cpu():
    from proxy_attention.train.batchsize import training_step_probe

    probe = training_step_probe(settings(), torch.device("cpu"))
    assert find_batch_size(probe, 4)[0] == 4


def test_device_tag():
    assert device_tag("cuda:1") == "cuda1" and device_tag("auto") == "auto"
