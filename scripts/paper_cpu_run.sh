#!/usr/bin/env bash
# ELB (or ELB-DR4) with Section 3.2 as written (the paper profile: 512x512, 100 epochs, Adam, lr 5e-4 poly, batch 16)
# on the real PFCN, on a CPU: about 5 hours on 2 cores, so it runs in the background across sessions and machines.
#
# The code that trains is pinned to PAPER_COMMIT, in its own worktree and venv, so work on main cannot change the run
# half-way. Every minute the run's small files and its latest checkpoint are copied to reports/paper/runs/pfcn/<model>/
# (commit the small files as the run goes, and the checkpoint when a session ends with the run unfinished: 8.4 MB of
# the zoo's 60 MB budget each time, reports/paper/README.md); where that checkpoint is present, with data/pfcn rebuilt
# at the same path, this script copies it back and the run resumes exactly where the last recorded epoch ended.
#
#   scripts/paper_cpu_run.sh [elb|elb-dr4]        # start or resume; log in runs/paper-cpu-<model>.log
set -euo pipefail
PAPER_COMMIT=${PAPER_COMMIT:-d3424de3b36a}
MODEL=${1:-elb}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WT=${WT:-$(dirname "$ROOT")/paper-run}
DATA=${DATA:-$ROOT/data/pfcn}            # recorded as an absolute path: a resumed run must see the same one
RUN=$WT/runs/paper/pfcn/$MODEL
REC=$ROOT/reports/paper/runs/pfcn/$MODEL
LOG=$ROOT/runs/paper-cpu-$MODEL.log

[ -f "$DATA/dataset.json" ] || { echo "no dataset at $DATA: build it first (reports/paper/README.md)" >&2; exit 2; }
[ -d "$WT" ] || git -C "$ROOT" worktree add --detach "$WT" "$PAPER_COMMIT"
[ "$(git -C "$WT" rev-parse HEAD)" = "$(git -C "$ROOT" rev-parse "$PAPER_COMMIT^{commit}")" ] \
  || { echo "$WT is not at $PAPER_COMMIT" >&2; exit 2; }
[ -f "$WT/.venv/.installed" ] || make -C "$WT" venv
mkdir -p "$RUN" "$REC" "$(dirname "$LOG")"
if [ ! -f "$RUN/checkpoint.pt" ] && [ -f "$REC/checkpoint.pt" ]; then
  cp "$REC/checkpoint.pt" "$RUN/checkpoint.pt"          # resume from the recorded epoch
fi

record() {  # copy what the run has written so far; the checkpoint through a temporary name (it is 8 MB)
  for f in config.json train_log.csv metrics.json metrics_native.json metrics_per_image.csv \
           metrics_native_per_image.csv; do
    [ -f "$RUN/$f" ] && ! cmp -s "$RUN/$f" "$REC/$f" && cp "$RUN/$f" "$REC/$f.tmp" && mv "$REC/$f.tmp" "$REC/$f"
  done
  if [ -f "$RUN/checkpoint.pt" ] && ! cmp -s "$RUN/checkpoint.pt" "$REC/checkpoint.pt"; then
    cp "$RUN/checkpoint.pt" "$REC/checkpoint.pt.tmp" && mv "$REC/checkpoint.pt.tmp" "$REC/checkpoint.pt"
  fi
  true
}

cd "$WT"
echo "$(date -u +%FT%TZ) start $MODEL at $(git rev-parse --short HEAD) on $(nproc) CPUs" >>"$LOG"
nice -n "${NICE:-5}" .venv/bin/bench train --model "$MODEL" --data "$DATA" --out "$RUN" --size 512 --epochs 100 \
  --batch-size 16 --lr 5e-4 --schedule poly --eval-every 10 --workers 0 --seed 0 --resume --no-progress \
  >>"$LOG" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do sleep 60; record; done
wait $pid && rc=0 || rc=$?
record
echo "$(date -u +%FT%TZ) train exited $rc" >>"$LOG"
if [ $rc -eq 0 ]; then  # the final scores, at 512 and at each photo's own 600x800
  .venv/bin/bench eval --run "$RUN" >>"$LOG" 2>&1 && .venv/bin/bench eval --run "$RUN" --native >>"$LOG" 2>&1
  record
fi
exit $rc
