"""The proxy step before round r of a proxy run, as the train_proxy job runs it before training round r."""

from __future__ import annotations

import ctypes
import gc
from pathlib import Path

import torch

from proxy_attention.proxy.step import ProxySettings, run_proxy_step
from proxy_attention.train.trainset import proxy_candidates


def release_memory() -> None:
    """Give what the proxy step freed back to the system before its round trains, so that the round's
    peak does not stand on the step's: Python's cycles, PyTorch's cached GPU blocks, and the C heap's
    free pages (glibc keeps freed memory in its arenas, the PNG writer threads' ones included, until
    ``malloc_trim``; elsewhere that call does not exist and nothing more is done)."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def write_proxy_step(
    split_csv: str,
    cache_npy: str,
    fold: int,
    protocol: str,
    seed: int,
    round_: int,
    checkpoint: str,
    out_dir: str | Path,
    proxy: dict,
    cam_target_layer: str | None,
    batch_size: int,
    device: str = "auto",
    threads: int | None = None,
) -> str:
    """Misclassified training images of the round before ``round_`` -> CAMs -> ``out_dir``; return its manifest.

    ``proxy`` is the run's grid configuration (keys of :class:`ProxySettings` are used, the rest ignored).
    """
    x, y, rows, classes, paths = proxy_candidates(split_csv, cache_npy, fold, protocol, seed, round_)
    grid = {k: v for k, v in proxy.items() if k in ProxySettings.__dataclass_fields__}
    settings = ProxySettings(**grid, cam_target_layer=cam_target_layer, batch_size=batch_size)
    run_proxy_step(checkpoint, x, y, rows, paths, classes, settings, seed=seed, round_=round_,
                   out_dir=out_dir, device=device, threads=threads)
    del x, y, rows, paths  # the fold's training images: the round loads its own
    release_memory()
    return str(Path(out_dir) / "manifest.csv")
