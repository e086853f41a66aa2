"""Score the CAMs of a fold's final models on the fixed sample of test images (ROAD, confidence change)."""

from proxy_attention.analysis.explain import ExplainSettings, explain_checkpoint
from proxy_attention.logs import setup_logging
from proxy_attention.train.trainset import test_images

setup_logging(snakemake.log[0])
p = snakemake.params
x, y, rows = test_images(snakemake.input.split, snakemake.input.cache)
settings = ExplainSettings(**p.settings)
outputs = zip(snakemake.input.checkpoints, snakemake.output.csv, snakemake.output.cams, strict=True)
for checkpoint, out_csv, out_npz in outputs:
    explain_checkpoint(
        checkpoint,
        x,
        y,
        rows,
        settings,
        seed=p.seed,
        out_csv=out_csv,
        out_npz=out_npz,
        device=p.device,
        threads=p.torch_threads,  # the config's torch_threads, not --cores
    )
