"""Original | CAM overlay | proxy image for a few images of every proxy step of one configuration."""

from proxy_attention.data.imagecache import load_cache
from proxy_attention.logs import setup_logging
from proxy_attention.report.gallery import plot_gallery

setup_logging(snakemake.log[0])
p = snakemake.params
plot_gallery(p.steps, load_cache(snakemake.input.cache), p.threshold, p.title, snakemake.output[0],
             images_per_step=p.images)
