"""The run's warm worker: a local run's script jobs start as forks of a process that has imported what they use.

Every Snakemake job is a new Python process, and each paid the imports of its script (torch,
torchvision, timm for training, proxy steps and explain jobs; pandas, SciPy, matplotlib and
seaborn for data, tables and figures) before any work; ``benchmarks/bench.py --only jobs``
measures that start-up against a job handed to a running worker. Build systems meet the same cost
with persistent workers (Bazel's, Gradle's daemon); this is the smallest such thing that keeps one
job per proxy round. One worker per run imports what every script job uses.

- :mod:`proxy_attention.workers.launch`   what a script job's shell command runs (the Snakefile's
  ``shell.prefix`` redirects ``PYTHON SCRIPT`` to it): hands the job to the run's worker, starting
  it with the run's first job, and exits with its status; or execs the command unchanged (no
  worker: a cluster job, ``PROXY_ATTENTION_WARM=0``, not Linux; a command that is not
  ``PYTHON SCRIPT.py``)
- :mod:`proxy_attention.workers.address`  whether a job may use one (a local run, Linux), what it
  imports, and the address of its run's worker: one per Snakemake run, environment, checkout and
  interpreter
- :mod:`proxy_attention.workers.server`   the worker: imports :data:`~proxy_attention.workers.address.PRELOAD`
  once, then forks a child per job that runs the job's own script (the fork starts with what a
  fresh interpreter has after the same imports, nothing else) and ends as a fresh job does
  (:func:`proxy_attention.logs.end_job`), and ends with its Snakemake run

A job in the worker runs the same script with the same ``snakemake`` object, working directory,
environment, standard streams and log; killing the job (Ctrl-C, SIGTERM, SIGKILL) kills its fork.
Its ``benchmark:`` file measures the waiting launcher (memory, CPU), not the fork: the fork's own
wall time, CPU time and peak memory are the last line of the job's log.
"""
