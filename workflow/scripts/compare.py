"""Paired comparison of every configuration with each reference method -> comparison.csv, its HTML table,
the per-pair differences, the augmentation arms against each other (augmentations.csv), and the answer
shown first in the report."""

import logging

import pandas as pd

from proxy_attention.analysis.answer import answer_rst, comparison_html
from proxy_attention.analysis.arms import ARM_COLUMNS, arm_comparison, arms_rst
from proxy_attention.analysis.stats import compare, final_rounds, paired_differences
from proxy_attention.atomic import write_csv, write_text
from proxy_attention.logs import setup_logging

setup_logging(snakemake.log[0])
log = logging.getLogger("compare")
final = final_rounds(pd.read_csv(snakemake.input[0]))
references = [r for r in snakemake.params.references if r in set(final["method"])]
if not references:
    raise ValueError(f"runs.csv has none of the reference methods {snakemake.params.references}")
table = pd.concat([compare(final, ref) for ref in references], ignore_index=True)
pairs = pd.concat([paired_differences(final, ref) for ref in references], ignore_index=True)
for row in table[table["verdict"] != "reference"].itertuples():
    log.info("%s/%s/%s %s vs %s: %+.4f [%.4f, %.4f] n=%d p=%s %s", row.dataset, row.model, row.schedule, row.config,
             row.reference, row.mean_diff, row.ci_low, row.ci_high, row.n_pairs, row.t_p, row.verdict)
write_csv(snakemake.output.table, table)
write_csv(snakemake.output.pairs, pairs)
write_text(snakemake.output.html, comparison_html(table))
arms = arm_comparison(final)  # empty with one augmentation arm (none)
if arms.empty:
    arms = pd.DataFrame(columns=ARM_COLUMNS)
write_csv(snakemake.output.arms, arms)
write_text(snakemake.output.answer, answer_rst(table) + arms_rst(arms))
