"""Images per class in the test part and each fold, and what data validation skipped or converted."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_class_counts

setup_logging(snakemake.log[0])
plot_class_counts(pd.read_csv(snakemake.input.split), pd.read_csv(snakemake.input.data_report), snakemake.output[0])
