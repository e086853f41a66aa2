"""Batched class activation maps, kept on the model's device: pytorch-grad-cam's methods without its package.

pytorch-grad-cam's CAM classes copy the target layer's activations and gradients to the CPU in
their hooks, compute each map in NumPy and resize the maps one by one with OpenCV
(``scale_cam_image``); on a GPU the copies are most of the cost (pytorch-grad-cam issue #356).
The classes here have the library's shape -- a base class with its hooks and ``__call__``, and one
small subclass per method giving ``get_cam_weights`` (N, C) or ``get_cam_image`` (N, h, w), the
library's own extension points -- with the library's formulas in torch on the model's device, the
gradients of the target layer's outputs only (no backward pass below it), and
``scale_cam_image``'s min-max scaling and bilinear resize for the whole batch at once
(:func:`scale_cams`). ``tests/unit/test_cams.py`` compares every method's maps with the library's
classes (:data:`LIBRARY_CAM_METHODS`) to 1e-5.

They do not subclass the library's classes, because importing its package costs a job 2.5 s and
about 120 MB resident (``pytorch_grad_cam/__init__`` imports every method, and with them OpenCV,
Matplotlib, SciPy and scikit-learn, none of which these classes use; measured after torch and
timm on the 2-core machine, ``benchmarks/README.md`` §7): the proxy step and every CAM arm's
training job paid that for ~40 lines of hook plumbing. The library is imported where its own code
runs: the explain job's ROAD and confidence metrics, ``predict``'s overlay, the reference classes,
and the projection of the two Eigen methods.

Those two, EigenCAM and EigenGradCAM, project onto the first right singular vector, whose sign is
whatever the SVD routine returns (the map of the other sign is a different map), so their
(N, C, h, w) activation products go to the host for the library's own ``get_2d_projection``
(NumPy's LAPACK) and come back as (N, h, w) maps, scaled and resized on the device like the others.

CAMs always run in fp32 outside autocast, on the eager (never compiled) model,
in the ``with`` form so hooks are removed; the model's train/eval mode is
restored afterwards. A CAM that produced nothing is detected here and raised (pytorch-grad-cam's
own classes, used as references, swallow ``IndexError`` in ``__exit__``), with the model and layer named.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from proxy_attention.errors import CamError
from proxy_attention.models import model_label


def scale_cams(cams: torch.Tensor, target_size: tuple[int, int] | None = None) -> torch.Tensor:
    """pytorch-grad-cam's ``scale_cam_image`` for a batch of maps (N, h, w), on their device.

    Each map minus its minimum, divided by ``1e-7 +`` its maximum (so it peaks just below 1),
    then, if ``target_size`` = (width, height) is given, resized bilinearly as ``cv2.resize``'s
    default ``INTER_LINEAR`` does: half-pixel centres (``align_corners=False``), edge pixels
    repeated, no antialiasing when shrinking.
    """
    cams = cams - cams.flatten(1).amin(1)[:, None, None]
    cams = cams / (1e-7 + cams.flatten(1).amax(1))[:, None, None]
    if target_size is not None:
        width, height = target_size
        if tuple(cams.shape[-2:]) != (height, width):
            cams = F.interpolate(cams[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    return cams


class ClassifierOutputTarget:
    """The score of one class, as pytorch-grad-cam's target of that name: ``output[..., category]``
    (the library's classes accept it too)."""

    def __init__(self, category: int):
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        if model_output.ndim == 1:
            return model_output[self.category]
        return model_output[:, self.category]


class DeviceActivationsAndGradients:
    """pytorch-grad-cam's hooks (``ActivationsAndGradients``), keeping the activations where they were
    computed (the library's default copies them to the CPU) and the layer's outputs themselves, so that
    :meth:`DeviceCAM.forward` can ask autograd for their gradients alone."""

    def __init__(self, model: nn.Module, target_layers, reshape_transform=None):
        self.model = model
        self.reshape_transform = reshape_transform
        self.activations: list[torch.Tensor] = []
        self.gradients: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []
        self.handles = [layer.register_forward_hook(self.save_activation) for layer in target_layers]

    def save_activation(self, module, input, output):
        activation = output
        if self.reshape_transform is not None:
            activation = self.reshape_transform(activation)
        self.activations.append(activation.detach())
        self.outputs.append(output)

    def __call__(self, x):
        self.activations, self.gradients, self.outputs = [], [], []
        return self.model(x)

    def release(self):
        self.activations, self.gradients, self.outputs = [], [], []
        for handle in self.handles:
            handle.remove()
        self.handles = []


class DeviceCAM:
    """The base of the CAM methods (pytorch-grad-cam's ``BaseCAM``): maps as torch tensors on the model's device.

    Subclasses give ``get_cam_weights`` (N, C) or ``get_cam_image`` (N, h, w) in torch;
    ``__call__`` returns the (N, H, W) float32 maps in [0, 1) as a tensor on the model's device.
    The gradients are those of the target layer's outputs only (``torch.autograd.grad``): the
    library's ``loss.backward()`` also runs the backward pass from the target layer down to the
    input and fills every weight's ``.grad``, which no CAM reads (two thirds of a GradCAM++ step's
    time at resnet18's last stage, profiled). The gradients are the same numbers either way.
    """

    uses_gradients = True

    def __init__(self, model, target_layers, reshape_transform=None):
        self.model = model
        self.model.eval()
        self.target_layers = target_layers
        self.device = next(self.model.parameters()).device
        self.reshape_transform = reshape_transform
        self.activations_and_grads = DeviceActivationsAndGradients(self.model, target_layers, reshape_transform)

    def __call__(self, input_tensor, targets, eigen_smooth=False):
        return self.forward(input_tensor, targets, eigen_smooth)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.activations_and_grads.release()

    def __del__(self):
        hooks = getattr(self, "activations_and_grads", None)
        if hooks is not None:
            hooks.release()

    def get_target_width_height(self, input_tensor):
        if input_tensor.ndim != 4:
            raise ValueError(f"input of shape {tuple(input_tensor.shape)}, not (N, C, H, W)")
        return input_tensor.size(-1), input_tensor.size(-2)

    def forward(self, input_tensor, targets, eigen_smooth=False):
        input_tensor = input_tensor.to(self.device)
        hooks = self.activations_and_grads
        with torch.set_grad_enabled(self.uses_gradients):
            self.outputs = outputs = hooks(input_tensor)
            if targets is None:
                targets = [ClassifierOutputTarget(int(c)) for c in outputs.argmax(dim=-1).tolist()]
            if self.uses_gradients:
                loss = sum([target(output) for target, output in zip(targets, outputs)])
                grads = torch.autograd.grad(loss, hooks.outputs)
                transform = hooks.reshape_transform
                hooks.gradients = [(transform(g) if transform is not None else g).detach() for g in grads]
        cam_per_layer = self.compute_cam_per_layer(input_tensor, targets, eigen_smooth)
        hooks.outputs = []  # the autograd graph goes with them
        return self.aggregate_multi_layers(cam_per_layer)

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        raise NotImplementedError("a CAM method gives get_cam_weights or get_cam_image")

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        if activations.ndim != 4:
            raise ValueError(f"activations of shape {tuple(activations.shape)}, not (N, C, H, W)")
        weights = self.get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        return (weights[:, :, None, None] * activations).sum(dim=1)

    def compute_cam_per_layer(self, input_tensor, targets, eigen_smooth):
        if eigen_smooth:
            raise ValueError("eigen_smooth is not supported on the device")
        activations = self.activations_and_grads.activations
        grads = self.activations_and_grads.gradients
        target_size = self.get_target_width_height(input_tensor)
        per_layer = []
        for i, target_layer in enumerate(self.target_layers):
            cam = self.get_cam_image(input_tensor, target_layer, targets,
                                     activations[i] if i < len(activations) else None,
                                     grads[i] if i < len(grads) else None, eigen_smooth)
            per_layer.append(scale_cams(cam.float().clamp_min(0), target_size)[:, None])
        return per_layer

    def aggregate_multi_layers(self, cam_per_target_layer):
        return scale_cams(torch.cat(cam_per_target_layer, dim=1).clamp_min(0).mean(dim=1))


def _spatial_sum(t: torch.Tensor) -> torch.Tensor:
    return t.sum(dim=(2, 3))


class DeviceGradCAM(DeviceCAM):
    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        return grads.mean(dim=(2, 3))


class DeviceGradCAMPlusPlus(DeviceCAM):
    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        grads_power_2 = grads**2
        grads_power_3 = grads_power_2 * grads
        sum_activations = _spatial_sum(activations)[:, :, None, None]
        aij = grads_power_2 / (2 * grads_power_2 + sum_activations * grads_power_3 + 0.000001)
        aij = torch.where(grads != 0, aij, torch.zeros_like(aij))
        return _spatial_sum(grads.clamp_min(0) * aij)


class DeviceXGradCAM(DeviceCAM):
    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        sum_activations = _spatial_sum(activations)[:, :, None, None]
        return _spatial_sum(grads * activations / (sum_activations + 1e-7))


class DeviceHiResCAM(DeviceCAM):
    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        return (grads * activations).sum(dim=1)


class DeviceLayerCAM(DeviceCAM):
    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        return (grads.clamp_min(0) * activations).sum(dim=1)


def _projection(t: torch.Tensor) -> torch.Tensor:
    """The library's ``get_2d_projection`` on the host (the SVD's sign is LAPACK's: module docstring)."""
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    return torch.from_numpy(get_2d_projection(t.cpu().numpy())).to(t.device)


class DeviceEigenCAM(DeviceCAM):
    uses_gradients = False

    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        return _projection(activations)


class DeviceEigenGradCAM(DeviceCAM):
    def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth=False):
        return _projection(grads * activations)


