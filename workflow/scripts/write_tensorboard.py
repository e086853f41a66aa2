"""TensorBoard event files of every run's per-epoch curves (optional: needs the tensorboard package)."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.tensorboard import write_event_files

setup_logging(snakemake.log[0])
write_event_files(pd.read_csv(snakemake.input[0]), snakemake.output[0])
