#!/usr/bin/env bash
# A single-node SLURM cluster on this host, for testing the workflow's SLURM profile.
#   tools/slurm_testbed.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld, slurmd
#   tools/slurm_testbed.sh stop DIR    stops exactly the daemons it started (by pid file)
# Needs Debian's slurm-wlm and munge (installed when missing, as root) and root to start the
# daemons. The config is also linked as /etc/slurm/slurm.conf, where commands inside jobs look
# (Snakemake's job-step executor clears SLURM_* variables, SLURM_CONF among them); a host that
# already has a slurm.conf there is a real cluster, and is refused.
set -euo pipefail
action=${1:?start or stop}
dir=$(realpath -m "${2:?directory}")

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  [ "$(id -u)" = 0 ] || { echo "slurm_testbed: need root to install slurm-wlm" >&2; exit 3; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

start() {
  install_packages
  [ "$(id -u)" = 0 ] || { echo "slurm_testbed: need root to start the daemons" >&2; exit 3; }
  # A test cluster killed before its stop leaves its link behind, pointing nowhere.
  if [ -L /etc/slurm/slurm.conf ] && [ ! -e /etc/slurm/slurm.conf ]; then
    rm -f /etc/slurm/slurm.conf
  fi
  if [ -e /etc/slurm/slurm.conf ]; then
    echo "slurm_testbed: /etc/slurm/slurm.conf exists; not starting a test cluster here" >&2
    exit 3
  fi
  mkdir -p "$dir"/{munge,state,spool,log}
  local host cpus memory
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
  chmod 0700 "$dir/munge"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  cat >"$dir/slurm.conf" <<CONF
ClusterName=weaklesion-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MinJobAge=600
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p /etc/slurm
  ln -s "$dir/slurm.conf" /etc/slurm/slurm.conf
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  if ! wait_for 60 sh -c "sinfo -h -o %T | grep -qE '^(idle|mixed)'"; then
    echo "slurm_testbed: the node did not come up; logs in $dir/log" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    exit 4
  fi
  echo "slurm_testbed: up; export SLURM_CONF=$SLURM_CONF"
}

stop() {
  local pidfile pid
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    wait_for 20 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$dir/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
  fi
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
