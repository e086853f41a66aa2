"""Test accuracy after every round, baseline vs each proxy configuration, one point per fold."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_accuracy_by_round

setup_logging(snakemake.log[0])
plot_accuracy_by_round(pd.read_csv(snakemake.input[0]), snakemake.output[0])
