"""The config's model check when the workflow loads, remembered once passed.

``config.check_config`` checks every model's name against timm and builds it on the meta device
at ``img_size`` (:func:`check_model_at_size`, here). That needs timm and torch, which cost every
Snakemake start (a dry run included) about 2.5 s: 1.9 s of imports and their teardown at exit.
A model that passed with the same inputs -- its name, ``img_size``, ``model_kwargs``,
``cam_target_layer``, whether CAMs are needed, the installed timm and torch, and this check's
code (this module and ``models.py``, :data:`CHECK_CODE`) -- passes again without them. A
failure is never remembered: it raises every time.

The record is ``model_checks.json`` in ``$PROXY_ATTENTION_CACHE`` (default
``$XDG_CACHE_HOME/proxy-attention``, else ``~/.cache/proxy-attention``); it keeps each
passed check's warning, which is logged again on every hit. An unreadable record counts as
empty, and one that cannot be written is skipped: the check then runs every time.
:func:`read_record`, :func:`write_record`, :func:`package_version` and :func:`cache_dir` also
serve the record of model sizes (``footprint.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path

from proxy_attention.errors import ConfigError

log = logging.getLogger("proxy_attention.config")
RECORD = "model_checks.json"
MAX_ENTRIES = 512  # the newest are kept


def cache_dir() -> Path:
    if os.environ.get("PROXY_ATTENTION_CACHE"):
        return Path(os.environ["PROXY_ATTENTION_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "proxy-attention"


def package_version(package: str) -> str:
    """The installed version of ``package``, or ``"none"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


# The files of the check's code, in the package folder: a changed check runs again. Only what the
# check runs: config.py (the schema's coercion and the other checks) and the report's labels are not
# in it, so editing them keeps the record.
CHECK_CODE = ("modelcheck.py", "models.py")


def _code_hash(here: Path | None = None) -> str:
    """The check's own code (:data:`CHECK_CODE` in the folder ``here``, default this package's), hashed."""
    here = Path(__file__).resolve().parent if here is None else Path(here)
    h = hashlib.sha256()
    for name in CHECK_CODE:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def needs_cams(config: dict) -> bool:
    """Whether a run of ``config`` makes CAMs: explanations, or a schedule with a proxy step."""
    from proxy_attention.train.schedule import parse_schedule

    return bool(config.get("explain", {}).get("enabled", False)) or any(
        parse_schedule(spec).n_proxy_steps for spec in config["schedules"])


