"""Progress off a terminal: plain lines at the interval, a last line only after a run that printed any."""

from __future__ import annotations

import io

from bench.progress import Progress, rate_text


def test_a_task_shorter_than_the_interval_prints_nothing():
    out = io.StringIO()
    p = Progress(3, "job", "items", stream=out, interval=60)
    for _ in range(3):
        p.update(1, ok=1)
    p.close()
    assert out.getvalue() == ""


def test_lines_carry_counts_and_the_last_says_how_it_ended():
    out = io.StringIO()
    p = Progress(4, "job", "items", initial=1, stream=out, interval=0)
    p.update(1, ok=2, failed=0)
    p.update(1, failed=1)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("job: 2/4 items; ok 2, failed 0; 0m0")
    assert lines[1].startswith("job: 3/4 items; ok 2, failed 1;")
    assert lines[-1].endswith("stopped") and len(lines) == 3 and "\r" not in out.getvalue()


def test_disabled_prints_nothing():
    out = io.StringIO()
    p = Progress(2, "job", "items", enabled=False, stream=out, interval=0)
    p.update(2)
    p.close()
    assert out.getvalue() == ""


def test_the_last_line_can_say_how_it_ended_and_slow_rates_read():
    out = io.StringIO()
    p = Progress(2, "photos", "img", stream=out, interval=0)
    p.update(2)
    p.close("done, 1 skipped")
    assert out.getvalue().splitlines()[-1].endswith("; done, 1 skipped")
    assert (rate_text(12.34, "image", "images"), rate_text(0.26, "image", "images"),
            rate_text(0.0, "image", "images")) == ("12.3 images/s", "3.8 s/image", "no images")
