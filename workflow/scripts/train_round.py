"""Train one round of a run (round 0, a baseline round or a proxy round) and evaluate it."""

import torch

from proxy_attention.batchsize import read_batch_size
from proxy_attention.data import load_fold, load_proxies
from proxy_attention.logs import setup_logging
from proxy_attention.schedule import parse_schedule
from proxy_attention.train import TrainSettings, train_round

setup_logging(snakemake.log[0])
w = snakemake.wildcards
fold = load_fold(snakemake.input.split, snakemake.input.cache, int(w.fold))
params = dict(snakemake.params.settings)
if snakemake.input.get("batch_size"):  # training.batch_size: auto
    params["batch_size"] = read_batch_size(snakemake.input.batch_size)
settings = TrainSettings(**params, num_classes=len(fold.classes), classes=fold.classes)
proxy_x, proxy_y = load_proxies(snakemake.input.get("manifests", []), settings.img_size)
data = {
    "train_x": torch.cat([fold.x["train"], proxy_x]),
    "train_y": torch.cat([fold.y["train"], proxy_y]),
    "n_proxies": len(proxy_y),
    "val_x": fold.x["val"],
    "val_y": fold.y["val"],
    "test_x": fold.x["test"],
    "test_y": fold.y["test"],
}
train_round(
    settings,
    parse_schedule(w.schedule),
    snakemake.params.round,
    data,
    init_ckpt=snakemake.input.get("init"),
    out_ckpt=snakemake.output.checkpoint,
    out_metrics=snakemake.output.metrics,
    out_epochs=snakemake.output.epochs,
    run_info=snakemake.params.run_info,
    threads=snakemake.threads,
)
