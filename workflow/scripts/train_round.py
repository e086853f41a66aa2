"""Train one round of a run (round 0, a baseline, matched-baseline or proxy round) and evaluate it.

A proxy round's job first runs the proxy step before it (outputs ``manifest``, ``images``...): the
process that pays torch's and timm's start-up once does both.
"""

from pathlib import Path

from proxy_attention.devices import claim_gpus
from proxy_attention.logs import end_job, setup_logging
from proxy_attention.train.batchsize import read_batch_size
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import train_round
from proxy_attention.train.trainset import load_round, search_set, write_record

setup_logging(snakemake.log[0])
claim_gpus(snakemake.resources.get("gpu", 0))  # a free GPU of a multi-GPU machine, before CUDA starts
w = snakemake.wildcards
params = dict(snakemake.params.settings)
# the fold's split and image cache, and which images of it this round uses
fold = (snakemake.input.split, snakemake.input.cache, int(w.fold), w.protocol, int(w.seed), snakemake.params.round)
manifests = list(snakemake.input.get("manifests", []))
if "manifest" in snakemake.output.keys() and not snakemake.params.get("random_location"):
    # train_proxy: the proxy step r, then round r with its images
    from proxy_attention.proxy.job import write_proxy_step

    step = write_proxy_step(
        *fold,
        snakemake.input.init,
        out_dir=Path(snakemake.output.manifest).parent,
        **snakemake.params.proxy_step,
        threads=params["torch_threads"],  # the config's torch_threads, not --cores
    )
    manifests.append(step)
# the controls (proxy/controls.py): their extra images, or their own edit at another place
replay_rows, matched_extra = None, 0
if snakemake.params.get("first_step"):  # a shared round 1: the first proxy step's selection, recomputed
    from proxy_attention.proxy.controls import first_step_rows

    first = snakemake.params.first_step
    rows = first_step_rows(
        snakemake.input.init,
        *fold[:5],
        first["subset_wrong"],
        first["subset_order"],
        batch_size=first["batch_size"],
        device=first["device"],
    )
    if first["kind"] == "replay":
        replay_rows = rows
    else:
        matched_extra = len(rows)
if snakemake.input.get("replay_manifests"):
    from proxy_attention.proxy.controls import manifest_rows

    replay_rows = manifest_rows(list(snakemake.input.replay_manifests))
if snakemake.params.get("random_location"):
    from proxy_attention.proxy.controls import write_random_location_step

    manifests.append(
        write_random_location_step(
            Path(snakemake.input.of_step).parent,
            snakemake.input.cache,
            Path(snakemake.output.manifest).parent,
            snakemake.params.random_location["proxy"],
            seed=int(w.seed),
            round_=snakemake.params.round,
        )
    )
data, record, classes = load_round(
    *fold,
    manifests=manifests,
    matched_manifests=snakemake.input.get("matched_manifests", []),
    matched_extra=matched_extra,
    replay_rows=replay_rows,
)
if snakemake.input.get("batch_size"):  # training.batch_size: auto
    params["batch_size"] = read_batch_size(snakemake.input.batch_size)
settings = TrainSettings(**params, num_classes=len(classes), classes=classes)
# a proxy step follows this round: record its misclassified search while the model is in memory
search = search_set(data, record) if snakemake.params.feeds_proxy_step else None
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
    threads=settings.torch_threads,  # the config's torch_threads, not --cores
    search=search,
)
write_record(snakemake.output.train_set, record)
if __name__ == "__main__":
    end_job()  # skip the interpreter's teardown of torch (about 1 s per job)
