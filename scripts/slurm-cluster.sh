#!/usr/bin/env bash
# A one-node Slurm cluster on loopback, for carry's tests and for trying the Slurm executor.
#
#   scripts/slurm-cluster.sh start [DIR]   start munged, slurmctld and slurmd with state in DIR
#                                          (default /tmp/carry-slurm); prints the export to use
#   scripts/slurm-cluster.sh stop [DIR]    stop them
#   scripts/slurm-cluster.sh status [DIR]  sinfo
#
# Needs Debian's slurmctld, slurmd, slurm-client and munge (`.ci/run` installs them). Runs as
# the current user; as root, munged is forced and the daemons run as root. Nothing outside DIR
# is written.
set -euo pipefail
action=${1:-start}
dir=$(realpath -m "${2:-${CARRY_SLURM_DIR:-/tmp/carry-slurm}}")
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        if [ -f "$pidfile" ]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
}

case "$action" in
stop) stop; exit 0 ;;
status) exec sinfo ;;
start) ;;
*) echo "usage: $0 start|stop|status [DIR]" >&2; exit 2 ;;
esac

stop
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/shared"
chmod 755 "$dir/munge"   # clients (the user running carry) reach the socket; the key stays 0400
[ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/munge.key" 2>/dev/null; chmod 400 "$dir/munge/munge.key"; }
force=()
[ "$(id -u)" = 0 ] && force=(--force)
munged "${force[@]}" --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

# Two free loopback ports for the controller and the node daemon.
ctld=6817; while ! port_free "$ctld"; do ctld=$((ctld + 2)); done
slurmd_port=$((ctld + 1)); while ! port_free "$slurmd_port"; do slurmd_port=$((slurmd_port + 2)); done
user=$(id -un)
# The node as slurmd sees this machine (CPUs, memory), so it is never drained for a mismatch.
node=$(slurmd -C | head -1)
host=$(printf '%s\n' "$node" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
cat > "$conf" <<CONF
ClusterName=carry
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
MpiDefault=none
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=carry Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        echo "export SLURM_CONF=$conf   # the cluster is up: partition carry, node $host; shared dir $dir/shared"
        exit 0
    fi
    sleep 0.2
done
echo "the cluster did not come up; logs: $dir/slurmctld.log $dir/slurmd.log" >&2
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
