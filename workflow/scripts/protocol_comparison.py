"""Thesis-protocol gain vs honest gain for the same grid."""

import pandas as pd

from proxy_attention.analysis.protocols import protocol_comparison
from proxy_attention.atomic import write_csv
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
write_csv(snakemake.output[0], protocol_comparison(pd.read_csv(snakemake.input[0])))
