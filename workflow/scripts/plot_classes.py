"""Images per class in the test part and each fold, and what data validation skipped or converted."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_class_counts

setup_logging(snakemake.log[0])
plot_class_counts(pd.read_csv(snakemake.input.split), pd.read_csv(snakemake.input.data_report), snakemake.output[0])
