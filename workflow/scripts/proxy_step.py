"""One proxy step: misclassified training images of the fold -> CAMs -> proxy PNGs + manifest."""

import pandas as pd

from proxy_attention.data import load_fold
from proxy_attention.logs import setup_logging
from proxy_attention.proxy import ProxySettings, run_proxy_step

setup_logging(snakemake.log[0])
p = snakemake.params
fold = load_fold(snakemake.input.split, snakemake.input.cache, int(snakemake.wildcards.fold))
grid = {k: v for k, v in p.proxy.items() if k in ProxySettings.__dataclass_fields__}
settings = ProxySettings(**grid, cam_target_layer=p.cam_target_layer, batch_size=p.batch_size)
run_proxy_step(
    snakemake.input.checkpoint,
    fold.x["train"],
    fold.y["train"],
    fold.rows["train"],
    pd.read_csv(snakemake.input.index)["path"].tolist(),
    fold.classes,
    settings,
    seed=int(snakemake.wildcards.seed),
    round_=p.round,
    out_dir=snakemake.output.manifest.rsplit("/", 1)[0],
    device=p.device,
    threads=snakemake.threads,
)
