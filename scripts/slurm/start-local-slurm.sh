#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (munged + slurmctld + slurmd), for the
# workflow's cluster tests (tests/test_slurm.py) and CI. Debian/Ubuntu, as root, no systemd needed.
#
#   bash scripts/slurm/start-local-slurm.sh          # start (or check) the cluster
#   bash scripts/slurm/stop-local-slurm.sh           # stop it again
#
# Settings (environment):
#   LOCAL_SLURM_STATE       folder for PIDs and daemon output (default /tmp/peakcnn-slurm)
#   LOCAL_SLURM_FAKE_GPUS   advertise N fake GPUs (gres backed by /dev/null; default 0)
#   LOCAL_SLURM_MINJOBAGE   seconds finished jobs stay visible to `squeue -t all` (default 600)
#   LOCAL_SLURM_TIMEOUT     seconds to wait for the node to become idle (default 60)
#
# Idempotent: installs slurm-wlm and munge only when missing, keeps daemons that are already
# running, and restarts slurmctld/slurmd only when the generated slurm.conf or gres.conf changed
# (e.g. a different LOCAL_SLURM_FAKE_GPUS). See docs/cluster.md.
set -euo pipefail

STATE=${LOCAL_SLURM_STATE:-/tmp/peakcnn-slurm}
FAKE_GPUS=${LOCAL_SLURM_FAKE_GPUS:-0}
MINJOBAGE=${LOCAL_SLURM_MINJOBAGE:-600}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf

log() { echo "local-slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
[[ $FAKE_GPUS =~ ^[0-9]+$ ]] || die "LOCAL_SLURM_FAKE_GPUS must be a number, got '$FAKE_GPUS'"
mkdir -p "$STATE"

# --- packages: only when missing -------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >"$STATE/apt.log" 2>&1 || {
        tail -n 20 "$STATE/apt.log" >&2
        die "apt-get install slurm-wlm munge failed (log: $STATE/apt.log)"
    }
fi
id slurm >/dev/null 2>&1 || die "user 'slurm' is missing (the slurm-wlm packages create it)"
id munge >/dev/null 2>&1 || die "user 'munge' is missing (the munge package creates it)"

# --- PID bookkeeping: one file per daemon, checked against /proc/PID/comm ---------------------
alive() { # alive NAME: the recorded daemon is running (and the PID was not reused)
    local pid
    pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

stop_daemon() { # stop_daemon NAME: TERM, wait up to 10 s, then KILL; only a recorded PID
    local pid i
    if alive "$1"; then
        pid=$(cat "$STATE/$1.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || break
            sleep 0.2
        done
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $1 ($pid)"
    fi
    rm -f "$STATE/$1.pid"
}

start_daemon() { # start_daemon NAME COMMAND...: own session, output in $STATE, PID recorded
    local name=$1 i
    shift
    # The inner shell writes its own PID and then execs the daemon, so the PID is the daemon's
    # even if setsid has to fork.
    # shellcheck disable=SC2016  # $$ and "$@" expand in the inner shell
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.out" 2>&1 &
    for i in $(seq 50); do
        alive "$name" && return 0
        sleep 0.1
    done
    tail -n 20 "$STATE/$name.out" >&2 || true
    die "$name did not start (output: $STATE/$name.out)"
}

# --- munge: key, then the daemon unless one already answers -----------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    rm -f "$STATE/munged.pid"
    # -F: stay in the foreground, so the recorded PID is munged itself.
    start_daemon munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer ($STATE/munged.out)"
elif ! alive munged; then
    log "munge already answers (not started here; left alone)"
fi

# --- slurm.conf from `slurmd -C` -------------------------------------------------------------
HOST=$(hostname -s)
hw=$(slurmd -C | head -n 1)
field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<" $hw"; }
CPUS=$(field CPUs)
SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket)
THREADS=$(field ThreadsPerCore)
MEM=$(field RealMemory)
if [ -z "$CPUS" ] || [ -z "$MEM" ]; then
    die "cannot read CPUs/RealMemory from 'slurmd -C': $hw"
