"""Validation and training accuracy by epoch, baseline vs the best configurations, proxy steps marked."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_learning_curves, select_group

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
plot_learning_curves(
    select_group(pd.read_csv(snakemake.input.epochs), w),
    select_group(pd.read_csv(snakemake.input.comparison), w),
    w["schedule"],
    snakemake.output[0],
    top=snakemake.params.top,
)