class DeviceScoreCAM(DeviceCAM):
    """ScoreCAM's weights with the scores kept on the device (the library reads each one with ``.item()``)
    and no progress bar; the same masked inputs, in the same batches of ``batch_size`` channels."""

    batch_size = 16  # the library's default
    uses_gradients = False

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        with torch.no_grad():
            upsampled = nn.UpsamplingBilinear2d(size=input_tensor.shape[-2:])(activations)
            flat = upsampled.flatten(2)
            maxs, mins = flat.amax(dim=-1)[:, :, None, None], flat.amin(dim=-1)[:, :, None, None]
            upsampled = (upsampled - mins) / (maxs - mins + 1e-8)
            input_tensors = input_tensor[:, None, :, :] * upsampled[:, :, None, :, :]
            scores = []
            for target, tensor in zip(targets, input_tensors):
                for i in range(0, tensor.size(0), self.batch_size):
                    scores.append(target(self.model(tensor[i : i + self.batch_size])).float())
            scores = torch.cat(scores).view(activations.shape[0], activations.shape[1])
            return torch.softmax(scores, dim=-1)


def __getattr__(name: str):
    """``LIBRARY_CAM_METHODS``: pytorch-grad-cam's own classes, for the tests and benchmarks that compare
    with them; imported on first use, so that a job that only makes CAMs never imports the library."""
    if name == "LIBRARY_CAM_METHODS":
        import pytorch_grad_cam as lib

        return {"gradcam": lib.GradCAM, "gradcampp": lib.GradCAMPlusPlus, "xgradcam": lib.XGradCAM,
                "hirescam": lib.HiResCAM, "layercam": lib.LayerCAM, "eigencam": lib.EigenCAM,
                "eigengradcam": lib.EigenGradCAM, "scorecam": lib.ScoreCAM}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CAM_METHODS = {
    "gradcam": DeviceGradCAM,
    "gradcampp": DeviceGradCAMPlusPlus,
    "xgradcam": DeviceXGradCAM,
    "hirescam": DeviceHiResCAM,
    "layercam": DeviceLayerCAM,
    "eigencam": DeviceEigenCAM,
    "eigengradcam": DeviceEigenGradCAM,
    "scorecam": DeviceScoreCAM,
}


