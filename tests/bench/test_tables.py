"""Table 1, Table 2 and the ablation from a hand-written results.csv: rows, columns, "not run", footers."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.machine import git_commit
from bench.registry import MODELS
from bench.report.folder import NOT_RUN, ReportFolder, ResultsError, read_results
from bench.report.paper import GPU_FPS, TABLE1, TABLE2
from bench.report.tables import write_tables
from tests.bench.helpers import model_csv, synthetic_masks

HEADER = ("model,paper_name,loss,loss_default,dataset,dataset_name,n_train,n_test,params,gmacs,fps,fps_spread,device,"
          "miou,iou_bg,iou_fg,boundary_f,epochs,schedule,profile,run_dir")
SYNTHETIC_ROWS = [
    "elb,ELB (ours),adaptive,True,synthetic,synthetic,80,20,656322,3.7812,14.23,0.31,cpu x2,91.23,92.0,90.46,71.5,3,"
    "poly,smoke,runs/elb-a",
    "elb,ELB (ours),ce,False,synthetic,synthetic,80,20,656322,3.7812,14.11,0.4,cpu x2,90.03,91.0,89.06,68.25,3,poly,"
    "smoke,runs/elb-c",
    "enet,ENet,ce,True,synthetic,synthetic,80,20,350000,2.049,20.5,1.1,cpu x2,88.5,89.0,88.0,65.0,3,poly,smoke,"
    "runs/enet",
    # ENet's default loss is ce: this adaptive run must not reach Tables 1 and 2.
    "enet,ENet,adaptive,False,synthetic,synthetic,80,20,350000,2.049,20.5,1.1,cpu x2,11.1,1,1,1,3,poly,smoke,"
    "runs/enet-a",
]
FOOTER = {"device": "cpu x2", "torch": "2.13.0+cpu", "profile": "smoke", "schedule": "poly", "date": "2030-01-02",
          "git_commit": "abc1234"}
SYNTHETIC_ONLY = {"pfcn": None, "pseg": None, "synthetic": "runs/data/synthetic"}
TABLE1_ORDER = ["Graph-cut*", "PFCN+*", "PDeepLabv2*", "BSN*", "FCN*", "PIS*", "ERFNet", "ENet", "ICNet", "BiSeNet",
                "PortraitNet*", "ELB (ours)"]


def _results(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "results.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _write(results_csv: Path, out: Path, *args, **kwargs) -> list[Path]:
    """``write_tables`` from a results file, its records looked up beside it (as in a report folder)."""
    return write_tables(read_results(results_csv), ReportFolder(results_csv.parent), out, *args, **kwargs)


def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8")
    assert not text.startswith("#") and "|" not in text  # machine-readable, no Markdown
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _md_table(text: str) -> list[list[str]]:
    """The cells of the (single) Markdown table in ``text``, header first, separator dropped."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    widths = {ln.count("|") for ln in lines}
    assert len(widths) == 1, "every table line has the same number of cells"
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if not ln.startswith("|---")]


@pytest.fixture
def synthetic_tables(tmp_path: Path) -> dict[str, Path]:
    paths = _write(_results(tmp_path, SYNTHETIC_ROWS), tmp_path / "out", FOOTER, SYNTHETIC_ONLY)
    return {p.name: p for p in paths}


def test_writes_all_six_files(synthetic_tables: dict[str, Path]) -> None:
    assert sorted(synthetic_tables) == sorted(f"{t}.{e}" for t in ("table1", "table2", "ablation")
                                              for e in ("csv", "md"))
    assert all(p.stat().st_size > 0 for p in synthetic_tables.values())


