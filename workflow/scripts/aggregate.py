"""Concatenate the fold summaries into results/summary/{runs,epochs}.csv."""

from proxy_attention.analysis.aggregate import concat_tables
from proxy_attention.atomic import write_csv
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
write_csv(snakemake.output.epochs, concat_tables(snakemake.input.epochs))
write_csv(snakemake.output.runs, concat_tables(snakemake.input.runs))
