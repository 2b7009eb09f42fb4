#!/usr/bin/env bash
# SLURM check: run the smoke GMM target through workflow/profiles/slurm on a throwaway
# single-node SLURM on this machine, and check that it really went through sbatch and that its
# outputs are byte-identical to a local run.
#
#   tools/slurm_check.sh [LOG]            # LOG: default logs/slurm_check.log
#   SLURM_CHECK_KEEP=1 tools/slurm_check.sh  # keep the temp dir (clones, daemon logs) to inspect
#
# Needs: Debian's slurm-wlm and munge (checked, never installed here:
#   apt-get install -y slurm-wlm munge), snakemake with the pinned executor plugin on PATH
#   (pip install -c constraints.txt -e '.[workflow,cluster]'). Run as root (tested) or as a user
#   that may start daemons; it touches no system SLURM or munge (own config, key, sockets, ports).
# What it does, in a temp dir it removes at exit:
#   1. munged, slurmctld and slurmd with a generated slurm.conf (localhost, this machine's CPUs and
#      memory from `slurmd -C`, cons_tres, no accounting database; finished jobs are written to a
#      jobcomp file and stay visible to squeue, which the plugin then polls instead of sacct);
#   2. a clone of this repository's HEAD (so the caller's results/ are untouched):
#      snakemake gmm --profile workflow/profiles/slurm --config profile=smoke --forceall;
#   3. every job snakemake planned for the cluster must have a SLURM job id in snakemake's log,
#      a batch submission (sbatch RPC) in slurmctld's log, and a COMPLETED record in the
#      cluster's default partition;
#   4. a second clone runs the same target locally (workflow/profiles/local);
#   5. every output under results/smoke and reports/smoke must be byte-identical, except wall
#      times (*_timing.csv), run records (*.run.yaml) and resume checkpoints (ckpt/), which hold
#      times by design; the trained models (model.pt), tables, metrics and figures are compared.
# Exits non-zero on the first failure; the EXIT trap stops every daemon it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOG=${1:-$ROOT/logs/slurm_check.log}
mkdir -p "$(dirname "$LOG")"
LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")
exec > >(tee "$LOG") 2>&1

T0=$(date +%s)
stamp() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - T0))s] $*"; }
fail() { stamp "FAIL: $*"; exit 1; }

# --- 0. prerequisites (report what is missing; install nothing) -------------------------------
missing=()
for cmd in slurmctld slurmd munged sbatch srun squeue sinfo scontrol scancel; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}"
    echo "install them with:  apt-get install -y slurm-wlm munge"
    exit 2
