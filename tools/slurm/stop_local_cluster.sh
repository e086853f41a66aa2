#!/usr/bin/env bash
# Stop the one-node test cluster started by start_local_cluster.sh.
#
#   tools/slurm/stop_local_cluster.sh [--purge]
#
# Cancels all jobs, stops slurmd, slurmctld and munged (by their pid files,
# never by name).  --purge also removes the controller state and the
# generated /etc/slurm/slurm.conf.  Safe to run when nothing is running.
set -uo pipefail

log() { echo "[stop_local_cluster] $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
    log "must run as root"
    exit 2
fi

stop_daemon() {  # stop_daemon PIDFILE NAME
    local pidfile="$1" name="$2" pid
    [[ -s "$pidfile" ]] || { log "$name: not running (no pid file)"; return 0; }
    pid="$(cat "$pidfile")"
    if [[ -d "/proc/$pid" ]] && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 150); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
        if [[ -d "/proc/$pid" ]]; then
            log "$name ($pid) did not exit, sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped $name ($pid)"
    else
        log "$name: stale pid file"
    fi
    rm -f "$pidfile"
}

if command -v scancel >/dev/null 2>&1 && [[ -s /run/slurmctld.pid ]]; then
    scancel --full --quiet --user=root 2>/dev/null || true
    scancel --full --quiet --state=PENDING 2>/dev/null || true
    scancel --full --quiet --state=RUNNING 2>/dev/null || true
fi
stop_daemon /run/slurmd.pid slurmd
stop_daemon /run/slurmctld.pid slurmctld
stop_daemon /run/munge/munged.pid munged

if [[ "${1:-}" == "--purge" ]]; then
    rm -rf /var/spool/slurmctld /var/spool/slurmd
    rm -f /etc/slurm/slurm.conf
    log "purged state and /etc/slurm/slurm.conf"
fi
exit 0
