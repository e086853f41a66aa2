"""Resumable training rounds and evaluation.

A run's schedule (``[2, p, 2, p, 2]``) is trained round by round, each round a
separate job that starts from the previous round's checkpoint (model,
optimizer, LR schedule, counters). All randomness of epoch ``e`` is drawn from
a generator seeded with ``(seed, e)``, so training a schedule in rounds gives
the same weights as training it in one go, and a job killed mid-round resumes
from its last finished epoch (``resume.pt`` beside the round's outputs) and
ends with the same numbers as an uninterrupted run.

Only a round that a later round continues from stores what continuing needs
(:data:`CONTINUATION_KEYS`: optimizer, LR schedule and loss-scaler state; for
AdamW twice the weights' size). The last round of a schedule stores the weights
and what evaluation, explain scores and ``predict`` read, not the optimizer: a
third of the size.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import timm
import torch
import torch.nn.functional as F
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2

from proxy_attention import atomic
from proxy_attention.augment.basic import augment
from proxy_attention.data.tensors import Normalize
from proxy_attention.devices import resolve_device
from proxy_attention.errors import CheckpointError
from proxy_attention.models import create_model, freeze_backbone, load_checkpoint
from proxy_attention.train.predictions import KEY as SEARCH_KEY
from proxy_attention.train.predictions import record_predictions
from proxy_attention.train.schedule import Schedule
from proxy_attention.train.settings import TRAINED_WITH, TrainSettings

log = logging.getLogger(__name__)


# Attention models whose fp16 training is known to diverge (the thesis saw ViT fail to converge in fp16):
# with amp 'auto' they use bf16 where the GPU has it and fp32 otherwise, never fp16.
TRANSFORMER_PATTERNS = ("vit_*", "deit*", "swin*", "beit*", "eva*", "cait*", "xcit*", "levit*", "pvt*", "twins*",
                        "mvitv2*", "maxvit*", "coat*", "crossvit*", "tnt*", "volo*", "flexivit*", "samvit*")


def amp_dtype(settings: TrainSettings, device: torch.device, bf16_supported: bool | None = None,
              cuda_paths: bool = False):
    """The autocast dtype of training, or ``None`` for fp32.

    AMP is CUDA only (``cuda_paths``: on any device, see :class:`Trainer`; a CPU supports bf16).
    ``fp32_models`` (glob patterns) switch it off for matching models;
    ``auto`` picks bf16 where supported, else fp16, except for attention models
    (:data:`TRANSFORMER_PATTERNS`), which get fp32 instead of fp16.
    """
    if settings.amp not in ("auto", "bf16", "fp16", "none"):
        raise ValueError(f"training.amp must be auto, bf16, fp16 or none, got {settings.amp!r}")
    if not (device.type == "cuda" or cuda_paths) or settings.amp == "none" or _matches(settings.model, settings.fp32_models):
        return None
    if settings.amp == "fp16":
        return torch.float16
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else True
    if settings.amp == "bf16":
        return torch.bfloat16 if bf16_supported else torch.float16
    if bf16_supported:
        return torch.bfloat16
    return None if _matches(settings.model, TRANSFORMER_PATTERNS) else torch.float16


def _matches(model: str, patterns) -> bool:
    base = model.split(".")[0]
    return any(fnmatch.fnmatchcase(base, p) for p in patterns)


# What a checkpoint holds only to continue training from it: the last round of a schedule leaves them out.
CONTINUATION_KEYS = ("optimizer", "scheduler", "scaler")


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


class Trainer:
    """Model, optimizer and LR schedule of one run, restorable from a checkpoint dict.

    AMP (``training.amp``), channels_last and ``training.compile`` apply on CUDA only.
    ``cuda_paths=True`` takes those same code paths on any device -- autocast (bf16 on a CPU, or
    fp16 with the grad scaler), channels_last weights and batches, ``torch.compile`` -- so that the
    tests and ``benchmarks/gpu_check.sh --device cpu`` run on a CPU what a GPU runs. No config key
    sets it: a run's numbers never depend on it but through those settings.
    """

    def __init__(self, settings: TrainSettings, schedule: Schedule, threads: int | None = None,
                 cuda_paths: bool = False):
        self.s = settings
        self.schedule = schedule
        if threads:
            torch.set_num_threads(threads)
        if settings.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        self.device = resolve_device(settings.device)
        # the CUDA-only paths (AMP, channels_last, compile) are taken: on CUDA, or anywhere on request
        self.cuda_paths = self.device.type == "cuda" or cuda_paths
        self.amp_dtype = amp_dtype(settings, self.device, cuda_paths=cuda_paths)
        torch.manual_seed(settings.seed)  # deterministic initial weights
        self.model = create_model(settings.model, settings.num_classes, settings.pretrained, settings.model_kwargs)
        self.model = self.model.to(self.device)
        if settings.channels_last and self.cuda_paths:
            self.model = self.model.to(memory_format=torch.channels_last)
        # the module that runs batches: torch.compile'd on request; state_dict and CAMs use the eager self.model
        self.forward = self.model
        if settings.compile:
            if self.cuda_paths:
                self.forward = torch.compile(self.model)
            else:
                log.info("training.compile applies on CUDA only; %s trains eagerly", self.device)
        cfg = timm.data.resolve_model_data_config(self.model)
        self.normalize = Normalize(cfg["mean"], cfg["std"], device=self.device)
        # the arm's augmentation after crop and flip (None for 'none': today's loop, unchanged)
        self.augmentation = None
        if settings.augmentation != "none":
            from proxy_attention.augment.registry import build_augmentation

            self.augmentation = build_augmentation(
                settings.augmentation, settings.augmentation_options, settings.num_classes,
                label_smoothing=settings.label_smoothing, mean=cfg["mean"], std=cfg["std"])
        self._saliency_layer = None  # (name, module, reshape) of the saliency methods' CAM, found once
        self.optimizer = create_optimizer_v2(self.model, opt=settings.optimizer, lr=settings.lr,
                                             weight_decay=settings.weight_decay)
        self.scheduler, _ = create_scheduler_v2(
            self.optimizer,
            sched=settings.scheduler,
            num_epochs=schedule.total_epochs,
            warmup_epochs=settings.warmup_epochs,
            min_lr=settings.min_lr,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.epoch = 0  # global epochs finished
        self.images_seen = 0
        self.optimizer_steps = 0
        self.history: list[dict] = []

    # -- state -------------------------------------------------------------
    def state(self, continuable: bool = True) -> dict:
        """The checkpoint dict; without :data:`CONTINUATION_KEYS` when no round continues from it."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "images_seen": self.images_seen,
            "optimizer_steps": self.optimizer_steps,
            "history": self.history,
            "model_name": self.s.model,
            "model_kwargs": dict(self.s.model_kwargs),
            "num_classes": self.s.num_classes,
            "classes": self.s.classes,
            "img_size": self.s.img_size,
            "mean": self.normalize.mean.flatten().tolist(),
            "std": self.normalize.std.flatten().tolist(),
            "seed": self.s.seed,
            "schedule": self.schedule.as_list(),
            "settings": asdict(self.s),
            "continuable": continuable,
        }
        if not continuable:
            for key in CONTINUATION_KEYS:
                del state[key]
        return state

    def load(self, ckpt: dict) -> None:
        missing = [k for k in CONTINUATION_KEYS if k not in ckpt]
        if missing:
            raise CheckpointError(
                f"a round cannot continue from this checkpoint: it is the last round of schedule "
                f"{ckpt.get('schedule')} (epoch {ckpt.get('epoch')}) and holds the weights only, without {missing}")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = ckpt["epoch"]
        self.images_seen = ckpt["images_seen"]
        self.optimizer_steps = ckpt["optimizer_steps"]
        self.history = list(ckpt.get("history", []))

    def stage(self, x: torch.Tensor) -> torch.Tensor:
        """The round's uint8 images where batches are taken from: on the GPU when they fit.

        One host-to-device copy per round instead of one per batch (small datasets:
        digits is 5 MB, Imagenette at 224 px 1.4 GB). They must fit in a quarter of the
        free GPU memory; otherwise they stay in host memory and each batch is copied from
        pinned memory without blocking (``_to_input``).
        """
        if self.device.type != "cuda" or x.device == self.device:
            return x
        free, _ = torch.cuda.mem_get_info(self.device)
        nbytes = x.numel() * x.element_size()
        if nbytes > free // 4:
            log.info("%.1f GB of round data stay in host memory (GPU free: %.1f GB)", nbytes / 1e9, free / 1e9)
            return x
        return x.to(self.device)

    # -- loops -------------------------------------------------------------
    def _to_unit(self, xb: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """uint8 images -> floats in [0, 1] on the device; cropped and flipped when ``gen`` is given."""
        if self.device.type == "cuda" and xb.device.type == "cpu":
            xb = xb.pin_memory()  # images too big to stage on the GPU: the copy overlaps the previous batch's kernels
        x = xb.to(self.device, non_blocking=True).float().div_(255)
        if gen is not None:
            x = augment(x, gen, self.s.hflip, self.s.crop_pad)
        return x

    def _finish(self, x01: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> normalised model input (channels_last on CUDA, or with ``cuda_paths``)."""
        x = self.normalize(x01)
        if self.s.channels_last and self.cuda_paths:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _to_input(self, xb: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """uint8 images -> normalised model input on the device; cropped and flipped when ``gen`` is given."""
        return self._finish(self._to_unit(xb, gen))

    def _cam(self, x01: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The saliency-guided methods' map: the model being trained's GradCAM of each image's true
        class, (N, H, W) in [0, 1] (eval mode for the CAM, train mode restored; fp32)."""
        from proxy_attention.cams import cam_maps  # lazy: a training job without a CAM arm imports no pytorch_grad_cam
        from proxy_attention.models import cam_target

        if self._saliency_layer is None:
            self._saliency_layer = cam_target(self.model, self.s.saliency_layer)
        name, layer, reshape = self._saliency_layer
        cams = cam_maps(self.model, self._finish(x01), y.tolist(), "gradcam", name, layer, reshape,
                        batch_size=len(x01))
        return cams.to(x01.device)

    def _batch(self, xb: torch.Tensor, yb: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch: model input and targets (class indices, or mixed soft targets)."""
        if self.augmentation is None:
            return self._to_input(xb, gen), yb
        x01, target = self.augmentation(self._to_unit(xb, gen), yb, gen,
                                        cam_fn=self._cam if self.augmentation.needs_cam else None)
        return self._finish(x01), target

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 2:  # mixed labels (Mixup, CutMix, SaliencyMix, Attentive CutMix)
            return SoftTargetCrossEntropy()(out, target)
        if self.s.label_smoothing:
            return F.cross_entropy(out, target, label_smoothing=self.s.label_smoothing)
        return F.cross_entropy(out, target)

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        seed = epoch_seed(self.s.seed, self.epoch)
        torch.manual_seed(seed)  # dropout, drop-path
        gen = torch.Generator().manual_seed(seed)
        self.scheduler.step(self.epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        # a function of the global epoch only, so rounds and resumed runs freeze the same epochs
        frozen = self.epoch < self.s.freeze_backbone_epochs
        if freeze_backbone(self.model, frozen):
            log.info("epoch %d: backbone %s", self.epoch + 1, "frozen (training the classifier only)" if frozen else "unfrozen")
        self.model.train()
        n = len(x)
        perm = torch.randperm(n, generator=gen)
        bs = self.s.batch_size
        n_batches = math.ceil(n / bs)
        if n_batches > 1 and n % bs == 1:  # a batch of one breaks batch norm
            n_batches -= 1
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            yb = y[idx.to(y.device)].to(self.device, non_blocking=True)
            xb, target = self._batch(x[idx.to(x.device)], yb, gen)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
                out = self.forward(xb)
                loss = self._loss(out, target)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            loss_sum += loss.detach() * len(idx)
            correct += (out.argmax(1) == yb).sum()
            seen += len(idx)
        self.images_seen += seen
        self.optimizer_steps += n_batches
        self.epoch += 1
        # under mixed labels no image has one true class: training accuracy is not defined (NaN)
        mixed = self.augmentation is not None and self.augmentation.soft_targets
        acc = float("nan") if mixed else float(correct) / max(seen, 1)
        return {"lr": lr, "train_loss": float(loss_sum) / max(seen, 1), "train_acc": acc}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for uint8 images, eval mode, no augmentation (restores the previous mode)."""
        was_training = self.model.training
        self.model.eval()
        outs = []
        for start in range(0, len(x), self.s.eval_batch_size):
            xb = self._to_input(x[start : start + self.s.eval_batch_size])
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
                outs.append(self.forward(xb).float())
        self.model.train(was_training)
        if not outs:
            return torch.empty((0, self.s.num_classes), device=self.device)
        return torch.cat(outs)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        logits = self.predict(x)
        y = y.to(logits.device)
        if len(y) == 0:
            return {"loss": float("nan"), "acc": float("nan"), "pred": []}
        return {
            "loss": float(F.cross_entropy(logits, y)),
            "acc": float((logits.argmax(1) == y).float().mean()),
            "pred": logits.argmax(1).cpu().tolist(),
        }


def _resume_fingerprint(settings: TrainSettings, schedule: Schedule, round_: int, init_ckpt, x: torch.Tensor,
                        y: torch.Tensor) -> str:
    """What a resume file must match to be used: settings, schedule, round, initial checkpoint, training data."""
    h = hashlib.sha256(json.dumps([settings.fingerprint(), schedule.tag, round_]).encode())
    if init_ckpt:
        st = os.stat(init_ckpt)
        h.update(json.dumps([str(init_ckpt), st.st_size, st.st_mtime_ns]).encode())
    h.update(x.contiguous().numpy().data)
    h.update(y.contiguous().numpy().data)
    return h.hexdigest()[:16]


def train_round(
    settings: TrainSettings,
    schedule: Schedule,
    round_: int,
    data: dict,
    init_ckpt: str | Path | None,
    out_ckpt: str | Path,
    out_metrics: str | Path,
    out_epochs: str | Path,
    run_info: dict | None = None,
    threads: int | None = None,
    stop_after_epochs: int | None = None,
    search: dict | None = None,
    cuda_paths: bool = False,
) -> dict:
    """Train round ``round_`` of ``schedule`` and evaluate; write checkpoint, metrics and epoch table.

    ``data`` holds uint8 tensors ``train_x``/``train_y`` (originals plus any proxies),
    ``val_x``/``val_y``, ``test_x``/``test_y`` and the count ``n_proxies`` among the training images.
    ``stop_after_epochs`` simulates a crash after that many epochs (tests only).
    ``cuda_paths`` takes the CUDA-only paths on any device (:class:`Trainer`; tests and gpu_check only).
    ``search`` (``x``, ``y``, ``rows``), given when a proxy step follows this
    round: the misclassified search over those original training images is run with the
    trained model and recorded in the checkpoint (``train/predictions.py``), so the proxy step need not.
    metrics.json keeps ``settings`` (less the class names) under ``trained_with``: the report checks
    that its runs were trained with what the config now asks (report/staleness.py).
    """
    t0 = time.time()
    start, stop = schedule.epoch_range(round_)
    trainer = Trainer(settings, schedule, threads=threads, cuda_paths=cuda_paths)
    if round_ > 0:
        if not init_ckpt:
            raise ValueError(f"round {round_} needs the checkpoint of round {round_ - 1}")
        trainer.load(load_checkpoint(init_ckpt, map_location=trainer.device))
    if trainer.epoch != start:
        raise ValueError(f"checkpoint {init_ckpt} ends at epoch {trainer.epoch}, but round {round_} starts at epoch {start}")

    resume_path = Path(out_ckpt).with_name("resume.pt")
    fp = _resume_fingerprint(settings, schedule, round_, init_ckpt, data["train_x"], data["train_y"])
    if resume_path.exists():
        try:
            saved = load_checkpoint(resume_path, map_location=trainer.device)
        except Exception as e:  # a damaged resume file only costs the epochs it held
            log.warning("ignoring unreadable %s: %s", resume_path, e)
            saved = None
        if saved and saved.get("fingerprint") == fp and start <= saved["epoch"] <= stop:
            trainer.load(saved)
            log.info("resuming round %d from %s at epoch %d", round_, resume_path, trainer.epoch)
        elif saved:
            log.info("ignoring %s: it belongs to other settings or inputs", resume_path)

    x, y = trainer.stage(data["train_x"]), trainer.stage(data["train_y"])
    val_x, val_y = trainer.stage(data["val_x"]), trainer.stage(data["val_y"])
    log.info(
        "round %d: epochs %d..%d of %d, %d training images (%d proxies), device %s%s",
        round_, start + 1, stop, schedule.total_epochs, len(x), data.get("n_proxies", 0), trainer.device,
        f", amp {trainer.amp_dtype}" if trainer.amp_dtype else "",
    )
    done_here = 0
    while trainer.epoch < stop:
        te = time.time()
        row = trainer.train_epoch(x, y)
        val = trainer.evaluate(val_x, val_y)
        row.update(epoch=trainer.epoch, round=round_, val_loss=val["loss"], val_acc=val["acc"],
                   images_seen=trainer.images_seen, optimizer_steps=trainer.optimizer_steps, wall_s=time.time() - te)
        trainer.history.append(row)
        log.info("epoch %d/%d  lr %.2e  train loss %.4f acc %.3f  val loss %.4f acc %.3f  (%.1fs)",
                 trainer.epoch, schedule.total_epochs, row["lr"], row["train_loss"], row["train_acc"],
                 row["val_loss"], row["val_acc"], row["wall_s"])
        done_here += 1
        if trainer.epoch < stop:
            atomic.torch_save(resume_path, {**trainer.state(), "fingerprint": fp})
        if stop_after_epochs is not None and done_here >= stop_after_epochs and trainer.epoch < stop:
            raise KeyboardInterrupt(f"simulated crash after epoch {trainer.epoch}")

    val = trainer.evaluate(val_x, val_y)
    test = trainer.evaluate(data["test_x"], data["test_y"])
    metrics = {
        **(run_info or {}),
        "round": round_,
        "epoch": trainer.epoch,
        "val_loss": val["loss"],
        "val_acc": val["acc"],
        "test_loss": test["loss"],
        "test_acc": test["acc"],
        "n_train_images": int(len(x)),
        "n_proxies": int(data.get("n_proxies", 0)),
        "images_seen": trainer.images_seen,
        "optimizer_steps": trainer.optimizer_steps,
        "round_wall_s": time.time() - t0,
        "test_pred": test["pred"],
        TRAINED_WITH: {k: v for k, v in asdict(settings).items() if k != "classes"},
    }
    epochs = pd.DataFrame([h for h in trainer.history if h["round"] == round_])
    for k, v in (run_info or {}).items():
        epochs[k] = v
    # the schedule's last round: no round continues from it, so no optimizer state
    state = trainer.state(continuable=stop < schedule.total_epochs)
    if search is not None:
        ts = time.time()
        state[SEARCH_KEY] = record_predictions(trainer.model, search["x"], search["y"], search["rows"],
                                               trainer.normalize, settings.eval_batch_size, trainer.device)
        log.info("recorded the predictions on %d training images for the next proxy step (%.1fs)",
                 len(search["rows"]), time.time() - ts)
    atomic.torch_save(out_ckpt, state, checksum=True)  # <file>.sha256: load_checkpoint names a damaged file
    atomic.write_csv(out_epochs, epochs)
    atomic.write_json(out_metrics, metrics)
    resume_path.unlink(missing_ok=True)
    log.info("round %d done: val acc %.4f, test acc %.4f (%.1fs)", round_, val["acc"], test["acc"], metrics["round_wall_s"])
    return metrics
