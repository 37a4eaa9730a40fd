"""pfcn fetch speed from a local mirror: decode-crop-resize-encode images/s, and end to end for the sample ids.

    python benchmarks/pfcn_throughput.py [--shared ../shared/data/pfcn] [--workers 16] [--cpu-workers 2]

Serves ``flickr-sample/`` on 127.0.0.1, writes a release copy whose URLs point at it (only the sample ids; the real
crop.txt, lists and masks), runs ``fetch`` into a temporary folder, and times the CPU path on its own as well.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from bench.data.format import encode_image, encode_mask
from pfcn.crop import crop_portrait
from pfcn.fetch import FetchOptions, fetch
from pfcn.release import read_release


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _mirror_release(shared: Path, tmp: Path, base_url: str, ids: list[str]) -> Path:
    src = shared / "EG_code_data_release" / "data"
    data = tmp / "release" / "data"
    (data / "images_mask").mkdir(parents=True)
    for name in ("crop.txt", "trainlist.mat", "testlist.mat"):
        shutil.copy(src / name, data / name)
    (data / "alldata_urls.txt").write_text("".join(f"{i}.jpg {base_url}/{i}.jpg\n" for i in ids))
    for i in ids:
        shutil.copy(src / "images_mask" / f"{i}_mask.mat", data / "images_mask")
    return data


@click.command()
@click.option("--shared", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pfcn", show_default=True)
@click.option("--workers", default=16, show_default=True, help="fetch threads (as pfcn fetch's default)")
@click.option("--cpu-workers", default=2, show_default=True, help="threads for the CPU-only measurement")
def main(shared: Path, workers: int, cpu_workers: int) -> None:
    sample = shared / "flickr-sample"
    ids = sorted(p.stem for p in sample.glob("*.jpg"))
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(k, None)
    os.environ["NO_PROXY"] = "127.0.0.1"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(sample)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="pfcn-bench-") as t:
        tmp = Path(t)
        data = _mirror_release(shared, tmp, base, ids)
        release = read_release(data)

        raws = {i: (sample / f"{i}.jpg").read_bytes() for i in ids}
        masks = {i: release.load_mask(i) for i in ids}

        def cpu_path(i: str) -> int:
            crop = crop_portrait(raws[i], release.crops[i], name=i)
            return len(encode_image(crop.rgb)) + len(encode_mask(masks[i]))

        with ThreadPoolExecutor(cpu_workers) as ex:
            list(ex.map(cpu_path, ids[:8]))  # warm up
            t0 = time.perf_counter()
            list(ex.map(cpu_path, ids))
            cpu_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        report = fetch(data, tmp / "out", FetchOptions(workers=workers, progress=False))
        e2e_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = fetch(data, tmp / "out", FetchOptions(workers=workers, progress=False))
        rerun_s = time.perf_counter() - t0
    httpd.shutdown()
    mb = sum(map(len, raws.values())) / 1e6
    print(f"machine: {os.cpu_count()} CPUs visible; sample: {len(ids)} raw Flickr JPEGs ({mb:.1f} MB)")
    print(f"decode-crop-resize-encode (+mask PNG), {cpu_workers} threads: {len(ids) / cpu_s:.1f} images/s "
          f"({cpu_s:.2f} s for {len(ids)})")
    print(f"fetch end to end from 127.0.0.1 ({workers} workers, incl. release parse, raw writes, dataset writes): "
          f"{e2e_s:.2f} s, {len(ids) / e2e_s:.1f} ids/s; ok {report.count('ok')}, unused {report.count('unused')}, "
          f"requests {sum(report.attempts.values())}")
    print(f"rerun of the finished folder: {rerun_s:.2f} s, requests {sum(again.attempts.values())}")


if __name__ == "__main__":
    main()
