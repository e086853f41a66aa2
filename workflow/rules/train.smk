# Training rounds (code: src/proxy_attention/train/). One rule per kind of round, all
# variants of `train_round0` (paths.ROUND_KINDS lists them):
#
#   train_round0    <run>/round0, shared by the baseline and every proxy run (it depends on
#                   no proxy hyperparameter)
#   train_baseline  <run>/baseline/round<r>: same schedule and seeds, no proxies
#   train_proxy     <run>/proxy/<config>/proxy<r> and round<r>: the proxy step r (the images the
#                   previous round's model gets wrong -> CAMs -> proxy images; code:
#                   src/proxy_attention/proxy/), then round r on the fold's training images plus
#                   proxies -- one job, one start-up
#   train_matched   <run>/proxy/<config>/matched/round<r>: the proxy run's images seen and
#                   optimizer steps, with extra original images in place of the proxies (r >= 2;
#                   round 1, the same for every configuration with the same subset_wrong, is
#                   train_matched_first's <run>/shared/subset_wrong~<s>/matched/round1)
#   train_replay    the replay control (<run>/proxy/<config>/replay/round<r>, r >= 2; round 1 shared
#                   by subset_wrong and subset_order: train_replay_first): the proxy run's selected
#                   images, unmodified
#   train_random_location  the random-location control: the proxy run's edit with each CAM moved
#                   (its step r in <run>/proxy/<config>/random_location/proxy<r>), then round r
#   (code of the controls: src/proxy_attention/proxy/controls.py)


from proxy_attention.grid import run_info, shared_run_info
from proxy_attention.train.settings import finder_settings

PROXY_STEP = LAYOUT.proxy_step  # written by the train_proxy job of round r
SHARED_MATCHED = LAYOUT.shared_matched
SHARED_REPLAY = LAYOUT.shared_replay
RANDOM_LOCATION_STEP = LAYOUT.random_location_step
# rounds from 2 on (round 1 of a shared control is its own rule)
LATER_ROUND = r"[2-9]|[1-9]\d+"


# The input functions and params below: wildcards -> proxy_attention.grid.


rule train_round0:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
    output:
        **round_outputs(f"{RUN}/round0"),
    log:
        log_path("train", f"{RUN}/round0"),
    benchmark:
        benchmark_path("train", f"{RUN}/round0")
    conda:
        ENV
    threads: COMPUTE_THREADS
    resources:
        **HEAVY,
    params:
        round=0,
        settings=round_settings,
        run_info=lambda w: canonical(run_info(w, "round0")),
        feeds_proxy_step=GRID.feeds_proxy_step,
    script:
        "../scripts/train_round.py"


use rule train_round0 as train_baseline with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=lambda w: GRID.init_checkpoint(w, f"{run_dir(w)}/baseline"),
    output:
        **round_outputs(f"{RUN}/baseline/round{{round}}"),
    log:
        log_path("train", f"{RUN}/baseline/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{RUN}/baseline/round{{round}}")
    params:
        round=lambda w: int(w.round),
        run_info=lambda w: canonical(run_info(w, "baseline")),
        feeds_proxy_step=False,


use rule train_round0 as train_proxy with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=lambda w: GRID.init_checkpoint(w, GRID.proxy_dir(w)),
        manifests=GRID.earlier_proxy_manifests,
    output:
        **round_outputs(f"{PROXY_RUN}/round{{round}}"),
        **proxy_step_outputs(PROXY_STEP),
        images=directory(f"{PROXY_STEP}/images"),
    log:
        log_path("train", f"{PROXY_RUN}/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{PROXY_RUN}/round{{round}}")
    params:
        round=lambda w: int(w.round),
        run_info=lambda w: canonical(run_info(w, "proxy", proxy_params(w))),
        proxy_step=lambda w: canonical(GRID.proxy_step_params(w)),


use rule train_round0 as train_matched with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=lambda w: GRID.control_checkpoint(w, "baseline_matched"),
        matched_manifests=GRID.round_proxy_manifests,
    output:
        **round_outputs(f"{PROXY_RUN}/matched/round{{round}}"),
    log:
        log_path("train", f"{PROXY_RUN}/matched/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{PROXY_RUN}/matched/round{{round}}")
    wildcard_constraints:
        protocol="honest",
        round=LATER_ROUND,
    params:
        round=lambda w: int(w.round),
        run_info=lambda w: canonical(run_info(w, "baseline_matched", proxy_params(w))),
        feeds_proxy_step=False,


use rule train_round0 as train_matched_first with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=f"{RUN}/round0/checkpoint.pt",
    output:
        **round_outputs(f"{SHARED_MATCHED}/round1"),
    log:
        log_path("train", f"{SHARED_MATCHED}/round1"),
    benchmark:
        benchmark_path("train", f"{SHARED_MATCHED}/round1")
    wildcard_constraints:
        protocol="honest",
    params:
        round=1,
        run_info=lambda w: canonical(shared_run_info(w, "baseline_matched")),
        feeds_proxy_step=False,
        first_step=lambda w: canonical(GRID.first_step_params(w, "baseline_matched")),