def cam_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: np.ndarray | list[int],
    method: str,
    layer_name: str,
    layer: nn.Module,
    reshape_transform=None,
    batch_size: int = 64,
    on_batch=None,
) -> torch.Tensor:
    """CAMs for normalised ``inputs`` (N, C, H, W) and one class per image: (N, H, W) float32 in [0, 1),
    a tensor on the model's device.

    ``on_batch(start, stop, cams)``, if given, is called with each batch's finite CAMs (a tensor on the
    device) as soon as they exist.
    """
    if method not in CAM_METHODS:
        raise CamError(f"unknown CAM method '{method}'; choose one of {sorted(CAM_METHODS)}")
    targets = [int(t) for t in targets]
    if len(targets) != len(inputs):
        raise CamError(f"{len(inputs)} images but {len(targets)} CAM targets")
    n, _, h, w = inputs.shape
    device = next(model.parameters()).device
    out = torch.empty((n, h, w), dtype=torch.float32, device=device)
    if n == 0:
        return out
    was_training = model.training
    model_name = model_label(model)
    filled = 0
    try:
        with torch.autocast(device_type=device.type, enabled=False):
            cam_cls = CAM_METHODS[method]
            with cam_cls(model=model, target_layers=[layer], reshape_transform=reshape_transform) as cam:
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
                    out[start:stop] = torch.as_tensor(result, device=device)  # (the library's classes: NumPy)
                    filled = stop
                    if on_batch is not None:
                        if not torch.isfinite(out[start:stop]).all():
                            raise CamError("non-finite values in the CAM")
                        on_batch(start, stop, out[start:stop])
    except CamError as e:
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' failed: {e}") from e
    except Exception as e:  # surface every failure, naming model and layer
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' failed: {type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)
    if filled != n:
        # pytorch-grad-cam's own classes' __exit__ swallows IndexError; never report a silent failure as success
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' produced no CAM (an error was swallowed)")
    if not torch.isfinite(out).all():
        raise CamError(f"{method} on {model_name} at layer '{layer_name}' produced non-finite values")
    return out


def compute_cams(model: nn.Module, inputs: torch.Tensor, targets, method: str, layer_name: str, layer: nn.Module,
                 reshape_transform=None, batch_size: int = 64, on_batch=None) -> np.ndarray:
    """:func:`cam_maps` as a NumPy array on the host (``on_batch`` gets NumPy arrays too)."""
    hand = None if on_batch is None else (lambda start, stop, cams: on_batch(start, stop, cams.cpu().numpy()))
    return cam_maps(model, inputs, targets, method, layer_name, layer, reshape_transform, batch_size,
                    hand).cpu().numpy()


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


def check_cam_grid(model: nn.Module, layer_name: str, layer: nn.Module, reshape_transform,
                   sample: torch.Tensor) -> tuple[int, int]:
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
