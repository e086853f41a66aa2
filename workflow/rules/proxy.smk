# Proxy steps (code: src/proxy_attention/proxy/): the training images the previous round's
# model gets wrong -> CAMs -> proxy images on disk, one cached directory per step.


rule proxy_step:
    input:
        unpack(fold_inputs),
        checkpoint=init_checkpoint(proxy_dir),
    output:
        **proxy_step_outputs(f"{PROXY_RUN}/proxy{{round}}"),
        images=directory(f"{PROXY_RUN}/proxy{{round}}/images"),
    log:
        log_path("proxy", f"{PROXY_RUN}/proxy{{round}}"),
    benchmark:
        benchmark_path("proxy", f"{PROXY_RUN}/proxy{{round}}")
    conda:
        ENV
    threads: COMPUTE_THREADS
    resources:
        **HEAVY,
    params:
        round=lambda w: int(w.round),
        proxy=proxy_params,
        cam_target_layer=lambda w: config["cam_target_layer"].get(w.model),
        batch_size=config["proxy"]["batch_size"],
        device=config["training"]["device"],
        torch_threads=TORCH_THREADS,
    script:
        "../scripts/proxy_step.py"
