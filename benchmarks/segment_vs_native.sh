#!/usr/bin/env bash
# Issue 21's check that a user's masks are the scored ones: `segment` a zoo entry over the PFCN test photos, score
# its masks with `bench eval --predictions`, and print that beside the manifest's native mIoU (same weights).
#   benchmarks/segment_vs_native.sh NAME [DATA]     # e.g. elb-pfcn data/pfcn; appends to reports/zoo/segment_vs_native.txt
set -euo pipefail
NAME=$1
DATA=${2:-data/pfcn}
BIN=${BIN:-.venv/bin}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/in" "$TMP/pred" reports/zoo
while read -r id; do ln -s "$(realpath "$DATA/images/$id.jpg")" "$TMP/in/$id.jpg"; done <"$DATA/splits/test.txt"
"$BIN/segment" "$TMP/in" --model "$NAME" --out "$TMP/out" --no-progress >/dev/null
for f in "$TMP"/out/*_mask.png; do mv "$f" "$TMP/pred/$(basename "$f" _mask.png).png"; done
"$BIN/python" - "$NAME" "$TMP/pred" "$DATA" <<'PY' | tee -a reports/zoo/segment_vs_native.txt
import sys
from bench.deploy.zoo import get_entry
from bench.eval.loop import NATIVE, score
from bench.eval.predictions import MaskFolder
name, pred, data = sys.argv[1:]
m = score(MaskFolder(pred), data, "test", NATIVE)
native = get_entry(name).manifest["metrics"]["miou_native"]
print(f"{name}: segment masks scored by bench eval --predictions: mIoU {100 * m['miou']:.3f} on {m['images']} "
      f"{m['dataset']} test photos; manifest miou_native {native:.3f}; difference {100 * m['miou'] - native:+.3f}")
PY
