"""Score the CAMs of a run's final model on the fixed sample of test images (ROAD, confidence change)."""

from proxy_attention.data import load_fold
from proxy_attention.explain import ExplainSettings, explain_checkpoint
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
fold = load_fold(snakemake.input.split, snakemake.input.cache, int(snakemake.wildcards.fold))
explain_checkpoint(
    snakemake.input.checkpoint,
    fold.x["test"],
    fold.y["test"],
    fold.rows["test"],
    ExplainSettings(**p.settings),
    seed=p.seed,
    out_csv=snakemake.output.csv,
    out_npz=snakemake.output.cams,
    device=p.device,
    threads=snakemake.threads,
)
