"""Index a dataset folder; write the data report (skipped or converted files) and the per-class counts."""

from proxy_attention.atomic import write_csv
from proxy_attention.data.index import index_folder
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
result = index_folder(snakemake.input[0], threads=snakemake.threads, official_test=p.official_test,
                      max_per_class=p.max_per_class, dataset=snakemake.wildcards.dataset)
write_csv(snakemake.output.report, result.report)
write_csv(snakemake.output.class_counts, result.class_counts)
write_csv(snakemake.output.index, result.index)
