#!/usr/bin/env bash
# Models with Section 3.2 as written (the paper profile: 512x512, 100 epochs, Adam, lr 5e-4 poly, batch 16, each
# model's own loss) on the real PFCN, on a CPU: 4-11 hours each on 2 cores, so they run one after another in the
# background across sessions and machines.
#
#   scripts/paper_cpu_run.sh icnet enet erfnet portraitnet bisenet   # start or resume; skips the finished ones
#   scripts/paper_cpu_run.sh elb-exp     # ELB with Section 3.2's schedule read literally: lr x 0.9 each epoch
#   scripts/paper_cpu_run.sh --keep MODEL    # commit MODEL's latest checkpoint into git history (then out of the tree)
#
# The code that trains is pinned (ELB and ELB-DR4 to d3424de, which trained them; the baselines to BASELINE_COMMIT),
# in its own worktree and venv, so work on main cannot change a run half-way. Before a model's first epoch the script
# times a few training steps at 512 in fp32 and bf16, contiguous and channels-last (benchmarks/train_throughput.py,
# the record in layout_timing.json) and trains with the fastest. Every minute the run's small files and the lines
# this session added to the log are copied to reports/paper/runs/pfcn/<model>/ (session-<date>.log); a finished run
# is evaluated at 512 and at 600x800.
#
# Resuming: on the same machine a rerun continues from the worktree's checkpoint, exactly. For a new machine, --keep
# puts the latest checkpoint into git history: one commit adds checkpoints/paper-<model>.pt (ignored otherwise) with
# its JSON (epoch, sha256, git blob), the next takes the .pt out of the tree again, so no
# tree after it holds a binary outside bench/weights/ while every clone of main can extract the blob. A rerun on a
# machine without the worktree's checkpoint extracts it (git cat-file) and checks the sha256 before restoring. Every
# version kept stays in every clone, so --keep refuses when the versions already in git history plus this one would
# pass KEEP_BUDGET bytes (80 MB); then a new machine restarts that model (reports/paper/README.md says what it costs).
set -euo pipefail
ELB_COMMIT=d3424de3b36a
BASELINE_COMMIT=${BASELINE_COMMIT:-34a8cd401ad9}
KEEP_BUDGET=${KEEP_BUDGET:-80000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEPT=$ROOT/checkpoints  # kept resume checkpoints: not shipped weights (bench/weights/), a budget of their own
DATA=${DATA:-$ROOT/data/pfcn}            # recorded as an absolute path: a resumed run must see the same one
SETTINGS=(fp32 fp32-cl bf16 bf16-cl)     # benchmarks/train_throughput.py settings the cpu profile allows

commit_of() { case $1 in elb|elb-dr4|elb-exp) echo "${PAPER_COMMIT:-$ELB_COMMIT}" ;; *) echo "${PAPER_COMMIT:-$BASELINE_COMMIT}" ;; esac; }
worktree_of() { local c; c=$(commit_of "$1"); [ "$c" = "$ELB_COMMIT" ] && echo "$(dirname "$ROOT")/paper-run" \
  || echo "$(dirname "$ROOT")/paper-run-${c:0:7}"; }
say() { echo "$(date -u +%FT%TZ) $*" >>"$LOG"; }

kept_bytes_in_history() {  # every checkpoint version ever committed (also under its earlier folders), uncompressed
  git -C "$ROOT" rev-list --objects --all -- checkpoints zoo/checkpoints bench/weights/checkpoints \
    | git -C "$ROOT" cat-file --batch-check='%(objecttype) %(objectsize) %(rest)' \
    | awk '$1 == "blob" && $3 ~ /\.pt$/ {s += $2} END {print s + 0}'
}

