#!/usr/bin/env bash
# The paper protocol's ranking at 600x800: a paired bootstrap over the 264 test photos of every finished run under
# reports/paper/runs/pfcn/ (those with metrics_native_per_image.csv), in Table 1's order.
#
#   scripts/paper_significance.sh           # writes reports/paper/significance_paper_native.md (1,000 resamples),
#                                           # significance_paper_native_holm.md (100,000, bootstrap p, Holm over
#                                           # every pair) and significance_paper_native_elb.md (100,000, ELB against
#                                           # each finished baseline of Table 1, Holm over those comparisons only)
#
# Native (600x800) rather than 512 because that is the photos' own size and every scored model here, cpu profile
# and published weights alike, is compared there; run-all's significance.md beside the tables is the 512 one.
# The third file asks the paper's own question, "is ELB ahead of each baseline", so its family is those comparisons:
# ELB-DR4 (an ablation) and the exp-schedule ELB (another reading of ELB's recipe) are not baselines.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-.venv/bin/bench}
RUNS=${PAPER_RUNS:-reports/paper/runs/pfcn}
OUT=${PAPER_OUT:-reports/paper}
BASELINES=" icnet enet erfnet portraitnet bisenet "

csvs=() names=() claim_csvs=() claim_names=()
for pair in elb:ELB elb-dr4:ELB-DR4 icnet:ICNet enet:ENet erfnet:ERFNet portraitnet:PortraitNet bisenet:BiSeNet \
            elb-exp:"ELB exp schedule"; do
  run=${pair%%:*} name=${pair#*:}
  csv=$RUNS/$run/metrics_native_per_image.csv
  [ -f "$csv" ] || continue
  csvs+=("$csv") names+=(--name "$name paper")
  if [ "$run" = elb ] || [[ $BASELINES == *" $run "* ]]; then
    claim_csvs+=("$csv") claim_names+=(--name "$name paper")
  fi
done
[ ${#csvs[@]} -ge 2 ] || { echo "fewer than two finished runs under $RUNS: nothing to compare" >&2; exit 1; }
"$BENCH" significance "${csvs[@]}" "${names[@]}" --out "$OUT/significance_paper_native.md" > /dev/null
"$BENCH" significance "${csvs[@]}" "${names[@]}" --resamples 100000 --holm \
  --out "$OUT/significance_paper_native_holm.md" > /dev/null
written="$OUT/significance_paper_native.md, $OUT/significance_paper_native_holm.md"
if [ -f "$RUNS/elb/metrics_native_per_image.csv" ] && [ ${#claim_csvs[@]} -ge 2 ]; then
  "$BENCH" significance "${claim_csvs[@]}" "${claim_names[@]}" --resamples 100000 --holm --against "ELB paper" \
    --out "$OUT/significance_paper_native_elb.md" > /dev/null
  written+=", $OUT/significance_paper_native_elb.md"
fi
echo "written: $written (${#csvs[@]} runs)"