def test_table1_rows_and_columns(synthetic_tables: dict[str, Path]) -> None:
    columns, rows = _csv(synthetic_tables["table1.csv"])
    assert [r["method"] for r in rows] == TABLE1_ORDER
    for needed in ("gmacs_paper", "gmacs_ours", "params_m_paper", "params_m_ours", "fps_paper", "fps_ours",
                   "miou_pfcn_paper", "miou_pfcn_ours", "miou_pseg_paper", "miou_pseg_ours", "miou_synthetic_ours",
                   "boundary_f_synthetic_ours"):
        assert needed in columns
    by = {r["method"]: r for r in rows}
    for cited in TABLE1_ORDER[:6]:
        assert by[cited]["row"] == "cited"
        assert all(by[cited][c] == "" for c in columns if c.endswith("_ours"))
    assert by["Graph-cut*"]["miou_pfcn_paper"] == "80.0" and by["PIS*"]["fps_paper"] == "23.8"
    elb = by["ELB (ours)"]
    assert elb["row"] == "measured" and elb["loss"] == "adaptive"
    assert (elb["gmacs_paper"], elb["params_m_paper"], elb["fps_paper"]) == ("3.8", "0.6", "263.2")
    assert (elb["miou_pfcn_paper"], elb["miou_pseg_paper"]) == ("94.9", "94.0")
    assert float(elb["gmacs_ours"]) == pytest.approx(3.7812)
    assert elb["params_m_ours"] == "0.656322"  # raw in the CSV: the Markdown rounds (once)
    assert float(elb["fps_ours"]) == pytest.approx(14.23) and elb["device"] == "cpu x2"
    assert float(elb["miou_synthetic_ours"]) == pytest.approx(91.23)
    assert float(elb["boundary_f_synthetic_ours"]) == pytest.approx(71.5)
    for col in ("miou_pfcn_ours", "miou_pseg_ours", "boundary_f_pfcn_ours", "boundary_f_pseg_ours"):
        assert elb[col] == NOT_RUN
    assert float(by["ENet"]["miou_synthetic_ours"]) == pytest.approx(88.5)  # its default loss (ce), not adaptive
    assert by["ERFNet"]["row"] == "not measured" and by["ERFNet"]["miou_synthetic_ours"] == ""
    assert by["ERFNet"]["miou_pfcn_ours"] == NOT_RUN
    pn = by["PortraitNet*"]
    assert (pn["gmacs_paper"], pn["params_m_paper"], pn["fps_paper"], pn["miou_pfcn_paper"]) == \
        ("0.51", "2.1", "203.2", "96.6")
    assert "224" in pn["note"]


def test_table1_markdown_title_numbers_and_footer(synthetic_tables: dict[str, Path]) -> None:
    text = synthetic_tables["table1.md"].read_text(encoding="utf-8")
    title = text.splitlines()[0]
    assert title.startswith("# Table 1") and "synthetic data" in title and "smoke" in title
    assert "not on PFCN/PSEG" in title
    cells = _md_table(text)
    header, body = cells[0], {row[0]: dict(zip(cells[0], row, strict=True)) for row in cells[1:]}
    assert "mIoU synthetic (ours)" in header and "FPS (paper, GTX 1080Ti)" in header
    assert list(body) == TABLE1_ORDER
    elb = body["ELB (ours)"]
    assert elb["GMACs (ours)"] == "3.78" and elb["Params M (ours)"] == "0.66"
    assert elb["mIoU synthetic (ours)"] == "91.2" and elb["mIoU PFCN (ours)"] == NOT_RUN
    assert elb["mIoU PFCN (paper)"] == "94.9" and elb["mIoU PSEG (paper)"] == "94.0"
    assert elb["FPS (ours, cpu x2)"] == "14.2 ± 0.3"
    assert body["Graph-cut*"]["Row"] == "cited" and body["Graph-cut*"]["mIoU PFCN (paper)"] == "80.0"
    footer = text.split("\n\n", 2)[2]
    for needed in ("synthetic data with the smoke profile", "Device: cpu x2", "Torch: 2.13.0+cpu",
                   "Profile: smoke", "Schedule: poly", "Date: 2030-01-02", "Git commit: abc1234",
                   "80 train / 20 test", "runs/data/synthetic",
                   "pfcn fetch --release EG_code_data_release.zip --out data/pfcn", "bench run-all --pfcn data/pfcn",
                   "pseg build --mhp-root LV-MHP-v2 --out data/pseg", "bench run-all --pseg data/pseg"):
        assert needed in footer, needed


def test_table2_rows(synthetic_tables: dict[str, Path]) -> None:
    _, rows = _csv(synthetic_tables["table2.csv"])
    assert [r["method"] for r in rows] == ["BFB-DR4", "BFB-DR2"]
    dr4, dr2 = rows
    assert (dr4["fps_paper"], dr4["miou_pfcn_paper"], dr4["gmacs_paper"]) == ("370.4", "93.7", "")
    assert (dr2["gmacs_paper"], dr2["params_m_paper"], dr2["fps_paper"], dr2["miou_pfcn_paper"]) == \
        ("3.8", "0.6", "263.2", "94.9")
    assert dr4["row"] == "not measured" and dr2["row"] == "measured"
    assert float(dr2["miou_synthetic_ours"]) == pytest.approx(91.23)
    assert dr2["miou_pfcn_ours"] == NOT_RUN
    text = synthetic_tables["table2.md"].read_text(encoding="utf-8")
    assert text.startswith("# Table 2") and "synthetic data" in text.splitlines()[0]
    assert "Git commit: abc1234" in text and "pseg build --mhp-root" in text


