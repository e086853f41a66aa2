"""The numbers are a function of the config alone: `torch_threads`, never Snakemake's --cores.

Snakemake scales a rule's `threads` down to --cores, and torch's CPU kernels reduce in another
order with another thread count; a job that used snakemake.threads gave other weights at
--cores 1 than at --cores 2.
"""

import runpy
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from test_train import tiny_data

from proxy_attention.models import load_checkpoint
from proxy_attention.train.settings import train_settings

SCRIPTS = REPO / "workflow" / "scripts"


class Obj(dict):
    """The parts of the `snakemake` object a script reads: attributes and .get()."""

    __getattr__ = dict.__getitem__


def run_train_script(tmp: Path, monkeypatch, scheduler_threads: int, torch_threads: int) -> Path:
    """workflow/scripts/train_round.py as Snakemake runs it, with `threads` scaled to the cores."""
    import proxy_attention.train.trainset as trainset

    data = tiny_data(size=32)
    monkeypatch.setattr(trainset, "load_round", lambda *a, **k: (data, {}, ["a", "b", "c"]))
    monkeypatch.setattr(trainset, "write_record", lambda path, record: Path(path).write_text(""))
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # setup_logging redirects it to the log
    config = {"training": {"batch_size": 8, "lr": 3e-3, "crop_pad": 2, "hflip": True},
              "pretrained": {}, "model_kwargs": {}, "img_size": 32, "torch_threads": torch_threads}
    d = tmp / f"cores{scheduler_threads}"
    d.mkdir()
    smk = Obj(
        input=Obj(split="split.csv", cache="cache.npy"),
        output=Obj(checkpoint=str(d / "checkpoint.pt"), metrics=str(d / "metrics.json"),
                   epochs=str(d / "epochs.csv"), train_set=str(d / "train_set.npz")),
        params=Obj(round=0, settings=train_settings(config, "resnet10t", 3), run_info={},
                   feeds_proxy_step=False),
        wildcards=Obj(fold="0", protocol="honest", seed="3", schedule="1"),
        log=[str(d / "log.txt")],
        resources=Obj(),
        threads=scheduler_threads,
    )
    runpy.run_path(str(SCRIPTS / "train_round.py"), init_globals={"snakemake": smk})
    return d / "checkpoint.pt"


def test_weights_do_not_depend_on_the_cores(tmp_path, monkeypatch):
    """Each job starts in a process whose torch has as many threads as Snakemake gave the job (its
    `threads`, scaled to --cores); every epoch must still run with the config's torch_threads."""
    from proxy_attention.train.trainer import Trainer

    seen = []  # torch's thread count at every training epoch
    train_epoch = Trainer.train_epoch

    def spy(self, *a, **k):
        seen.append(torch.get_num_threads())
        return train_epoch(self, *a, **k)

    monkeypatch.setattr(Trainer, "train_epoch", spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the process as a job at --cores 1 finds it
        one = run_train_script(tmp_path, monkeypatch, scheduler_threads=1, torch_threads=1)
        threads_one, seen[:] = list(seen), []
        torch.set_num_threads(2)  # ... and at --cores 2
        two = run_train_script(tmp_path, monkeypatch, scheduler_threads=2, torch_threads=1)
    finally:
        torch.set_num_threads(before)
    # the promise itself: training ran with torch_threads, whatever the process started with
    assert threads_one and set(threads_one) == {1} and set(seen) == {1}, (threads_one, seen)
    a, b = load_checkpoint(one), load_checkpoint(two)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]), "weights differ with --cores"
    assert a["settings"]["torch_threads"] == 1  # recorded in the run's settings


@pytest.mark.parametrize("script", ["train_round.py", "explain.py", "find_batch_size.py"])
def test_computing_scripts_never_read_snakemakes_threads(script):
    assert "snakemake.threads" not in (SCRIPTS / script).read_text()


def test_every_computing_rule_gets_torch_threads_as_a_param():
    rules = (REPO / "workflow" / "rules")
    text = {f.name: f.read_text() for f in rules.glob("*.smk")}
    # the rules of the scripts above (train_round0's params are inherited by the other rounds)
    assert "settings=round_settings" in text["train.smk"]  # torch_threads is in TrainSettings
    for name, count in [("train.smk", 1), ("explain.smk", 1)]:
        assert text[name].count("torch_threads=TORCH_THREADS") == count, name


def test_default_config_never_oversubscribes_one_core():
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config["torch_threads"] == 1
