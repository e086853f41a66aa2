"""Fetch one archive of a published dataset (official URL, mirror or Kaggle), verified, atomically."""

from proxy_attention.data.datasets.download import fetch
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
name = snakemake.wildcards.dataset
fetch(name, snakemake.config["datasets"][name] or {}, snakemake.wildcards.filename, snakemake.output[0])
