#!/usr/bin/env bash
# Start a throw-away, one-node SLURM cluster on this machine (for tests).
#
#   tools/slurm/start_local_cluster.sh
#
# * installs Debian's slurm-wlm + munge with apt-get if they are missing
#   (exit code 3 if that is impossible, so that tests can skip);
# * writes /etc/slurm/slurm.conf for ONE node = this host (hostname -s),
#   NodeAddr=127.0.0.1, CPUs/RealMemory as reported by `slurmd -C`,
#   a single partition `debug` (Default=YES), no accounting database;
# * starts munged, slurmctld and slurmd as plain daemons (no systemd needed);
# * waits until `sinfo` reports the node idle.
#
# Idempotent: running it again while the cluster is up is a no-op apart from
# the health check; if the written slurm.conf would change, the daemons are
# restarted.  Stop with tools/slurm/stop_local_cluster.sh.
#
# Needs root (it installs packages and writes /etc/slurm).
# All SLURM traffic goes to 127.0.0.1: the controller host and the node address
# are both the loopback address (the daemons still *bind* to all interfaces,
# SLURM has no bind-address option; nothing ever connects to another address).
#
# Exit codes: 0 ready, 1 daemons did not come up, 2 not root,
#             3 slurm/munge not installable (tests skip on this).
#
# Environment knobs:
#   SLURM_LOCAL_PARTITION   partition name            (default: debug)
#   SLURM_LOCAL_MINJOBAGE   MinJobAge seconds         (default: 900; must be
#                           >= 3 x the plugin's init_seconds_before_status_checks
#                           for squeue-based status polling)
#   SLURM_LOCAL_TIMEOUT     seconds to wait for idle  (default: 60)
#   SLURM_LOCAL_CPUS        CPUs to advertise         (default: detected; more
#                           than the machine has = over-subscription, for
#                           workflows whose rules ask for more threads)
#   SLURM_LOCAL_MEM_MB      RealMemory to advertise   (default: 95% of detected)
set -euo pipefail

PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
MINJOBAGE="${SLURM_LOCAL_MINJOBAGE:-900}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
LOG_DIR=/var/log/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd

log() { echo "[start_local_cluster] $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
    log "must run as root (installs packages, writes /etc/slurm)"
    exit 2
fi

# --------------------------------------------------------------- install ---
need_install=0
for b in slurmctld slurmd munged sinfo sbatch squeue srun scontrol; do
    command -v "$b" >/dev/null 2>&1 || need_install=1
done
if [[ $need_install == 1 ]]; then
    log "installing slurm-wlm and munge with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    # wait (up to 10 min) for another apt/dpkg run to finish instead of failing:
    # a busy dpkg lock must not turn into "cannot install" (= tests skip)
    APT=(apt-get -o DPkg::Lock::Timeout=600 -q)
    if ! { "${APT[@]}" install -y --no-install-recommends slurm-wlm munge >/tmp/slurm-apt.log 2>&1 \
           || { "${APT[@]}" update >>/tmp/slurm-apt.log 2>&1 \
                && "${APT[@]}" install -y --no-install-recommends slurm-wlm munge >>/tmp/slurm-apt.log 2>&1; }; }; then
        log "ERROR: could not install slurm-wlm/munge with apt-get (see /tmp/slurm-apt.log):"
        tail -n 5 /tmp/slurm-apt.log >&2 || true
        exit 3
    fi
    for b in slurmctld slurmd munged sinfo sbatch squeue srun scontrol; do
        if ! command -v "$b" >/dev/null 2>&1; then
            log "ERROR: '$b' still missing after installing slurm-wlm/munge"
            exit 3
        fi
    done
fi

# ----------------------------------------------------------------- munge ---
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null || { log "munged is not working"; exit 1; }
fi

# ------------------------------------------------------------ slurm.conf ---
HOST="$(hostname -s)"
# `slurmd -C` prints what slurmd detects, e.g.
# NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
HWLINE="$(slurmd -C | head -n 1)"
hw() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$HWLINE"; }
CPUS="$(hw CPUs)"; CPUS="${CPUS:-$(nproc)}"
SOCKETS="$(hw SocketsPerBoard)"; SOCKETS="${SOCKETS:-1}"
CORES="$(hw CoresPerSocket)"; CORES="${CORES:-$CPUS}"
THREADS="$(hw ThreadsPerCore)"; THREADS="${THREADS:-1}"
MEM="$(hw RealMemory)"
if [[ -z "$MEM" ]]; then MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 )); fi
# keep a little head-room so the node never registers with less than configured
MEM=$(( MEM * 95 / 100 ))
# Optional over-subscription: advertise more CPUs / memory than the machine has,
# so that rules declaring e.g. threads: 8 can still be scheduled on a small test
# box (SLURM rejects jobs asking for more than the node has).
OVERRIDES=""
if [[ -n "${SLURM_LOCAL_CPUS:-}" && "${SLURM_LOCAL_CPUS}" != "$CPUS" ]]; then
    CPUS="$SLURM_LOCAL_CPUS"; SOCKETS=1; CORES="$CPUS"; THREADS=1
    OVERRIDES="SlurmdParameters=config_overrides"
