# proxy-attention: does CAM-guided augmentation of misclassified images help?
#
#   snakemake --cores 1                              run the grid in config/config.yaml
#   snakemake --report results/report.html           HTML report after a run
#   snakemake --cores 1 results/runs/<dataset>/<model>/<schedule>/<protocol>/seed<S>/fold<F>/summary.csv
#                                                    (re)build one fold
#
# The chain, one rules file per step (code: the sub-package of the same name in
# src/proxy_attention/): download -> data (index, split, image cache) -> train (round 0) ->
# train (round r of the proxy runs, each job running its proxy step r first -- code:
# proxy/ -- and of the baseline and matched runs) -> analysis (tables, comparison, audits)
# -> report and explain (the report's figures; code: report/, analysis/explain.py). Which runs
# and targets the config asks for: proxy_attention.grid (common.smk, targets.smk).
#
# With `stages:` in the config (config/README.md, "Screen, then confirm"), config.smk first
# imports this same workflow as the module `screen` (every proxy configuration, results/screen/),
# select.smk's checkpoint chooses on the screen's validation numbers, and the rest of this file is
# the confirm stage, running the chosen configurations into results/.

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The package beside this Snakefile, for the workflow and for every job, also in a conda
# environment (--sdm conda) or on a cluster node where it is not pip-installed.
# Every Snakemake process (the jobs of a cluster too) parses this file and so sets it again.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from proxy_attention.paths import put_first_on_pythonpath

put_first_on_pythonpath(os.path.join(workflow.basedir, "src"))


# The built-in default. A --configfile replaces it (replace-workflow-config in
# profiles/default/config.yaml) instead of being merged into it.
configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/config.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/footprint.smk"


# Snakemake runs a script job as the shell command `PYTHON SCRIPT` (PYTHON: its own interpreter, by
# full path). This prefix keeps bash's default `set -euo pipefail;` and defines a bash function of
# that name which runs `PYTHON -P -m proxy_attention.workers.launch PYTHON SCRIPT` instead: the
# launcher hands the job to the run's warm worker, or execs `PYTHON SCRIPT` unchanged (no worker).
# A shell: rule's command runs as written (only that full path is redirected, to the same result).
from proxy_attention.workers.launch import shell_prefix, usable_prefix

if usable_prefix(sys.executable, shell.get_executable()):
    shell.prefix(shell_prefix(sys.executable))


# One run at a time in a working directory (profiles/default sets nolock): an flock on
# results/.lock, taken only by a run that executes jobs (never -n, --lint, --report or a cluster
# job's own process), and released by the kernel when the process ends, also after a SIGKILL.
#
# A local run's script jobs start as forks of a warm worker that has imported torch, timm, pandas
# and seaborn once (src/proxy_attention/workers/; PROXY_ATTENTION_WARM=0 turns it off): keyed to
# this process, it ends with it. Never on a cluster, where a job must stay in its allocation:
# onstart names the run only where jobs run locally.
onstart:
    from proxy_attention.runlock import take_run_lock
    from proxy_attention.workers.address import ENV_RUN

    if workflow.is_main_process:
        take_run_lock()
        if workflow.local_exec:
            os.environ[ENV_RUN] = str(os.getpid())


rule all:
    default_target: True
    input:
        # a screened grid's confirm runs are known after its selection checkpoint (config.smk);
        # `snakemake --report`: the targets that exist, the rest named on its first screen
        (lambda w: report_targets()) if STAGED else report_targets(),