def test_ablation_difference(synthetic_tables: dict[str, Path]) -> None:
    _, rows = _csv(synthetic_tables["ablation.csv"])
    by = {(r["model"], r["dataset"]): r for r in rows}
    assert set(by) == {("elb", "pfcn"), ("elb", "pseg"), ("elb", "synthetic")}  # DR4 has no ce run here
    syn = by[("elb", "synthetic")]
    assert float(syn["miou_adaptive"]) == pytest.approx(91.23) and float(syn["miou_ce"]) == pytest.approx(90.03)
    assert float(syn["miou_diff"]) == pytest.approx(1.2)
    assert float(syn["boundary_f_diff"]) == pytest.approx(3.25)
    assert by[("elb", "pfcn")]["miou_adaptive"] == NOT_RUN
    text = synthetic_tables["ablation.md"].read_text(encoding="utf-8")
    cells = _md_table(text)
    row = next(r for r in cells if r[1] == "synthetic")
    assert dict(zip(cells[0], row, strict=True))["Δ mIoU"] == "+1.2"
    assert "not in the paper" in text.splitlines()[0] and "Date: 2030-01-02" in text


def test_real_dataset_replaces_not_run(tmp_path: Path) -> None:
    rows = [r.replace(",synthetic,synthetic,80,20,", ",pfcn,pfcn,1277,263,") for r in SYNTHETIC_ROWS]
    paths = _write(_results(tmp_path, rows), tmp_path / "out", FOOTER,
                         {"pfcn": "data/pfcn", "pseg": None, "synthetic": None})
    t1 = {p.name: p for p in paths}
    columns, body = _csv(t1["table1.csv"])
    assert "miou_synthetic_ours" not in columns
    elb = next(r for r in body if r["model"] == "elb")
    assert float(elb["miou_pfcn_ours"]) == pytest.approx(91.23) and elb["miou_pseg_ours"] == NOT_RUN
    text = t1["table1.md"].read_text(encoding="utf-8")
    assert "synthetic" not in text.splitlines()[0] and "mIoU synthetic" not in text
    assert "pfcn fetch" not in text and "pseg build --mhp-root" in text
    assert "1277 train / 263 test" in text


def test_missing_date_and_commit_are_filled_in(tmp_path: Path) -> None:
    paths = _write(_results(tmp_path, SYNTHETIC_ROWS), tmp_path / "out", {"profile": "smoke"}, SYNTHETIC_ONLY)
    text = next(p for p in paths if p.name == "table1.md").read_text(encoding="utf-8")
    assert "Date: 20" in text and "Git commit: " in text and "Device: unknown" in text


def test_bad_results_files(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="nope.csv"):
        read_results(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"bad.csv.*missing"):
        read_results(bad)
    role = _results(tmp_path, [SYNTHETIC_ROWS[0].replace(",synthetic,synthetic,", ",coco,coco,")])
    with pytest.raises(ResultsError, match=r"results.csv:2: dataset role 'coco'"):
        read_results(role)


def test_reference_rows_match_the_registry_and_the_paper() -> None:
    for ref in TABLE1 + TABLE2:
        if ref.model is not None:
            assert ref.model in MODELS
    paper_names = {r.model: r.method for r in TABLE1 if r.model}
    for model, method in paper_names.items():
        assert MODELS[model].paper_name == method
    assert MODELS["elb-dr4"].paper_name == TABLE2[0].method
    by = {r.method: r for r in TABLE1}
    assert (by["ERFNet"].gmacs, by["ERFNet"].params_m, by["ERFNet"].fps) == (13.4, 2.1, 128.2)
    assert (by["ICNet"].miou_pfcn, by["ICNet"].miou_pseg) == (87.8, 90.0)
    assert (by["BiSeNet"].fps, by["BiSeNet"].miou_pseg) == (164.0, 94.4)
    assert by["PIS"].fps == 23.8 and by["PortraitNet"].cited and not by["ELB (ours)"].cited
    assert GPU_FPS["elb-dr4"] == 370.4 and GPU_FPS["elb"] == 263.2 and "portraitnet" not in GPU_FPS  # 224x224
    assert [r.method for r in TABLE1 if r.cited and r.model is None] == \
        ["Graph-cut", "PFCN+", "PDeepLabv2", "BSN", "FCN", "PIS"]


