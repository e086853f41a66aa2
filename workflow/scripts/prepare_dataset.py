"""Bring a dataset into the common layout resources/datasets/<name>/{train,test}/<class>/."""

from proxy_attention.data.datasets import prepare_dataset
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
options = {k: v for k, v in snakemake.params.options.items() if k != "listing"}  # the folder fingerprint
prepare_dataset(snakemake.wildcards.dataset, options, snakemake.output[0], archives=list(snakemake.input))
