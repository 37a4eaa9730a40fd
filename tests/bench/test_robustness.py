"""The robustness suite: each perturbation on a small photo whose subject is known (the mask follows the geometry, a
seed gives the same bytes, severities are ordered), the suite over a tiny dataset with a model and a peer, the
perturbed sets written as datasets, and `bench robustness`'s one-line errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.data.format import read_dataset
from bench.data.framing import background_plate
from bench.data.preprocess import Preprocess
from bench.deploy.predict import labels
from bench.robustness.perturb import KINDS, LEVELS, PERTURBATIONS, SEVERITIES, perturb, table_markdown
from bench.robustness.progress import JOURNAL
from bench.robustness.suite import CLEAN, Entrant, RobustnessError, run_suite, set_names
from bench.robustness.summary import (
    HEATMAP,
    INFO_JSON,
    PAIRS_MD,
    SETS_CSV,
    SUMMARY_CSV,
    SUMMARY_MD,
    drop_intervals,
    summary_rows,
    with_recorded,
    write_reports,
)
from tests.bench.helpers import BrightPredictor

GEOMETRIC = [k for k, p in PERTURBATIONS.items() if p.geometric]
PHOTOMETRIC = [k for k, p in PERTURBATIONS.items() if not p.geometric]
RED = np.array([220, 40, 40], np.uint8)


def subject_photo(h: int = 240, w: int = 180, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red head-and-shoulders blob running out of the bottom edge, on a textured blue-grey room."""
    rng = np.random.default_rng(seed)
    rgb = np.stack([rng.integers(40, 90, (h, w)), rng.integers(60, 120, (h, w)), rng.integers(120, 200, (h, w))],
                   axis=2).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 6, h // 6), 0, 0, 360, 1, -1)  # head
    cv2.ellipse(mask, (w // 2, h), (w // 3, h // 4), 0, 0, 360, 1, -1)  # shoulders, cut by the bottom edge
    rgb[mask == 1] = RED
    return rgb, mask


def redness(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0].astype(np.int16) - rgb[..., 2].astype(np.int16) > 60


def test_the_table_has_three_severities_for_each_of_the_twelve_kinds():
    assert len(KINDS) == 12 and set(SEVERITIES) == set(KINDS)
    assert all(len(levels) == 3 for levels in SEVERITIES.values())
    assert table_markdown().count("\n") == 2 + len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seed_gives_the_same_bytes_and_masks_keep_their_values(kind):
    rgb, mask = subject_photo()
    for level in LEVELS:
        a, ma = perturb(kind, level, rgb, mask, seed=3, sample_id="p1")
        b, mb = perturb(kind, level, rgb, mask, seed=3, sample_id="p1")
        assert a.dtype == np.uint8 and a.tobytes() == b.tobytes() and ma.tobytes() == mb.tobytes()
        assert a.shape[:2] == ma.shape and set(np.unique(ma)) <= {0, 1, 255}
        assert not np.array_equal(a, rgb)  # it does something
    assert (rgb == subject_photo()[0]).all()  # pure: the input is left as it was


def test_a_seed_or_a_photo_changes_the_random_draws():
    rgb, mask = subject_photo()
    noisy = [perturb("noise", 2, rgb, mask, seed=s, sample_id=i)[0] for s, i in ((0, "a"), (1, "a"), (0, "b"))]
    assert not np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], noisy[2])


@pytest.mark.parametrize("kind", PHOTOMETRIC)
def test_photometric_kinds_keep_the_mask_and_grow_with_severity(kind):
    rgb, mask = subject_photo()
    change = []
    for level in LEVELS:
        out, m = perturb(kind, level, rgb, mask, seed=0, sample_id="p")
        assert m is mask or np.array_equal(m, mask)
        change.append(float(np.abs(out.astype(np.float32) - rgb).mean()))
    assert change[0] < change[1] < change[2], change


