# proxy-attention: does CAM-guided augmentation of misclassified images help?
#
#   snakemake --cores 1                              run the grid in config/config.yaml
#   snakemake --report results/report.html           HTML report after a run
#   snakemake --cores 1 results/runs/<dataset>/<model>/<schedule>/<protocol>/seed<S>/fold<F>/summary.csv
#                                                    (re)build one fold
#
# The chain: dataset -> index -> split -> image cache -> round 0 -> proxy step r ->
# round r (proxy runs) / round r (baseline) -> fold summary -> aggregate -> plots.

from snakemake.utils import min_version

min_version("9.0")


# The built-in default, unless a config is given with --configfile: Snakemake would otherwise
# merge the two, and e.g. the default's digits dataset would join every other grid.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/explain.smk"


rule all:
    input:
        all_targets(),
    default_target: True
