"""Thesis-protocol gain vs honest gain for the same grid."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.analysis.protocols import protocol_comparison
from proxy_attention.atomic import write_csv
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
write_csv(snakemake.output[0], protocol_comparison(pd.read_csv(snakemake.input[0])))
