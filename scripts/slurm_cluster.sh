#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the project's SLURM tests (make test-slurm): Debian's
# packages (installed when absent; root), munge, MariaDB for accounting (submitit polls sacct), slurmdbd,
# slurmctld and slurmd, all on loopback, their state and logs in one folder.
#
#   bash scripts/slurm_cluster.sh start   # idempotent; waits until the node is idle
#   bash scripts/slurm_cluster.sh stop    # stops what start started
#   eval "$(bash scripts/slurm_cluster.sh env)"   # SLURM_CONF for sbatch, squeue, sacct and the tests
#
# Something else on the ports (6817-6819, 3307) or a missing package manager: one line, exit status 2.
set -euo pipefail

DIR=${SLURM_CLUSTER_DIR:-/tmp/studykit-slurm}
CONF="$DIR/etc/slurm.conf"
HOST=$(hostname -s)
PORTS=(6817 6818 6819 3307)

fail() { echo "error: slurm_cluster: $*" >&2; exit 2; }
listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() {  # the daemon of pid file $1 runs (a zombie, as dead daemons linger here for seconds, does not)
  [ -f "$1" ] && [ -r "/proc/$(cat "$1")/status" ] && ! grep -q '^State:.*Z' "/proc/$(cat "$1")/status"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not come up within ${seconds} s (logs in $DIR/log)"
}

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null && return
  [ "$(id -u)" = 0 ] || fail "SLURM is not installed and installing it needs root (apt-get install slurmctld slurmd slurm-client slurmdbd munge mariadb-server)"
  command -v apt-get >/dev/null || fail "SLURM is not installed and there is no apt-get here to install it"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null
}

write_config() {
  mkdir -p "$DIR"/{etc,state,spool,log,run,mysql}
  local memory
  memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # more than the machine has: node unusable
  cat >"$CONF" <<EOF
ClusterName=studykit
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=2048
ReturnToService=2
JobRequeue=1
KillWait=5
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
  chmod 600 "$DIR/etc/slurmdbd.conf"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi  # the machine's own munged serves
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  wait_for 10 munged sh -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$DIR/run/munged.pid"  # ours to stop
}

start_mariadb() {
  if [ ! -d "$DIR/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$DIR/mysql" --auth-root-authentication-method=normal >"$DIR/log/mariadb-install.log" 2>&1
  fi
  mariadbd --user=root --datadir="$DIR/mysql" --socket="$DIR/run/mysql.sock" --port=3307 --bind-address=127.0.0.1 \
    --pid-file="$DIR/run/mariadb.pid" --log-error="$DIR/log/mariadb.log" >/dev/null 2>&1 &
  wait_for 30 MariaDB test -S "$DIR/run/mysql.sock"
  wait_for 30 MariaDB mariadb --socket="$DIR/run/mysql.sock" -uroot -e "SELECT 1"
  mariadb --socket="$DIR/run/mysql.sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start() {
  export SLURM_CONF=$CONF
  if alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd.pid" && sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    echo "slurm_cluster: running already ($CONF)"; return
  fi
  install_packages
  for port in "${PORTS[@]}"; do
    listening "$port" && fail "port $port is in use by something else; stop it (or: bash scripts/slurm_cluster.sh stop)"
  done
  write_config
  start_munge
  start_mariadb
  slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster studykit >/dev/null 2>&1 || true
  slurmctld -i
  slurmd
  wait_for 60 "the node" sh -c 'sinfo -h -o %T | grep -qx idle'
  echo "slurm_cluster: running ($CONF; node $HOST, $(nproc) CPUs, partition debug)"
}

stop() {
  export SLURM_CONF=$CONF
  scancel --user="$(id -un)" >/dev/null 2>&1 || true
  for daemon in slurmd slurmctld slurmdbd mariadb munged; do
    if alive "$DIR/run/$daemon.pid"; then kill "$(cat "$DIR/run/$daemon.pid")" 2>/dev/null || true; fi
  done
  for daemon in slurmd slurmctld slurmdbd mariadb munged; do
    for _ in $(seq 100); do alive "$DIR/run/$daemon.pid" || break; sleep 0.2; done
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 50); do listening "$port" || break; sleep 0.2; done
  done
  echo "slurm_cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: bash scripts/slurm_cluster.sh start|stop|env" >&2; exit 2 ;;
esac
