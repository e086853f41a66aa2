"""The augmentation arms' paired differences with intervals, for one (dataset, model, schedule, protocol)."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.arms import plot_arms
from proxy_attention.report.plots import GROUP_CANDIDATES

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
table = pd.read_csv(snakemake.input[0])
for key in GROUP_CANDIDATES:
    if key in w and key in table:
        table = table[table[key].astype(str) == str(w[key])]
plot_arms(table, snakemake.output[0])
