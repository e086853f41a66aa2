"""Rank the screen stage's proxy configurations on validation and choose the confirm stage's."""

import logging

import pandas as pd

from proxy_attention.analysis.selection import select_configs
from proxy_attention.atomic import write_csv
from proxy_attention.grid import chosen_configs
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
log = logging.getLogger("select_configs")
runs = pd.read_csv(snakemake.input[0])  # select_configs drops its test columns before anything else
table = select_configs(runs, top=snakemake.params.top, metric=snakemake.params.metric)
write_csv(snakemake.output.table, table)
log.info("chose %s of %d screened configurations by %s: %s", snakemake.params.top,
         table["config"].nunique(), snakemake.params.metric, ", ".join(chosen_configs(table)))
