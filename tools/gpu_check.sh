#!/usr/bin/env bash
# The GPU check: on a machine with one GPU, within a fixed time box (default 470 s, so that the
# whole check, packing included, fits in 8 minutes):
#
#   1. the engine benchmark alone on the idle GPU:
#        python -m ebmlab.bench all --device cuda --compile --time-budget ... --out-dir OUT_DIR/bench
#   2. the fast-profile DAG over its GPU targets, with what is left of the budget:
#        snakemake cd_vs_nll jem table4_1_mnist stanley --cores all --resources gpu=1 \
#            --keep-going --rerun-incomplete --prioritize cd_vs_nll jem --config profile=fast
#      (the order: the two studies sized for a few GPU minutes and not measured on a GPU yet
#      first, then Table 4.1's MNIST column (six cells), then STANLEY, whose committed fast
#      results are up to date unless forced). Each step runs under `timeout`: SIGINT at its
#      limit (Snakemake then stops its jobs and removes their incomplete outputs), SIGKILL
#      GRACE seconds later; a later run resumes (--rerun-incomplete, training checkpoints).
#   3. packs what exists, also after a stop or a failure, into OUT_DIR:
#        summary.txt          what finished, the failed rules, wall times (phases and jobs)
#        snakemake.log        the DAG's log;  bench/<device>.txt, bench/bench.log: the benchmark
#        reports_fast.tgz     reports/fast (tables, metrics, figures)
#        run_records.tgz      results/fast/**/*.run.yaml (+ each run's metrics.json, history.csv)
#        logs_fast.tgz        logs/fast (every job's log, with its progress lines)
#      Archives rather than copied trees: a lent machine's $OUT returns at most 8 files.
#
# Usage:  bash tools/gpu_check.sh [BUDGET_SECONDS [OUT_DIR]]
#         BUDGET_SECONDS defaults to 470; OUT_DIR to $OUT when set, else gpu_results.
#
# Python: $PYTHON, else the first of python, python3 that imports torch. If torch imports,
# nothing is installed from any index (rules call `python`: when that is not the interpreter
# found, a shim on PATH makes it so). Packages such an image lacks (snakemake and its
# dependencies, jsonschema, elasticdeform, ...) can be carried as a wheel directory, $WHEELS
# (default .whl, git-ignored): when some of them do not import, its *.whl (and sdists such as
# elasticdeform's *.tar.gz) are installed with --no-index --no-deps into a private --target
# folder put on PYTHONPATH. If torch does not import, the project is installed as usual,
#     pip install -c constraints.txt -e '.[workflow]'
# from the wheel directory alone (--no-index --find-links) when it exists.
#
# Environment knobs: BENCH_SECONDS (the benchmark's share, default 30 % of the budget),
# GPU_JOBS (jobs sharing the GPU, i.e. --resources gpu=N; default 1), TARGETS and PRIORITIZE
# (space-separated Snakemake targets), GRACE (seconds between SIGINT and SIGKILL, default 15).
# Nothing else in the repository calls this script.
set -euo pipefail

BUDGET=${1:-470}
OUT_ARG=${2:-${OUT:-gpu_results}}
case $BUDGET in '' | *[!0-9]*) echo "gpu_check: the budget must be whole seconds, got '$BUDGET'" >&2; exit 2 ;; esac
mkdir -p "$OUT_ARG"
OUT_DIR=$(cd "$OUT_ARG" && pwd)
cd "$(dirname "$0")/.."
ROOT=$PWD

T0=$SECONDS
START_EPOCH=$(date +%s)
GRACE=${GRACE:-15}
PACK_RESERVE=25                      # seconds kept for the summary and the archives
BENCH_SECONDS=${BENCH_SECONDS:-$((BUDGET * 30 / 100))}
GPU_JOBS=${GPU_JOBS:-1}
read -r -a TARGETS <<< "${TARGETS:-cd_vs_nll jem table4_1_mnist stanley}"
read -r -a PRIORITIZE <<< "${PRIORITIZE:-cd_vs_nll jem}"
WHEELS=${WHEELS:-.whl}
AUX=logs/fast/gpu_check             # pip's log, the phase table, versions: packed with logs/fast
mkdir -p "$OUT_DIR/bench" "$AUX"
PHASES=$AUX/phases.tsv
: > "$PHASES"

