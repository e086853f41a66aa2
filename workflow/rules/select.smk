# Screen -> confirm (config.smk): the screen's proxy configurations ranked on validation only,
# the select_top best chosen for the confirm stage (code: proxy_attention.analysis.selection).
# A checkpoint: the confirm stage's jobs are planned from its table once it has run.

if STAGED:

    checkpoint select_configs:
        """Reads the screen's runs.csv without its test columns (selection.validation_only)."""
        input:
            f"{SCREEN_ROOT}/summary/runs.csv",
        output:
            table=report(
                SELECTION,
                caption="../report/selection.rst",
                category=category("Answer"),
                labels={"item": "selection (screen -> confirm)"},
            ),
        log:
            log_path("summary", "select_configs"),
        localrule: True
        conda:
            ENV
        params:
            top=config["stages"]["screen"]["select_top"],
            metric=config["selection_metric"],
        script:
            "../scripts/select_configs.py"

    rule plot_selection:
        input:
            SELECTION,
        output:
            report(
                SELECTION_FIGURE,
                caption="../report/selection.rst",
                category=category("Answer"),
                labels={"item": "selection figure"},
            ),
        log:
            log_path("plots", "selection"),
        localrule: True
        conda:
            ENV
        script:
            "../scripts/plot_selection.py"