keep() {  # MODEL: put its latest checkpoint into git history, if the budget allows, without leaving it in the tree
  local model=$1 run kept hist size
  run=$(worktree_of "$model")/runs/paper/pfcn/$model
  kept=${KEPT#"$ROOT"/}/paper-$model  # relative to ROOT, as git names it
  [ -f "$run/checkpoint.pt" ] || { echo "$run/checkpoint.pt: no checkpoint to keep" >&2; return 2; }
  git -C "$ROOT" diff --cached --quiet \
    || { echo "$ROOT: the index holds staged changes; commit or unstage them first (--keep commits)" >&2; return 2; }
  hist=$(kept_bytes_in_history); size=$(stat -c %s "$run/checkpoint.pt")
  if cmp -s "$run/checkpoint.pt" "$ROOT/$kept.pt" && grep -q '"git_blob"' "$ROOT/$kept.json" 2>/dev/null; then
    echo "$kept.pt is already the latest checkpoint, in git history"; return 0
  fi
  if [ $((hist + size)) -gt "$KEEP_BUDGET" ]; then
    echo "$model: its checkpoint ($size bytes) does not fit the resume budget ($hist of $KEEP_BUDGET bytes already" \
         "in git history): not kept, so a new machine restarts $model" >&2
    return 3
  fi
  mkdir -p "$KEPT"
  cp "$run/checkpoint.pt" "$ROOT/$kept.pt.tmp"
  local epoch blob  # blob: the id the file will have once added (hash-object applies the same filters as git add)
  blob=$(git -C "$ROOT" hash-object --path "$kept.pt" "$ROOT/$kept.pt.tmp")
  "$ROOT/.venv/bin/python" - "$ROOT/$kept.pt.tmp" "$model" "$(commit_of "$model")" "$blob" >"$ROOT/$kept.json.tmp" <<'PY'
import hashlib, json, os, sys, torch
path, model, commit, blob = sys.argv[1:]
state = torch.load(path, map_location="cpu", weights_only=True)
print(json.dumps({"run": f"reports/paper/runs/pfcn/{model}", "epochs_done": int(state["epoch"]), "commit": commit,
                  "bytes": os.path.getsize(path), "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
                  "git_blob": blob}))
PY
  mv "$ROOT/$kept.pt.tmp" "$ROOT/$kept.pt" && mv "$ROOT/$kept.json.tmp" "$ROOT/$kept.json"
  # One commit adds the file (ignored, hence -f) with the JSON naming its blob, so every clone's history holds it; the
  # next takes the file out of the tree again (no binaries outside bench/weights/ in any tree after it).
  epoch=$(sed -n 's/.*"epochs_done": \([0-9]*\).*/\1/p' "$ROOT/$kept.json")
  git -C "$ROOT" add -f "$kept.pt" "$kept.json"
  git -C "$ROOT" commit -q -m "resume state: $model after epoch $epoch, blob ${blob:0:12} (out of the tree next)"
  git -C "$ROOT" rm -q --cached "$kept.pt"
  git -C "$ROOT" commit -q -m "resume state: $model after epoch $epoch stays in history only, as blob ${blob:0:12}"
  echo "kept $kept.pt (epoch $epoch, $size bytes, blob $blob): $((hist + size)) of $KEEP_BUDGET bytes in git history"
}

record() {  # copy the small files the run has written so far, and this session's lines of the log
  for f in config.json train_log.csv metrics.json metrics_native.json metrics_per_image.csv \
           metrics_native_per_image.csv; do
    [ -f "$RUN/$f" ] && ! cmp -s "$RUN/$f" "$REC/$f" && cp "$RUN/$f" "$REC/$f.tmp" && mv "$REC/$f.tmp" "$REC/$f"
  done
  tail -n "+$LOG_FROM" "$LOG" >"$REC/session-$SESSION.log"  # earlier sessions' lines are in their own copies
}

choose_layout() {  # time a few steps in each allowed setting (once per model: the record decides on every rerun)
  local timing=$REC/layout_timing.json
  if [ ! -f "$timing" ]; then
    say "timing ${SETTINGS[*]} for $MODEL at 512, batch 8"
    .venv/bin/python benchmarks/train_throughput.py --models "$MODEL" --size 512 --batch-size 8 --steps 3 \
      --repeats 2 --settings "${SETTINGS[@]}" --json "$timing.tmp" >>"$LOG" 2>&1
    mv "$timing.tmp" "$timing"
  fi
  .venv/bin/python - "$timing" "$MODEL" <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))["models"][sys.argv[2]]
best = max(rec.values(), key=lambda r: r["median"])
print("--amp", best["amp"], "--channels-last" if best["channels_last"] else "--no-channels-last")
PY
}

