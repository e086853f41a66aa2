# Numbers from the runs (code: src/proxy_attention/analysis/): per-fold summaries, the tidy
# tables of all runs, the paired comparison, the leakage audit and the protocol comparison.
#
# Report categories are numbered so that Snakemake's report lists them in reading order:
# 1 Answer, 2 Training, 3 Proxy steps, 4 Explainability, 5 Data, 6 Runtime, 7 Tables.
# Every label value is a string (the report sorts them as text).
#
# Tables take a second and no GPU: on a cluster they run in the main Snakemake process's
# machine instead of waiting in the queue (localrules; no effect on a local run).


localrules:
    fold_summary,
    aggregate,
    compare,
    leakage_audit,
    protocol_comparison,
    tensorboard,


rule fold_summary:
    input:
        fold_summary_inputs,
    output:
        runs=f"{RUN}/summary.csv",
        epochs=f"{RUN}/epochs.csv",
    log:
        log_path("fold_summary", RUN),
    conda:
        ENV
    params:
        runs=run_rounds,
    script:
        "../scripts/fold_summary.py"


rule aggregate:
    input:
        runs=fold_summaries(),
        epochs=[p.replace("summary.csv", "epochs.csv") for p in fold_summaries()],
    output:
        runs=report(
            "results/summary/runs.csv",
            caption="../report/runs.rst",
            category="7 Tables",
            labels={"item": "runs.csv"},
        ),
        epochs=report(
            "results/summary/epochs.csv",
            caption="../report/epochs.rst",
            category="7 Tables",
            labels={"item": "epochs.csv"},
        ),
    log:
        log_path("summary", "aggregate"),
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule compare:
    input:
        "results/summary/runs.csv",
    output:
        table=report(
            "results/summary/comparison.csv",
            caption="../report/comparison_csv.rst",
            category="7 Tables",
            labels={"item": "comparison.csv"},
        ),
        pairs=report(
            "results/summary/paired_differences.csv",
            caption="../report/paired_differences_csv.rst",
            category="7 Tables",
            labels={"item": "paired_differences.csv"},
        ),
        html=report(
            "results/summary/comparison.html",
            caption="../report/comparison.rst",
            category="1 Answer",
            labels={
                "dataset": "all",
                "model": "all",
                "schedule": "all",
                "item": "1 comparison table",
            },
        ),
        arms=report(
            "results/summary/augmentations.csv",
            caption="../report/augmentations_csv.rst",
            category="7 Tables",
            labels={"item": "augmentations.csv"},
        ),
        answer="results/summary/answer.rst",
    log:
        log_path("summary", "compare"),
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
        split=expand(
            "results/data/{dataset}/split.csv", dataset=list(config["datasets"])
        ),
        train_sets=train_sets(),
        manifests=proxy_manifests_all(),
    output:
        report(
            "results/summary/leakage_audit.csv",
            caption="../report/leakage_audit.rst",
            category="1 Answer",
            labels={"table": "leakage audit"},
        ),
    log:
        log_path("summary", "leakage_audit"),
    conda:
        ENV
    script:
        "../scripts/leakage_audit.py"


rule protocol_comparison:
    """How much of the gain the thesis's (flawed) protocol reports survives the honest one."""
    input:
        "results/summary/runs.csv",
    output:
        report(
            "results/summary/protocol_comparison.csv",
            caption="../report/protocol_comparison.rst",
            category="1 Answer",
            labels={"table": "thesis protocol vs honest protocol"},
        ),
    log:
        log_path("summary", "protocol_comparison"),
    conda:
        ENV
    script:
        "../scripts/protocol_comparison.py"


rule tensorboard:
    input:
        "results/summary/epochs.csv",
    output:
        directory("results/summary/tensorboard"),
    log:
        log_path("summary", "tensorboard"),
    conda:
        ENV
    script:
        "../scripts/write_tensorboard.py"
