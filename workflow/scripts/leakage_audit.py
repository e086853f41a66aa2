"""Check that no test or validation image, or a proxy made from one, entered a training set."""

import logging
from pathlib import Path

import pandas as pd

from proxy_attention.analysis.audit import audit
from proxy_attention.atomic import write_csv
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
splits = {Path(p).parent.name: pd.read_csv(p) for p in snakemake.input.split}
table = audit(splits, snakemake.input.train_sets, snakemake.input.manifests)
write_csv(snakemake.output[0], table)
logging.info("leakage audit: %d files checked, %d leaks, %d expected leaks in the thesis-protocol reproduction",
             len(table), int((table.status == "LEAK").sum()), int(table.status.str.startswith("expected").sum()))
