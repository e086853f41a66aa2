#!/usr/bin/env bash
# Run a workflow through SLURM (`--executor slurm`) with the repo's SLURM profile.
#
#   tools/slurm/run_tiny_grid.sh WORKFLOW_DIR CONFIGFILE OUTDIR [extra snakemake args...]
#
#   WORKFLOW_DIR  folder holding the Snakefile (e.g. the repository root)
#   CONFIGFILE    config to run (e.g. tests/configs/tiny.yaml)
#   OUTDIR        working directory for the run (results/, logs/, .snakemake/)
#
# Environment:
#   SNAKEMAKE       snakemake command          (default: snakemake on PATH, else
#                                               python -m snakemake of $PYTHON)
#   SLURM_PROFILE   profile folder             (default: <repo>/profiles/slurm)
#   SLURM_JOBS      max. concurrent SLURM jobs (default: 2)
#   SLURM_STATUS_INIT_S  seconds before the first status check (default: 10;
#                   the plugin's default of 40 s only slows a tiny grid down)
#   SLURM_STATUS_EVERY_S seconds between two rounds of status checks (default:
#                   Snakemake's 10; the test uses 2 on its one-node cluster)
#
# Clusters without an accounting database (AccountingStorageType=
# accounting_storage/none, e.g. the local test cluster of
# start_local_cluster.sh) cannot answer `sacct`; the script detects that and
# tells the plugin to poll with `squeue` and to submit without an account.
set -euo pipefail

if [[ $# -lt 3 ]]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
WORKFLOW_DIR="$(cd "$1" && pwd)"
CONFIGFILE="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
mkdir -p "$3"
OUTDIR="$(cd "$3" && pwd)"
shift 3

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PROFILE="${SLURM_PROFILE:-$REPO/profiles/slurm}"
JOBS="${SLURM_JOBS:-2}"
INIT_S="${SLURM_STATUS_INIT_S:-10}"
EVERY_S="${SLURM_STATUS_EVERY_S:-10}"

if [[ -n "${SNAKEMAKE:-}" ]]; then
    read -r -a SMK <<<"$SNAKEMAKE"
elif command -v snakemake >/dev/null 2>&1; then
    SMK=(snakemake)
else
    SMK=("${PYTHON:-python3}" -m snakemake)
fi

for t in sbatch squeue sinfo; do
    command -v "$t" >/dev/null 2>&1 || { echo "run_tiny_grid: '$t' not found -- no SLURM here" >&2; exit 4; }
done

extra=()
acct="$(scontrol show config 2>/dev/null | sed -n 's/^AccountingStorageType *= *//p')"
if [[ "$acct" == "accounting_storage/none" || -z "$acct" ]]; then
    # no slurmdbd: sacct is disabled, only slurmctld knows the jobs
    extra+=(--slurm-status-command squeue --slurm-no-account)
fi

set -x
exec "${SMK[@]}" \
    --snakefile "$WORKFLOW_DIR/Snakefile" \
    --directory "$OUTDIR" \
    --configfile "$CONFIGFILE" \
    --executor slurm \
    --profile "$PROFILE" \
    --jobs "$JOBS" \
    --slurm-init-seconds-before-status-checks "$INIT_S" \
    --seconds-between-status-checks "$EVERY_S" \
    "${extra[@]}" \
    "$@"
