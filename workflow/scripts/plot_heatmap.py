"""Mean paired accuracy difference over proxy_threshold x proxy_image_weight, one panel per CAM method."""

import pandas as pd

from proxy_attention.logs import setup_logging
from proxy_attention.report.comparison import plot_difference_heatmap
from proxy_attention.report.plots import select_group

setup_logging(snakemake.log[0])
w = dict(snakemake.wildcards.items())
comparison = select_group(pd.read_csv(snakemake.input[0]), w)
plot_difference_heatmap(comparison, snakemake.output[0], reference=snakemake.params.reference)