fi
REALMEM=$((MEM * 85 / 100))        # leave room for the OS and the daemons
DEFMEM=$((REALMEM / CPUS / 4))     # a job without --mem gets a share, not the whole node
NODE="NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=${SOCKETS:-1}"
NODE+=" CoresPerSocket=${CORES:-$CPUS} ThreadsPerCore=${THREADS:-1} RealMemory=$REALMEM"
GRES_TYPES="# GresTypes: none (LOCAL_SLURM_FAKE_GPUS=0)"
if [ "$FAKE_GPUS" -gt 0 ]; then
    GRES_TYPES="GresTypes=gpu"
    NODE+=" Gres=gpu:$FAKE_GPUS"
fi

new_conf=$(mktemp)
new_gres=$(mktemp)
trap 'rm -f "$new_conf" "$new_gres"' EXIT
cat >"$new_conf" <<EOF
# Generated by scripts/slurm/start-local-slurm.sh: a single-node test cluster on loopback.
ClusterName=localci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
# No usable cgroups in containers: limits are scheduled, not enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEFMEM
# No slurmdbd: sacct does not work, so profiles use slurm-status-command: squeue, which needs
# finished jobs to stay visible (MinJobAge >= 3 x slurm-init-seconds-before-status-checks).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=$MINJOBAGE
SlurmctldDebug=info
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=/var/log/slurm/slurmd.log
$GRES_TYPES
$NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
{
    echo "# Generated by scripts/slurm/start-local-slurm.sh (fake GPUs: File=/dev/null)."
    echo "AutoDetect=off"
    if [ "$FAKE_GPUS" = 1 ]; then
        echo "NodeName=$HOST Name=gpu File=/dev/null"
    elif [ "$FAKE_GPUS" -gt 1 ]; then
        # One device file per GPU (a Count without File leaves the node drained): links to
        # /dev/null in the state folder.
        echo "NodeName=$HOST Name=gpu File=$STATE/fakegpu[0-$((FAKE_GPUS - 1))]"
    fi
} >"$new_gres"
rm -f "$STATE"/fakegpu*
for i in $(seq 0 $((FAKE_GPUS - 1))); do
    ln -sfn /dev/null "$STATE/fakegpu$i"
done

changed=0
install -d /etc/slurm
for pair in "$new_conf:$CONF" "$new_gres:$GRES"; do
    if ! cmp -s "${pair%%:*}" "${pair#*:}"; then
        install -m 0644 "${pair%%:*}" "${pair#*:}"
        changed=1
    fi
done
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -m 0755 /var/lib/slurm/slurmd

# --- slurmctld and slurmd ---------------------------------------------------------------------
if [ "$changed" = 1 ] && { alive slurmctld || alive slurmd; }; then
    log "configuration changed: restarting slurmctld and slurmd"
    stop_daemon slurmd
    stop_daemon slurmctld
fi
for name in slurmctld slurmd; do
    if ! alive "$name"; then
        # A pidfile left by a daemon that is gone confuses Debian's maintainer scripts.
        pid=$(cat "/run/$name.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            die "$name is already running (PID $pid) but was not started here; stop it first"
        fi
        rm -f "/run/$name.pid"
    fi
done
# -D: foreground (the recorded PID is the daemon); slurmctld drops to SlurmUser itself.
alive slurmctld || start_daemon slurmctld /usr/sbin/slurmctld -D
alive slurmd || start_daemon slurmd /usr/sbin/slurmd -D -N "$HOST"

# --- wait until the node is idle; resume it if an earlier run left it drained or down ---------
deadline=$((SECONDS + TIMEOUT))
state=""
while :; do
    state=$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -n 1 || true)
    case "$state" in
    idle | mix | alloc) break ;;
    drain | drng | down | fail | inval)
        # Node state survives restarts in StateSaveLocation; a fixed config needs a RESUME.
        log "node $HOST is $state: resuming"
        scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        sinfo -N -l >&2 || true
        tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        die "node $HOST not idle after ${TIMEOUT}s (state: '${state:-no answer}')"
    fi
    sleep 0.5
done

for name in munged slurmctld slurmd; do
    alive "$name" && log "$name PID $(cat "$STATE/$name.pid")"
done
log "node $HOST is $state: $CPUS CPUs, ${REALMEM} MB, fake GPUs: $FAKE_GPUS (state: $STATE)"
