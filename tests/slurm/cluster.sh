#!/bin/bash
# Starts (start DIR) or stops (stop DIR) a real one-node SLURM cluster from
# Debian's packages, as root, without systemd or cgroups, on 127.0.0.1, with all
# state under DIR. Prints why and exits 2 if it cannot run here.
set -u
cmd=$1 dir=$2
node=$(hostname -s)
ncpu=$(nproc)
stop() {
	for f in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 50); do
			# a zombie still answers kill -0: look at the state in /proc
			st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
			[ -z "$st" ] || [ "$st" = Z ] && break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
}
if [ "$cmd" = stop ]; then
	stop
	exit 0
fi
for b in slurmctld slurmd sbatch squeue scontrol scancel munged mungekey munge unmunge srun; do
	command -v $b >/dev/null || { echo "cannot start SLURM: $b not installed (apt-get install slurmctld slurmd slurm-client munge)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "cannot start SLURM: needs root"; exit 2; }
rm -rf "$dir"
mkdir -p "$dir/spool" "$dir/state" "$dir/munge" "$dir/pmix"
chmod 0755 "$dir" "$dir/munge"
mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1
chmod 0600 "$dir/munge/munge.key"
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
	--pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/seed" --log-file="$dir/munged.log" \
	>"$dir/munged.out" 2>&1 </dev/null &
echo $! >"$dir/munged.pid"
for _ in $(seq 1 50); do [ -S "$dir/munge/munge.sock" ] && break; sleep 0.1; done
munge -S "$dir/munge/munge.sock" -n | unmunge -S "$dir/munge/munge.sock" >/dev/null 2>&1 ||
	{ echo "cannot start SLURM: munge does not work here"; stop; exit 2; }
cat >"$dir/slurm.conf" <<CONF
ClusterName=wmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=26817
SlurmdPort=26818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pidfile
SlurmdPidFile=$dir/slurmd.pidfile
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
MpiDefault=pmix
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
echo "PMIxCliTmpDirBase=$dir/pmix" >"$dir/mpi.conf"
slurmctld -D -i -f "$dir/slurm.conf" >"$dir/slurmctld.out" 2>&1 </dev/null &
echo $! >"$dir/slurmctld.pid"
slurmd -D -f "$dir/slurm.conf" -N "$node" >"$dir/slurmd.out" 2>&1 </dev/null &
echo $! >"$dir/slurmd.pid"
export SLURM_CONF=$dir/slurm.conf
for _ in $(seq 1 100); do
	sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && exit 0
	sleep 0.1
done
echo "cannot start SLURM: the node did not come up (see $dir/slurmctld.log, $dir/slurmd.log)"
stop
exit 2