train_one() {
  local commit WT model=${MODEL%-exp} schedule=poly  # elb-exp: the model elb, the schedule exp (gamma 0.9)
  [ "$model" = "$MODEL" ] || schedule=exp
  commit=$(commit_of "$MODEL"); WT=$(worktree_of "$MODEL")
  RUN=$WT/runs/paper/pfcn/$MODEL
  REC=$ROOT/reports/paper/runs/pfcn/$MODEL
  LOG=$ROOT/runs/paper-cpu-$MODEL.log
  local kept=$KEPT/paper-$MODEL
  if [ -f "$REC/metrics_native.json" ]; then echo "$MODEL: finished ($REC)"; return 0; fi
  [ -d "$WT" ] || git -C "$ROOT" worktree add --detach "$WT" "$commit"
  [ "$(git -C "$WT" rev-parse HEAD)" = "$(git -C "$ROOT" rev-parse "$commit^{commit}")" ] \
    || { echo "$WT is not at $commit" >&2; return 2; }
  [ -f "$WT/.venv/.installed" ] || make -C "$WT" venv
  mkdir -p "$RUN" "$REC" "$(dirname "$LOG")"
  touch "$LOG"
  LOG_FROM=$(($(wc -l <"$LOG") + 1))  # the first line this session writes

  if [ ! -f "$RUN/checkpoint.pt" ] && [ -f "$kept.json" ]; then  # a new machine: continue from the kept checkpoint
    local want blob got=""
    want=$(sed -n 's/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$kept.json")
    blob=$(sed -n 's/.*"git_blob": "\([0-9a-f]*\)".*/\1/p' "$kept.json")
    [ -f "$kept.pt" ] && got=$(sha256sum "$kept.pt" | cut -d' ' -f1)
    if [ "$got" != "$want" ] && [ -n "$blob" ]; then  # the file is out of the tree; every clone's history has it
      git -C "$ROOT" cat-file blob "$blob" >"$kept.pt.tmp" && mv "$kept.pt.tmp" "$kept.pt"
      got=$(sha256sum "$kept.pt" | cut -d' ' -f1)
    fi
    [ -n "$want" ] && [ "$want" = "$got" ] \
      || { echo "$kept.pt: sha256 ${got:-(no file)} does not match $kept.json ('$want'): damaged or half-committed" >&2
           return 2; }
    cp "$kept.pt" "$RUN/checkpoint.pt"
    say "restored the committed checkpoint $kept.pt"
  fi

  cd "$WT"
  local layout=""
  case $MODEL in elb|elb-dr4|elb-exp) ;; *) layout=$(choose_layout) ;; esac  # ELB's runs took --amp auto, channels-last
  say "start $MODEL at $(git rev-parse --short HEAD) on $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')) $layout"
  # shellcheck disable=SC2086
  nice -n "${NICE:-5}" .venv/bin/bench train --model "$model" --data "$DATA" --out "$RUN" --size 512 --epochs 100 \
    --batch-size 16 --lr 5e-4 --schedule "$schedule" --eval-every 10 --workers 0 --seed 0 --resume --no-progress $layout \
    >>"$LOG" 2>&1 &
  local pid=$! rc
  while kill -0 $pid 2>/dev/null; do sleep "${RECORD_EVERY:-60}"; record; done
  wait $pid && rc=0 || rc=$?
  say "train exited $rc"
  if [ $rc -eq 0 ]; then  # the final scores, at 512 and at each photo's own 600x800
    .venv/bin/bench eval --run "$RUN" >>"$LOG" 2>&1 && .venv/bin/bench eval --run "$RUN" --native >>"$LOG" 2>&1 \
      || rc=$?
  fi
  record
  cd "$ROOT"
  [ $rc -eq 0 ] && rm -f "$kept.pt" "$kept.json"  # finished: its weights go to the zoo proper (bench zoo add)
  return $rc
}

[ -f "$DATA/dataset.json" ] || { echo "no dataset at $DATA: build it first (reports/paper/README.md)" >&2; exit 2; }
if [ "${1:-}" = "--keep" ]; then shift; for m in "$@"; do keep "$m"; done; exit; fi
SESSION=${PAPER_SESSION:-$(date -u +%F-%H%M)}  # names this session's log copies
for MODEL in "${@:-elb}"; do train_one || exit $?; done
