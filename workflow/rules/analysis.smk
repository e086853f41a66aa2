# Numbers from the runs (code: src/proxy_attention/analysis/): per-fold summaries, the tidy
# tables of all runs, the paired comparison, the leakage audit and the protocol comparison.
#
# Report categories are numbered so that Snakemake's report lists them in reading order:
# 1 Answer, 2 Training, 3 Proxy steps, 4 Explainability, 5 Data, 6 Runtime, 7 Tables.
# Every label value is a string (the report sorts them as text).
#
# Tables take a second and no GPU: on a cluster they run in the main Snakemake process's
# machine instead of waiting in the queue (`localrule: True`, which the screen stage's copies of a
# screened grid keep as well; no effect on a local run).


rule fold_summary:
    input:
        lambda w: GRID.fold_summary_inputs(w, run_configs()),
    output:
        runs=f"{RUN}/summary.csv",
        epochs=f"{RUN}/epochs.csv",
    log:
        log_path("fold_summary", RUN),
    localrule: True
    conda:
        ENV
    params:
        runs=lambda w: canonical(run_rounds(w)),
    script:
        "../scripts/fold_summary.py"


rule aggregate:
    input:
        # present(): in a report, a dataset added since the run brings no data rule into its DAG
        runs=present(GRID.fold_summaries()),
        epochs=present(
            [p.replace("summary.csv", "epochs.csv") for p in GRID.fold_summaries()]
        ),
    output:
        runs=report(
            f"{SUMMARY}/runs.csv",
            caption="../report/runs.rst",
            category=category("Tables"),
            labels={"item": "runs.csv"},
        ),
        epochs=report(
            f"{SUMMARY}/epochs.csv",
            caption="../report/epochs.rst",
            category=category("Tables"),
            labels={"item": "epochs.csv"},
        ),
    log:
        log_path("summary", "aggregate"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule compare:
    input:
        f"{SUMMARY}/runs.csv",
    output:
        table=report(
            f"{SUMMARY}/comparison.csv",
            caption="../report/comparison_csv.rst",
            category=category("Tables"),
            labels={"item": "comparison.csv"},
        ),
        pairs=report(
            f"{SUMMARY}/paired_differences.csv",
            caption="../report/paired_differences_csv.rst",
            category=category("Tables"),
            labels={"item": "paired_differences.csv"},
        ),
        html=report(
            f"{SUMMARY}/comparison.html",
            caption="../report/comparison.rst",
            category=category("Answer"),
            labels={
                "dataset": "all",
                "model": "all",
                "schedule": "all",
                "item": "1 comparison table",
            },
        ),
        arms=report(
            f"{SUMMARY}/augmentations.csv",
            caption="../report/augmentations_csv.rst",
            category=category("Tables"),
            labels={"item": "augmentations.csv"},
        ),
        answer=f"{SUMMARY}/answer.rst",
    log:
        log_path("summary", "compare"),
    localrule: True
    conda:
        ENV
    params:
        references=REFERENCE_METHODS,
    script:
        "../scripts/compare.py"


rule leakage_audit:
    """Fails the workflow, naming the files, if a test or validation image (or a proxy made
    from one) ever entered a training set of an honest-protocol run."""
    input:
        split=present(expand(SPLIT, dataset=list(config["datasets"]))),
        train_sets=lambda w: present(GRID.train_sets(run_configs())),
        manifests=lambda w: present(GRID.proxy_manifests(run_configs())),
    output:
        report(
            f"{SUMMARY}/leakage_audit.csv",
            caption="../report/leakage_audit.rst",
            category=category("Answer"),
            labels={"table": "leakage audit"},
        ),
    log:
        log_path("summary", "leakage_audit"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/leakage_audit.py"


rule protocol_comparison:
    """How much of the gain the thesis's (flawed) protocol reports survives the honest one."""
    input:
        f"{SUMMARY}/runs.csv",
    output:
        report(
            f"{SUMMARY}/protocol_comparison.csv",
            caption="../report/protocol_comparison.rst",
            category=category("Answer"),
            labels={"table": "thesis protocol vs honest protocol"},
        ),
    log:
        log_path("summary", "protocol_comparison"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/protocol_comparison.py"


rule tensorboard:
    input:
        f"{SUMMARY}/epochs.csv",
    output:
        directory(f"{SUMMARY}/tensorboard"),
    log:
        log_path("summary", "tensorboard"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/write_tensorboard.py"
