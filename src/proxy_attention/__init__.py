"""Proxy Attention: CAM-guided augmentation of misclassified training images.

The package holds the logic; ``workflow/`` wires it into a Snakemake pipeline. Its
sub-packages follow the steps of the workflow's DAG, so the code of a rule is found by
its folder:

- :mod:`proxy_attention.data`      dataset -> index -> split -> image cache (``rules/data.smk``)
- :mod:`proxy_attention.augment`   what is done to each training batch: crop and flip, and the
  augmentation arms (Mixup, CutMix, ..., SaliencyMix; docs/augmentations.md)
- :mod:`proxy_attention.train`     training rounds, training sets, schedules (``rules/train.smk``)
- :mod:`proxy_attention.proxy`     the proxy step: selection, proxy images (run by ``train_proxy``, ``rules/train.smk``)
- :mod:`proxy_attention.analysis`  tables, statistics, the answer, audits, explanations
  (``rules/analysis.smk``, ``rules/explain.smk``)
- :mod:`proxy_attention.report`    figures for ``snakemake --report`` (``rules/report.smk``)

Shared by all of them:

- :mod:`proxy_attention.config`    config checks beyond the schema
- :mod:`proxy_attention.modelcheck`  the config's model check (built on the meta device), remembered once passed
- :mod:`proxy_attention.labels`    short labels of configurations and runs (tables, legends, the report)
- :mod:`proxy_attention.grid`      the runs a config asks for and their files (the proxy grid, folds, targets)
- :mod:`proxy_attention.paths`     the workflow's file layout (path arithmetic of the rules)
- :mod:`proxy_attention.models`    timm models, checkpoints, CAM target layers
- :mod:`proxy_attention.cams`      batched CAMs on the model's device (pytorch-grad-cam's classes)
- :mod:`proxy_attention.devices`   the device resolver and GPU claims of multi-GPU machines
- :mod:`proxy_attention.errors`    the error types
- :mod:`proxy_attention.atomic`    atomic writes of files and folders
- :mod:`proxy_attention.logs`      a rule's log file
- :mod:`proxy_attention.runlock`   one run at a time in a working directory (taken by the Snakefile)
- :mod:`proxy_attention.workers`   a local run's warm worker: script jobs start as forks of a process
  that imported torch, pandas and seaborn once (the Snakefile's ``shell.prefix``)
- :mod:`proxy_attention.cli`, :mod:`proxy_attention.predict`   the ``proxy-attention`` command
"""

__version__ = "0.1.0"
