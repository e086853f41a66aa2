# The config: validated before any other rules file reads it (schema, then
# proxy_attention.config.check_config; an error names the key and stops before any job).
#
# Screen, then confirm (thesis 4.7; code: proxy_attention.stages, proxy_attention.analysis.selection).
# Without `stages:` nothing more happens here. With it, this workflow is the confirm stage: its
# config is the config with stages.confirm's keys in place, its results go to results/ as a
# plain run's do, and its proxy configurations are the ones the checkpoint select_configs
# (select.smk) chose. The screen stage is this same workflow imported as a module with
# stages.screen's keys and every proxy configuration, into results/screen/; its rules are named
# screen_<rule>. The stages share the download, the dataset's index and image cache and the
# batch size finder: those rules are this workflow's only.

import yaml
from snakemake.utils import validate

from proxy_attention.config import (
    canonical,
    canonicalize_config,
    check_before_schema,
    check_config,
    check_configfiles,
    coerce_numbers,
)
from proxy_attention.grid import proxy_grid
from proxy_attention.params_records import canonicalize_params_records
from proxy_attention.errors import ConfigError
from proxy_attention.stages import (
    CONFIRM_ROOT,
    SCREEN_ROOT,
    SELECTION,
    SELECTION_FIGURE,
    STAGES,
    check_screen_schedules,
    check_stages,
    is_staged,
    stage_config,
)

# Set in the screen module's config by the confirm stage below; a plain run has neither.
ROOT = config.pop("_root", CONFIRM_ROOT)
STAGE = config.pop("_stage", "confirm" if is_staged(config) else None)
STAGED = STAGE == "confirm"

# `lr: 1e-3` is a string to YAML 1.1 (PyYAML): numeric strings of number keys become numbers.
with open(
    os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
) as fh:
    coerce_numbers(config, yaml.safe_load(fh))
try:  # a target after --configfile, and what jsonschema would refuse in words that do not say what to do
    check_configfiles([str(p) for p in workflow.overwrite_configfiles or []])
    check_before_schema(config)
except ConfigError as e:
    raise WorkflowError(f"Invalid configuration: {e}")
validate(config, schema="../schemas/config.schema.yaml")
# One form for equal settings (keys sorted after the schema appended its defaults): every params
# value built from the config is then the same whatever the key order or written-out defaults.
canonicalize_config(config)
# Records of jobs finished before params were canonical, rewritten once so that they do not rerun.
canonicalize_params_records()
try:
    if not STAGED:
        check_config(config)
    else:  # each stage's own config, its errors prefixed with the stage's key
        check_stages(config, len(proxy_grid(config["proxy"])))
        STAGE_CONFIGS = {}
        for _stage in STAGES:
            STAGE_CONFIGS[_stage] = stage_config(config, _stage)
            try:
                validate(STAGE_CONFIGS[_stage], schema="../schemas/config.schema.yaml")
                STAGE_CONFIGS[_stage] = canonical(STAGE_CONFIGS[_stage])
                check_config(STAGE_CONFIGS[_stage])
            except (ConfigError, WorkflowError) as e:
                raise ConfigError(f"stages.{_stage}: {e}")
        check_screen_schedules(STAGE_CONFIGS["screen"])
except ConfigError as e:
    raise WorkflowError(f"Invalid configuration: {e}")

if STAGED:
    SCREEN_CONFIG = {
        **STAGE_CONFIGS["screen"],
        "_root": SCREEN_ROOT,
        "_stage": "screen",
    }
    # the confirm stage's keys in place; `stages` stays (the report describes both stages)
    config.update(STAGE_CONFIGS["confirm"])
    canonicalize_config(config)

    module screen:
        snakefile:
            "../../Snakefile"
        config:
            SCREEN_CONFIG

    use rule * from screen exclude download, prepare_dataset, index_dataset, cache_images, find_batch_size as screen_*
