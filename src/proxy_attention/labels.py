"""Short labels of proxy configurations and runs, for tables, legends and the report's text.

``cam_method~gradcam/proxy_threshold~0.5/...`` (a configuration's path,
:func:`proxy_attention.config.proxy_config_name`) becomes ``gradcam t=0.5 ...``, showing only the grid
keys that vary. Pure string functions of the path layout: the report's figures (``report/``) and
the report's text built in ``analysis/`` (``answer.py``, ``arms.py``) both import them, so they live
below both; and outside ``config.py``, so that editing a label keeps the remembered model check
(:mod:`proxy_attention.modelcheck`).
"""

from __future__ import annotations

from proxy_attention.grid import PROXY_GRID_KEYS

ABBREV = {"proxy_threshold": "t", "proxy_image_weight": "w", "subset_wrong": "sub", "clear_every_step": "clear",
          "subset_order": "order", "replacement": "repl", "cam_target": "target"}


def _parts(config: str) -> dict:
    return dict(p.split("~", 1) for p in str(config).split("/") if "~" in p)


def short_config(config: str, keys=None) -> str:
    """``cam_method~gradcam/proxy_threshold~0.5/...`` -> ``gradcam t=0.5 w=0.5 ...`` for legends.

    ``keys``: the grid keys to show besides the CAM method (default: all). Non-proxy
    configurations (``baseline``) are returned as they are.
    """
    if "~" not in str(config):
        return str(config)
    parts = _parts(config)
    if str(config).startswith("shared/"):  # a control round shared by every configuration with these keys
        return "shared by " + " ".join(f"{ABBREV.get(k, k)}={v}" for k, v in parts.items())
    label = [parts.pop("cam_method", "")]
    label += [f"{ABBREV.get(k, k)}={v}" for k, v in parts.items() if keys is None or k in keys]
    return " ".join(label)


def config_labels(configs, universe=None) -> dict[str, str]:
    """Short labels of several configurations that show only the grid keys that differ between them
    (or between the configurations of ``universe``, so that a subset is labelled like the whole)."""
    configs = list(dict.fromkeys(str(c) for c in configs))
    proxy = [_parts(c) for c in (configs if universe is None else {str(c) for c in universe})
             if "~" in c and not c.startswith("shared/")]
    varying = {k for k in PROXY_GRID_KEYS if len({p.get(k) for p in proxy}) > 1}
    return {c: short_config(c, varying) for c in configs}


def run_labels(methods, configs, universe=None) -> list[str]:
    """Labels of runs: ``baseline``, the short proxy configuration, or ``<method>: <configuration>``
    for other methods trained per configuration (e.g. a compute-matched baseline). Labels name the
    grid keys that vary among ``universe`` (default: among ``configs``)."""
    methods, configs = [str(m) for m in methods], [str(c) for c in configs]
    names = config_labels(configs, universe)
    names.update({c: short_config(c) for c in configs if c.startswith("shared/")})
    return [names[c] if m in ("proxy", c) else f"{m}: {names[c]}" for m, c in zip(methods, configs)]
