#!/usr/bin/env bash
# ELB (or ELB-DR4) with Section 3.2 as written (the paper profile: 512x512, 100 epochs, Adam, lr 5e-4 poly, batch 16)
# on the real PFCN, on a CPU: about 5 hours on 2 cores, so it runs in the background across sessions and machines.
#
# The code that trains is pinned to PAPER_COMMIT, in its own worktree and venv, so work on main cannot change the run
# half-way. Every minute the run's small files are copied to reports/paper/runs/pfcn/<model>/, and its latest
# checkpoint to zoo/checkpoints/paper-<model>.pt with its sha256 (commit them as the run goes: the one checkpoint the
# repository keeps, so that a new machine continues an unfinished run instead of restarting it; it counts against
# the zoo's size budget and is removed when the run finishes). A rerun resumes from the worktree's checkpoint, or on a
# new machine from the committed one, exactly (reports/paper/README.md).
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
KEPT=$ROOT/zoo/checkpoints/paper-$MODEL  # .pt and .json: the committed copy of the latest checkpoint

[ -f "$DATA/dataset.json" ] || { echo "no dataset at $DATA: build it first (reports/paper/README.md)" >&2; exit 2; }
[ -d "$WT" ] || git -C "$ROOT" worktree add --detach "$WT" "$PAPER_COMMIT"
[ "$(git -C "$WT" rev-parse HEAD)" = "$(git -C "$ROOT" rev-parse "$PAPER_COMMIT^{commit}")" ] \
  || { echo "$WT is not at $PAPER_COMMIT" >&2; exit 2; }
[ -f "$WT/.venv/.installed" ] || make -C "$WT" venv
mkdir -p "$RUN" "$REC" "$(dirname "$LOG")" "$(dirname "$KEPT")"

if [ ! -f "$RUN/checkpoint.pt" ] && [ -f "$KEPT.pt" ]; then  # a new machine: continue from the committed checkpoint
  want=$(sed -n 's/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$KEPT.json" 2>/dev/null)
  got=$(sha256sum "$KEPT.pt" | cut -d' ' -f1)
  [ -n "$want" ] && [ "$want" = "$got" ] \
    || { echo "$KEPT.pt: sha256 $got does not match $KEPT.json ('$want'): damaged or half-committed" >&2; exit 2; }
  cp "$KEPT.pt" "$RUN/checkpoint.pt"
  echo "$(date -u +%FT%TZ) restored the committed checkpoint $KEPT.pt" >>"$LOG"
fi

record() {  # copy the small files the run has written so far
  for f in config.json train_log.csv metrics.json metrics_native.json metrics_per_image.csv \
           metrics_native_per_image.csv; do
    [ -f "$RUN/$f" ] && ! cmp -s "$RUN/$f" "$REC/$f" && cp "$RUN/$f" "$REC/$f.tmp" && mv "$REC/$f.tmp" "$REC/$f"
  done
  if [ -f "$RUN/checkpoint.pt" ] && ! cmp -s "$RUN/checkpoint.pt" "$KEPT.pt"; then  # the trainer replaces it atomically
    cp "$RUN/checkpoint.pt" "$KEPT.pt.tmp"
    .venv/bin/python - "$KEPT.pt.tmp" "$MODEL" "$PAPER_COMMIT" >"$KEPT.json.tmp" <<'PY'
import hashlib, json, os, sys, torch
path, model, commit = sys.argv[1:]
state = torch.load(path, map_location="cpu", weights_only=True)
print(json.dumps({"run": f"reports/paper/runs/pfcn/{model}", "epochs_done": int(state["epoch"]), "commit": commit,
                  "bytes": os.path.getsize(path), "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest()}))
PY
    mv "$KEPT.pt.tmp" "$KEPT.pt" && mv "$KEPT.json.tmp" "$KEPT.json"
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
  rm -f "$KEPT.pt" "$KEPT.json"  # finished: its weights go to the zoo proper (bench zoo add), not as a checkpoint
fi
exit $rc
