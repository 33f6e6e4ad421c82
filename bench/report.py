"""Prints the comparison table of a pytest-benchmark JSON file and plots the end-to-end results:
``python -m bench.report FILE``.

For each group the rows give the median time per item and how many times slower each baseline is
than a2a_fast in the same run (ratios, not absolute times, are what we hold ourselves to).

The end-to-end results beside ``FILE`` (``e2e.json``, written by ``bench/test_e2e.py``) are drawn to
``e2e.png`` in the same directory: the relay's throughput per implementation (a2a_fast, the plain
confluent-kafka loop, FastStream) with each one's ratio to a2a_fast, and the request→COMPLETED latency
percentiles of every latency case. Drawn with matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

E2E_RESULTS = "e2e.json"
E2E_PLOT = "e2e.png"
# The relay's implementations in the order they are drawn; any other found in the results follows them.
RELAY_ORDER = ("a2a_fast", "plain_confluent_kafka", "faststream", "faststream_batch")
PERCENTILES = (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max"))
OURS_COLOUR = "#d95f02"
OTHERS_COLOUR = "#7570b3"


def format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:8.3f} {unit}"
    return f"{seconds / 1e-9:8.1f} ns"


def summarise(data: dict) -> list[dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        items = int(info.get("items", 1))
        groups[bench["group"] or bench["name"]].append(
            {
                "impl": info.get("impl", bench["name"]),
                "per_item": bench["stats"]["median"] / items,
                "items": items,
                **{k: v for k, v in info.items() if k not in ("impl", "items")},
            }
        )
    rows = []
    for group, entries in sorted(groups.items()):
        ours = next((e["per_item"] for e in entries if e["impl"] == "a2a_fast"), None)
        for entry in sorted(entries, key=lambda e: e["per_item"]):
            ratio = entry["per_item"] / ours if ours else None
            rows.append({"group": group, **entry, "ratio_to_a2a_fast": ratio})
    return rows


def relay_rates(e2e: dict[str, Any]) -> list[tuple[str, float]]:
    """``(implementation, msgs/s)`` of the relay case, a2a_fast first."""
    rates = (e2e.get("relay") or {}).get("msgs_per_s") or {}
    order = [impl for impl in RELAY_ORDER if impl in rates] + sorted(set(rates) - set(RELAY_ORDER))
    return [(impl, float(rates[impl])) for impl in order]


def latency_cases(e2e: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """``(label, {p50, p99, max} in ms)`` of every latency case, by offered load then name."""
    cases = []
    for name, case in e2e.items():
        if not name.startswith("latency_") or not isinstance(case, dict):
            continue
        load = f"{int(case['offered_msgs_per_s']):,} msg/s"
        if "linger_ms" in case:
            load += f", linger {case['linger_ms']} ms"
        # a case carries its baselines, measured beside it in the same run, under their implementation's name
        for impl, figures in (
            (case.get("impl", "a2a_fast"), case),
            *((key, value) for key, value in sorted(case.items()) if isinstance(value, dict)),
        ):
            values = {short: float(figures[key]) for key, short in PERCENTILES if key in figures}
            cases.append((int(case["offered_msgs_per_s"]), name, f"{impl}\n{load}", values))
    return [(label, values) for _, _, label, values in sorted(cases)]


def draw(e2e: dict[str, Any]) -> Figure:
    """The figure of :func:`plot`: relay throughput on the left, latency percentiles on the right."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rates = relay_rates(e2e)
    latencies = latency_cases(e2e)
    if not rates and not latencies:
        raise ValueError("no relay throughput and no latency case in the end-to-end results")
    figure = Figure(figsize=(13, 5.5), layout="constrained")
    throughput, latency = figure.subplots(1, 2, width_ratios=(1, 1.3))

    if rates:
        _draw_throughput(throughput, rates, e2e.get("relay") or {})
    else:
        _nothing(throughput, "no relay case in the results")
    if latencies:
        _draw_latencies(latency, latencies)
    else:
        _nothing(latency, "no latency case in the results")
    lifecycles = e2e.get("lifecycles")
    if lifecycles:
        apart = e2e.get("lifecycles_each_role_in_its_own_process")
        and_apart = f", {apart['lifecycles_per_s']:,}/s with each role in its own process" if apart else ""
        figure.suptitle(
            f"a2a_fast end to end: {lifecycles['lifecycles_per_s']:,} task lifecycles/s "
            f"({lifecycles['messages_per_s']:,} msg/s) in one process{and_apart}"
        )
    return figure


