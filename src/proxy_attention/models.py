"""timm models: creation, checkpoints, and where to hook a CAM.

A checkpoint is a ``torch.save`` dict holding at least ``model`` (state_dict),
``model_name``, ``num_classes``, ``classes``, ``img_size`` and ``model_kwargs``, so that
``timm.create_model(ckpt["model_name"], num_classes=ckpt["num_classes"], **ckpt["model_kwargs"])
.load_state_dict(ckpt["model"])`` restores the model.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import timm
import torch
from torch import nn

from proxy_attention.atomic import checksum_file, file_sha256
from proxy_attention.errors import CheckpointError, ModelError

log = logging.getLogger(__name__)




def check_model_name(name: str) -> None:
    """Raise a clear error for a model name timm does not know."""
    base = name.split(".")[0]
    if timm.is_model(base):
        return
    import difflib

    close = difflib.get_close_matches(base, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean one of {close}?" if close else "; see timm.list_models() for the names"
    raise ModelError(f"models: '{name}' is not a timm model{hint}")


def create_model(
    name: str, num_classes: int, pretrained_file: str | None = None, model_kwargs: dict | None = None
) -> nn.Module:
    """Create a timm model; with ``pretrained_file`` load local weights offline (classifier replaced).

    ``model_kwargs`` go to ``timm.create_model`` (e.g. ``img_size`` and ``patch_size``
    for a ViT trained at 32 px). Weights come only from ``pretrained_file`` (a
    safetensors file or a torch checkpoint, plain state_dict or a dict holding one
    under ``model``/``state_dict``), never from a hub. timm drops the file's
    classifier when ``num_classes`` differs from the model's pretrained config and
    adapts the rest (e.g. resamples a ViT's position embeddings); any other
    parameter the file lacks is an error, not a silent random initialisation.
    """
    check_model_name(name)
    kwargs = dict(model_kwargs or {})
    try:
        if not pretrained_file:
            return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
        path = Path(pretrained_file)
        if not path.is_file():
            raise ModelError(f"pretrained: weights file {path} for model '{name}' does not exist")
        with _TimmLoadLog() as seen:
            model = timm.create_model(
                name, pretrained=True, num_classes=num_classes,
                pretrained_cfg_overlay=dict(file=str(path.resolve())), **kwargs,
            )
    except TypeError as e:  # an unknown keyword in model_kwargs
        raise ModelError(f"model_kwargs of '{name}' are not accepted by timm: {e}") from None
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"cannot load pretrained weights {pretrained_file} into '{name}': {type(e).__name__}: {e}") from e
    head = _classifier_names(model)
    missing = [k for k in seen.missing if not any(k == h or k.startswith(h + ".") for h in head)]
    if seen.random_init or missing:
        what = "no weights were loaded" if seen.random_init else f"it lacks {missing[:8]}{' ...' if len(missing) > 8 else ''}"
        raise ModelError(f"pretrained weights {pretrained_file} do not fit model '{name}': {what}")
    if seen.unexpected:
        log.warning("pretrained weights %s hold keys model '%s' does not use: %s", pretrained_file, name, seen.unexpected[:8])
    log.info("loaded pretrained weights %s into %s (new classifier %s for %d classes)", pretrained_file, name, head, num_classes)
    return model


def _classifier_names(model: nn.Module) -> list[str]:
    """Dotted names of the classifier module(s) of a timm model."""
    cls = model.pretrained_cfg.get("classifier") if getattr(model, "pretrained_cfg", None) else None
    if cls:
        return [cls] if isinstance(cls, str) else list(cls)
    head = model.get_classifier()
    return [n for n, m in model.named_modules() if m is head]


class _TimmLoadLog(logging.Handler):
    """Collect what timm's weight loader reports (it only logs missing keys and random initialisation)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.missing: list[str] = []
        self.unexpected: list[str] = []
        self.random_init = False
        self._logger = logging.getLogger("timm.models._builder")

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        keys = re.match(r"(Missing|Unexpected) keys \((.*)\) (discovered|found)", msg)
        if keys:
            names = [k.strip() for k in keys.group(2).split(",") if k.strip()]
            (self.missing if keys.group(1) == "Missing" else self.unexpected).extend(names)
        elif "random initialization" in msg:
            self.random_init = True

    def __enter__(self):
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        return False


def freeze_backbone(model: nn.Module, frozen: bool) -> int:
    """Set ``requires_grad`` of every parameter outside the classifier to ``not frozen``; return how many changed state."""
    head = {id(p) for p in model.get_classifier().parameters()}
    n = 0
    for p in model.parameters():
        if id(p) not in head and p.requires_grad == frozen:
            p.requires_grad_(not frozen)
            n += 1
    return n


# The keys every checkpoint of the workflow holds (Trainer.state); predict, proxy steps and
# explain scores need them.
CHECKPOINT_KEYS = ("model", "model_name", "num_classes", "classes", "img_size", "mean", "std")
WHERE_CHECKPOINTS_ARE = (
    "a checkpoint of this workflow is the checkpoint.pt of a training round, "
    "results/runs/<dataset>/<model>/<schedule>/<protocol>/seed<S>/fold<F>/.../round<r>/checkpoint.pt"
)


def rebuild_hint(path: str | Path) -> str:
    """How to rebuild a damaged file of the workflow (Snakemake sees a file that exists as done)."""
    return (f"rebuild it with `snakemake --cores 1 --force {path}` (or delete it and run snakemake "
            "again); the jobs that read it rerun after it")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint of the workflow, checked: it exists, matches the checksum recorded when it was
    written (``<file>.sha256``, :func:`proxy_attention.atomic.torch_save`), loads, and holds
    :data:`CHECKPOINT_KEYS`. Otherwise a :class:`CheckpointError` that names the file and, for a
    damaged one, the command that rebuilds it (torch's own "PytorchStreamReader failed reading
    zip archive" named neither).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist" + ("" if not path.exists() else " as a file"))
    with open(path, "rb") as fh:
        head = fh.read(4)
    sidecar = checksum_file(path)
    if sidecar.exists():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
        if expected and file_sha256(path) != expected:
            raise CheckpointError(
                f"checkpoint {path} is damaged: its content does not match the checksum recorded when it "
                f"was written ({sidecar.name}; truncated, or overwritten since); {rebuild_hint(path)}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ...
        if head == b"PK\x03\x04":  # a torch zip file that does not load: truncated or damaged
            raise CheckpointError(f"checkpoint {path} is damaged ({type(e).__name__}: {e}); "
                                  f"{rebuild_hint(path)}") from None
        raise CheckpointError(f"{path} is not a checkpoint of this workflow (torch cannot load it: "
                              f"{type(e).__name__}: {str(e)[:200]}); {WHERE_CHECKPOINTS_ARE}") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        what = "a plain state_dict" if isinstance(ckpt, dict) and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()) else f"a {type(ckpt).__name__}"
        keys = f" with keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, dict) else ""
        raise CheckpointError(f"{path} is not a checkpoint of this workflow: it is {what}{keys}, without "
                              f"{missing}; {WHERE_CHECKPOINTS_ARE}")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> nn.Module:
    """The checkpoint's model, its weights from ``ckpt["model"]``.

    Built on the meta device, so no random initialisation is computed only to be overwritten
    (a sixth of a small proxy step's time); a model with state outside its state_dict
    (non-persistent buffers, e.g. relative position indices) is built and initialised as usual.
    """
    def build():
        return timm.create_model(
            ckpt["model_name"], pretrained=False, num_classes=ckpt["num_classes"], **ckpt.get("model_kwargs", {})
        )

    with torch.device("meta"):
        model = build()
    model.load_state_dict(ckpt["model"], assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        model = build()
        model.load_state_dict(ckpt["model"])
    return model


# ---------------------------------------------------------------------------
# CAM target layers
# ---------------------------------------------------------------------------

def _vit_reshape(num_prefix_tokens: int):
    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.ndim != 3:
            raise ModelError(f"expected (N, tokens, C) activations, got shape {tuple(tensor.shape)}")
        tokens = tensor[:, num_prefix_tokens:, :]
        side = int(round(tokens.shape[1] ** 0.5))
        if side * side != tokens.shape[1]:
            raise ModelError(
                f"cannot reshape {tokens.shape[1]} tokens (after {num_prefix_tokens} prefix tokens) into a square grid"
            )
        return tokens.reshape(tensor.shape[0], side, side, tensor.shape[2]).permute(0, 3, 1, 2)

    return reshape


def _nhwc_to_nchw(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim != 4:
        raise ModelError(f"expected (N, H, W, C) activations, got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 1, 2)


def model_label(model: nn.Module) -> str:
    """The timm architecture name of ``model`` for error messages."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("architecture") or type(model).__name__


def _is_token_model(model: nn.Module) -> bool:
    """ViT-like: a ``blocks`` sequence over (N, tokens, C) with ``num_prefix_tokens`` class/register tokens."""
    return hasattr(model, "blocks") and hasattr(model, "num_prefix_tokens")


def _is_nhwc(model: nn.Module) -> bool:
    """timm marks models whose stages keep (N, H, W, C) activations (Swin, Swin V2, MambaOut, ...)."""
    return getattr(model, "output_fmt", "NCHW") == "NHWC"


def cam_target(model: nn.Module, override: str | None = None):
    """Return ``(layer_name, module, reshape_transform)`` for CAMs on ``model``.

    ``override`` is a dotted module path (``layer4``, ``blocks.11.norm1``) from config.
    Without it: ViT-like token models hook the last block's ``norm1`` (the last
    block's output only reaches the head through the class token) and drop the
    prefix tokens; every other model hooks the last entry of timm's ``feature_info``
    (the last stage), permuted to NCHW for NHWC models such as Swin. A layer that is not
    there is a :class:`~proxy_attention.errors.CamError` naming the model and layer.
    """
    from proxy_attention.errors import CamError

    reshape = _guess_reshape(model)
    if override:
        try:
            module = model.get_submodule(override)
        except AttributeError as e:
            raise CamError(
                f"cam_target_layer '{override}' not found in {model_label(model)}: {e}; "
                "list the names with [n for n, _ in model.named_modules()]"
            ) from None
        return override, module, reshape
    if _is_token_model(model):
        name = f"blocks.{len(model.blocks) - 1}.norm1"
        return name, model.get_submodule(name), reshape
    info = getattr(model, "feature_info", None)
    if info:
        last = info[-1] if isinstance(info, list) else info.info[-1]
        name = last["module"]
        return name, model.get_submodule(name), reshape
    raise CamError(f"cannot find a CAM target layer for {model_label(model)}; set 'cam_target_layer' for this model in config")


def _guess_reshape(model: nn.Module):
    if _is_token_model(model):
        return _vit_reshape(model.num_prefix_tokens)
    if _is_nhwc(model):
        return _nhwc_to_nchw
    return None