def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run([*git, "add", "f"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "m"], cwd=tmp_path, check=True)
    expected = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                              text=True, check=True).stdout.strip()
    assert git_commit(tmp_path) == expected
    assert git_commit() != ""


def test_footer_aliases_and_dataset_line(tmp_path: Path) -> None:
    footer = {**{k: v for k, v in FOOTER.items() if k != "git_commit"}, "commit": "def5678",
              "datasets": "synthetic-smoke (synthetic: 80 train / 20 test)", "seed": 0}
    paths = _write(_results(tmp_path, SYNTHETIC_ROWS), tmp_path / "out", footer,
                         {"pfcn": None, "pseg": None, "synthetic": "synthetic-smoke"})
    text = next(p for p in paths if p.name == "table2.md").read_text(encoding="utf-8")
    assert "Git commit: def5678" in text and "commit: def5678" not in text.replace("Git commit", "")
    assert "Datasets: synthetic-smoke (synthetic: 80 train / 20 test)" in text and "seed: 0" in text


PEERS = ("model,paper_name,kind,dataset_name,split,n_test,input_hw,miou,iou_bg,iou_fg,boundary_f,"
         "boundary_tolerance_px,fps,fps_spread,ms_median,fps_photo,ms_median_photo,photo_hw,batch_size,warmup,runs,"
         "device,runtime,date\n"
         "mp-general,MediaPipe Selfie Segmentation (general),off-the-shelf,pfcn-official,test,264,256x256,95.064,"
         "93.9,96.2,58.903,3.0,226.27,78.61,4.42,186.69,5.356,800x600,1,10,50,cpu,mediapipe 0.10.21,2026-11-29\n"
         "mp-other,MediaPipe on another set,off-the-shelf,elsewhere,test,10,256x256,50.0,50,50,50,3.0,1,1,1,1,1,"
         "800x600,1,10,50,cpu,mediapipe 0.10.21,2026-11-29\n")


def test_off_the_shelf_peers_join_table1_in_their_dataset_column(tmp_path: Path) -> None:
    rows = [r.replace(",synthetic,synthetic,", ",pfcn,pfcn-official,") for r in SYNTHETIC_ROWS]
    peers = tmp_path / "peers.csv"
    peers.write_text(PEERS, encoding="utf-8")
    datasets = {"pfcn": "pfcn-official", "pseg": None}
    paths = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "out", FOOTER, datasets, peers)}
    _, t1 = _csv(paths["table1.csv"])
    mp = [r for r in t1 if r["row"] == "off-the-shelf"]
    assert [r["method"] for r in mp] == ["MediaPipe Selfie Segmentation (general)"]  # the other set is left out
    assert (mp[0]["miou_pfcn_ours"], mp[0]["miou_native_pfcn_ours"], mp[0]["fps_ours"]) == ("95.064", "95.064",
                                                                                            "226.27")
    assert mp[0]["miou_pseg_ours"] == NOT_RUN and "not trained here" in mp[0]["note"]
    md = paths["table1.md"].read_text(encoding="utf-8")
    assert "| MediaPipe Selfie Segmentation (general) | off-the-shelf |" in md and "off-the-shelf rows" in md
    _, t2 = _csv(paths["table2.csv"])
    assert not any(r["row"] == "off-the-shelf" for r in t2)
    # without a peers file, nothing changes
    plain = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "plain", FOOTER, datasets)}
    assert all(r["row"] != "off-the-shelf" for r in _csv(plain["table1.csv"])[1])


