"""The batch size finder (thesis 4.15, Algorithm 3): double the batch until it runs out of memory, then back off.

With ``training.batch_size: auto`` one job per (model, image size, device) tries
real training steps (forward, backward, optimizer step, with the run's AMP and
memory-format settings) at batch sizes 2, 4, 8, ... up to ``max_batch_size``,
and keeps the largest that fit. The result is a small JSON file that every
training round of that model reads, so the search runs once and the choice is
recorded. On a CPU there is no memory limit worth searching for: the result is
``max_batch_size``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from proxy_attention import atomic
from proxy_attention.devices import resolve_device
from proxy_attention.models import create_model
from proxy_attention.train.trainer import amp_dtype

log = logging.getLogger(__name__)



def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def find_batch_size(try_batch: Callable[[int], None], max_batch_size: int, start: int = 2,
                    on_oom: Callable[[], None] | None = None) -> tuple[int, list[dict]]:
    """Largest batch size in ``start, 2*start, 4*start, ..., max_batch_size`` for which ``try_batch`` runs.

    Stops at the first out-of-memory error (any other error propagates) and backs off to the
    last size that ran. Returns the size and the trials ``[{"batch_size", "ok"}]``.
    """
    if max_batch_size < start:
        raise ValueError(f"max_batch_size ({max_batch_size}) is below the smallest batch size tried ({start})")
    trials: list[dict] = []
    best = None
    bs = start
    while True:
        try:
            try_batch(bs)
        except Exception as e:  # noqa: BLE001 - only out-of-memory is a result; the rest is re-raised
            if not is_oom(e):
                raise
            trials.append({"batch_size": bs, "ok": False})
            log.info("batch size %d: out of memory", bs)
            if on_oom:
                on_oom()
            break
        trials.append({"batch_size": bs, "ok": True})
        log.info("batch size %d: fits", bs)
        best = bs
        if bs >= max_batch_size:
            break
        bs = min(2 * bs, max_batch_size)
    if best is None:
        raise RuntimeError(f"even a batch of {start} images runs out of memory; use a smaller model or img_size")
    return best, trials


def training_step_probe(settings, device: torch.device) -> Callable[[int], None]:
    """A ``try_batch`` that runs real training steps of ``settings``'s model on random images."""
    model = create_model(settings.model, settings.num_classes, None, settings.model_kwargs).to(device)
    channels_last = settings.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    dtype = amp_dtype(settings, device)
    optimizer = create_optimizer_v2(model, opt=settings.optimizer, lr=settings.lr, weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def try_batch(bs: int) -> None:
        x = torch.randn(bs, 3, settings.img_size, settings.img_size, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, settings.num_classes, (bs,), device=device)
        for _ in range(2):  # the second step also holds the optimizer state
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return try_batch


def batch_size_file(settings, device_name: str, max_batch_size: int, out: str | Path,
                    try_batch: Callable[[int], None] | None = None) -> dict:
    """Find the batch size for ``settings`` (a TrainSettings) on ``device_name`` and write it to ``out`` (JSON)."""
    t0 = time.time()
    device = resolve_device(device_name)
    if device.type == "cuda" or try_batch is not None:
        if try_batch is None:
            try_batch = training_step_probe(settings, device)

        def free():
            if device.type == "cuda":
                torch.cuda.empty_cache()

        bs, trials = find_batch_size(try_batch, max_batch_size, on_oom=free)
        how = "search"
    else:
        bs, trials, how = max_batch_size, [], "cap (no search on CPU)"
    result = {
        "model": settings.model,
        "img_size": settings.img_size,
        "device": device_name,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "amp": str(amp_dtype(settings, device)),
        "channels_last": bool(settings.channels_last and device.type == "cuda"),
        "max_batch_size": max_batch_size,
        "batch_size": bs,
        "method": how,
        "trials": trials,
        "seconds": round(time.time() - t0, 2),
    }
    atomic.write_json(out, result)
    log.info("batch size for %s at %d px on %s: %d (%s)", settings.model, settings.img_size, result["device_name"],
             bs, how)
    return result


def read_batch_size(path: str | Path) -> int:
    """The batch size a finder file holds; warns when it was found on another kind of device."""
    data = json.loads(Path(path).read_text())
    here = torch.cuda.get_device_name() if torch.cuda.is_available() and data["device"] != "cpu" else "cpu"
    if data.get("device_name") != here:
        log.warning("batch size %d in %s was found on %s, this job runs on %s; delete the file to search again",
                    data["batch_size"], path, data.get("device_name"), here)
    return int(data["batch_size"])


def device_tag(device: str) -> str:
    """``cuda:1`` -> ``cuda1``: the device part of a finder file's name."""
    return device.replace(":", "")
