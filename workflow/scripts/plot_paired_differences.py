"""Per configuration: each fold's paired difference to the baseline, the mean and its 95% interval."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.comparison import plot_paired_differences
from proxy_attention.report.plots import select_group

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
plot_paired_differences(
    select_group(pd.read_csv(snakemake.input.pairs), w),
    select_group(pd.read_csv(snakemake.input.comparison), w),
    snakemake.output[0],
    reference=snakemake.params.reference,
)