elapsed() { echo $((SECONDS - T0)); }
left() { echo $((BUDGET - (SECONDS - T0))); }
stamp() { echo "[gpu_check $(elapsed) s] $*"; }
# phase NAME RC SECONDS NOTE...: one line of the summary's phase table
phase() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${*:4}" >> "$PHASES"; }

# --- pack what exists (also on a stop, a failure or an interrupt) ----------------------------
PACKED=
pack() {
    [ -n "$PACKED" ] && return 0
    PACKED=1
    set +e
    stamp "packing into $OUT_DIR"
    [ -d reports/fast ] && tar -czf "$OUT_DIR/reports_fast.tgz" reports/fast
    if [ -d results/fast ]; then
        find results/fast -type f \( -name '*.run.yaml' -o -name metrics.json -o -name history.csv \) -print0 \
            | tar --null -czf "$OUT_DIR/run_records.tgz" -T -
    fi
    [ -d logs/fast ] && tar -czf "$OUT_DIR/logs_fast.tgz" logs/fast
    "${PY:-python3}" - "$OUT_DIR" "$PHASES" "$START_EPOCH" "$BUDGET" "$(elapsed)" "${TARGETS[@]}" \
        > "$OUT_DIR/summary.txt" 2> "$AUX/summary.err" <<'PYEOF'
import re, sys, time
from datetime import datetime
from pathlib import Path

out, phases, start, budget, used, targets = (Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]),
                                             sys.argv[4], sys.argv[5], sys.argv[6:])
w = print
w(f"gpu_check {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(start))}: budget {budget} s, used {used} s")
for name in ("gpus.txt", "versions.txt"):
    p = Path("logs/fast/gpu_check") / name
    if p.exists():
        w(p.read_text().rstrip())
w("\nphases (rc 124: stopped at its time limit; 137: killed):")
for line in phases.read_text().splitlines():
    name, rc, secs, note = (line.split("\t") + [""] * 4)[:4]
    w(f"  {name:<10} rc={rc:<4} {secs:>5} s  {note}")

log = out / "snakemake.log"
text = log.read_text(errors="replace") if log.exists() else ""
stamp_re = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
now, cur, err, jobs, finished, failed = None, None, False, {}, set(), []
for line in text.splitlines():
    if line[:1] not in (" ", "\t"):   # a new block: job starts and errors list indented fields
        cur, err = None, False
    m = stamp_re.match(line)
    if m:
        now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        continue
    m = re.match(r"^(?:local)?(?:rule|checkpoint) (\S+):$", line)
    if m:
        cur = {"rule": m.group(1), "start": now, "end": None, "wildcards": "", "failed": False}
        continue
    m = re.match(r"^Error in rule (\S+?):?$", line)
    if m:
        failed.append(m.group(1))
        err = True
        continue
    m = re.match(r"^\s+jobid: (\d+)$", line)
    if m and cur is not None:
        jobs[m.group(1)] = cur
        continue
    if m and err and m.group(1) in jobs:
        jobs[m.group(1)]["failed"] = True
        continue
    m = re.match(r"^\s+wildcards: (.*)$", line)
    if m and cur is not None:
        cur["wildcards"] = m.group(1)
        continue
    m = re.match(r"^Finished jobid: (\d+) \(Rule: (\S+)\)", line)
    if m:
        finished.add(m.group(2))
        if m.group(1) in jobs:
            jobs[m.group(1)]["end"] = now
