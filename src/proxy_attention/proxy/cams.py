"""Batched class activation maps with pytorch-grad-cam.

CAMs always run in fp32 outside autocast, on the eager (never compiled) model,
in the ``with`` form so hooks are removed; the model's train/eval mode is
restored afterwards. pytorch-grad-cam swallows ``IndexError`` in ``__exit__``,
so a CAM that produced nothing is detected here and raised, with the model and
layer named.
"""

from __future__ import annotations

import contextlib
import functools
from types import SimpleNamespace

import numpy as np
import torch
from pytorch_grad_cam import (
    EigenCAM,
    EigenGradCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
    score_cam,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from proxy_attention.errors import CamError
from proxy_attention.models import model_label

CAM_METHODS = {
    "gradcam": GradCAM,
    "gradcampp": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "eigengradcam": EigenGradCAM,
    "scorecam": ScoreCAM,
}




@contextlib.contextmanager
def _quiet_scorecam():
    """ScoreCAM draws a tqdm progress bar per image into the rule's log; switch it off while we run."""
    saved = score_cam.tqdm
    score_cam.tqdm = SimpleNamespace(tqdm=functools.partial(saved.tqdm, disable=True))
    try:
        yield
    finally:
        score_cam.tqdm = saved


def compute_cams(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: np.ndarray | list[int],
    method: str,
    layer_name: str,
    layer: nn.Module,
    reshape_transform=None,
    batch_size: int = 64,
    on_batch=None,
) -> np.ndarray:
    """CAMs for normalised ``inputs`` (N, C, H, W) and one class per image; returns (N, H, W) float32 in [0, 1].

    ``on_batch(start, stop, cams)``, if given, is called with each batch's finite CAMs as soon as
    they exist (the proxy step hands them to its PNG writers while the next batch is computed).
    """
    if method not in CAM_METHODS:
        raise CamError(f"unknown CAM method '{method}'; choose one of {sorted(CAM_METHODS)}")
    targets = [int(t) for t in targets]
    if len(targets) != len(inputs):
        raise CamError(f"{len(inputs)} images but {len(targets)} CAM targets")
    n, _, h, w = inputs.shape
    out = np.empty((n, h, w), dtype=np.float32)
    if n == 0:
        return out
    was_training = model.training
    device = next(model.parameters()).device
    model_name = model_label(model)
    filled = 0
    try:
        with torch.autocast(device_type=device.type, enabled=False):
            cam_cls = CAM_METHODS[method]
            with _quiet_scorecam(), cam_cls(model=model, target_layers=[layer], reshape_transform=reshape_transform) as cam:
                if method == "scorecam":
                    cam.batch_size = batch_size
                for start in range(0, n, batch_size):
                    stop = min(n, start + batch_size)
                    batch = inputs[start:stop].to(device=device, dtype=torch.float32)
                    result = cam(
                        input_tensor=batch,
                        targets=[ClassifierOutputTarget(t) for t in targets[start:stop]],
                    )
                    if result is None or len(result) != stop - start:
                        raise CamError("the CAM returned no map for some images")
                    out[start:stop] = result
                    filled = stop
                    if on_batch is not None:
                        if not np.isfinite(out[start:stop]).all():
                            raise CamError("non-finite values in the CAM")
                        on_batch(start, stop, out[start:stop])
    except CamError as e:
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' failed: {e}") from e
    except Exception as e:  # surface every failure, naming model and layer
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' failed: {type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)
    if filled != n:
        # pytorch-grad-cam's __exit__ swallows IndexError; never report a silent failure as success
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' produced no CAM (an error was swallowed)")
    if not np.isfinite(out).all():
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' produced non-finite values")
    return out


def cam_grid(model: nn.Module, layer: nn.Module, reshape_transform, sample: torch.Tensor) -> tuple[int, int]:
    """Spatial size of the CAM target layer's activations for one normalised ``sample`` (1, C, H, W)."""
    seen = {}

    def hook(_module, _inputs, output):
        seen["out"] = output[0] if isinstance(output, (tuple, list)) else output

    handle = layer.register_forward_hook(hook)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(sample)
    finally:
        handle.remove()
        model.train(was_training)
    if "out" not in seen:
        raise CamError("the layer was not called in the forward pass")
    act = seen["out"]
    if reshape_transform is not None:
        act = reshape_transform(act)
    if act.ndim != 4:
        raise CamError(f"its activations have shape {tuple(act.shape)}, not (N, C, H, W); a token model needs a reshape")
    return tuple(act.shape[-2:])


def check_cam_grid(model: nn.Module, layer_name: str, layer: nn.Module, reshape_transform, sample: torch.Tensor) -> tuple[int, int]:
    """Refuse a target layer whose activations are 1x1 (every CAM constant, no proxy pixel could change)
    or cannot be made (N, C, H, W); errors name the model and the layer."""
    model_name = model_label(model)
    try:
        grid = cam_grid(model, layer, reshape_transform, sample)
    except Exception as e:
        raise CamError(f"CAM target layer '{layer_name}' of {model_name} is unusable: {type(e).__name__}: {e}") from e
    if grid[0] * grid[1] <= 1:
        raise CamError(
            f"the CAM target layer '{layer_name}' of {model_name} has a {grid[0]}x{grid[1]} feature map for "
            f"{sample.shape[-1]} px images, so every CAM is constant and no proxy pixel could change; "
            "use a larger img_size or set an earlier layer in 'cam_target_layer'"
        )
    return grid
