"""One proxy step: misclassified training images of the fold -> CAMs -> proxy PNGs + manifest."""

from pathlib import Path

from proxy_attention.devices import claim_gpus
from proxy_attention.logs import setup_logging
from proxy_attention.proxy.step import ProxySettings, run_proxy_step
from proxy_attention.train.trainset import proxy_candidates

setup_logging(snakemake.log[0])
claim_gpus(snakemake.resources.get("gpu", 0))  # a free GPU of a multi-GPU machine, before CUDA starts
p = snakemake.params
w = snakemake.wildcards
x, y, rows, classes, paths = proxy_candidates(
    snakemake.input.split, snakemake.input.cache, int(w.fold), w.protocol, int(w.seed), p.round
)
grid = {k: v for k, v in p.proxy.items() if k in ProxySettings.__dataclass_fields__}
settings = ProxySettings(**grid, cam_target_layer=p.cam_target_layer, batch_size=p.batch_size)
run_proxy_step(
    snakemake.input.checkpoint,
    x,
    y,
    rows,
    paths,
    classes,
    settings,
    seed=int(w.seed),
    round_=p.round,
    out_dir=Path(snakemake.output.manifest).parent,
    device=p.device,
    threads=p.torch_threads,  # the config's torch_threads, not --cores
)