steps = re.findall(r"^(\d+ of \d+ steps \(.*\) done)$", text, re.M)
nothing = "Nothing to be done" in text
w("\nDAG targets:")
for t in targets:
    state = "finished" if t in finished else ("up to date" if nothing else "NOT finished")
    w(f"  {t:<18} {state}")
w(f"steps: {steps[-1] if steps else ('nothing to be done' if nothing else 'none done')}")
if failed:
    w("failed rules: " + ", ".join(failed))
if "Terminating processes on user request" in text:
    w("stopped at the time limit (SIGINT): running jobs were ended, their incomplete outputs removed")
w("\njobs (wall seconds from Snakemake's timestamps):")
for jid, j in sorted(jobs.items(), key=lambda kv: (kv[1]["start"] or datetime.min, int(kv[0]))):
    if j["end"] is not None and j["start"] is not None:
        dur = f"{(j['end'] - j['start']).total_seconds():6.0f} s"
    else:
        dur = "   FAILED" if j["failed"] else "   not finished"
    wc = f" [{j['wildcards']}]" if j["wildcards"] else ""
    w(f"  {dur}  {j['rule']}{wc}")
new = [p for p in sorted(Path("reports/fast").rglob("*")) if p.is_file() and p.stat().st_mtime >= start - 1]
w(f"\nreports/fast files written by this run ({len(new)}):")
for p in new:
    w(f"  {p}")
for p in sorted(out.iterdir()):
    if p.is_file() and p.stat().st_size > 16 * 2**20:
        w(f"warning: {p.name} is over 16 MiB ({p.stat().st_size / 2**20:.1f} MiB)")
PYEOF
    if [ -s "$AUX/summary.err" ]; then
        { echo "(the summary script failed:)"; cat "$AUX/summary.err"; cat "$PHASES"; } >> "$OUT_DIR/summary.txt"
    fi
    cat "$OUT_DIR/summary.txt"
    ls -la "$OUT_DIR" "$OUT_DIR/bench"
}
on_signal() { stamp "interrupted"; exit 130; }
trap pack EXIT
trap on_signal INT TERM

# --- python ------------------------------------------------------------------------------------
stamp "budget $BUDGET s, results to $OUT_DIR"
t=$SECONDS
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    for c in python python3; do
        if command -v "$c" > /dev/null && "$c" -c 'import torch' 2> /dev/null; then PY=$c; break; fi
    done
