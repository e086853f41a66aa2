# Figures of the report (code: src/proxy_attention/report/). Categories: see analysis.smk.
# Drawing a figure takes a second or two and no torch: local rules on a cluster (analysis.smk),
# except augmentation_gallery, which computes saliency maps with a model.

from proxy_attention.labels import short_config
from proxy_attention.grid import PROXY_CONFIG_PATTERN, proxy_config_name
from proxy_attention.grid import figure_labels as group_labels
from proxy_attention.paths import GROUP

FIGURES = LAYOUT.figures
GALLERY = LAYOUT.gallery


rule plot_paired_differences:
    input:
        pairs=f"{SUMMARY}/paired_differences.csv",
        comparison=f"{SUMMARY}/comparison.csv",
    output:
        report(
            f"{FIGURES}/paired_differences.svg",
            caption="../report/paired_differences.rst",
            category=category("Answer"),
            labels=lambda w: group_labels(w, "2 paired differences"),
        ),
    log:
        log_path("plots", f"{GROUP}/paired_differences"),
    localrule: True
    conda:
        ENV
    params:
        reference=REFERENCE_METHODS[0],
    script:
        "../scripts/plot_paired_differences.py"


rule plot_heatmap:
    input:
        f"{SUMMARY}/comparison.csv",
    output:
        report(
            f"{FIGURES}/heatmap.svg",
            caption="../report/heatmap.rst",
            category=category("Answer"),
            labels=lambda w: group_labels(w, "3 heatmap t x w"),
        ),
    log:
        log_path("plots", f"{GROUP}/heatmap"),
    localrule: True
    conda:
        ENV
    params:
        reference=REFERENCE_METHODS[0],
    script:
        "../scripts/plot_heatmap.py"


rule plot_confusion:
    input:
        comparison=f"{SUMMARY}/comparison.csv",
        split=f"{DATA}/split.csv",
        metrics=lambda w: sorted(
            {
                p
                for by_config in GRID.final_metrics(w, run_configs()).values()
                for ps in by_config.values()
                for p in ps
            }
        ),
    output:
        report(
            f"{FIGURES}/confusion.svg",
            caption="../report/confusion.rst",
            category=category("Answer"),
            labels=lambda w: group_labels(w, "4 confusion matrices"),
        ),
    log:
        log_path("plots", f"{GROUP}/confusion"),
    localrule: True
    conda:
        ENV
    params:
        reference=REFERENCE_METHODS[0],
        final=lambda w: canonical(GRID.final_metrics(w, run_configs())),
    script:
        "../scripts/plot_confusion.py"


rule plot_learning_curves:
    input:
        epochs=f"{SUMMARY}/epochs.csv",
        comparison=f"{SUMMARY}/comparison.csv",
    output:
        report(
            f"{FIGURES}/learning_curves.svg",
            caption="../report/learning_curves.rst",
            category=category("Training"),
            labels=lambda w: group_labels(w, "learning curves"),
        ),
    log:
        log_path("plots", f"{GROUP}/learning_curves"),
    localrule: True
    conda:
        ENV
    params:
        top=config["report"]["top_configs"],
    script:
        "../scripts/plot_learning_curves.py"


rule plot_test_accuracy:
    input:
        f"{SUMMARY}/runs.csv",
    output:
        report(
            f"{SUMMARY}/test_accuracy.svg",
            caption="../report/test_accuracy.rst",
            category=category("Training"),
            labels={
                "dataset": "all",
                "model": "all",
                "schedule": "all",
                "item": "test accuracy by round",
            },
        ),
    log:
        log_path("summary", "plot_test_accuracy"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/plot_test_accuracy.py"


rule plot_proxy_counts:
    input:
        runs=f"{SUMMARY}/runs.csv",
        comparison=f"{SUMMARY}/comparison.csv",
    output:
        report(
            f"{FIGURES}/proxy_counts.svg",
            caption="../report/proxy_counts.rst",
            category=category("Proxy steps"),
            labels=lambda w: {
                **group_labels(w, "wrong images and proxies"),
                "configuration": "best ones",
            },
        ),
    log:
        log_path("plots", f"{GROUP}/proxy_counts"),
    localrule: True
    conda:
        ENV
    params:
        top=config["report"]["top_configs"],
    script:
        "../scripts/plot_proxy_counts.py"


rule plot_gallery:
    input:
        unpack(GRID.gallery_inputs),
    output:
        report(
            GALLERY,
            caption="../report/gallery.rst",
            category=category("Proxy steps"),
            labels=lambda w: {
                **group_labels(w, "proxy gallery"),
                "configuration": short_config(
                    proxy_config_name(proxy_params(w)), GRID.label_keys
                ),
            },
        ),
    log:
        log_path("plots", f"{GROUP}/gallery/{PROXY_CONFIG_PATTERN}"),
    localrule: True
    conda:
        ENV
    params:
        steps=GRID.gallery_steps,
        threshold=lambda w: proxy_params(w)["proxy_threshold"],
        title=lambda w: (
            f"{w.dataset} / {w.model} / {w.schedule}, seed {config['seeds'][0]} fold {FOLDS[0]}\n"
            f"{short_config(proxy_config_name(proxy_params(w)))}"
        ),
        images=config["report"]["gallery_images"],
    script:
        "../scripts/plot_gallery.py"


rule plot_classes:
    input:
        split=f"{DATA}/split.csv",
        data_report=f"{DATA}/data_report.csv",
    output:
        report(
            f"{SUMMARY}/figures/{{dataset}}/classes.svg",
            caption="../report/classes.rst",
            category=category("Data"),
            labels={"dataset": "{dataset}", "item": "class counts and skipped files"},
        ),
    log:
        log_path("plots", "{dataset}/classes"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/plot_classes.py"


rule plot_runtime:
    input:
        unpack(lambda w: GRID.benchmark_files(run_configs(), keep=present)),
    output:
        report(
            f"{SUMMARY}/runtime.svg",
            caption="../report/runtime.rst",
            category=category("Runtime"),
            labels={"item": "runtime per rule"},
        ),
    log:
        log_path("summary", "plot_runtime"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/plot_runtime.py"


rule plot_augmentations:
    input:
        f"{SUMMARY}/augmentations.csv",
    output:
        report(
            f"{FIGURES}/augmentations.svg",
            caption="../report/augmentations.rst",
            category=category("Answer"),
            labels=lambda w: group_labels(w, "5 augmentation arms"),
        ),
    log:
        log_path("plots", f"{GROUP}/augmentations"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/plot_augmentations.py"


rule augmentation_gallery:
    input:
        unpack(GRID.augmentation_gallery_inputs),
    output:
        report(
            f"{SUMMARY}/figures/{{dataset}}/augmentations.png",
            caption="../report/augmentation_gallery.rst",
            category=category("Data"),
            labels={
                "dataset": "{dataset}",
                "item": "one batch under each augmentation",
            },
        ),
    log:
        log_path("plots", "{dataset}/augmentation_gallery"),
    conda:
        ENV
    params:
        augmentations=config["augmentations"],
        options=canonical(config["augmentation_options"]),
        label_smoothing=config["training"]["label_smoothing"],
        seed=config["seed"],
        n_images=config["report"]["gallery_images"],
        saliency_layer=lambda w: config["cam_target_layer"].get(config["models"][0]),
    script:
        "../scripts/augmentation_gallery.py"
