"""Score the CAMs of a fold's final models on the fixed sample of test images (ROAD, confidence change)."""

from proxy_attention.analysis.explain import ExplainSettings, explain_checkpoint
from proxy_attention.logs import end_job, setup_logging
from proxy_attention.train.trainset import test_images

setup_logging(snakemake.log[0])
p = snakemake.params
x, y, rows = test_images(snakemake.input.split, snakemake.input.cache)
settings = ExplainSettings(**p.settings)
# the fold's explain/ folder: <run>.csv and <run>.npz per run
for checkpoint, out_csv in zip(snakemake.input.checkpoints, p.csv, strict=True):
    out_npz = out_csv.removesuffix(".csv") + ".npz"
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
if __name__ == "__main__":
    end_job()  # skip the interpreter's teardown of torch (about 1 s per job)
