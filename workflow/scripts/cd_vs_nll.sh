#!/usr/bin/env bash
# The cd_vs_nll study of one profile without Snakemake (e.g. on a GPU machine that has torch but
# no snakemake): the same jobs, commands and output files as
#     snakemake cd_vs_nll --config profile=<profile>
# i.e. results/<profile>/cd_vs_nll/, reports/<profile>/mnist_cd_vs_nll{,_claims}.csv,
# reports/<profile>/metrics/mnist_cd_vs_nll.json and reports/<profile>/figures/cd_vs_nll_*.png,
# figures/nijkamp/cd_vs_nll/*.png (the paper profile writes to reports/ itself).
#
#   bash workflow/scripts/cd_vs_nll.sh fast                 # the fast profile (one GPU, ~5 minutes)
#   JOBS=2 bash workflow/scripts/cd_vs_nll.sh smoke         # regimes run JOBS at a time (default 4)
#
# Extra arguments are passed to every job as config overrides (e.g. --set device=cpu); outputs
# made with overrides are not that profile's results. Jobs whose outputs exist are redone; an
# interrupted training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${1:-fast}
shift || true
JOBS=${JOBS:-4}
PARAMS=params/$PROFILE.yaml
if [ "$PROFILE" = paper ]; then REPORTS=reports; else REPORTS=reports/$PROFILE; fi
FIGURES=$REPORTS/figures
DIR=results/$PROFILE/cd_vs_nll
LOGS=logs/$PROFILE/cd_vs_nll
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
CFG=(--params "$PARAMS" --section cd_vs_nll "$@")

# validates the whole configuration, the data files and elasticdeform: one line and exit 2 if bad
REGIMES=$(python -m ebmlab.cd_vs_nll regimes "${CFG[@]}")
mkdir -p "$LOGS"
start=$(date +%s)
echo "classifier -> $DIR/classifier.pt"
python -m ebmlab.cd_vs_nll classifier "${CFG[@]}" --out "$DIR/classifier.pt" > "$LOGS/classifier.log" 2>&1

run_regime() {
    local r=$1
    mkdir -p "$LOGS/$r"
    echo "$r: train"
    python -m ebmlab.cd_vs_nll train "${CFG[@]}" --regime "$r" --out "$DIR/$r" > "$LOGS/$r/train.log" 2>&1
    echo "$r: evaluate"
    python -m ebmlab.cd_vs_nll evaluate "${CFG[@]}" --regime "$r" --out "$DIR/$r" \
        --classifier "$DIR/classifier.pt" > "$LOGS/$r/evaluate.log" 2>&1
    mkdir -p "$LOGS/../nijkamp/cd_vs_nll"
    python -m ebmlab.nijkamp --history "$DIR/$r/history.csv" --figure "$FIGURES/nijkamp/cd_vs_nll/$r.png" \
        --metrics "$REPORTS/metrics/nijkamp/cd_vs_nll/$r.json" --title "cd_vs_nll/$r" \
        > "$LOGS/../nijkamp/cd_vs_nll/$r.log" 2>&1
    echo "$r: done"
}
export -f run_regime
export DIR LOGS FIGURES REPORTS
export CFG_STR="${CFG[*]}"
# shellcheck disable=SC2016
printf '%s\n' $REGIMES | xargs -P "$JOBS" -I{} bash -c 'CFG=($CFG_STR); run_regime "$@"' _ {}

RUNS=()
for r in $REGIMES; do RUNS+=("$DIR/$r"); done
python -m ebmlab.cd_vs_nll figures --runs "${RUNS[@]}" --out-dir "$FIGURES" > "$LOGS/figures.log" 2>&1
python -m ebmlab.cd_vs_nll table --runs "${RUNS[@]}" --profile "$PROFILE" --csv "$REPORTS/mnist_cd_vs_nll.csv" \
    --claims "$REPORTS/mnist_cd_vs_nll_claims.csv" --metrics "$REPORTS/metrics/mnist_cd_vs_nll.json" \
    > "$LOGS/table.log" 2>&1
echo "done in $(( $(date +%s) - start )) s: $REPORTS/mnist_cd_vs_nll.csv, $REPORTS/mnist_cd_vs_nll_claims.csv, $FIGURES/cd_vs_nll_*.png"
cat "$REPORTS/mnist_cd_vs_nll_claims.csv"
