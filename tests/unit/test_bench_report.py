"""``bench/report.py`` draws the end-to-end plot from the results ``bench/test_e2e.py`` writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import draw, plot

E2E = {
    "relay": {
        "messages": 1000,
        "msgs_per_s": {
            "faststream": 1500,
            "plain_confluent_kafka": 100000,
            "a2a_fast": 40000,
            "faststream_batch": 8000,
        },
    },
    "lifecycles": {"tasks": 100, "lifecycles_per_s": 1500.5, "messages_per_s": 7502},
    "latency_10000_msgs_per_s": {
        "offered_msgs_per_s": 10000,
        "linger_ms": 1,
        "p50_ms": 250.0,
        "p99_ms": 500.0,
        "max_ms": 600.0,
    },
    "latency_1000_msgs_per_s": {
        "offered_msgs_per_s": 1000,
        "linger_ms": 1,
        "p50_ms": 6.0,
        "p99_ms": 25.0,
        "max_ms": 50.0,
        "plain_confluent_kafka": {"p50_ms": 5.0, "p99_ms": 20.0, "max_ms": 40.0},
    },
}


def test_the_figure_shows_each_relay_rate_and_each_latency_percentile() -> None:
    throughput, latency = draw(E2E).axes
    bars = {
        tick.get_text(): patch.get_width()
        for tick, patch in zip(throughput.get_yticklabels(), throughput.patches, strict=True)
    }
    assert bars == {impl: float(rate) for impl, rate in E2E["relay"]["msgs_per_s"].items()}
    assert throughput.get_yticklabels()[0].get_text() == "a2a_fast"
    labels = [text.get_text() for text in throughput.texts]
    assert "100,000  (0.40x)" in labels and "1,500  (26.67x)" in labels and "40,000" in labels
    # bars per percentile, cases by offered load, each with the baseline measured beside it:
    # p50 of 1k (a2a_fast, plain) and 10k, then p99 of the three, then max
    heights = [patch.get_height() for patch in latency.patches]
    assert heights == [6.0, 5.0, 250.0, 25.0, 20.0, 500.0, 50.0, 40.0, 600.0]
    assert [tick.get_text() for tick in latency.get_xticklabels()] == [
        "a2a_fast\n1,000 msg/s, linger 1 ms",
        "plain_confluent_kafka\n1,000 msg/s, linger 1 ms",
        "a2a_fast\n10,000 msg/s, linger 1 ms",
    ]


def test_results_without_a_case_to_draw_are_refused() -> None:
    with pytest.raises(ValueError, match="no relay throughput and no latency case"):
        draw({"lifecycles": E2E["lifecycles"]})


def test_the_report_writes_the_png_beside_the_results(tmp_path: Path) -> None:
    (tmp_path / "e2e.json").write_text(json.dumps(E2E))
    (tmp_path / "latest.json").write_text(json.dumps({"benchmarks": []}))
    run = subprocess.run(
        [sys.executable, "-m", "bench.report", str(tmp_path / "latest.json")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    png = tmp_path / "e2e.png"
    assert f"written to {png}" in run.stdout
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (13 * 110, int(5.5 * 110))


def test_plot_writes_where_it_is_told(tmp_path: Path) -> None:
    source = tmp_path / "results.json"
    source.write_text(json.dumps({"relay": E2E["relay"]}))
    assert plot(source, tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
