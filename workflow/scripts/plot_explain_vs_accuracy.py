"""Final models: test accuracy beside the explanation scores, baseline vs each proxy configuration."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_explain_vs_accuracy

setup_logging(snakemake.log[0])
plot_explain_vs_accuracy(pd.read_csv(snakemake.input[0]), snakemake.output[0])
