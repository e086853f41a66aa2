# Per-fold summaries, the tidy tables of all runs, and the report's figures.


rule fold_summary:
    input:
        fold_summary_inputs,
    output:
        runs=f"{RUN}/summary.csv",
        epochs=f"{RUN}/epochs.csv",
    params:
        runs=run_rounds,
    log:
        f"{LOGS}/fold_summary/{RUN.removeprefix('results/runs/')}.log",
    conda:
        "../../envs/proxy-attention.yaml"
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
            category="Summary",
            labels={"table": "runs.csv"},
        ),
        epochs="results/summary/epochs.csv",
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/aggregate.py"


rule plot_test_accuracy:
    input:
        "results/summary/runs.csv",
    output:
        report(
            "results/summary/test_accuracy.svg",
            caption="../report/test_accuracy.rst",
            category="Summary",
            labels={"figure": "test accuracy by round"},
        ),
    log:
        f"{LOGS}/plot_test_accuracy.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_test_accuracy.py"


rule leakage_audit:
    """Fails the workflow, naming the files, if a test or validation image (or a proxy made
    from one) ever entered a training set of an honest-protocol run."""
    input:
        split=expand("results/data/{dataset}/split.csv", dataset=list(config["datasets"])),
        train_sets=train_sets(),
        manifests=proxy_manifests_all(),
    output:
        report(
            "results/summary/leakage_audit.csv",
            caption="../report/leakage_audit.rst",
            category="Summary",
            labels={"table": "leakage audit"},
        ),
    log:
        f"{LOGS}/leakage_audit.log",
    conda:
        "../../envs/proxy-attention.yaml"
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
            category="Summary",
            labels={"table": "thesis protocol vs honest protocol"},
        ),
    log:
        f"{LOGS}/protocol_comparison.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/protocol_comparison.py"