def test_markdown_rounds_each_number_once_from_the_raw_value(tmp_path: Path) -> None:
    # ICNet's 93.05 is the binary 93.04999...: "%.1f" gives 93.0; FPS 10.9514 rounded first to 10.95 gives 10.9
    rows = [
        "elb,ELB (ours),adaptive,True,pfcn,pfcn-official,1291,264,662558,3.778,10.951400178731273,1.6294397098297662,"
        "cpu,92.38,90.679,94.081,67.402,30,poly,cpu,runs/cpu/pfcn/elb",
        "elb,ELB (ours),ce,False,pfcn,pfcn-official,1291,264,662558,3.778,10.951400178731273,1.6294397098297662,"
        "cpu,92.736,91.126,94.346,68.758,30,poly,cpu,runs/cpu/pfcn/elb-ce",
        "icnet,ICNet,ce,True,pfcn,pfcn-official,1291,264,6698566,3.5929,14.176916034426398,0.5527454198806883,"
        "cpu,93.05,91.503,94.598,71.059,30,poly,cpu,runs/cpu/pfcn/icnet",
    ]
    paths = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "out", FOOTER,
                                             {"pfcn": "pfcn-official", "pseg": None})}
    cells = _md_table(paths["table1.md"].read_text(encoding="utf-8"))
    body = {row[0]: dict(zip(cells[0], row, strict=True)) for row in cells[1:]}
    assert body["ICNet"]["mIoU PFCN (ours)"] == "93.1" and body["ICNet"]["Boundary F PFCN (ours)"] == "71.1"
    assert body["ELB (ours)"]["FPS (ours, cpu)"] == "11.0 ± 1.6" and body["ICNet"]["FPS (ours, cpu)"] == "14.2 ± 0.6"
    _, t1 = _csv(paths["table1.csv"])
    assert next(r for r in t1 if r["model"] == "elb")["fps_ours"] == "10.951400178731273"  # raw, not 10.95
    _, ab = _csv(paths["ablation.csv"])
    assert next(r for r in ab if r["dataset"] == "pfcn")["miou_diff"] == "-0.356"
    ab_cells = _md_table(paths["ablation.md"].read_text(encoding="utf-8"))
    pfcn = dict(zip(ab_cells[0], next(r for r in ab_cells if r[1] == "pfcn"), strict=True))
    assert pfcn["Δ mIoU"] == "-0.4" and pfcn["mIoU (CE)"] == "92.7"


def test_loss_column_names_the_auxiliary_terms_each_model_declares(tmp_path: Path) -> None:
    from bench.report.prose import loss_label

    assert loss_label("elb", "adaptive") == "adaptive" and loss_label("enet", "ce") == "ce"
    assert loss_label("bisenet", "ce") == "ce + 1 x ce on each of 2 auxiliary outputs (aux_16, aux_8)"
    assert loss_label("icnet", "ce") == "ce + 0.4 x ce on each of 2 auxiliary outputs (sub24, sub4)"
    assert loss_label("portraitnet", "ce") == "ce + 0.1 x boundary focal loss on the auxiliary output boundary"
    assert loss_label("not-a-model", "ce") == "ce"
    rows = [r.replace("enet,ENet,ce,True", "portraitnet,PortraitNet,ce,True") for r in SYNTHETIC_ROWS[:3]]
    paths = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "out", FOOTER, SYNTHETIC_ONLY)}
    _, t1 = _csv(paths["table1.csv"])
    assert next(r for r in t1 if r["model"] == "portraitnet")["loss"].startswith("ce + 0.1 x boundary focal loss")
    md = paths["table1.md"].read_text(encoding="utf-8")
    assert "PortraitNet: ce + 0.1 x boundary focal loss" in md and "ELB (ours): adaptive" in md
    # the PortraitNet footnote states the training size the results record, not a literal
    assert "203.2 FPS at 224x224" in md and "re-trained here at 128x128" not in md
    sized = [r.replace(",3,poly,smoke,", ",3,poly,smoke,") for r in rows]
    header = HEADER.replace(",epochs,", ",size,epochs,")
    path = tmp_path / "sized.csv"
    path.write_text("\n".join([header, *[r.replace(",71.5,3,", ",71.5,128,3,").replace(",65.0,3,", ",65.0,128,3,")
                                         .replace(",68.25,3,", ",68.25,128,3,") for r in sized]]) + "\n")
    md = next(p for p in _write(path, tmp_path / "sized", FOOTER, SYNTHETIC_ONLY)
              if p.name == "table1.md").read_text(encoding="utf-8")
    assert "ours is re-trained here at 128x128 (smoke profile)" in md


def test_footer_says_which_runs_predate_the_stamped_commit(tmp_path: Path) -> None:
    rows = [r.replace(",runs/elb-a", ",runs/smoke/synthetic/elb").replace(",runs/enet", ",runs/smoke/synthetic/enet")
            for r in SYNTHETIC_ROWS]
    results = _results(tmp_path, rows)
    for run, config in (("elb", {"model": "elb"}), ("enet", {"model": "enet", "commit": "0ld0ld0"})):
        folder = tmp_path / "runs" / "synthetic" / run  # where run-all records a finished run beside results.csv
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
    text = next(p for p in _write(results, tmp_path / "out", FOOTER, SYNTHETIC_ONLY)
                if p.name == "table1.md").read_text(encoding="utf-8")
    assert "Runs that predate commit stamping: ELB (ours) record no commit" in text
    assert "not known to be the commit above (abc1234)" in text
    assert "Runs trained at another commit than abc1234: ENet (0ld0ld0)." in text
    assert "Tables written from these results" not in text  # a rebuild must not depend on the commit it runs at
    same = {**FOOTER, "git_commit": "0ld0ld0"}
    (tmp_path / "runs" / "synthetic" / "elb" / "config.json").write_text(json.dumps({"commit": "0ld0ld0"}))
    text = next(p for p in _write(results, tmp_path / "same", same, SYNTHETIC_ONLY)
                if p.name == "table2.md").read_text(encoding="utf-8")
    assert "Every run's config.json records commit 0ld0ld0." in text and "predate" not in text


