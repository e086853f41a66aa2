# Explanation quality of every final model (thesis 4.8.1, 5.2; code:
# src/proxy_attention/analysis/explain.py): CAMs of the same test images, scored with ROAD
# and the confidence change when keeping the CAM region, one job per fold; a gallery per fold.
# The figures are local rules on a cluster (see report.smk).

from proxy_attention.grid import explain_settings


rule explain:
    """All final models of a fold in one job: one process start (torch, timm, pytorch-grad-cam)
    instead of one per model. Writes the fold's explain/ folder: <run>.csv and <run>.npz per run
    (explain/baseline.csv, explain/proxy/<config>.csv), a folder because the runs of a fold are
    known only when the selection checkpoint of a screened grid has run."""
    input:
        unpack(fold_inputs),
        checkpoints=lambda w: GRID.explain_checkpoints(w, run_configs()),
    output:
        directory(f"{RUN}/explain"),
    log:
        log_path("explain", RUN),
    benchmark:
        benchmark_path("explain", RUN)
    conda:
        ENV
    threads: COMPUTE_THREADS
    resources:
        **HEAVY,
    params:
        csv=lambda w: [r["explain"] for r in GRID.explained_runs(w, run_configs())],
        settings=lambda w: canonical(explain_settings(config, w.model)),
        seed=config["seed"],
        device=config["training"]["device"],
        torch_threads=TORCH_THREADS,
    script:
        "../scripts/explain.py"


rule explain_gallery:
    input:
        unpack(fold_inputs),
        explain=f"{RUN}/explain",
    output:
        report(
            f"{RUN}/explain_gallery.png",
            caption="../report/explain_gallery.rst",
            category=category("Explainability"),
            subcategory="{dataset} / {model} / {schedule}",
            labels={"seed": "{seed}", "fold": "{fold}", "figure": "CAM gallery"},
        ),
    log:
        log_path("explain", f"{RUN}/gallery"),
    localrule: True
    conda:
        ENV
    params:
        scores=lambda w: [r["explain"] for r in GRID.explained_runs(w, run_configs())],
        titles=lambda w: [
            r["config"] if r["method"] == "proxy" else r["method"]
            for r in GRID.explained_runs(w, run_configs())
        ],
        n_images=config["explain"]["gallery_images"],
    script:
        "../scripts/explain_gallery.py"


rule plot_explain_vs_accuracy:
    input:
        f"{SUMMARY}/runs.csv",
    output:
        report(
            f"{SUMMARY}/explain_vs_accuracy.svg",
            caption="../report/explain_vs_accuracy.rst",
            category=category("Explainability"),
            labels={"figure": "explanation scores beside accuracy"},
        ),
    log:
        log_path("plots", "explain_vs_accuracy"),
    localrule: True
    conda:
        ENV
    script:
        "../scripts/plot_explain_vs_accuracy.py"
