# Round 0 (shared), baseline rounds, proxy steps and proxy rounds.
#
# Round 0 depends on no proxy hyperparameter, so it is one job per
# (dataset, model, schedule, seed, fold) shared by the baseline and every proxy run.


HEAVY = dict(
    mem_mb=config["resources"]["mem_mb"],
    runtime=config["resources"]["runtime"],
    gpu=config["resources"]["gpu"],
)


rule train_round0:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
    output:
        checkpoint=f"{RUN}/round0/checkpoint.pt",
        metrics=f"{RUN}/round0/metrics.json",
        epochs=f"{RUN}/round0/epochs.csv",
        train_set=f"{RUN}/round0/train_set.npz",
    params:
        round=0,
        settings=train_settings,
        run_info=lambda w: run_info(w, "round0"),
        feeds_proxy_step=feeds_proxy_step,
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/train/{RUN.removeprefix('results/runs/')}/round0.log",
    benchmark:
        f"{BENCH}/train/{RUN.removeprefix('results/runs/')}/round0.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/train_round.py"


rule train_baseline:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=lambda w: previous_checkpoint(w, f"{run_dir(w)}/baseline"),
    output:
        checkpoint=f"{RUN}/baseline/round{{round}}/checkpoint.pt",
        metrics=f"{RUN}/baseline/round{{round}}/metrics.json",
        epochs=f"{RUN}/baseline/round{{round}}/epochs.csv",
        train_set=f"{RUN}/baseline/round{{round}}/train_set.npz",
    params:
        round=lambda w: int(w.round),
        settings=train_settings,
        run_info=lambda w: run_info(w, "baseline"),
        feeds_proxy_step=False,
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/train/{RUN.removeprefix('results/runs/')}/baseline/round{{round}}.log",
    benchmark:
        f"{BENCH}/train/{RUN.removeprefix('results/runs/')}/baseline/round{{round}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/train_round.py"


rule proxy_step:
    input:
        unpack(fold_inputs),
        checkpoint=lambda w: previous_checkpoint(w, PROXY_RUN.format(**w)),
    output:
        manifest=f"{PROXY_RUN}/proxy{{round}}/manifest.csv",
        cams=f"{PROXY_RUN}/proxy{{round}}/cams.npz",
        stats=f"{PROXY_RUN}/proxy{{round}}/stats.json",
        images=directory(f"{PROXY_RUN}/proxy{{round}}/images"),
    params:
        round=lambda w: int(w.round),
        proxy=proxy_params,
        cam_target_layer=lambda w: config["cam_target_layer"].get(w.model),
        batch_size=config["proxy"]["batch_size"],
        device=config["training"]["device"],
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/proxy/{PROXY_RUN.removeprefix('results/runs/')}/proxy{{round}}.log",
    benchmark:
        f"{BENCH}/proxy/{PROXY_RUN.removeprefix('results/runs/')}/proxy{{round}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/proxy_step.py"


rule train_proxy:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=lambda w: previous_checkpoint(w, PROXY_RUN.format(**w)),
        manifests=proxy_manifests,
    output:
        checkpoint=f"{PROXY_RUN}/round{{round}}/checkpoint.pt",
        metrics=f"{PROXY_RUN}/round{{round}}/metrics.json",
        epochs=f"{PROXY_RUN}/round{{round}}/epochs.csv",
        train_set=f"{PROXY_RUN}/round{{round}}/train_set.npz",
    params:
        round=lambda w: int(w.round),
        settings=train_settings,
        run_info=lambda w: run_info(w, "proxy", proxy_params(w)),
        feeds_proxy_step=feeds_proxy_step,
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/train/{PROXY_RUN.removeprefix('results/runs/')}/round{{round}}.log",
    benchmark:
        f"{BENCH}/train/{PROXY_RUN.removeprefix('results/runs/')}/round{{round}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/train_round.py"


rule train_matched:
    """The compute-matched baseline: the proxy run's schedule and number of images seen,
    with random extra original images in place of the proxies."""
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=lambda w: previous_checkpoint(w, f"{PROXY_RUN.format(**w)}/matched"),
        matched_manifests=proxy_manifests,
    output:
        checkpoint=f"{PROXY_RUN}/matched/round{{round}}/checkpoint.pt",
        metrics=f"{PROXY_RUN}/matched/round{{round}}/metrics.json",
        epochs=f"{PROXY_RUN}/matched/round{{round}}/epochs.csv",
        train_set=f"{PROXY_RUN}/matched/round{{round}}/train_set.npz",
    wildcard_constraints:
        protocol="honest",
    params:
        round=lambda w: int(w.round),
        settings=train_settings,
        run_info=lambda w: run_info(w, "baseline_matched", proxy_params(w)),
        feeds_proxy_step=False,
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/train/{PROXY_RUN.removeprefix('results/runs/')}/matched/round{{round}}.log",
    benchmark:
        f"{BENCH}/train/{PROXY_RUN.removeprefix('results/runs/')}/matched/round{{round}}.tsv"
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/train_round.py"


rule find_batch_size:
    """training.batch_size: auto -- the thesis's batch size finder, once per model, image size and device."""
    output:
        "results/batch_size/{model}_{size}px_{device}.json",
    params:
        settings=finder_settings,
        device=config["training"]["device"],
        max_batch_size=config["training"]["max_batch_size"],
    threads: config["threads"]
    resources:
        **HEAVY,
    log:
        f"{LOGS}/find_batch_size/{{model}}_{{size}}px_{{device}}.log",
    conda:
        "../../envs/proxy-attention.yaml"
    script:
        "../scripts/find_batch_size.py"