use rule train_round0 as train_replay_first with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=f"{RUN}/round0/checkpoint.pt",
    output:
        **round_outputs(f"{SHARED_REPLAY}/round1"),
    log:
        log_path("train", f"{SHARED_REPLAY}/round1"),
    benchmark:
        benchmark_path("train", f"{SHARED_REPLAY}/round1")
    wildcard_constraints:
        protocol="honest",
    params:
        round=1,
        run_info=lambda w: canonical(shared_run_info(w, "replay")),
        feeds_proxy_step=False,
        first_step=lambda w: canonical(GRID.first_step_params(w, "replay")),


use rule train_round0 as train_replay with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=lambda w: GRID.control_checkpoint(w, "replay"),
        replay_manifests=GRID.round_proxy_manifests,
    output:
        **round_outputs(f"{PROXY_RUN}/replay/round{{round}}"),
    log:
        log_path("train", f"{PROXY_RUN}/replay/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{PROXY_RUN}/replay/round{{round}}")
    wildcard_constraints:
        protocol="honest",
        round=LATER_ROUND,
    params:
        round=lambda w: int(w.round),
        run_info=lambda w: canonical(run_info(w, "replay", proxy_params(w))),
        feeds_proxy_step=False,


use rule train_round0 as train_random_location with:
    input:
        unpack(fold_inputs),
        unpack(GRID.batch_size_input),
        init=lambda w: GRID.control_checkpoint(w, "random_location"),
        manifests=GRID.earlier_random_location_manifests,
        of_step=f"{PROXY_STEP}/manifest.csv",
        of_cams=f"{PROXY_STEP}/cams.npz",
    output:
        **round_outputs(f"{PROXY_RUN}/random_location/round{{round}}"),
        **proxy_step_outputs(RANDOM_LOCATION_STEP),
        images=directory(f"{RANDOM_LOCATION_STEP}/images"),
    log:
        log_path("train", f"{PROXY_RUN}/random_location/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{PROXY_RUN}/random_location/round{{round}}")
    wildcard_constraints:
        protocol="honest",
    params:
        round=lambda w: int(w.round),
        run_info=lambda w: canonical(run_info(w, "random_location", proxy_params(w))),
        feeds_proxy_step=False,
        random_location=lambda w: canonical({"proxy": GRID.proxy_params(w)}),


rule find_batch_size:
    """training.batch_size: auto -- the thesis's batch size finder, once per model, image size and device."""
    output:
        paths.BATCH_SIZE,
    log:
        log_path("find_batch_size", "{model}_{size}px_{device}"),
    conda:
        ENV
    threads: COMPUTE_THREADS
    resources:
        **HEAVY,
    params:
        settings=lambda w: canonical(finder_settings(config, w.model, int(w.size))),
        device=config["training"]["device"],
        max_batch_size=config["training"]["max_batch_size"],
        torch_threads=TORCH_THREADS,
    script:
        "../scripts/find_batch_size.py"


# keep_intermediate_rounds: false -- the checkpoint of a run's intermediate round (1 .. n-1 of a
# schedule with n proxy steps) is temp(): Snakemake deletes it once the next round, its only reader,
# has finished. Round 0 (shared by every run of a fold) and the last round (explain, predict) stay.
# Snakemake's temp() is per rule, so these rules, preferred by ruleorder, take the intermediate
# rounds (paths.intermediate_rounds_constraint) and the rules above the rest.
LET_GO = (
    None
    if config["keep_intermediate_rounds"]
    else paths.intermediate_rounds_constraint(
        {tag: s.n_proxy_steps for tag, s in SCHEDULES.items()}
    )
)


if LET_GO:

    use rule train_baseline as train_baseline_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{RUN}/baseline/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,

    use rule train_proxy as train_proxy_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{PROXY_RUN}/round{{round}}")),
            **proxy_step_outputs(PROXY_STEP),
            images=directory(f"{PROXY_STEP}/images"),
        wildcard_constraints:
            schedule=LET_GO,

    use rule train_matched as train_matched_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{PROXY_RUN}/matched/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",
            round=LATER_ROUND,

    use rule train_matched_first as train_matched_first_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{SHARED_MATCHED}/round1")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",

    use rule train_replay_first as train_replay_first_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{SHARED_REPLAY}/round1")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",

    use rule train_replay as train_replay_intermediate with:
        output:
            **paths.let_go(temp, round_outputs(f"{PROXY_RUN}/replay/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",
            round=LATER_ROUND,

    use rule train_random_location as train_random_location_intermediate with:
        output:
            **paths.let_go(
                temp, round_outputs(f"{PROXY_RUN}/random_location/round{{round}}")
            ),
            **proxy_step_outputs(RANDOM_LOCATION_STEP),
            images=directory(f"{RANDOM_LOCATION_STEP}/images"),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",

    ruleorder: train_baseline_intermediate > train_baseline
    ruleorder: train_proxy_intermediate > train_proxy
    ruleorder: train_matched_intermediate > train_matched
    ruleorder: train_matched_first_intermediate > train_matched_first
    ruleorder: train_replay_first_intermediate > train_replay_first
    ruleorder: train_replay_intermediate > train_replay
    ruleorder: train_random_location_intermediate > train_random_location
