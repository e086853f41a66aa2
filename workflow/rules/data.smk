# Dataset -> index -> split -> decoded-image cache (code: src/proxy_attention/data/).

from proxy_attention.data.datasets import archive_paths, preparation_params


rule prepare_dataset:
    input:
        lambda w: archive_paths(w.dataset, dataset_options(w.dataset)),
    output:
        directory("resources/datasets/{dataset}"),
    log:
        log_path("prepare_dataset", "{dataset}"),
    benchmark:
        benchmark_path("prepare_dataset", "{dataset}")
    conda:
        ENV
    params:
        # a type: folder dataset adds its listing's fingerprint (paths, sizes, mtimes): an edited
        # folder is re-linked and re-indexed, and what depends on it reruns
        options=lambda w: canonical(
            preparation_params(w.dataset, dataset_options(w.dataset))
        ),
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
            category=category("Tables"),
            labels={"item": "data_report.csv", "dataset": "{dataset}"},
        ),
        class_counts=report(
            f"{DATA}/class_counts.csv",
            caption="../report/class_counts.rst",
            category=category("Data"),
            labels={"dataset": "{dataset}", "table": "images per class"},
        ),
    log:
        log_path("index_dataset", "{dataset}"),
    benchmark:
        benchmark_path("index_dataset", "{dataset}")
    conda:
        ENV
    threads: config["threads"]
    params:
        official_test=lambda w: dataset_options(w.dataset).get("official_test", True),
        max_per_class=lambda w: dataset_options(w.dataset).get("max_per_class"),
    script:
        "../scripts/index_dataset.py"


rule split_dataset:
    input:
        f"{DATA}/index.csv",
    output:
        SPLIT,  # a stage's own: the stages may have other folds
    log:
        log_path("split_dataset", "{dataset}"),
    benchmark:
        benchmark_path("split_dataset", "{dataset}")
    conda:
        ENV
    params:
        folds=config["folds"],
        seed=config["seed"],
        test_fraction=config["test_fraction"],
    script:
        "../scripts/split_dataset.py"


rule cache_images:
    input:
        index=f"{DATA}/index.csv",
        root="resources/datasets/{dataset}",
    output:
        f"{DATA}/images_{{size}}px.npy",
    log:
        log_path("cache_images", "{dataset}_{size}px"),
    benchmark:
        benchmark_path("cache_images", "{dataset}_{size}px")
    conda:
        ENV
    threads: config["threads"]
    script:
        "../scripts/cache_images.py"
