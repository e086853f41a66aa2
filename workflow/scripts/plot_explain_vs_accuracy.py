"""Final models: test accuracy beside the explanation scores, baseline vs each proxy configuration."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_explain_vs_accuracy

setup_logging(snakemake.log[0])
plot_explain_vs_accuracy(pd.read_csv(snakemake.input[0]), snakemake.output[0])
