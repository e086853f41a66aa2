"""Wall time per rule from Snakemake's benchmark files."""

import pandas as pd

from proxy_attention.analysis.aggregate import benchmark_seconds
from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_runtime

setup_logging(snakemake.log[0])
jobs = pd.DataFrame(
    [{"rule": rule, "file": f, "s": benchmark_seconds(f)} for rule, files in snakemake.input.items() for f in files]
)
plot_runtime(jobs, snakemake.output[0])
