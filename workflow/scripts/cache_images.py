"""Decode every indexed image once into a uint8 array at the configured size."""

import pandas as pd

from proxy_attention.data.imagecache import build_cache
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
build_cache(
    pd.read_csv(snakemake.input.index),
    snakemake.input.root,
    int(snakemake.wildcards.size),
    snakemake.output[0],
    threads=snakemake.threads,
)