def test_published_weights_join_table1_as_rescored_rows(tmp_path: Path) -> None:
    rows = [r.replace(",synthetic,synthetic,", ",pfcn,pfcn-official,") for r in SYNTHETIC_ROWS]
    manifest = {"name": "sinet-eg1800", "model": "sinet", "paper_name": "SINet", "params": 86910,
                "dataset": {"name": "eg1800"}, "preprocess": {"size": [224, 224]},
                "source": {"repository": "https://example.org/x"},
                "metrics": {"dataset": "pfcn-official", "images": 264, "miou": 93.711, "boundary_f": 75.271,
                            "miou_native": 93.688}}
    elsewhere = {**manifest, "name": "other", "metrics": {**manifest["metrics"], "dataset": "another-set"}}
    datasets = {"pfcn": "pfcn-official", "pseg": None}
    paths = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "out", FOOTER, datasets,
                                             published=[manifest, elsewhere])}
    _, t1 = _csv(paths["table1.csv"])
    pub = [r for r in t1 if r["row"] == "published weights, re-scored here"]
    assert [r["method"] for r in pub] == ["SINet (published weights)"]  # the one scored on another set is left out
    assert (pub[0]["miou_pfcn_ours"], pub[0]["miou_native_pfcn_ours"]) == ("93.711", "93.688")
    assert pub[0]["miou_pseg_ours"] == NOT_RUN and "not trained here" in pub[0]["note"]
    assert "published-weights rows" in paths["table1.md"].read_text(encoding="utf-8")
    assert pub[0]["fps_ours"] == ""  # no speed table: not timed
    # with one, timed like the trained rows: at 512 and at the 224 the authors' code feeds
    speed = tmp_path / "speed.csv"
    speed.write_text("model,backend,precision,threads,size,status,fps,fps_iqr,runs,device_name\n"
                     "sinet,eager,fp32,2,512,ok,21.5,1.0,20,AMD EPYC\n"
                     "sinet,eager,fp32,2,224,ok,80.25,2.0,20,AMD EPYC\n")
    timed = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "timed",
                                             {**FOOTER, "device": "cpu (AMD EPYC)"}, datasets,
                                             published=[manifest], speed_csv=speed)}
    _, t1 = _csv(timed["table1.csv"])
    pub = next(r for r in t1 if r["row"] == "published weights, re-scored here")
    assert (float(pub["fps_ours"]), float(pub["fps_train_size_ours"])) == (21.5, 80.25)
    assert "their training-size FPS at 224x224" in timed["table1.md"].read_text(encoding="utf-8")


