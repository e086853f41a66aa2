"""The settings of a training round, as a dataclass whose fields are the config's keys.

The workflow fills :class:`TrainSettings` from the config's ``training:`` section by field
name (no renames), plus the model's own keys. This module imports no torch, so that the
workflow can read the field names when it loads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

# The TrainSettings fields that decide a training step's memory use: the finder's file depends
# on these alone (the workflow passes no others, so other training keys do not rerun it).
FINDER_FIELDS = ("model", "img_size", "optimizer", "lr", "weight_decay", "device", "amp", "channels_last",
                 "model_kwargs", "fp32_models")


# The key under which a round's metrics.json records the settings it was trained with (the trainer
# writes it; the report's staleness check compares it with what the config now asks).
TRAINED_WITH = "trained_with"


@dataclass
class TrainSettings:
    model: str
    num_classes: int
    classes: list[str]
    img_size: int
    seed: int = 0
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adamw"  # any timm optimizer name (create_optimizer_v2)
    lr: float = 1e-3
    weight_decay: float = 1e-5
    scheduler: str = "cosine"  # any timm scheduler name (create_scheduler_v2)
    warmup_epochs: int = 0
    min_lr: float = 1e-6
    hflip: bool = False
    crop_pad: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto | bf16 | fp16 | none (CUDA only)
    channels_last: bool = True
    compile: bool = False  # torch.compile the training forward pass (CUDA); never the CAM model
    deterministic: bool = True
    pretrained: str | None = None
    model_kwargs: dict = field(default_factory=dict)  # extra timm.create_model arguments (img_size, ...)
    freeze_backbone_epochs: int = 0  # train only the classifier for the first N global epochs
    fp32_models: list[str] = field(default_factory=list)  # glob patterns of models never trained with AMP
    label_smoothing: float = 0.0
    augmentation: str = "none"  # a name of proxy_attention.augment.table.METHODS
    augmentation_options: dict = field(default_factory=dict)  # that method's parameters
    saliency_layer: str | None = None  # CAM target layer of the saliency-guided methods (None: the model's default)
    torch_threads: int = 1  # torch.set_num_threads: CPU results depend on it, never on Snakemake's --cores
    extra: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:16]


TRAIN_FIELDS = frozenset(f.name for f in fields(TrainSettings))


def model_settings(config: dict, model: str) -> dict:
    """The per-model keys of the config: pretrained weights and extra timm arguments."""
    return {
        "model": model,
        "pretrained": config["pretrained"].get(model),
        "model_kwargs": config["model_kwargs"].get(model, {}),
    }


def augmentation_settings(config: dict, model: str, augmentation: str) -> dict:
    """The augmentation keys of a run: the method, its own options, and for the saliency-guided
    methods the CAM layer (so that another arm's options or layer never rerun this arm)."""
    from proxy_attention.augment.names import needs_cam

    settings = {"augmentation": augmentation,
                "augmentation_options": dict((config.get("augmentation_options") or {}).get(augmentation) or {})}
    if needs_cam(augmentation):
        settings["saliency_layer"] = (config.get("cam_target_layer") or {}).get(model)
    return settings


def train_settings(config: dict, model: str, seed: int, augmentation: str = "none") -> dict:
    """The TrainSettings keys of one run: the ``training:`` keys named as its fields (no renames),
    the model's keys, the augmentation arm, the image size and the seed. ``num_classes`` and
    ``classes`` come from the data."""
    training = {k: v for k, v in config["training"].items() if k in TRAIN_FIELDS}
    return {**training, **model_settings(config, model), **augmentation_settings(config, model, augmentation),
            "img_size": config["img_size"], "seed": int(seed), "torch_threads": int(config.get("torch_threads", 1))}


def finder_settings(config: dict, model: str, img_size: int) -> dict:
    """The keys of :data:`FINDER_FIELDS` only, for the batch size finder's file."""
    settings = {**config["training"], **model_settings(config, model), "img_size": int(img_size)}
    return {k: v for k, v in settings.items() if k in FINDER_FIELDS}
