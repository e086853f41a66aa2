"""Test-split confusion matrices of the reference and of the best configuration, summed over folds and seeds."""

import json
import logging

import numpy as np
import pandas as pd

from proxy_attention.labels import run_labels
from proxy_attention.logs import setup_logging
from proxy_attention.report.comparison import confusion_counts, plot_confusion
from proxy_attention.report.plots import select_group, top_configs

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
ref = snakemake.params.reference
comparison = select_group(pd.read_csv(snakemake.input.comparison), w)
split = pd.read_csv(snakemake.input.split)
test = split[split["split"] == "test"]  # test predictions are stored in split order
classes = split.drop_duplicates("label_idx").sort_values("label_idx")["label"].astype(str).tolist()
best = top_configs(comparison, 1, ref)
show = [(ref, ref)] + [("proxy", c) for c in best]  # (method, config); the baseline's config is its name
final = snakemake.params.final  # {method: {config: [metrics.json of each fold and seed]}}
labels = test["label_idx"].to_numpy()
matrices = {}
for (method, config), name in zip(show, run_labels(*zip(*show))):
    preds = []
    for path in final.get(method, {}).get(config, []):
        pred = np.asarray(json.loads(open(path).read())["test_pred"])
        if len(pred) != len(test):
            raise ValueError(f"{path}: {len(pred)} test predictions, but {snakemake.input.split} has {len(test)} test rows")
        preds.append(pred)
    if preds:
        title = f"{name} ({len(preds)} runs)" + (", best by mean paired difference" if method != ref else "")
        matrices[title] = confusion_counts(labels, preds, len(classes))
logging.getLogger("confusion").info("best configuration: %s", best)
plot_confusion(matrices, classes, snakemake.output[0])