def test_table1_carries_bootstrap_intervals_and_portrait_iou_from_per_image_records(tmp_path: Path) -> None:
    truth = synthetic_masks(n=30)
    scores = {}
    for model, flip, seed in (("elb", 0.03, 1), ("enet", 0.2, 2), ("sinet", 0.05, 3)):
        folder = tmp_path / "runs" / "pfcn" / model  # the record run-all keeps beside results.csv
        folder.mkdir(parents=True)
        scores[model] = model_csv(folder / "metrics_per_image.csv", truth, flip, seed)
    rows = [f"{m},{name},{loss},True,pfcn,pfcn-official,80,30,350000,2.0,20.0,1.0,cpu x2,"
            f"{100 * scores[m]['miou'] if m in scores else 90.0},1,1,60.0,3,poly,cpu,runs/cpu/pfcn/{m}"
            for m, name, loss in (("elb", "ELB (ours)", "adaptive"), ("enet", "ENet", "ce"),
                                  ("erfnet", "ERFNet", "ce"), ("sinet", "SINet", "ce-edge"))]
    paths = {p.name: p for p in _write(_results(tmp_path, rows), tmp_path / "out", FOOTER,
                                             {"pfcn": "data/pfcn", "pseg": None, "synthetic": None})}
    _, body = _csv(paths["table1.csv"])
    by = {r["model"]: r for r in body if r["model"]}
    for m in scores:
        lo, point, hi = (float(by[m][k]) for k in ("miou_pfcn_lo_ours", "miou_pfcn_ours", "miou_pfcn_hi_ours"))
        assert lo < point < hi and hi - lo < 10
        assert float(by[m]["portrait_iou_pfcn_ours"]) == pytest.approx(100 * scores[m]["portrait_iou_mean"])
    assert float(by["enet"]["miou_pfcn_hi_ours"]) < float(by["elb"]["miou_pfcn_lo_ours"])  # far apart: no overlap
    assert by["erfnet"]["miou_pfcn_lo_ours"] == "" and by["sinet"]["row"] == "beyond the paper"
    header, *cells = _md_table(paths["table1.md"].read_text(encoding="utf-8"))
    md = {row[0]: dict(zip(header, row, strict=True)) for row in cells}
    ci = "mIoU PFCN 95 % CI (ours)"
    assert header.index(ci) == header.index("mIoU PFCN (ours)") + 1
    assert md["ERFNet"][ci] == "—" and md["ELB (ours)"][ci].startswith("[") and md["ELB (ours)"][ci].endswith("]")
    lo, hi = (float(v) for v in md["ELB (ours)"][ci].strip("[]").split(", "))
    assert lo <= float(md["ELB (ours)"]["mIoU PFCN (ours)"]) <= hi
    assert md["SINet"]["Row"] == "beyond the paper"
    text = paths["table1.md"].read_text(encoding="utf-8")
    assert "95 % CI: percentile interval of the mIoU over 1000 paired bootstrap resamples of the 30" in text
    assert "SINet: ce-edge" in text and "Lovász hinge" in text
    significance = paths["significance.md"].read_text(encoding="utf-8")
    assert "| elb | enet |" in significance and "Not included (no per-image record kept): ERFNet." in significance
    # without any per-image record the tables keep their old columns and no significance file is written
    plain = {p.name for p in _write(_results(tmp_path, SYNTHETIC_ROWS), tmp_path / "plain", FOOTER,
                                          SYNTHETIC_ONLY)}
    assert "significance.md" not in plain


def test_fps_come_from_the_interleaved_speed_table_on_the_runs_device(tmp_path: Path) -> None:
    header = HEADER.replace(",epochs,", ",size,epochs,")  # trained at 128
    results = tmp_path / "results.csv"
    results.write_text("\n".join([header, *(r.replace(",3,poly,", ",128,3,poly,") for r in SYNTHETIC_ROWS)]) + "\n")
    speed = tmp_path / "speed.csv"
    lines = ["model,backend,precision,threads,size,status,fps,fps_iqr,runs,device_name"]
    for threads, scale in ((1, 1.0), (2, 2.0)):
        lines += [f"elb,eager,fp32,{threads},512,ok,{7.04 * scale},0.5,20,AMD EPYC",
                  f"elb,eager,fp32,{threads},128,ok,{60.0 * scale},3.0,20,AMD EPYC",
                  f"elb,onnxruntime,fp32,{threads},512,ok,99.0,1.0,20,AMD EPYC"]
    speed.write_text("\n".join(lines) + "\n")
    footer = {**FOOTER, "device": "cpu (AMD EPYC)", "FPS back end": "run-all's own"}
    paths = {p.name: p for p in _write(results, tmp_path / "out", footer, SYNTHETIC_ONLY, speed_csv=speed)}
    _, body = _csv(paths["table1.csv"])
    elb = next(r for r in body if r["model"] == "elb")
    assert (float(elb["fps_ours"]), float(elb["fps_train_size_ours"])) == (14.08, 120.0)  # eager fp32, 2 threads
    enet = next(r for r in body if r["model"] == "enet")
    assert enet["fps_ours"] == "" and enet["fps_train_size_ours"] == ""  # not in the speed table: no other timing
    header_md, *cells = _md_table(paths["table1.md"].read_text(encoding="utf-8"))
    md = {row[0]: dict(zip(header_md, row, strict=True)) for row in cells}
    assert md["ELB (ours)"]["FPS 512 (ours, eager fp32, 2 threads)"] == "14.1 ± 0.5"
    assert md["ELB (ours)"]["FPS at the training size (ours, same back end)"] == "120.0 ± 3.0"
    text = paths["table1.md"].read_text(encoding="utf-8")
    assert "interleaved protocol of speed.md" in text and "FPS back end" not in text
    # measured on another machine: run-all's own timing stays, and says so
    other = {p.name: p for p in _write(results, tmp_path / "other", {**FOOTER, "device": "cpu (Intel)"},
                                             SYNTHETIC_ONLY, speed_csv=speed)}
    _, body = _csv(other["table1.csv"])
    assert float(next(r for r in body if r["model"] == "elb")["fps_ours"]) == 14.23
    assert "interleaved protocol" not in other["table1.md"].read_text(encoding="utf-8")
    # unless asked for: then the table is taken, and its columns and footer name the machine it was timed on
    taken = {p.name: p for p in _write(results, tmp_path / "taken", {**FOOTER, "device": "cpu (Intel)"},
                                             SYNTHETIC_ONLY, speed_csv=speed, speed_any_device=True)}
    _, body = _csv(taken["table1.csv"])
    assert float(next(r for r in body if r["model"] == "elb")["fps_ours"]) == 14.08
    text = taken["table1.md"].read_text(encoding="utf-8")
    assert "FPS 512 (ours, eager fp32, 2 threads, AMD EPYC)" in text
    assert "measured on AMD EPYC, not on the machine that trained the models (cpu (Intel))" in text


