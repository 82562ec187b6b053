#!/usr/bin/env bash
# Stop the local test cluster started by scripts/slurm/start-local-slurm.sh: cancel jobs still
# queued or running, then stop slurmd, slurmctld and munged by their recorded PIDs (never by
# name), TERM first and KILL after 10 s. Safe to run when nothing is running.
set -euo pipefail

STATE=${LOCAL_SLURM_STATE:-/tmp/peakcnn-slurm}

log() { echo "local-slurm: $*" >&2; }

# Jobs first, while slurmctld still answers (a short timeout: it may already be gone).
if command -v squeue >/dev/null && [ -f "$STATE/slurmctld.pid" ]; then
    jobs=$(timeout 10 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        log "cancelling jobs: $(tr '\n' ' ' <<<"$jobs")"
        # shellcheck disable=SC2086  # one argument per job id
        timeout 10 scancel $jobs 2>/dev/null || true
    fi
fi

running() { # running PID NAME: PID is alive and still the named program (not a reused PID)
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

for name in slurmd slurmctld munged; do
    pidfile=$STATE/$name.pid
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && running "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            running "$pid" "$name" || break
            sleep 0.2
        done
        if running "$pid" "$name"; then
            log "$name ($pid) ignored SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name ($pid)"
    fi
    rm -f "$pidfile"
done

# The daemons' own pidfiles outlive them (slurmctld does not remove its own on SIGTERM), and a
# stale one breaks Debian's maintainer scripts; remove those whose process is gone.
for pair in slurmctld:/run/slurmctld.pid slurmd:/run/slurmd.pid munged:/run/munge/munged.pid; do
    name=${pair%%:*}
    file=${pair#*:}
    [ -f "$file" ] || continue
    pid=$(cat "$file" 2>/dev/null || true)
    if [ -z "$pid" ] || ! running "$pid" "$name"; then
        rm -f "$file"
    fi
done
