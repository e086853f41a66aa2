"""Test accuracy after every round, baseline vs each proxy configuration, one point per fold."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_accuracy_by_round

setup_logging(snakemake.log[0])
plot_accuracy_by_round(pd.read_csv(snakemake.input[0]), snakemake.output[0])