fi
command -v snakemake >/dev/null || { echo "no snakemake on PATH"; exit 2; }
if ! python -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    echo "no SLURM executor plugin: pip install -c constraints.txt -e '.[workflow,cluster]'"
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slurm_check.XXXXXX")
PIDS=()
PARTITION=check
GPU_MODEL=fakegpu
cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM  # a second Ctrl-C must not leave daemons behind
    # jobs still queued or running would outlive slurmd (linuxproc does not reap them); only
    # while slurmctld answers, else scancel retries for minutes
    if [ -n "$DAEMONS_UP" ] && kill -0 "${PIDS[1]}" 2>/dev/null; then
        timeout 15 scancel --partition="$PARTITION" 2>/dev/null
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null; done
    # a daemon that ignores SIGTERM for 15 s (slurmd retrying a dead controller) gets SIGKILL
    for _ in $(seq 30); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.5
    done
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    ((${#PIDS[@]})) && stamp "daemons stopped (pids ${PIDS[*]})"
    if [ -n "${SLURM_CHECK_KEEP:-}" ]; then stamp "kept $WORK (SLURM_CHECK_KEEP)"; else rm -rf "$WORK"; fi
    stamp "exit $rc, log: $LOG"
    exit "$rc"
}
DAEMONS_UP=""
trap cleanup EXIT
trap 'exit 130' INT TERM

stamp "slurm $(slurmctld -V | awk '{print $2}'), $(munged -V 2>&1 | head -1), snakemake $(snakemake --version)," \
      "plugin $(python -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')"
stamp "repository $ROOT at $(git -C "$ROOT" rev-parse --short HEAD); work dir $WORK"

# --- 1. a private munge and SLURM -------------------------------------------------------------
# two free TCP ports for slurmctld and slurmd (never the defaults a real cluster may hold)
read -r CTLD_PORT SLURMD_PORT < <(python - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
NODE=$(hostname -s)
ME=$(id -un)
mkdir -p "$WORK"/{munge,state,spool}
# munged wants its socket's directories searchable by all (the key itself stays 0400)
chmod 755 "$WORK" "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET=$WORK/munge/munge.socket

# slurmd -C prints this machine's NodeName line (CPUs, sockets, cores, RealMemory)
NODE_LINE=$(slurmd -C | head -1)
case "$NODE_LINE" in NodeName=*) ;; *) fail "slurmd -C printed no NodeName line: $NODE_LINE" ;; esac
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=slurmcheck
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$ME
SlurmdUser=$ME
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# containers often have no usable cgroups: track job processes by parent pid, no binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# no slurmdbd: finished jobs go to a text file (checked below) ...
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.txt
# ... and stay in squeue for 10 minutes, long enough for the plugin's squeue status checks
MinJobAge=600
ReturnToService=2
# two device-less GPUs of a made-up model: GPU requests (--gpus=<model>:<n>) are scheduled for
# real without a GPU (gres.conf below)
GresTypes=gpu
$NODE_LINE NodeAddr=127.0.0.1 Gres=gpu:$GPU_MODEL:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
# slurmd counts a GPU only with a device file: any two character devices will do
printf 'NodeName=%s Name=gpu Type=%s File=%s\n' "$NODE" "$GPU_MODEL" /dev/null "$NODE" "$GPU_MODEL" /dev/zero \
    >"$WORK/gres.conf"
stamp "slurm.conf: $NODE_LINE Gres=gpu:$GPU_MODEL:2, partition $PARTITION, ports $CTLD_PORT/$SLURMD_PORT"

munged -F --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed" >"$WORK/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
[ -S "$MUNGE_SOCKET" ] || fail "munged did not start: $(cat "$WORK/munge/munged.log" 2>/dev/null)"
slurmctld -D -c -i >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N "$NODE" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
DAEMONS_UP=1
deadline=$((SECONDS + 60))
state=""
while ((SECONDS < deadline)); do
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done  # a daemon died
    state=$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
if [ "$state" != idle ]; then
    tail -n 20 "$WORK/slurmctld.log" "$WORK/slurmd.log" 2>/dev/null
    fail "node $NODE is '${state:-unreachable}', not idle (a daemon died, or 60 s passed)"
fi
stamp "munged, slurmctld, slurmd up (pids ${PIDS[*]}); sinfo:"
sinfo

# --- 2. the smoke GMM target through the SLURM profile ----------------------------------------
# the clones run their own source (an installed ebmlab may be another checkout's, editable)
git clone -q "$ROOT" "$WORK/slurm"
git clone -q "$ROOT" "$WORK/local"
# The smoke GMM jobs are CPU jobs (gpu: 0, and they never use a GPU): give each one of the fake
# GPUs, so the check also shows the GPU request going from params through the plugin to SLURM.
# Both runs read this file, so the two DAGs are the same.
echo "resources: {gmm: {gpu: 1, gpu_model: $GPU_MODEL}}" >"$WORK/gpu.yaml"
read -r MEM_MB RUNTIME < <(python -c "import yaml; r = yaml.safe_load(open('$ROOT/params/smoke.yaml'))['resources']['gmm']; print(r['mem_mb'], r['runtime'])")
TARGET=(gmm --config profile=smoke --configfile "$WORK/gpu.yaml" --forceall)
# no accounting database here: no account to guess (sacctmgr would fail)
SLURM_OPTS=(--profile workflow/profiles/slurm --slurm-status-command squeue --slurm-no-account
            --slurm-init-seconds-before-status-checks 5)

# The jobstep plugin (inside each job) drops every SLURM_* variable, SLURM_CONF included, before
# its `srun`; on a real cluster srun then finds /etc/slurm/slurm.conf, here that would be the
# system's (absent) config. A shim first on PATH (exported to the jobs) hands srun ours again.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nSLURM_CONF=%s exec %s "$@"\n' "$SLURM_CONF" "$(command -v srun)" >"$WORK/bin/srun"
chmod +x "$WORK/bin/srun"
export PATH=$WORK/bin:$PATH

cd "$WORK/slurm"
# the jobs snakemake will run: the dry run's total (rule and localrule alike)
PYTHONPATH=$WORK/slurm/src snakemake -n "${TARGET[@]}" "${SLURM_OPTS[@]}" >"$WORK/dry.txt" 2>&1 \
    || { cat "$WORK/dry.txt"; fail "dry run with the slurm profile"; }
PLANNED=$(awk '$1 == "total" {print $2; exit}' "$WORK/dry.txt")
((${PLANNED:-0} > 0)) || fail "the dry run planned no job"
stamp "dry run: $PLANNED jobs"

stamp "snakemake ${TARGET[*]} ${SLURM_OPTS[*]}"
t=$(date +%s)
PYTHONPATH=$WORK/slurm/src snakemake "${TARGET[@]}" "${SLURM_OPTS[@]}" >"$WORK/slurm.txt" 2>&1 \
    || { tail -n 60 "$WORK/slurm.txt"; tail -n 20 "$WORK/slurmctld.log"
         # the jobs' own output (sbatch's --output) and the rule logs say why a job failed
         find .snakemake/slurm_logs logs -name '*.log' -exec tail -n 15 -v {} + 2>/dev/null | tail -n 80
         fail "snakemake through SLURM"; }
SLURM_S=$(($(date +%s) - t))
grep -E "submitted with SLURM jobid|sbatch call|Finished job|steps \(100%\) done" "$WORK/slurm.txt" || true
stamp "SLURM run done in ${SLURM_S}s"

# --- 3. did the jobs go through sbatch? -------------------------------------------------------
# snakemake heads a job it submits with `rule`, one it runs itself (localrule: True) `localrule`
REMOTE=$(grep -c '^rule ' "$WORK/slurm.txt" || true)
LOCAL=$(grep -c '^localrule ' "$WORK/slurm.txt" || true)
((REMOTE + LOCAL == PLANNED)) || fail "$REMOTE cluster + $LOCAL local jobs ran, $PLANNED planned"
((REMOTE > 0)) || fail "no job was sent to the cluster"
mapfile -t IDS < <(grep -oE 'submitted with SLURM jobid [0-9]+' "$WORK/slurm.txt" | awk '{print $NF}' | sort -un)
((${#IDS[@]} == REMOTE)) || fail "${#IDS[@]} SLURM job ids in snakemake's log for $REMOTE cluster jobs"
stamp "$REMOTE cluster jobs ($(grep '^rule ' "$WORK/slurm.txt" | tr -d : | sort | uniq -c | awk '{printf " %s x%s", $3, $1}') )," \
      "$LOCAL local ($(grep '^localrule ' "$WORK/slurm.txt" | tr -d : | awk '{printf " %s", $2}') )"
for id in "${IDS[@]}"; do
    grep -q "_slurm_rpc_submit_batch_job: JobId=$id " "$WORK/slurmctld.log" \
        || fail "job $id: no batch submission in slurmctld's log"
    rec=$(grep -E "^JobId=$id " "$WORK/jobcomp.txt" || true)
    [[ "$rec" == *"JobState=COMPLETED"* ]] || fail "job $id: not COMPLETED in the jobcomp record: ${rec:-none}"
    [[ "$rec" == *"Partition=$PARTITION "* ]] || fail "job $id: not in partition $PARTITION: $rec"
    # the params' resources reached SLURM: memory, time limit (minutes) and one GPU of the model
    [[ "$rec" == *"TimeLimit=$RUNTIME "* && "$rec" == *"mem=${MEM_MB}M"* ]] \
        || fail "job $id: not mem=${MEM_MB}M and TimeLimit=$RUNTIME: $rec"
    job=$(scontrol show job -o "$id")
    [[ "$job" == *"TresPerJob=gres:gpu:$GPU_MODEL:1"* ]] || fail "job $id: no gpu:$GPU_MODEL:1 request: $job"
done
stamp "all ${#IDS[@]} job ids (${IDS[*]}) were submitted as batch jobs and COMPLETED in partition" \
      "$PARTITION with mem=${MEM_MB}M, TimeLimit=$RUNTIME min, gres gpu:$GPU_MODEL:1:"
grep "_slurm_rpc_submit_batch_job" "$WORK/slurmctld.log" | sed 's/^/  slurmctld: /'
awk '{ out = ""; for (i = 1; i <= NF; i++) { split($i, kv, "=")
                 if (kv[1] ~ /^(JobId|JobState|Partition|TimeLimit|Tres|ExitCode)$/) out = out " " $i }
       print "  jobcomp:" out }' "$WORK/jobcomp.txt"
for id in "${IDS[@]}"; do
    echo "  scontrol: JobId=$id $(scontrol show job -o "$id" | grep -oE 'TresPerJob=[^ ]+|NumCPUs=[^ ]+|MinMemoryNode=[^ ]+' | tr '\n' ' ')"
done
squeue --states=all -o "%.6i %.9P %.22j %.10T %.8M %R" | sed 's/^/  squeue: /'

# --- 4. the same target locally ---------------------------------------------------------------
cd "$WORK/local"
stamp "snakemake ${TARGET[*]} --profile workflow/profiles/local --cores 2 (second clone)"
t=$(date +%s)
PYTHONPATH=$WORK/local/src snakemake "${TARGET[@]}" --profile workflow/profiles/local --cores 2 \
    >"$WORK/local.txt" 2>&1 || { tail -n 60 "$WORK/local.txt"; fail "local snakemake run"; }
stamp "local run done in $(($(date +%s) - t))s"

# --- 5. byte-for-byte comparison --------------------------------------------------------------
# left out, as they differ between any two runs: wall times (*_timing.csv), run records
# (*.run.yaml: host, times) and resume checkpoints (ckpt/: the wall clock so far)
outputs() {
    (cd "$1" && find results/smoke reports/smoke -type f ! -name '*_timing.csv' ! -name '*.run.yaml' \
        ! -path '*/ckpt/*' | sort)
}
outputs "$WORK/slurm" >"$WORK/slurm.files"
outputs "$WORK/local" >"$WORK/local.files"
diff "$WORK/slurm.files" "$WORK/local.files" || fail "the two runs wrote different files"
N=$(wc -l <"$WORK/slurm.files")
((N > 0)) || fail "no outputs to compare"
while read -r f; do
    cmp "$WORK/slurm/$f" "$WORK/local/$f" || fail "$f differs"
done <"$WORK/slurm.files"
stamp "$N files byte-identical (SLURM run vs local run):"
while read -r f; do echo "  $(sha256sum "$WORK/slurm/$f" | cut -c1-16)  $f"; done <"$WORK/slurm.files"
stamp "PASS: $REMOTE jobs through sbatch, outputs identical to a local run, $(($(date +%s) - T0))s in all"
