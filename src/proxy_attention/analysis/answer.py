"""The report's answer, in words and as a table, written from comparison.csv (every number is one of its cells)."""

from __future__ import annotations

import html

import pandas as pd

from proxy_attention.analysis.stats import NO_PIXEL_NOTE
from proxy_attention.labels import run_labels


def pct(x, signed: bool = False) -> str:
    if pd.isna(x):
        return "n/a"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def pvalue(p) -> str:
    if pd.isna(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def describe(row, label: str) -> str:
    """``gradcam t=0.5 w=0.5: +1.2 pp [-0.3, +2.7], paired t p = 0.081 (n = 3)``."""
    ci = f"[{pct(row['ci_low'], True)}, {pct(row['ci_high'], True)}]" if pd.notna(row["ci_low"]) else "(no interval)"
    tests = f"paired t p = {pvalue(row['t_p'])}" if pd.notna(row["t_p"]) else "no t-test"
    if pd.notna(row.get("wilcoxon_p")):
        tests += f", Wilcoxon p = {pvalue(row['wilcoxon_p'])}"
    return f"{label}: {pct(row['mean_diff'], True)} pp {ci}, {tests} (n = {int(row['n_pairs'])})"


def group_answer(comp: pd.DataFrame, confidence: float, labels: dict, listed: int = 5) -> list[str]:
    """RST lines answering "does Proxy Attention help?" for one (dataset, model, schedule, reference)."""
    first = comp.iloc[0]
    reference = first["reference"]
    ref = comp[comp["method"] == reference]
    rest = comp[comp["method"] != reference]
    ref_row = ref.iloc[0] if len(ref) else None
    n = len(rest)
    level = f"{100 * confidence:.0f}%"
    protocol = f" / protocol {first['protocol']}" if "protocol" in comp and pd.notna(first.get("protocol")) else ""
    arm = first.get("augmentation") if "augmentation" in comp else None
    arm = f" / with {arm}" if isinstance(arm, str) and arm != "none" else ""
    head = (f"**{first['dataset']} / {first['model']} / schedule {first['schedule']}{protocol}{arm}, "
            f"against {reference}{' (same augmentation)' if arm else ''}**")
    lines = [head, ""]
    if len(ref) == 1:
        lines.append(f"{reference}: {pct(ref_row['mean'])}% ± {pct(ref_row['std'])} test accuracy "
                     f"(mean ± sd of {int(ref_row['n_runs'])} runs: folds x seeds).")
        lines.append("")
    elif len(ref) > 1:
        lines.append(f"{reference}: trained beside each configuration, {pct(ref['mean'].min())} to "
                     f"{pct(ref['mean'].max())}% test accuracy (means over folds x seeds).")
        lines.append("")
    better, worse = rest[rest["verdict"] == "better"], rest[rest["verdict"] == "worse"]
    few = rest[rest["verdict"] == "too few pairs"]
    if len(few) == n:
        lines.append(f"- **Cannot say**: too few paired runs for a {level} interval (need >= 2 folds x seeds).")
    elif len(better):
        lines.append(f"- **Yes for {len(better)} of {n}** configuration(s): better than {reference} "
                     f"with {level} confidence (interval above 0).")
    else:
        lines.append(f"- **No**: none of the {n} configuration(s) beat {reference} with {level} confidence.")
    if len(worse):
        lines.append(f"- {len(worse)} of {n} are *worse* with {level} confidence.")
    unclear = n - len(better) - len(worse) - len(few)
    if unclear:
        lines.append(f"- {unclear} of {n} show no clear difference (interval spans 0).")
    idle = rest[rest["note"].fillna("").str.contains(NO_PIXEL_NOTE, regex=False)] if "note" in rest else rest.iloc[:0]
    for _, row in idle.iterrows():  # not Proxy Attention at all, whatever its verdict
        lines.append(f"- **Warning**: {labels[(row['method'], row['config'])]} has {NO_PIXEL_NOTE}: it trained on "
                     "unmodified copies, not on proxies (``comparison.csv``, column ``note``).")
    lines.append("")
    shown = pd.concat([better, rest.sort_values(["rank", "config"])]).drop_duplicates(["method", "config"])
    shown = pd.concat([shown.head(max(listed, len(better))), worse]).drop_duplicates(["method", "config"])
    if len(shown):
        lines.append(f"Mean paired difference in test accuracy (percentage points) with its {level} "
                     f"t-interval, best first:")
        lines.append("")
        for _, row in shown.iterrows():
            lines.append(f"- {describe(row, labels[(row['method'], row['config'])])}: *{row['verdict']}*")
        if len(rest) > len(shown):
            lines.append(f"- ... {len(rest) - len(shown)} more in comparison.csv")
        lines.append("")
    proxy = rest[rest["method"] == "proxy"]
    if "job_s" in comp and len(ref) and len(proxy) and ref["job_s"].mean() > 0:
        ratio = proxy["job_s"].mean() / ref["job_s"].mean()
        lines.append(f"Compute: a proxy run took {ratio:.1f}x the job time of a {reference} run on average "
                     "(column ``job_s``).")
        lines.append("")
    return lines


# The questions the report answers first, one sentence each: Proxy Attention against each reference.
QUESTIONS = (
    ("baseline", "Better than plain training?", "every run has one"),
    ("baseline_matched", "Better than the same compute (the compute-matched baseline)?", "`matched_baseline: true`"),
    ("replay", "Better than showing the same images unmodified (replay)?", "`controls: [replay]`"),
    ("random_location", "Better than the same edit at random places (random_location)?",
     "`controls: [random_location]`"),
)


def question_lines(comp: pd.DataFrame, labels: dict, level: str, honest: bool = True) -> list[str]:
    """One sentence per question for one (dataset, model, schedule, protocol, arm): how many proxy
    configurations beat that reference, and the one with the largest mean paired difference."""
    lines = []
    for reference, question, how in QUESTIONS:
        rows = comp[(comp["reference"] == reference) & (comp["method"] == "proxy")]
        if rows.empty:
            why = f"needs {how}" if honest or reference == "baseline" else "the controls run under the honest protocol only"
            lines.append(f"- **{question}** Not run ({why}).")
            continue
        n = len(rows)
        better = int((rows["verdict"] == "better").sum())
        worse = int((rows["verdict"] == "worse").sum())
        shown = rows[rows["verdict"] == "better"] if better else rows  # the largest of those that answer yes
        best = shown.sort_values(["mean_diff", "config"], ascending=[False, True], na_position="last").iloc[0]
        if (rows["verdict"] == "too few pairs").all():
            head = "Cannot say: too few pairs for an interval."
        elif better:
            head = f"Yes for {better} of {n} configuration(s) ({level} interval above 0)."
        else:
            head = f"No clear gain: none of {n} configuration(s) above 0 with {level} confidence."
        if worse:
            head += f" {worse} of {n} worse."
        mde = f", smallest detectable {pct(best['mde'])} pp" if pd.notna(best.get("mde")) else ""
        lines.append(f"- **{question}** {head} Largest: {describe(best, labels[(best['method'], best['config'])])}{mde}.")
    return lines


def questions_rst(comparison: pd.DataFrame, confidence: float, labels: dict) -> list[str]:
    """The report's first lines: the four questions, per (dataset, model, schedule, protocol, arm)."""
    level = f"{100 * confidence:.0f}%"
    keys = [k for k in ("dataset", "model", "schedule", "protocol", "augmentation") if k in comparison]
    proxy = comparison[comparison["method"] == "proxy"]
    lines = []
    for ident, comp in comparison.groupby(keys, sort=False, dropna=False):
        if not len(proxy) or comp[comp["method"] == "proxy"].empty:
            continue
        ident = dict(zip(keys, ident if isinstance(ident, tuple) else (ident,)))
        arm = ident.get("augmentation")
        arm = f" / with {arm}" if isinstance(arm, str) and arm != "none" else ""
        protocol = f" / protocol {ident['protocol']}" if isinstance(ident.get("protocol"), str) else ""
        lines += [f"**Does Proxy Attention help? {ident['dataset']} / {ident['model']} / schedule "
                  f"{ident['schedule']}{protocol}{arm}** (mean paired difference in test accuracy, {level} interval)",
                  ""]
        lines += question_lines(comp, labels, level, honest=ident.get("protocol", "honest") in ("honest", None))
        lines.append("")
    return lines


def answer_rst(comparison: pd.DataFrame) -> str:
    """The first screen of the report: the four questions, then which configurations beat each
    reference, by how much, how sure."""
    if comparison.empty:
        return "No runs to compare yet.\n"
    confidence = float(comparison["confidence"].iloc[0])
    labels = dict(zip(zip(comparison["method"], comparison["config"]), run_labels(comparison["method"], comparison["config"])))
    groups = ["reference"] + [k for k in ("dataset", "model", "schedule", "protocol", "augmentation") if k in comparison]
    lines = questions_rst(comparison, confidence, labels)
    for _, comp in comparison.groupby(groups, sort=False):
        lines += group_answer(comp, confidence, labels)
    n_tested = comparison.loc[comparison["t_p"].notna()].groupby(groups).size()
    lines.append(
        "*How to read this:* a pair is a proxy run and the baseline run on the same fold and seed; "
        "the interval is a t confidence interval of the mean paired difference, and \"better\" means it lies "
        "above 0. Intervals and p-values are not adjusted for the number of configurations "
        f"(up to {int(n_tested.max()) if len(n_tested) else 0} here; the Benjamini-Hochberg-adjusted p is "
        "column ``t_p_bh``). Wilcoxon p-values need >= 6 non-zero differences. "
        "Every number above is a cell of ``results/summary/comparison.csv``."
    )
    return "\n".join(lines) + "\n"


TABLE_COLUMNS = {
    "rank": "rank", "label": "configuration", "mean": "test acc. %", "std": "sd", "n_runs": "runs",
    "mean_diff": "Δ pp", "ci": "95% CI (pp)", "t_p": "paired t p", "t_p_bh": "BH p", "wilcoxon_p": "Wilcoxon p",
    "verdict": "verdict",
}
TEXT_COLUMNS = {"label", "verdict"}

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; font-size: 13px; margin: 12px; color: #1e293b; }
h3 { font-size: 14px; margin: 18px 0 6px; }
table { border-collapse: collapse; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e2e8f0; text-align: right; white-space: nowrap; }
th { background: #f1f5f9; }
td.text, th.text { text-align: left; }
tr.better td { background: #ecfdf5; } tr.worse td { background: #fef2f2; } tr.reference td { font-weight: 600; }
p, ul { max-width: 62em; } .notes { color: #64748b; font-size: 12px; }
"""


def _cells(r, label: str) -> dict:
    is_ref = r["verdict"] == "reference"
    ci = f"[{pct(r['ci_low'], True)}, {pct(r['ci_high'], True)}]" if pd.notna(r["ci_low"]) else "n/a"
    return {
        "rank": "" if pd.isna(r["rank"]) else f"{r['rank']:.0f}", "label": label,
        "mean": pct(r["mean"]), "std": pct(r["std"]), "n_runs": f"{r['n_runs']:.0f}",
        "mean_diff": "" if is_ref else pct(r["mean_diff"], True), "ci": "" if is_ref else ci,
        "t_p": "" if is_ref else pvalue(r["t_p"]), "t_p_bh": "" if is_ref else pvalue(r["t_p_bh"]),
        "wilcoxon_p": "" if is_ref else pvalue(r["wilcoxon_p"]), "verdict": r["verdict"],
    }


def comparison_html(comparison: pd.DataFrame) -> str:
    """comparison.csv as self-contained HTML tables for the report, one per (dataset, model, schedule, reference);
    the CSV itself is the download."""
    labels = run_labels(comparison["method"], comparison["config"])
    table = comparison.assign(_label=labels)
    groups = [k for k in ("dataset", "model", "schedule", "protocol", "augmentation") if k in table] + ["reference"]
    head = "".join(f'<th class="{"text" if k in TEXT_COLUMNS else "num"}">{html.escape(v)}</th>'
                   for k, v in TABLE_COLUMNS.items())
    parts = []
    for key, comp in table.groupby(groups, sort=False):
        title = " / ".join(str(k) for k in key[:-1]) + f" &mdash; against {html.escape(str(key[-1]))}"
        rows = []
        for _, r in comp.iterrows():
            tds = "".join(f'<td class="{"text" if k in TEXT_COLUMNS else "num"}">{html.escape(str(v))}</td>'
                          for k, v in _cells(r, r["_label"]).items())
            rows.append(f'<tr class="{html.escape(str(r["verdict"]))}">{tds}</tr>')
        notes = sorted({n for note in comp["note"].dropna() for n in str(note).split("; ")
                        if n and n != "the reference"})
        note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        parts.append(f"<h3>{title}</h3>\n<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows)
                     + "\n</tbody></table>\n" + (f'<ul class="notes">{note_html}</ul>' if notes else ""))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>comparison</title>"
        f"<style>{CSS}</style></head><body>\n"
        "<p>Final test accuracy of every configuration (mean and sd over folds and seeds, in %) and its "
        "<b>paired</b> difference to the reference trained on the same folds and seeds: mean (Δ, percentage "
        "points), 95% t confidence interval, paired t-test p, the same p adjusted for the number of configurations "
        "(Benjamini-Hochberg) and the Wilcoxon signed-rank p. Green rows are better than the reference with 95% "
        "confidence, red rows worse. Source: results/summary/comparison.csv.</p>\n"
        + "\n".join(parts) + "\n</body></html>\n"
    )
