"""How close pfcn's 600x800 crops are to the original MATLAB crops: median MAE over the sample ids (must be < 3).

    python benchmarks/pfcn_crop_vs_reference.py [--shared ../shared/data/pfcn]

Each crop goes through the same path as ``pfcn fetch`` (stored pixels, box, INTER_AREA, JPEG q95 as written) and is
compared with ``reference-crops/<id>.jpg``. A swapped-axes crop is scored too, as a control (it should be ~30-50).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import cv2
import numpy as np

from bench.data.format import decode_image, encode_image
from pfcn.crop import OUT_H, OUT_W, crop_portrait
from pfcn.release import read_release


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@click.command()
@click.option("--shared", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pfcn", show_default=True,
              help="Folder holding EG_code_data_release/, flickr-sample/ and reference-crops/.")
def main(shared: Path) -> None:
    release = read_release(shared / "EG_code_data_release")
    refs = sorted((shared / "reference-crops").glob("*.jpg"))
    maes, controls, clamped = {}, [], []
    for ref_path in refs:
        sid = ref_path.stem
        raw = (shared / "flickr-sample" / f"{sid}.jpg").read_bytes()
        crop = crop_portrait(raw, release.crops[sid], name=sid)
        clamped += [sid] if crop.clamped else []
        stored = decode_image(encode_image(crop.rgb), sid)  # what the dataset holds
        ref = decode_image(ref_path.read_bytes(), str(ref_path))
        maes[sid] = _mae(stored, ref)
        if len(controls) < 20:
            b = release.crops[sid]
            full = decode_image(raw, sid)
            swapped = full[b.x0:min(b.x1, full.shape[0]), b.y0:min(b.y1, full.shape[1])]
            if swapped.size:
                controls.append(_mae(cv2.resize(swapped, (OUT_W, OUT_H), interpolation=cv2.INTER_AREA), ref))
    v = np.array(list(maes.values()))
    worst = max(maes, key=maes.get)
    no_ref = sorted({p.stem for p in (shared / "flickr-sample").glob("*.jpg")} - set(maes))
    print(f"ids compared: {v.size} (sample ids without a reference crop: {', '.join(no_ref) or 'none'})")
    print(f"MAE (grey levels, 0-255): median {np.median(v):.2f}  mean {v.mean():.2f}  p90 {np.percentile(v, 90):.2f}"
          f"  max {v.max():.2f} ({worst})")
    print(f"control, swapped axes (first {len(controls)} ids): median {np.median(controls):.1f}")
    ok = np.median(v) < 3.0
    print("PASS: median MAE < 3" if ok else "FAIL: median MAE >= 3")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
