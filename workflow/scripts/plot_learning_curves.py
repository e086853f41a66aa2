"""Validation and training accuracy by epoch, baseline vs the best configurations, proxy steps marked."""

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