def test_extra_seeds_give_a_spread_and_leave_the_main_row_at_the_profiles_seed(tmp_path: Path) -> None:
    header = HEADER + ",seed"
    elb = SYNTHETIC_ROWS[0]
    rows = [elb + ",0", SYNTHETIC_ROWS[1] + ",0", SYNTHETIC_ROWS[2] + ",0",
            elb.replace(",91.23,", ",91.63,").replace("runs/elb-a", "runs/elb-a-seed1") + ",1",
            elb.replace(",91.23,", ",90.83,").replace("runs/elb-a", "runs/elb-a-seed2") + ",2"]
    results = tmp_path / "results.csv"
    results.write_text("\n".join([header, *rows]) + "\n")
    paths = {p.name: p for p in _write(results, tmp_path / "out", FOOTER, SYNTHETIC_ONLY)}
    _, body = _csv(paths["table1.csv"])
    row = next(r for r in body if r["model"] == "elb")
    assert float(row["miou_synthetic_ours"]) == 91.23  # seed 0's, not the last row's
    assert float(row["miou_synthetic_seeds_mean_ours"]) == pytest.approx(91.23)
    assert float(row["miou_synthetic_seeds_std_ours"]) == pytest.approx(0.4)
    assert row["miou_synthetic_seeds_count_ours"] == "3"
    assert next(r for r in body if r["model"] == "enet")["miou_synthetic_seeds_mean_ours"] == ""
    header_md, *cells = _md_table(paths["table1.md"].read_text(encoding="utf-8"))
    md = {r[0]: dict(zip(header_md, r, strict=True)) for r in cells}
    assert md["ELB (ours)"]["mIoU synthetic over seeds, mean ± sd (ours)"] == "91.23 ± 0.40 (3 seeds)"
    assert "ELB (ours) 3 seeds" in paths["table1.md"].read_text(encoding="utf-8")
    _, ablation = _csv(paths["ablation.csv"])
    assert all("seed" not in r["method"] for r in ablation)


def test_a_job_still_training_is_a_row_that_says_how_far_it_got(tmp_path: Path) -> None:
    """run-all --no-train writes unfinished jobs with their record's status; Table 1 shows it, never a gap."""
    from bench.runall.run import run_status
    from bench.runs.folder import write_log

    record = tmp_path / "runs" / "pfcn" / "icnet"
    record.mkdir(parents=True)
    assert run_status(record, 100) == NOT_RUN
    write_log(record, [{"epoch": e, "loss": 0.5, "test_miou": 0.8812 if e == 10 else ""} for e in range(1, 13)])
    status = run_status(record, 100)
    assert status == "training: epoch 12 of 100, test mIoU 88.12 at epoch 10"
    header = HEADER + ",status"
    rows = [r.replace(",synthetic,synthetic,80,20,", ",pfcn,pfcn,1291,264,") + ",finished" for r in SYNTHETIC_ROWS[:3]]
    rows.append(f"icnet,ICNet,ce,True,pfcn,pfcn,1291,264,6698566,3.59,,,cpu,,,,,100,poly,paper,{record},\"{status}\"")
    path = tmp_path / "results.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    paths = {p.name: p for p in _write(path, tmp_path / "out", FOOTER,
                                                {"pfcn": "data/pfcn", "pseg": None, "synthetic": None})}
    _, body = _csv(paths["table1.csv"])
    icnet = next(r for r in body if r["model"] == "icnet")
    assert icnet["row"] == status and icnet["miou_pfcn_ours"] == ""
    assert next(r for r in body if r["model"] == "elb")["row"] == "measured"
    assert f"| ICNet | {status} |" in paths["table1.md"].read_text(encoding="utf-8")