def check_key(config: dict, name: str, code: str | None = None) -> str:
    """Everything the check of model ``name`` depends on, hashed."""
    inputs = {
        "model": name,
        "img_size": int(config["img_size"]),
        "model_kwargs": (config.get("model_kwargs") or {}).get(name) or {},
        "cam_target_layer": (config.get("cam_target_layer") or {}).get(name),
        "needs_cams": needs_cams(config),
        "timm": package_version("timm"),
        "torch": package_version("torch"),
        "code": code or _code_hash(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def read_record(path: Path) -> dict:
    """A JSON record of remembered checks; an unreadable or damaged one is empty."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` atomically, its newest :data:`MAX_ENTRIES` entries; a read-only home skips it."""
    from proxy_attention import atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, dict(list(record.items())[-MAX_ENTRIES:]))
    except OSError as e:  # a read-only home: the check just runs every time
        log.debug("cannot remember the model check in %s: %s", path, e)


def check_models(config: dict) -> None:
    """Check every model of ``config`` (name, build at ``img_size``); skip those that passed before."""
    path = cache_dir() / RECORD
    record = read_record(path)
    code = _code_hash()
    todo = []
    for name in config["models"]:
        hit = record.get(check_key(config, name, code))
        if isinstance(hit, dict):
            if hit.get("warning"):
                log.warning("%s", hit["warning"])
        else:
            todo.append(name)
    if not todo:
        return
    from proxy_attention.errors import ModelError
    from proxy_attention.models import check_model_name

    for name in todo:
        try:
            check_model_name(name)
        except ModelError as e:
            raise ConfigError(f"config key {e}") from None
    for name in todo:
        warning = check_model_at_size(config, name)
        if warning:
            log.warning("%s", warning)
        record.pop(check_key(config, name, code), None)  # re-inserted last: the newest are kept
        record[check_key(config, name, code)] = {"model": name, "warning": warning}
    write_record(path, record)


def check_model_at_size(config: dict, name: str) -> str | None:
    """What otherwise fails hours later, in a job: ``cam_target_layer`` naming a module the model
    lacks (found in the first proxy step), a ViT/Swin built for 224 px trained at ``img_size``
    without ``model_kwargs`` (``AssertionError: Input height (32) doesn't match model (224)`` in
    round 0); a CAM layer whose map is 1x1 is a warning. The model is built on the meta device (no weights, no
    memory; about 0.1 s) and run on one meta image of ``img_size``. Returns the warning, if any.
    """
    import difflib

    import timm
    import torch

    from proxy_attention.errors import CamError
    from proxy_attention.models import cam_target

    size = int(config["img_size"])
    kwargs = dict((config.get("model_kwargs") or {}).get(name) or {})
    kwargs_hint = f"model_kwargs: {{{name}: {{img_size: {size}}}}}"
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=2, **kwargs)
    except TypeError as e:
        raise ConfigError(f"config key 'model_kwargs.{name}': not accepted by timm: {e}") from None
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta is checked by its job
        return
    layer_name = (config.get("cam_target_layer") or {}).get(name)
    if layer_name:
        names = [n for n, _ in model.named_modules() if n]
        if layer_name not in names:
            close = difflib.get_close_matches(layer_name, names, n=5, cutoff=0.5)
            top = [n for n in names if "." not in n]
            hint = f"; did you mean one of {close}?" if close else f"; its top-level modules are {top}"
            raise ConfigError(f"config key 'cam_target_layer.{name}': '{layer_name}' is not a module of {name}{hint}")
    for mod_name, mod in model.named_modules():
        built = getattr(mod, "img_size", None)
        if getattr(mod, "strict_img_size", False) and built is not None and tuple(built) != (size, size):
            raise ConfigError(
                f"model '{name}' is built for {tuple(built)[0]}x{tuple(built)[1]} px images ({mod_name or 'model'}."
                f"img_size) but img_size is {size}; build it for {size} px with `{kwargs_hint}` in the config "
                "(a ViT may also want a smaller patch_size)")
    try:
        layer_name, layer, reshape = cam_target(model, layer_name)
    except CamError as e:
        raise ConfigError(f"config key 'cam_target_layer.{name}': {e}") from None
    seen = {}
    handle = layer.register_forward_hook(
        lambda m, i, out: seen.setdefault("out", out[0] if isinstance(out, (tuple, list)) else out))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.empty(1, 3, size, size, device="meta"))
    except AssertionError as e:
        raise ConfigError(f"model '{name}' cannot take {size} px images: {e}; build it for img_size {size} with "
                          f"`{kwargs_hint}` in the config") from None
    except Exception:  # noqa: BLE001 - an op without a meta kernel: the job checks it
        return
    finally:
        handle.remove()
    act = seen.get("out")
    if act is not None and reshape is not None:
        try:
            act = reshape(act)
        except Exception:  # noqa: BLE001
            return
    if needs_cams(config) and act is not None and act.ndim == 4 and act.shape[-2] * act.shape[-1] <= 1:
        # a warning only: a run of the data steps alone, or of round 0, is still fine; the proxy
        # step and explain jobs refuse it (proxy_attention.cams.check_cam_grid)
        return (f"config key 'cam_target_layer.{name}': layer '{layer_name}' has a {act.shape[-2]}x{act.shape[-1]} "
                f"feature map at img_size {size}, so every CAM is constant and the proxy steps and explain scores "
                "will refuse it; use a larger img_size or set an earlier layer")
    return None
