"""Wrong training images found, proxies written and pixels changed at every proxy step."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_proxy_counts, select_group

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
plot_proxy_counts(
    select_group(pd.read_csv(snakemake.input.runs), w),
    select_group(pd.read_csv(snakemake.input.comparison), w),
    snakemake.output[0],
    top=snakemake.params.top,
)
