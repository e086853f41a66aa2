"""Collect one fold's per-round metrics and epoch curves into two tables."""

from proxy_attention.analysis.aggregate import run_tables
from proxy_attention.atomic import write_csv
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
metrics, epochs = run_tables(snakemake.params.runs)
write_csv(snakemake.output.epochs, epochs)
write_csv(snakemake.output.runs, metrics)
