"""timm models: creation, checkpoints, and where to hook a CAM.

A checkpoint is a ``torch.save`` dict holding at least ``model`` (state_dict),
``model_name``, ``num_classes``, ``classes`` and ``img_size``, so that
``timm.create_model(ckpt["model_name"], num_classes=ckpt["num_classes"]).load_state_dict(ckpt["model"])``
restores the model.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn


class ModelError(ValueError):
    pass


def check_model_name(name: str) -> None:
    """Raise a clear error for a model name timm does not know."""
    base = name.split(".")[0]
    if timm.is_model(base):
        return
    import difflib

    close = difflib.get_close_matches(base, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean one of {close}?" if close else "; see timm.list_models() for the names"
    raise ModelError(f"models: '{name}' is not a timm model{hint}")


def create_model(name: str, num_classes: int, pretrained_file: str | None = None) -> nn.Module:
    """Create a timm model; with ``pretrained_file`` load local weights offline (classifier replaced)."""
    check_model_name(name)
    if pretrained_file:
        path = Path(pretrained_file)
        if not path.is_file():
            raise ModelError(f"pretrained weights file {path} does not exist")
        return timm.create_model(
            name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=dict(file=str(path.resolve()))
        )
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)


def model_from_checkpoint(ckpt: dict) -> nn.Module:
    model = timm.create_model(ckpt["model_name"], pretrained=False, num_classes=ckpt["num_classes"])
    model.load_state_dict(ckpt["model"])
    return model


# ---------------------------------------------------------------------------
# CAM target layers
# ---------------------------------------------------------------------------

def _vit_reshape(num_prefix_tokens: int):
    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        tokens = tensor[:, num_prefix_tokens:, :]
        side = int(round(tokens.shape[1] ** 0.5))
        if side * side != tokens.shape[1]:
            raise ModelError(f"cannot reshape {tokens.shape[1]} patch tokens into a square grid")
        return tokens.reshape(tensor.shape[0], side, side, tensor.shape[2]).permute(0, 3, 1, 2)

    return reshape


def _nhwc_to_nchw(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.permute(0, 3, 1, 2)


def cam_target(model: nn.Module, override: str | None = None):
    """Return ``(layer_name, module, reshape_transform)`` for CAMs on ``model``.

    ``override`` is a dotted module path (``layer4``, ``blocks.11.norm1``) from config.
    Token models (ViT-like with ``blocks`` and prefix tokens, Swin-like with NHWC
    stages) get a ``reshape_transform`` that makes NCHW activations.
    """
    if override:
        try:
            module = model.get_submodule(override)
        except AttributeError as e:
            raise ModelError(f"cam target layer '{override}' not found in {type(model).__name__}: {e}") from None
        return override, module, _guess_reshape(model)
    if hasattr(model, "blocks") and hasattr(model, "num_prefix_tokens"):  # ViT, DeiT, ...
        name = f"blocks.{len(model.blocks) - 1}.norm1"
        return name, model.get_submodule(name), _vit_reshape(model.num_prefix_tokens)
    if hasattr(model, "layers") and type(model).__name__.startswith("SwinTransformer"):
        last = model.layers[-1]
        name = f"layers.{len(model.layers) - 1}.blocks.{len(last.blocks) - 1}.norm1"
        return name, model.get_submodule(name), _nhwc_to_nchw
    info = getattr(model, "feature_info", None)
    if info:
        last = info[-1] if isinstance(info, list) else info.info[-1]
        name = last["module"]
        return name, model.get_submodule(name), None
    raise ModelError(
        f"cannot find a CAM target layer for {type(model).__name__}; set 'cam_target_layer' for this model in config"
    )


def _guess_reshape(model: nn.Module):
    if hasattr(model, "blocks") and hasattr(model, "num_prefix_tokens"):
        return _vit_reshape(model.num_prefix_tokens)
    if type(model).__name__.startswith("SwinTransformer"):
        return _nhwc_to_nchw
    return None
