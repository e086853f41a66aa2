# Explanation quality of every final model (thesis 4.8.1, 5.2): CAMs of the same test images,
# scored with ROAD and the confidence change when keeping the CAM region; a gallery per fold.


rule explain_baseline:
    input:
        unpack(fold_inputs),
        checkpoint=lambda w: final_checkpoint(w, f"{run_dir(w)}/baseline"),
    output:
        csv=f"{RUN}/baseline/explain.csv",
        cams=f"{RUN}/baseline/explain.npz",
    params:
        settings=explain_params,
        seed=config["seed"],
        device=config["training"]["device"],
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/explain/{RUN.removeprefix('results/runs/')}/baseline.log",
    benchmark:
        f"{BENCH}/explain/{RUN.removeprefix('results/runs/')}/baseline.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/explain.py"


rule explain_proxy:
    input:
        unpack(fold_inputs),
        checkpoint=lambda w: final_checkpoint(w, PROXY_RUN.format(**w)),
    output:
        csv=f"{PROXY_RUN}/explain.csv",
        cams=f"{PROXY_RUN}/explain.npz",
    params:
        settings=explain_params,
        seed=config["seed"],
        device=config["training"]["device"],
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/explain/{PROXY_RUN.removeprefix('results/runs/')}.log",
    benchmark:
        f"{BENCH}/explain/{PROXY_RUN.removeprefix('results/runs/')}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/explain.py"


rule explain_gallery:
    input:
        unpack(fold_inputs),
        scores=lambda w: [r["explain"] for r in run_rounds(w) if "explain" in r],
        cams=lambda w: [r["explain"].replace(".csv", ".npz") for r in run_rounds(w) if "explain" in r],
    output:
        report(
            f"{RUN}/explain_gallery.png",
            caption="../report/explain_gallery.rst",
            category="2 Explainability",
            subcategory="{dataset} / {model} / {schedule}",
            labels={"seed": "{seed}", "fold": "{fold}", "figure": "CAM gallery"},
        ),
    params:
        titles=lambda w: [r["config"] if r["method"] == "proxy" else r["method"] for r in run_rounds(w)],
        n_images=config["explain"]["gallery_images"],
    log:
        f"{LOGS}/explain/{RUN.removeprefix('results/runs/')}/gallery.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/explain_gallery.py"


rule plot_explain_vs_accuracy:
    input:
        "results/summary/runs.csv",
    output:
        report(
            "results/summary/explain_vs_accuracy.svg",
            caption="../report/explain_vs_accuracy.rst",
            category="2 Explainability",
            labels={"figure": "explanation scores beside accuracy"},
        ),
    log:
        f"{LOGS}/plot_explain_vs_accuracy.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/plot_explain_vs_accuracy.py"