def _nothing(axes: Any, why: str) -> None:
    axes.set_axis_off()
    axes.text(0.5, 0.5, why, ha="center", va="center")


def _draw_throughput(axes: Any, rates: list[tuple[str, float]], relay: dict[str, Any]) -> None:
    ours = dict(rates).get("a2a_fast")
    names = [impl for impl, _ in rates]
    values = [rate for _, rate in rates]
    bars = axes.barh(names, values, color=[OURS_COLOUR if impl == "a2a_fast" else OTHERS_COLOUR for impl in names])
    axes.invert_yaxis()
    labels = [
        f"{rate:,.0f}" + (f"  ({ours / rate:.2f}x)" if ours and impl != "a2a_fast" else "") for impl, rate in rates
    ]
    axes.bar_label(bars, labels=labels, padding=3)
    axes.set_xlim(0, max(values, default=1) * 1.35)
    axes.xaxis.set_major_formatter("{x:,.0f}")
    axes.set_xlabel("messages per second (more is better)")
    axes.set_title(f"Relay over Kafka, {relay.get('messages', '?'):,} messages\n(a2a_fast ÷ other in brackets)")


def _draw_latencies(axes: Any, cases: list[tuple[str, dict[str, float]]]) -> None:
    width = 0.8 / len(PERCENTILES)
    for index, (_, short) in enumerate(PERCENTILES):
        positions = [n + (index - (len(PERCENTILES) - 1) / 2) * width for n in range(len(cases))]
        heights = [values.get(short, 0.0) for _, values in cases]
        group = axes.bar(positions, heights, width, label=short)
        axes.bar_label(group, labels=[f"{h:g}" for h in heights], fontsize=8, padding=2)
    axes.set_xticks(range(len(cases)), [label for label, _ in cases], fontsize=7, rotation=35, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("request → COMPLETED, ms (less is better)")
    axes.set_title("Task latency under offered load")
    axes.legend()


def plot(e2e_path: Path, png_path: Path) -> Path:
    """Draws the end-to-end results of ``e2e_path`` to the PNG ``png_path``."""
    figure = draw(json.loads(e2e_path.read_text()))
    figure.savefig(png_path, dpi=110)
    return png_path


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "bench/results/latest.json")
    data = json.loads(path.read_text())
    # Per-round timings make the file megabytes long; the statistics are what we keep in the repo.
    for bench in data["benchmarks"]:
        bench["stats"].pop("data", None)
    path.write_text(json.dumps(data, indent=1) + "\n")
    rows = summarise(data)
    width = max((len(r["group"]) for r in rows), default=10)
    print(f"{'comparison':<{width}}  {'implementation':<22} {'per item':>12}  {'x a2a_fast':>10}")
    last = None
    for row in rows:
        group = row["group"] if row["group"] != last else ""
        last = row["group"]
        ratio = f"{row['ratio_to_a2a_fast']:9.2f}x" if row["ratio_to_a2a_fast"] else "         -"
        print(f"{group:<{width}}  {row['impl']:<22} {format_time(row['per_item'])}  {ratio}")
    summary = path.with_name(path.stem + "-summary.json")
    summary.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nsummary written to {summary}")
    e2e = path.with_name(E2E_RESULTS)
    if e2e.exists():
        print(f"plot of {e2e} written to {plot(e2e, e2e.with_name(E2E_PLOT))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
