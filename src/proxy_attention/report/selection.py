"""The screen stage's selection as a figure: every screened configuration's validation score, chosen ones marked."""

from __future__ import annotations

import pandas as pd

from proxy_attention.report.plots import config_labels, plt, save


def plot_selection(table: pd.DataFrame, out) -> None:
    """One bar per configuration: its score (mean paired validation difference to the baseline,
    averaged over the screen's groups), each group's difference and 95% interval as a dot and line;
    chosen bars green."""
    per_config = table.drop_duplicates("config").sort_values("selection_rank")
    metric = str(per_config["metric"].iloc[0])
    sign = -1.0 if metric.endswith("loss") else 1.0  # score is the negated difference for a loss
    names = config_labels(per_config["config"])  # only the grid keys that vary
    labels = [names[c] for c in per_config["config"]]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(per_config) + 1.5))
    y = range(len(per_config))
    colors = ["tab:green" if c else "lightgrey" for c in per_config["chosen"]]
    ax.barh(list(y), sign * per_config["score"], color=colors, edgecolor="black", linewidth=0.5)
    for i, config in enumerate(per_config["config"]):
        groups = table[table["config"] == config]
        for _, g in groups.iterrows():  # each screen group's mean paired difference and 95% interval
            ax.plot([g["ci_low"], g["ci_high"]], [i, i], color="black", linewidth=0.8)
            ax.plot([g["mean_diff"]], [i], "k.", markersize=5)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(list(y), [f"#{r}  {label}" for r, label in zip(per_config["selection_rank"], labels)])
    ax.invert_yaxis()
    ax.set_xlabel(f"mean paired difference to the baseline, {metric} (screen stage, validation folds)")
    ax.set_title(f"Screen: {int(per_config['chosen'].sum())} of {len(per_config)} configurations chosen "
                 "(green) for the confirm stage")
    save(fig, out)