fi
if [[ -n "${SLURM_LOCAL_MEM_MB:-}" ]]; then
    MEM="$SLURM_LOCAL_MEM_MB"
    OVERRIDES="SlurmdParameters=config_overrides"
fi

install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR"
NEWCONF="$(mktemp)"
cat >"$NEWCONF" <<EOF
# Written by tools/slurm/start_local_cluster.sh -- one-node test cluster.
ClusterName=localtest
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${STATE_DIR}
SlurmdSpoolDir=${SPOOL_DIR}
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# reject at submission (instead of pending forever) jobs that can never fit the node
EnforcePartLimits=ALL
# no accounting database (slurmdbd): sacct cannot see jobs, so the snakemake
# slurm plugin must poll with squeue; finished jobs stay visible to squeue for
# MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=${MINJOBAGE}
InactiveLimit=0
KillWait=10
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
${OVERRIDES}
NodeName=${HOST} NodeAddr=127.0.0.1 NodeHostname=${HOST} CPUs=${CPUS} Sockets=${SOCKETS} CoresPerSocket=${CORES} ThreadsPerCore=${THREADS} RealMemory=${MEM} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF

conf_changed=0
if [[ ! -f "$CONF" ]] || ! cmp -s "$NEWCONF" "$CONF"; then
    conf_changed=1
    install -m 0644 "$NEWCONF" "$CONF"
    log "wrote $CONF (node ${HOST}: CPUs=${CPUS} RealMemory=${MEM}MB, partition ${PARTITION})"
fi
rm -f "$NEWCONF"

# --------------------------------------------------------------- daemons ---
alive() {  # alive PIDFILE NAME
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ -d "/proc/$pid" ]] && grep -q "$2" "/proc/$pid/comm" 2>/dev/null
}
stop_daemon() {  # stop_daemon PIDFILE NAME
    if alive "$1" "$2"; then
        local pid; pid="$(cat "$1")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
        if [[ -d "/proc/$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$1"
}

if [[ $conf_changed == 1 ]]; then
    stop_daemon /run/slurmd.pid slurmd
    stop_daemon /run/slurmctld.pid slurmctld
fi
if ! alive /run/slurmctld.pid slurmctld; then
    log "starting slurmctld"
    # -c: clear saved state (jobs/node state) -- this is a throw-away cluster
    /usr/sbin/slurmctld -c
fi
if ! alive /run/slurmd.pid slurmd; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi

# ------------------------------------------------------------ wait idle ---
deadline=$(( SECONDS + TIMEOUT ))
state=""
while (( SECONDS < deadline )); do
    state="$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true)"
    case "$state" in
        idle|mixed|allocated) break ;;
        down*|drain*|fail*)
            # a node that was down before (e.g. after an unclean stop) -> resume
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle|mixed|allocated)
        log "cluster up: node ${HOST} ${state}, partition ${PARTITION} (${SECONDS}s)"
        sinfo >&2
        ;;
    *)
        log "ERROR: node ${HOST} not idle after ${TIMEOUT}s (state='${state}')"
        tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
        exit 1
        ;;
esac
