"""TensorBoard event files of every run's per-epoch curves (optional: needs the tensorboard package)."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.tensorboard import write_event_files

setup_logging(snakemake.log[0])
write_event_files(pd.read_csv(snakemake.input[0]), snakemake.output[0])
