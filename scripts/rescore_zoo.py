"""Re-score every shipped zoo entry on PFCN's test photos and compare with its manifest's figures.

    .venv/bin/python scripts/rescore_zoo.py [--data data/pfcn] [NAME ...]    # default: every entry

Each entry's stored weights are scored as `bench zoo add` scored them (``bench.eval.zoo.manifest_metrics``: at the
input size and at each photo's own size, as its manifest's preprocessing says); the line says ``identical`` or lists
each figure that differs as (manifest, now). A figure the manifest lacks (older manifests have no mean portrait IoU)
shows as (None, now). A check that a change of the evaluation code kept every shipped figure.
"""

import argparse
import time

from bench.deploy.zoo import entries, get_entry, load_zoo_model
from bench.eval.zoo import manifest_metrics

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("names", nargs="*", help="Zoo names [default: every entry].")
ap.add_argument("--data", default="data/pfcn", help="PFCN with its official split.")
args = ap.parse_args()
for name in args.names or sorted(entries()):
    t = time.time()
    entry = get_entry(name)
    got = manifest_metrics(load_zoo_model(name), args.data, entry.preprocess)
    want = entry.manifest["metrics"]
    diff = {k: (want.get(k), v) for k, v in got.items() if want.get(k) != v}
    print(name, f"{time.time() - t:.0f}s", "identical" if not diff else diff, flush=True)
