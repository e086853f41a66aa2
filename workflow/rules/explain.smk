# Explanation quality of every final model (thesis 4.8.1, 5.2; code:
# src/proxy_attention/analysis/explain.py): CAMs of the same test images, scored with ROAD
# and the confidence change when keeping the CAM region; a gallery per fold.


rule explain_baseline:
    input:
        unpack(fold_inputs),
        checkpoint=final_model(lambda w: f"{run_dir(w)}/baseline"),
    output:
        csv=f"{RUN}/baseline/explain.csv",
        cams=f"{RUN}/baseline/explain.npz",
    log:
        log_path("explain", f"{RUN}/baseline"),
    benchmark:
        benchmark_path("explain", f"{RUN}/baseline")
    conda:
        ENV
    threads: COMPUTE_THREADS
    resources:
        **HEAVY,
    params:
        settings=explain_params,
        seed=config["seed"],
        device=config["training"]["device"],
        torch_threads=TORCH_THREADS,
    script:
        "../scripts/explain.py"


use rule explain_baseline as explain_proxy with:
    input:
        unpack(fold_inputs),
        checkpoint=final_model(proxy_dir),
    output:
        csv=f"{PROXY_RUN}/explain.csv",
        cams=f"{PROXY_RUN}/explain.npz",
    log:
        log_path("explain", PROXY_RUN),
    benchmark:
        benchmark_path("explain", PROXY_RUN)


rule explain_gallery:
    input:
        unpack(fold_inputs),
        scores=lambda w: [r["explain"] for r in run_rounds(w) if "explain" in r],
        cams=lambda w: [
            r["explain"].replace(".csv", ".npz")
            for r in run_rounds(w)
            if "explain" in r
        ],
    output:
        report(
            f"{RUN}/explain_gallery.png",
            caption="../report/explain_gallery.rst",
            category="4 Explainability",
            subcategory="{dataset} / {model} / {schedule}",
            labels={"seed": "{seed}", "fold": "{fold}", "figure": "CAM gallery"},
        ),
    log:
        log_path("explain", f"{RUN}/gallery"),
    conda:
        ENV
    params:
        titles=lambda w: [
            r["config"] if r["method"] == "proxy" else r["method"]
            for r in run_rounds(w)
        ],
        n_images=config["explain"]["gallery_images"],
    script:
        "../scripts/explain_gallery.py"


rule plot_explain_vs_accuracy:
    input:
        "results/summary/runs.csv",
    output:
        report(
            "results/summary/explain_vs_accuracy.svg",
            caption="../report/explain_vs_accuracy.rst",
            category="4 Explainability",
            labels={"figure": "explanation scores beside accuracy"},
        ),
    log:
        log_path("plots", "explain_vs_accuracy"),
    conda:
        ENV
    script:
        "../scripts/plot_explain_vs_accuracy.py"
