"""Print the tables of docs/results.md from a finished run's comparison.csv and augmentations.csv.

    python tools/results_table.py [results/summary]
    python tools/results_table.py --arm-baselines results/runs/<dataset>/<model>/<schedule>/<protocol>

One row per question and augmentation arm: the mean paired difference of final test accuracy
(percentage points), its 95% t-interval, the number of pairs (folds x seeds) and the smallest
difference the design could detect at 80% power from the observed spread of the pairs (``mde``).
Every number is a cell of the two CSV files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

QUESTIONS = {
    "baseline": "PA vs plain training",
    "baseline_matched": "PA vs the same compute (matched baseline)",
    "replay": "PA vs the same images unmodified (replay)",
    "random_location": "PA vs the same edit at random places",
}


def pp(x, signed=True) -> str:
    return "n/a" if pd.isna(x) else (f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}")


def row(label: str, r) -> str:
    return (f"| {label} | {pp(r['mean_diff'])} | [{pp(r['ci_low'])}, {pp(r['ci_high'])}] | {int(r['n_pairs'])} | "
            f"{pp(r['mde'], False)} | {r['verdict']} |")


def main(summary: Path) -> None:
    comp = pd.read_csv(summary / "comparison.csv")
    head = ("| question | mean diff (pp) | 95% CI (pp) | pairs | detectable at 80% power (pp) | verdict |\n"
            "|---|---|---|---|---|---|")
    arms = comp["augmentation"].fillna("none").unique() if "augmentation" in comp else ["none"]
    print(head)
    for arm in arms:
        sub = comp[(comp.get("augmentation", "none") == arm) & (comp["method"] == "proxy")]
        for ref, question in QUESTIONS.items():
            for _, r in sub[sub["reference"] == ref].iterrows():
                print(row(f"{question}, arm {arm}", r))
    arms_csv = summary / "augmentations.csv"
    if arms_csv.exists() and arms_csv.stat().st_size > 1:
        a = pd.read_csv(arms_csv)
        if len(a):
            print()
            print(head.replace("| question |", "| comparison |"))
            for _, r in a.iterrows():
                label = f"{r['question']}: {r['augmentation']} {r['method']}"
                if isinstance(r.get("config"), str) and r["config"] not in ("none", "nan"):
                    label += f" ({r['config'].split('/')[0]})"
                print(row(f"{label} vs {r['ref_augmentation']} {r['ref_method']}", r))
    runs = pd.read_csv(summary / "runs.csv")
    final = runs[runs["round"] == runs.groupby(["augmentation", "method", "config", "seed", "fold"])["round"].transform("max")]
    print()
    print("| arm | method | test accuracy % (mean ± sd) | runs |\n|---|---|---|---|")
    for (arm, method), g in final.groupby(["augmentation", "method"], sort=False):
        g = g.drop_duplicates("metrics_file")
        print(f"| {arm} | {method} | {100 * g['test_acc'].mean():.1f} ± {100 * g['test_acc'].std():.1f} | {len(g)} |")


def arm_baselines(runs_dir: Path) -> None:
    """Each augmentation arm's baseline ("X alone") against the plain baseline, paired by fold and seed,
    from the final rounds' metrics.json under ``runs_dir`` (for a grid whose arms have not yet run
    their proxy and control runs, so that the workflow's augmentations.csv is not there yet)."""
    import json

    from proxy_attention.analysis.stats import compare

    rows = []
    for path in sorted(runs_dir.rglob("baseline/round*/metrics.json")):
        m = json.loads(path.read_text())
        rows.append({k: m[k] for k in ("dataset", "model", "schedule", "protocol", "seed", "fold", "round",
                                       "epoch", "test_acc")} | {"method": m["augmentation"], "config": "none"})
    final = pd.DataFrame(rows)
    final = final[final["round"] == final.groupby(["method", "seed", "fold"])["round"].transform("max")]
    pairs = final.groupby(["seed", "fold"])["method"].transform("nunique") == final["method"].nunique()
    final = final[pairs]  # the pairs every arm has finished
    table = compare(final, reference="none")
    print("| arm alone vs plain training | mean diff (pp) | 95% CI (pp) | pairs | detectable at 80% power (pp) | verdict |\n"
          "|---|---|---|---|---|---|")
    for _, r in table[table["method"] != "none"].iterrows():
        print(row(str(r["method"]), r))
    print()
    print("| arm | test accuracy % (mean ± sd) | runs |\n|---|---|---|")
    for arm, g in final.groupby("method"):
        print(f"| {arm} | {100 * g['test_acc'].mean():.1f} ± {100 * g['test_acc'].std():.1f} | {len(g)} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--arm-baselines":
        arm_baselines(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/summary"))
