"""Held-out test split plus stratified k folds, seeded from config."""

import logging

import pandas as pd

from proxy_attention.atomic import write_csv
from proxy_attention.data.split import make_split
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
split = make_split(pd.read_csv(snakemake.input[0]), folds=p.folds, seed=p.seed, test_fraction=p.test_fraction)
write_csv(snakemake.output[0], split)
logging.info("split: %s", split.groupby(["split", "fold"]).size().to_dict())
