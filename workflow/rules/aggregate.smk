# Per-fold summaries, the tidy tables of all runs, the paired comparison, and the report's figures.
#
# Report categories are numbered so that Snakemake's report lists them in reading order;
# every label value is a string (the report sorts them as text).


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
            category="6 Tables",
            labels={"item": "runs.csv"},
        ),
        epochs=report(
            "results/summary/epochs.csv",
            caption="../report/epochs.rst",
            category="6 Tables",
            labels={"item": "epochs.csv"},
        ),
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/aggregate.py"


rule compare:
    input:
        "results/summary/runs.csv",
    output:
        table=report(
            "results/summary/comparison.csv",
            caption="../report/comparison_csv.rst",
            category="6 Tables",
            labels={"item": "comparison.csv"},
        ),
        pairs=report(
            "results/summary/paired_differences.csv",
            caption="../report/paired_differences_csv.rst",
            category="6 Tables",
            labels={"item": "paired_differences.csv"},
        ),
        html=report(
            "results/summary/comparison.html",
            caption="../report/comparison.rst",
            category="1 Answer",
            labels={"dataset": "all", "model": "all", "schedule": "all", "item": "1 comparison table"},
        ),
        answer="results/summary/answer.rst",
    params:
        references=REFERENCE_METHODS,
    log:
        f"{LOGS}/compare.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/compare.py"


rule plot_paired_differences:
    input:
        pairs="results/summary/paired_differences.csv",
        comparison="results/summary/comparison.csv",
    output:
        report(
            f"{FIGURES}/paired_differences.svg",
            caption="../report/paired_differences.rst",
            category="1 Answer",
            labels=figure_labels("2 paired differences"),
        ),
    params:
        reference=REFERENCE_METHODS[0],
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/paired_differences.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_paired_differences.py"


rule plot_heatmap:
    input:
        "results/summary/comparison.csv",
    output:
        report(
            f"{FIGURES}/heatmap.svg",
            caption="../report/heatmap.rst",
            category="1 Answer",
            labels=figure_labels("3 heatmap t x w"),
        ),
    params:
        reference=REFERENCE_METHODS[0],
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/heatmap.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_heatmap.py"


rule plot_confusion:
    input:
        comparison="results/summary/comparison.csv",
        split=f"{DATA}/split.csv",
        metrics=lambda w: sorted({p for by_config in final_metrics(w).values() for ps in by_config.values() for p in ps}),
    output:
        report(
            f"{FIGURES}/confusion.svg",
            caption="../report/confusion.rst",
            category="1 Answer",
            labels=figure_labels("4 confusion matrices"),
        ),
    params:
        reference=REFERENCE_METHODS[0],
        final=final_metrics,
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/confusion.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_confusion.py"


rule plot_learning_curves:
    input:
        epochs="results/summary/epochs.csv",
        comparison="results/summary/comparison.csv",
    output:
        report(
            f"{FIGURES}/learning_curves.svg",
            caption="../report/learning_curves.rst",
            category="2 Training",
            labels=figure_labels("learning curves"),
        ),
    params:
        top=config["report"]["top_configs"],
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/learning_curves.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_learning_curves.py"


rule plot_test_accuracy:
    input:
        "results/summary/runs.csv",
    output:
        report(
            "results/summary/test_accuracy.svg",
            caption="../report/test_accuracy.rst",
            category="2 Training",
            labels={"dataset": "all", "model": "all", "schedule": "all", "item": "test accuracy by round"},
        ),
    log:
        f"{LOGS}/plot_test_accuracy.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_test_accuracy.py"


rule plot_proxy_counts:
    input:
        runs="results/summary/runs.csv",
        comparison="results/summary/comparison.csv",
    output:
        report(
            f"{FIGURES}/proxy_counts.svg",
            caption="../report/proxy_counts.rst",
            category="3 Proxy steps",
            labels=lambda w: {**figure_labels("wrong images and proxies")(w), "configuration": "best ones"},
        ),
    params:
        top=config["report"]["top_configs"],
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/proxy_counts.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_proxy_counts.py"


rule plot_gallery:
    input:
        unpack(gallery_inputs),
    output:
        report(
            GALLERY,
            caption="../report/gallery.rst",
            category="3 Proxy steps",
            labels=lambda w: {
                **figure_labels("proxy gallery")(w),
                "configuration": short_config(proxy_config_name(proxy_params(w)), GRID_LABEL_KEYS),
            },
        ),
    params:
        steps=gallery_steps,
        threshold=lambda w: proxy_params(w)["proxy_threshold"],
        title=lambda w: (
            f"{w.dataset} / {w.model} / {w.schedule}, seed {config['seeds'][0]} fold {FOLDS[0]}\n"
            f"{short_config(proxy_config_name(proxy_params(w)))}"
        ),
        images=config["report"]["gallery_images"],
    log:
        f"{LOGS}/plots/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}/gallery/{paramspace.wildcard_pattern}.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_gallery.py"


rule plot_classes:
    input:
        split=f"{DATA}/split.csv",
        data_report=f"{DATA}/data_report.csv",
    output:
        report(
            "results/summary/figures/{dataset}/classes.svg",
            caption="../report/classes.rst",
            category="4 Data",
            labels={"dataset": "{dataset}", "item": "class counts and skipped files"},
        ),
    log:
        f"{LOGS}/plots/{{dataset}}/classes.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_classes.py"


rule plot_runtime:
    input:
        unpack(benchmark_inputs),
    output:
        report(
            "results/summary/runtime.svg",
            caption="../report/runtime.rst",
            category="5 Runtime",
            labels={"item": "runtime per rule"},
        ),
    log:
        f"{LOGS}/plot_runtime.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_runtime.py"


rule tensorboard:
    input:
        "results/summary/epochs.csv",
    output:
        directory("results/summary/tensorboard"),
    log:
        f"{LOGS}/tensorboard.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/write_tensorboard.py"


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
            category="1 Answer",
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
            category="1 Answer",
            labels={"table": "thesis protocol vs honest protocol"},
        ),
    log:
        f"{LOGS}/protocol_comparison.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/protocol_comparison.py"
