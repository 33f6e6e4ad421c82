"""Prints the comparison table of a pytest-benchmark JSON file: ``python -m bench.report FILE``.

For each group the rows give the median time per item and how many times slower each baseline is
than a2a_fast in the same run (ratios, not absolute times, are what we hold ourselves to).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
