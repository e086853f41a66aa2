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


# Input functions and params of the rules below: wildcards -> proxy_attention.grid.


def round_settings(wildcards) -> dict:
    return canonical(GRID.round_settings(wildcards))


def batch_size_settings(wildcards) -> dict:
    return canonical(finder_settings(config, wildcards.model, int(wildcards.size)))


def batch_size_input(wildcards) -> dict:
    return GRID.batch_size_input(wildcards)


def train_info(method: str, per_config: bool = True):
    """Params: the run_info of a round of ``method`` (of the job's proxy configuration)."""
    return lambda w: canonical(
        run_info(w, method, GRID.proxy_params(w) if per_config else None)
    )


def shared_info(method: str):
    return lambda w: canonical(shared_run_info(w, method))


def first_step_of(method: str):
    return lambda w: canonical(GRID.first_step_params(w, method))


def control_init(method: str):
    return lambda w: GRID.control_checkpoint(w, method)


def let_go(outputs: dict) -> dict:
    """A round's outputs with its checkpoint temp() (keep_intermediate_rounds: false, below)."""
    return {**outputs, "checkpoint": temp(outputs["checkpoint"])}


rule train_round0:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
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
        run_info=train_info("round0", per_config=False),
        feeds_proxy_step=GRID.feeds_proxy_step,
    script:
        "../scripts/train_round.py"


use rule train_round0 as train_baseline with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=lambda w: GRID.init_checkpoint(w, f"{run_dir(w)}/baseline"),
    output:
        **round_outputs(f"{RUN}/baseline/round{{round}}"),
    log:
        log_path("train", f"{RUN}/baseline/round{{round}}"),
    benchmark:
        benchmark_path("train", f"{RUN}/baseline/round{{round}}")
    params:
        round=lambda w: int(w.round),
        run_info=train_info("baseline", per_config=False),
        feeds_proxy_step=False,


use rule train_round0 as train_proxy with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
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
        run_info=train_info("proxy"),
        proxy_step=lambda w: canonical(GRID.proxy_step_params(w)),


use rule train_round0 as train_matched with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=control_init("baseline_matched"),
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
        run_info=train_info("baseline_matched"),
        feeds_proxy_step=False,


use rule train_round0 as train_matched_first with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
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
        run_info=shared_info("baseline_matched"),
        feeds_proxy_step=False,
        first_step=first_step_of("baseline_matched"),


use rule train_round0 as train_replay_first with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
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
        run_info=shared_info("replay"),
        feeds_proxy_step=False,
        first_step=first_step_of("replay"),


use rule train_round0 as train_replay with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=control_init("replay"),
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
        run_info=train_info("replay"),
        feeds_proxy_step=False,


use rule train_round0 as train_random_location with:
    input:
        unpack(fold_inputs),
        unpack(batch_size_input),
        init=control_init("random_location"),
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
        run_info=train_info("random_location"),
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
        settings=batch_size_settings,
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
            **let_go(round_outputs(f"{RUN}/baseline/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,

    use rule train_proxy as train_proxy_intermediate with:
        output:
            **let_go(round_outputs(f"{PROXY_RUN}/round{{round}}")),
            **proxy_step_outputs(PROXY_STEP),
            images=directory(f"{PROXY_STEP}/images"),
        wildcard_constraints:
            schedule=LET_GO,

    use rule train_matched as train_matched_intermediate with:
        output:
            **let_go(round_outputs(f"{PROXY_RUN}/matched/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",
            round=LATER_ROUND,

    use rule train_matched_first as train_matched_first_intermediate with:
        output:
            **let_go(round_outputs(f"{SHARED_MATCHED}/round1")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",

    use rule train_replay_first as train_replay_first_intermediate with:
        output:
            **let_go(round_outputs(f"{SHARED_REPLAY}/round1")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",

    use rule train_replay as train_replay_intermediate with:
        output:
            **let_go(round_outputs(f"{PROXY_RUN}/replay/round{{round}}")),
        wildcard_constraints:
            schedule=LET_GO,
            protocol="honest",
            round=LATER_ROUND,

    use rule train_random_location as train_random_location_intermediate with:
        output:
            **let_go(round_outputs(f"{PROXY_RUN}/random_location/round{{round}}")),
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
