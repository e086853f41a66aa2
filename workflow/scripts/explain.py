"""Score the CAMs of a run's final model on the fixed sample of test images (ROAD, confidence change)."""

from proxy_attention.analysis.explain import ExplainSettings, explain_checkpoint
from proxy_attention.logs import setup_logging
from proxy_attention.train.trainset import test_images

setup_logging(snakemake.log[0])
p = snakemake.params
x, y, rows = test_images(snakemake.input.split, snakemake.input.cache)
explain_checkpoint(
    snakemake.input.checkpoint,
    x,
    y,
    rows,
    ExplainSettings(**p.settings),
    seed=p.seed,
    out_csv=snakemake.output.csv,
    out_npz=snakemake.output.cams,
    device=p.device,
    threads=p.torch_threads,  # the config's torch_threads, not --cores
)
