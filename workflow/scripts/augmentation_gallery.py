"""One batch of training images under each augmentation arm of the config."""

from proxy_attention.logs import setup_logging
from proxy_attention.report.augment_gallery import augmentation_gallery

setup_logging(snakemake.log[0])
p = snakemake.params
augmentation_gallery(
    snakemake.input.split,
    snakemake.input.cache,
    p.augmentations,
    p.options,
    snakemake.output[0],
    seed=p.seed,
    n_images=p.n_images,
    label_smoothing=p.label_smoothing,
    checkpoint=snakemake.input.get("checkpoint"),
    saliency_layer=p.saliency_layer,
    title=f"{snakemake.wildcards.dataset}: one batch under each augmentation (seed {p.seed})",
)
