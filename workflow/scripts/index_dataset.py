"""Index a dataset folder and write the data report of skipped and converted files."""

from proxy_attention.atomic import write_csv
from proxy_attention.index import index_folder
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
result = index_folder(snakemake.input[0], threads=snakemake.threads)
write_csv(snakemake.output.report, result.report)
write_csv(snakemake.output.index, result.index)
