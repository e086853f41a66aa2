# Dataset -> index -> split -> decoded-image cache.


rule prepare_dataset:
    input:
        dataset_archives,
    output:
        directory("resources/datasets/{dataset}"),
    params:
        options=lambda w: conversion_options(w.dataset),
    log:
        f"{LOGS}/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule index_dataset:
    input:
        "resources/datasets/{dataset}",
    output:
        index=f"{DATA}/index.csv",
        report=report(
            f"{DATA}/data_report.csv",
            caption="../report/data_report.rst",
            category="6 Tables",
            labels={"item": "data_report.csv", "dataset": "{dataset}"},
        ),
        class_counts=report(
            f"{DATA}/class_counts.csv",
            caption="../report/class_counts.rst",
            category="Data",
            labels={"dataset": "{dataset}", "table": "images per class"},
        ),
    params:
        official_test=lambda w: dataset_options(w.dataset).get("official_test", True),
        max_per_class=lambda w: dataset_options(w.dataset).get("max_per_class"),
    threads: config["threads"]
    log:
        f"{LOGS}/index_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/index_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/index_dataset.py"


rule split_dataset:
    input:
        f"{DATA}/index.csv",
    output:
        f"{DATA}/split.csv",
    params:
        folds=config["folds"],
        seed=config["seed"],
        test_fraction=config["test_fraction"],
    log:
        f"{LOGS}/split_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/split_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/split_dataset.py"


rule cache_images:
    input:
        index=f"{DATA}/index.csv",
        root="resources/datasets/{dataset}",
    output:
        f"{DATA}/images_{{size}}px.npy",
    threads: config["threads"]
    log:
        f"{LOGS}/cache_images/{{dataset}}_{{size}}px.log",
    benchmark:
        f"{BENCH}/cache_images/{{dataset}}_{{size}}px.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/cache_images.py"