def test_more_noise_at_three_than_at_one():
    flat = np.full((64, 64, 3), 128, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    std = [perturb("noise", lv, flat, mask, 0, "f")[0].astype(np.float32).std() for lv in LEVELS]
    assert 2 < std[0] < std[1] < std[2]


@pytest.mark.parametrize("kind", GEOMETRIC)
def test_the_mask_follows_the_moved_subject(kind):
    rgb, mask = subject_photo()
    for level in LEVELS:
        out, moved = perturb(kind, level, rgb, mask, seed=0, sample_id="p")
        red = redness(out)
        inside, outside = red[moved == 1], red[moved == 0]
        assert inside.mean() > 0.9, (kind, level, inside.mean())  # the subject is where the mask says
        assert outside.mean() < 0.03, (kind, level, outside.mean())  # and nowhere else (the plate has no person)


def test_each_geometry_moves_the_subject_as_it_says():
    rgb, mask = subject_photo()
    h, w = mask.shape
    area = int(mask.sum())

    def cx(m):
        return float(np.nonzero(m)[1].mean())

    zoomed = [perturb("zoom_out", lv, rgb, mask, 0, "p")[1] for lv in LEVELS]
    for lv, m in zip(LEVELS, zoomed, strict=True):
        scale = SEVERITIES["zoom_out"][lv - 1]["scale"]
        assert m.shape == (h, w) and m.sum() == pytest.approx(area * scale**2, rel=0.1)
        assert m[-1].any()  # still leaves the frame at the bottom
    off = [perturb("off_centre", lv, rgb, mask, 0, "p")[1] for lv in LEVELS]
    shifts = [abs(cx(m) - cx(mask)) for m in off]
    assert shifts[0] < shifts[1] < shifts[2] and shifts[0] > 0.1 * w
    wide = [perturb("landscape", lv, rgb, mask, 0, "p")[1] for lv in LEVELS]
    assert all(m.shape == (h, round(h * 16 / 9)) for m in wide)
    assert all(cx(m) == pytest.approx((m.shape[1] - 1) / 2, abs=2) for m in wide)
    assert wide[0].sum() > wide[1].sum() > wide[2].sum()
    turned = perturb("rotation", 2, rgb, mask, 0, "p")[1]
    assert turned.shape == (h, w) and not np.array_equal(turned, mask)
    assert turned.sum() == pytest.approx(area, rel=0.15)


def test_ignore_pixels_move_with_the_photo():
    rgb, mask = subject_photo()
    mask = mask.copy()
    mask[100:104, 80:84] = 255
    out = perturb("zoom_out", 1, rgb, mask, 0, "p")[1]
    assert 0 < (out == 255).sum() < 16


def test_the_background_plate_holds_no_subject():
    rgb, mask = subject_photo()
    plate = background_plate(rgb, mask)
    assert plate.shape == rgb.shape and redness(plate).mean() < 0.01


# -- the suite ----------------------------------------------------------------------------------------------------
def bright_entrant() -> Entrant:
    predictor = BrightPredictor()
    return Entrant("bright", "portrait = bright",
                   lambda _sets, _sid, images: labels(predictor, images, Preprocess((32, 32))))


def test_the_suite_scores_a_model_and_a_peer_and_writes_the_sets(portrait_data, tmp_path):
    kinds = ["noise", "zoom_out", "landscape"]
    sets_dir, out = tmp_path / "sets", tmp_path / "out"
    results = run_suite([bright_entrant()], portrait_data, out, kinds=kinds, limit=3, write_datasets=sets_dir)
    sets = set_names(kinds)
    assert list(results["bright"]) == sets == [CLEAN, "noise-1", "noise-2", "noise-3", "zoom_out-1", "zoom_out-2",
                                                 "zoom_out-3", "landscape-1", "landscape-2", "landscape-3"]
    clean = json.loads((out / "bright" / "clean.json").read_text())
    assert clean["images"] == 3 and clean["miou"] > 0.6 and clean["set"] == CLEAN
    assert len((out / "bright" / "landscape-3_per_image.csv").read_text().splitlines()) == 4
    # every set is a portrait dataset of the perturbed photos: a peer answering the truth scores 100 everywhere
    peer = tmp_path / "peer"
    for s in sets:
        ds = read_dataset(sets_dir / s)
        assert ds.ids("test") == ["s008", "s009", "s010"]
        (peer / s).mkdir(parents=True)
        for sid in ds.ids("test"):
            cv2.imwrite(str(peer / s / f"{sid}.png"), (ds.load_mask(sid) == 1).astype(np.uint8) * 255)
    wide = read_dataset(sets_dir / "landscape-1").load_image("s008")
    assert wide.shape[1] == round(wide.shape[0] * 16 / 9)
    both = run_suite([bright_entrant()], portrait_data, out, kinds=kinds, limit=3, peers={"oracle": peer},
                     rescore=True)
    assert all(both["oracle"][s]["miou"] == 1.0 for s in sets)
    assert both["bright"]["noise-2"]["miou"] == results["bright"]["noise-2"]["miou"]  # seeded: the same scores
    rows = {r["model"]: r for r in summary_rows(both)}
    assert rows["oracle"]["drop"] == 0.0 and rows["oracle"]["clean_miou"] == 100.0
    assert rows["bright"]["worst"] in kinds and set(kinds) <= set(rows["bright"])
    b = rows["bright"]  # the drop split by group: noise is photometric, zoom-out and landscape geometric
    assert b["drop_photometric"] == pytest.approx(b["clean_miou"] - b["noise"])
    assert b["drop_geometric"] == pytest.approx(b["clean_miou"] - (b["zoom_out"] + b["landscape"]) / 2)
    assert b["drop"] == pytest.approx((b["drop_photometric"] + 2 * b["drop_geometric"]) / 3)
    paths = write_reports(out, both)
    assert {p.name for p in paths} >= {SUMMARY_MD, PAIRS_MD, SUMMARY_CSV, SETS_CSV, HEATMAP}
    assert "| oracle | 100.00 | 100.00 | 0.00 | [0.00, 0.00] |" in (out / SUMMARY_MD).read_text()
    # the intervals come from the per-image records: the bright model's drop sits inside its own, and its drop
    # differs from the oracle's exactly as the points say
    ci = drop_intervals(both, resamples=200)
    bright = ci["models"]["bright"]
    assert bright["drop_lo"] <= rows["bright"]["drop"] <= bright["drop_hi"] and bright["drop_lo"] < bright["drop_hi"]
    assert bright["clean_lo"] <= rows["bright"]["clean_miou"] <= bright["clean_hi"]
    (pair,) = ci["pairs"]
    assert (pair["a"], pair["b"]) == ("bright", "oracle") and pair["diff"] == pytest.approx(rows["bright"]["drop"])
    assert "| bright | oracle |" in (out / PAIRS_MD).read_text()
    assert len((out / SETS_CSV).read_text().splitlines()) == 1 + 2 * len(sets)
    # a run restricted to one group of kinds (--kinds noise) says the other group's drop was not scored
    photometric = {m: {s: v for s, v in r.items() if not s.startswith(("zoom_out", "landscape"))}
                   for m, r in both.items()}
    write_reports(tmp_path / "photometric", photometric)
    text = (tmp_path / "photometric" / SUMMARY_MD).read_text()
    assert "| oracle | 100.00 | 100.00 | 0.00 | [0.00, 0.00] | 0.00 | none scored |" in text and "nan" not in text
    assert json.loads((tmp_path / "photometric" / INFO_JSON).read_text())["summary"][0]["drop_geometric"] is None


def counting_entrant(name: str, calls: list[str]) -> Entrant:
    inner = bright_entrant()

    def predict(sets, sid, images):
        calls.append(sid)
        return inner.predict(sets, sid, images)

    return Entrant(name, "portrait = bright", predict)


def test_a_rerun_reuses_complete_records_and_the_report_covers_earlier_runs(portrait_data, tmp_path):
    kinds, out, calls = ["jpeg"], tmp_path / "out", []
    first = run_suite([counting_entrant("a", calls)], portrait_data, out, kinds=kinds, limit=2)
    assert calls == ["s008", "s009"]
    calls.clear()
    again = run_suite([counting_entrant("a", calls), counting_entrant("b", calls)], portrait_data, out, kinds=kinds,
                      limit=2)
    assert calls == ["s008", "s009"]  # b scored; a read from its records
    assert again["a"]["jpeg-2"]["miou"] == first["a"]["jpeg-2"]["miou"]
    calls.clear()
    run_suite([counting_entrant("a", calls)], portrait_data, out, kinds=kinds, limit=2, seed=1)
    assert calls == ["s008", "s009"]  # another seed: other photos, scored again
    (out / "b" / "jpeg-3.json").unlink()  # a model stopped half-way is scored again
    calls.clear()
    run_suite([counting_entrant("b", calls)], portrait_data, out, kinds=kinds, limit=2)
    assert calls == ["s008", "s009"]
    only_b = run_suite([counting_entrant("b", calls)], portrait_data, out, kinds=kinds, limit=2)
    assert len(calls) == 2
    assert set(with_recorded(out, only_b)) == {"b"}  # a's records are seed 1's now: not in seed 0's table
    b_seed1 = run_suite([counting_entrant("b", calls)], portrait_data, out, kinds=kinds, limit=2, seed=1)
    assert set(with_recorded(out, b_seed1)) == {"a", "b"}


class Killed(Exception):
    pass


def test_a_run_killed_half_way_continues_where_it_stopped_with_the_same_records(portrait_data, tmp_path):
    kinds, calls = ["jpeg", "rotation"], []
    whole = run_suite([counting_entrant("a", calls)], portrait_data, tmp_path / "whole", kinds=kinds, limit=3)
    out, calls = tmp_path / "out", []

    def dies_on_the_third(sets, sid, images):
        if len(calls) == 2:
            raise Killed
        return counting_entrant("a", calls).predict(sets, sid, images)

    with pytest.raises(Killed):
        run_suite([Entrant("a", "portrait = bright", dies_on_the_third)], portrait_data, out, kinds=kinds, limit=3)
    journal = out / "a" / JOURNAL
    assert calls == ["s008", "s009"] and len(journal.read_text().splitlines()) == 3  # header + two photos
    with open(journal, "a") as f:
        f.write('{"id": "s010", "rows": {"cle')  # the kill cut the third photo's line
    calls.clear()
    resumed = run_suite([counting_entrant("a", calls)], portrait_data, out, kinds=kinds, limit=3)
    assert calls == ["s010"] and not journal.exists()
    for s in set_names(kinds):
        assert {k: resumed["a"][s][k] for k in ("miou", "boundary_f", "confusion_matrix", "images")} == \
               {k: whole["a"][s][k] for k in ("miou", "boundary_f", "confusion_matrix", "images")}
        assert (out / "a" / f"{s}_per_image.csv").read_text() == (tmp_path / "whole" / "a" / f"{s}_per_image.csv"
                                                                  ).read_text()
    # another seed's journal is not resumed: its photos were perturbed otherwise
    with pytest.raises(Killed):
        calls.clear()
        run_suite([Entrant("a", "portrait = bright", dies_on_the_third)], portrait_data, out, kinds=kinds, limit=3,
                  seed=1)
    calls.clear()
    run_suite([counting_entrant("a", calls)], portrait_data, out, kinds=kinds, limit=3, seed=2)
    assert calls == ["s008", "s009", "s010"]


def test_a_peer_missing_a_set_is_one_clear_error(portrait_data, tmp_path):
    (tmp_path / "peer" / CLEAN).mkdir(parents=True)
    with pytest.raises(RobustnessError, match="missing; run the peer over every set"):
        run_suite([], portrait_data, None, kinds=["jpeg"], limit=1, peers={"p": tmp_path / "peer"})


def test_the_command_scores_a_run_with_a_limit(portrait_data, tiny_run, tmp_path):
    out = tmp_path / "r"
    r = CliRunner().invoke(main, ["robustness", "--model", str(tiny_run), "--data", str(portrait_data), "--limit",
                                  "2", "--kinds", "jpeg,rotation", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "clean mIoU" in r.output and "worst" in r.output
    assert (out / "r" / "rotation-3.json").is_file() and (out / HEATMAP).is_file()
    assert json.loads((out / "r" / "jpeg-1.json").read_text())["images"] == 2


@pytest.mark.parametrize(("args", "words"), [
    ([], "nothing to do: give --model, --peer or --write-datasets"),
    (["--model", "elb-pfcn", "--kinds", "fog"], "unknown perturbation 'fog'"),
    (["--peer", "mediapipe"], "expected NAME=DIR"),
    (["--model", "nope-such-model"], "nope-such-model: neither a zoo name"),
    (["--model", "elb"], "a registered model has random weights"),
    (["--model", "elb-pfcn", "--data", "missing"], "invalid portrait dataset"),
    (["--model", "elb-pfcn", "--limit", "0"], "--limit"),
    (["--peer", "p=missing"], "missing: no such peer folder"),
])
def test_bad_input_is_one_line(args, words, portrait_data, tmp_path):
    data = [] if "--data" in args else ["--data", str(portrait_data)]
    r = CliRunner().invoke(main, ["robustness", *args, *data, "--out", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code != 0 and words in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
