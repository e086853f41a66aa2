"""Wall time per rule from Snakemake's benchmark files."""

from proxy_attention.workers.client import run_in_worker

run_in_worker("pandas")  # a local run: what follows runs in a fork of the run's pandas worker (no torch)

import pandas as pd

from proxy_attention.analysis.aggregate import benchmark_seconds
from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_runtime

setup_logging(snakemake.log[0])
jobs = pd.DataFrame(
    [{"rule": rule, "file": f, "s": benchmark_seconds(f)} for rule, files in snakemake.input.items() for f in files]
)
plot_runtime(jobs, snakemake.output[0])
