"""The run's warm workers: a local run's jobs start as forks of a process that has imported what they use.

Every Snakemake job is a new Python process, and a torch job paid 3-5 s of imports (torch,
torchvision, timm, pandas) before any work: 21 times in the default grid, a quarter of its wall
time (benchmarks/README.md, section 6), and every table and figure job 0.3-1.5 s of pandas, SciPy,
matplotlib and seaborn. Build systems meet the same cost with persistent workers (Bazel's, Gradle's
daemon); this is the smallest such thing that keeps one job per proxy round. Two kinds of worker
per run: ``torch`` (training, proxy step, explain) and ``pandas`` (data, tables, figures).

- :mod:`proxy_attention.workers.address`  whether a job may use one (a local run, Linux), what each
  kind imports, and the address of its run's worker: one per kind, Snakemake run, environment,
  checkout and interpreter
- :mod:`proxy_attention.workers.server`   the worker: imports :data:`~proxy_attention.workers.address.PRELOAD`
  once, then forks a child per job that runs the job's own script (the fork starts with what
  a fresh interpreter has after the same imports, nothing else), reports its exit status and
  resource use, and ends with its Snakemake run
- :mod:`proxy_attention.workers.client`   :func:`~proxy_attention.workers.client.run_in_worker`,
  the first line of a job's script: hands the rest of the script to the worker and exits
  with its status, or returns and the job runs as before (no worker, a cluster job, an error)

A job in a worker runs the same script with the same ``snakemake`` object, working directory,
environment, standard streams and log; killing the job (Ctrl-C, SIGTERM, SIGKILL) kills its fork.
"""
