"""Proxy Attention beside the augmentation methods it competes with, and combined with them.

Every run has an augmentation arm (``none``: crop and flip only). For each (dataset, model,
schedule, protocol), three questions, each a paired comparison (same fold and seed) of final
test accuracy with :func:`proxy_attention.analysis.stats.compare`:

- ``vs_plain``: every arm's baseline ("X alone"), proxy configurations ("X + Proxy Attention")
  and compute-matched baseline against the plain baseline (no augmentation, no proxies);
- ``adds_to_x``: "X + Proxy Attention" against "X alone" (does Proxy Attention add to X?);
- ``pa_vs_x``: plain Proxy Attention against "X alone" (is it better than X?).

Beside each row, what it cost: mean images seen, optimizer steps and job seconds of the run
(the saliency-guided methods compute a CAM per batch, which shows in ``job_s``).
"""

from __future__ import annotations

import pandas as pd

from proxy_attention.analysis.answer import pct
from proxy_attention.analysis.stats import compare, distinct_runs

PLAIN = "none"
# Columns that say what a run cost, averaged over its pairs' runs.
COST = {"images_seen": "images_seen", "optimizer_steps": "optimizer_steps", "cum_job_s": "job_s"}
QUESTIONS = {
    "vs_plain": "against the plain baseline (no augmentation, no proxies)",
    "adds_to_x": "X + Proxy Attention against X alone: does it add?",
    "pa_vs_x": "Proxy Attention (no augmentation) against X alone: is it better?",
}
ARM_COLUMNS = ["question", "augmentation", "method", "config", "ref_augmentation", "ref_method"]


def _arm_runs(final: pd.DataFrame) -> pd.DataFrame:
    """``method`` becomes ``<augmentation>|<method>`` so that stats.compare can take any arm's run as reference."""
    out = final.copy()
    out["augmentation"] = out["augmentation"].fillna(PLAIN) if "augmentation" in out else PLAIN
    out["method"] = out["augmentation"] + "|" + out["method"]
    return out.drop(columns=["augmentation"])


def _costs(final: pd.DataFrame, columns=COST) -> pd.DataFrame:
    cols = [c for c in columns if c in final]
    return (final.groupby(["method", "config"], dropna=False)[cols].mean()
            .rename(columns=columns).reset_index())


def _question(runs: pd.DataFrame, reference: str, question: str, keep=None) -> pd.DataFrame:
    sub = runs if keep is None else runs[runs["method"].isin(keep + [reference])]
    sub = distinct_runs(sub)  # a shared control round is one run, its costs too
    if reference not in set(sub["method"]) or sub["method"].nunique() < 2:
        return pd.DataFrame()
    table = compare(sub, reference)
    table = table[table["method"] != reference].copy()
    # job_s is compare()'s; images seen and optimizer steps join it
    table = table.merge(_costs(sub, {k: v for k, v in COST.items() if v != "job_s"}), on=["method", "config"],
                        how="left")
    ref_cost = _costs(sub[sub["method"] == reference]).drop(columns=["method", "config"]).mean()
    for col, value in ref_cost.items():
        table[f"ref_{col}"] = value
    table.insert(0, "question", question)
    return table


def arm_comparison(final: pd.DataFrame) -> pd.DataFrame:
    """The three questions for every arm; empty when the runs have one arm only (``none``)."""
    if "augmentation" not in final or final["augmentation"].fillna(PLAIN).nunique() < 2:
        return pd.DataFrame()
    runs = _arm_runs(final)
    arms = sorted(set(final["augmentation"].fillna(PLAIN)) - {PLAIN})
    tables = [_question(runs, f"{PLAIN}|baseline", "vs_plain")]
    for arm in arms:
        x_alone = f"{arm}|baseline"
        tables.append(_question(runs, x_alone, "adds_to_x", keep=[f"{arm}|proxy"]))
        tables.append(_question(runs, x_alone, "pa_vs_x", keep=[f"{PLAIN}|proxy"]))
    table = pd.concat([t for t in tables if len(t)], ignore_index=True)
    if table.empty:
        return table
    split = table["method"].str.split("|", n=1, expand=True)
    table["augmentation"], table["method"] = split[0], split[1]
    ref = table["reference"].str.split("|", n=1, expand=True)
    table["ref_augmentation"], table["ref_method"] = ref[0], ref[1]
    front = [c for c in ["dataset", "model", "schedule", "protocol", *ARM_COLUMNS] if c in table]
    return table[front + [c for c in table.columns if c not in front and c != "reference"]]


def arm_label(augmentation: str, method: str, config_label: str) -> str:
    """``cutmix alone``, ``cutmix + gradcam t=0.5``, ``cutmix, matched: ...``, ``Proxy Attention: ...``."""
    x = "no augmentation" if augmentation == PLAIN else augmentation
    if method == "baseline":
        return f"{x} alone" if augmentation != PLAIN else "plain baseline"
    if method == "proxy":
        return f"{x} + PA {config_label}" if augmentation != PLAIN else f"PA {config_label}"
    what = {"baseline_matched": "matched baseline", "replay": "replay control",
            "random_location": "random-location control"}.get(method, method)
    return f"{x}, {what} {config_label}".strip()


def arms_rst(table: pd.DataFrame) -> str:
    """The report's first-screen section on the augmentation arms: one RST table per group and question."""
    if table.empty:
        return ""
    from proxy_attention.labels import config_labels

    labels = config_labels(table["config"], table["config"])
    lines = ["**Augmentation arms: compared with, and combined with, Proxy Attention (PA)**", ""]
    groups = [k for k in ("dataset", "model", "schedule", "protocol") if k in table]
    for key, g in table.groupby(groups, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for question, q in g.groupby("question", sort=False):
            lines += [f"*{' / '.join(map(str, key))}: {QUESTIONS[question]}*", "",
                      ".. list-table::", "   :header-rows: 1", "",
                      "   * - run", "     - reference", "     - test acc. %", "     - Δ pp [95% CI]",
                      "     - paired t p", "     - n", "     - images seen", "     - steps", "     - job s"]
            for r in q.sort_values("mean_diff", ascending=False).itertuples():
                run = arm_label(r.augmentation, r.method, labels.get(str(r.config), ""))
                ref = arm_label(r.ref_augmentation, r.ref_method, "")
                ci = f"{pct(r.mean_diff, True)} [{pct(r.ci_low, True)}, {pct(r.ci_high, True)}]"
                p = "n/a" if pd.isna(r.t_p) else f"{r.t_p:.2g}"
                steps = "n/a" if pd.isna(r.optimizer_steps) else f"{r.optimizer_steps:,.0f}"
                seen = "n/a" if pd.isna(r.images_seen) else f"{r.images_seen:,.0f}"
                job = "n/a" if pd.isna(r.job_s) else f"{r.job_s:,.0f}"
                lines += [f"   * - {run}", f"     - {ref}", f"     - {pct(r.mean)}", f"     - {ci}", f"     - {p}",
                          f"     - {int(r.n_pairs) if pd.notna(r.n_pairs) else 0}", f"     - {seen}", f"     - {steps}",
                          f"     - {job}"]
            lines.append("")
    lines += ["Pairs are runs on the same fold and seed; every arm trains the same epochs, folds and seeds. "
              "Training accuracy is not reported for the mixing arms (Mixup, CutMix, SaliencyMix, Attentive "
              "CutMix): their targets are mixed labels. Source: results/summary/augmentations.csv.", ""]
    return "\n".join(lines) + "\n"
