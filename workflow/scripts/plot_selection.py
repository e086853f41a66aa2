"""The selection figure of a screened grid (the table: select_configs)."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.selection import plot_selection

setup_logging(snakemake.log[0])
plot_selection(pd.read_csv(snakemake.input[0]), snakemake.output[0])