fi
if [ -z "$PY" ]; then PY=$(command -v python3 || command -v python); fi
PY=$(command -v "$PY")
export PYTHONUNBUFFERED=1
WORKFLOW_MODULES="import snakemake, jsonschema, yaml, elasticdeform, matplotlib, scipy, pandas, tqdm"
DAG_MODULES="import snakemake, jsonschema, yaml"   # without these the DAG cannot start
install_note="torch imports: nothing installed"
if "$PY" -c 'import torch' 2> /dev/null; then
    if ! "$PY" -c "$WORKFLOW_MODULES" 2> /dev/null && [ -d "$WHEELS" ]; then
        SITE=${TMPDIR:-/tmp}/ebmlab-gpu-check-site
        install_note="torch imports; missing workflow packages installed from $WHEELS into $SITE"
        : > "$AUX/pip.log"
        whls=("$WHEELS"/*.whl)
        if [ -e "${whls[0]}" ]; then
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
                "${whls[@]}" >> "$AUX/pip.log" 2>&1 || install_note="$install_note (pip FAILED on the wheels)"
        fi
        for sdist in "$WHEELS"/*.tar.gz; do      # e.g. elasticdeform, built from source
            [ -e "$sdist" ] || continue
            "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" \
                "$sdist" >> "$AUX/pip.log" 2>&1 || install_note="$install_note (pip FAILED on $sdist)"
        done
        export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    fi
else
    extra=()
    [ -d "$WHEELS" ] && extra=(--no-index --find-links "$WHEELS")
    install_note="pip install -c constraints.txt -e '.[workflow]' ${extra[*]}"
    "$PY" -m pip install -q "${extra[@]}" -c constraints.txt -e '.[workflow]' > "$AUX/pip.log" 2>&1 \
        || install_note="$install_note FAILED (logs/fast/gpu_check/pip.log)"
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
# rules call `python`: make it this interpreter
if [ "$(command -v python 2> /dev/null || true)" != "$PY" ]; then
    SHIM=${TMPDIR:-/tmp}/ebmlab-gpu-check-bin
    mkdir -p "$SHIM"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$PY" > "$SHIM/python"
    chmod +x "$SHIM/python"
    export PATH="$SHIM:$PATH"
fi
phase python 0 $((SECONDS - t)) "$PY; $install_note"

if command -v nvidia-smi > /dev/null; then nvidia-smi -L 2>&1 || true; else echo "nvidia-smi: not found"; fi \
    | tee "$AUX/gpus.txt"
"$PY" - > "$AUX/versions.txt" 2>&1 <<'PYEOF' || true
import importlib.metadata as md, subprocess
import torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
vers = []
for name in ("snakemake", "elasticdeform", "pytorch-fid"):
    try:
        vers.append(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        vers.append(f"{name} missing")
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = ""
print(f"torch {torch.__version__} ({gpu}); {', '.join(vers)}; commit {commit or 'unknown'}")
PYEOF
cat "$AUX/versions.txt"

# --- 1. the engine benchmark, alone on the GPU -------------------------------------------------
part=$((BENCH_SECONDS < $(left) - PACK_RESERVE ? BENCH_SECONDS : $(left) - PACK_RESERVE))
if [ "$part" -gt "$GRACE" ]; then
    limit=$((part - GRACE))                   # SIGINT here, SIGKILL GRACE seconds later
    stamp "1. python -m ebmlab.bench all (at most $part s)"
    t=$SECONDS
    rc=0
    timeout -s INT -k "$GRACE" "$limit" "$PY" -m ebmlab.bench all --device cuda --compile \
        --time-budget $((limit / 2)) --out-dir "$OUT_DIR/bench" > "$OUT_DIR/bench/bench.log" 2>&1 || rc=$?
    phase bench "$rc" $((SECONDS - t)) "timeout $limit s, --time-budget $((limit / 2)) s; log bench/bench.log"
    tail -n 20 "$OUT_DIR/bench/bench.log"
else
    phase bench - 0 "skipped: no time left"
fi

# --- 2. the fast DAG ---------------------------------------------------------------------------
rest=$(($(left) - PACK_RESERVE))
if ! "$PY" -c "$DAG_MODULES" 2> "$AUX/imports.err"; then
    phase snakemake - 0 "skipped: $(tail -n 1 "$AUX/imports.err") (carry a wheel directory, see the header)"
elif [ "$rest" -le $((GRACE + 30)) ]; then
    phase snakemake - 0 "skipped: only $rest s left"
else
    limit=$((rest - GRACE))
    stamp "2. snakemake ${TARGETS[*]} (at most $rest s, gpu=$GPU_JOBS)"
    t=$SECONDS
    if compgen -G ".snakemake/locks/*" > /dev/null; then   # left by a killed run
        "$PY" -m snakemake --unlock --config profile=fast > /dev/null 2>&1 || true
    fi
    rc=0
    timeout -s INT -k "$GRACE" "$limit" "$PY" -m snakemake "${TARGETS[@]}" --cores all \
        --resources gpu="$GPU_JOBS" --keep-going --rerun-incomplete --prioritize "${PRIORITIZE[@]}" \
        --config profile=fast > "$OUT_DIR/snakemake.log" 2>&1 || rc=$?
    phase snakemake "$rc" $((SECONDS - t)) "timeout $limit s; log snakemake.log"
    grep -E "steps \(|^Error in rule|Terminating" "$OUT_DIR/snakemake.log" | tail -n 5 || true
fi
stamp "done"
