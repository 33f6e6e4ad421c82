"""The control commands' tables and the cancel command's arguments."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from a2a_fast.cli import build_parser
from a2a_fast.cli.control import agent_table, table


def column_starts(header: str, names: Sequence[str]) -> list[int]:
    return [header.index(name) for name in names]


def test_agents_columns_stay_aligned_whatever_the_lengths() -> None:
    card = {"registered": True, "alive": True, "status": "IDLE", "type": "executor", "log": None}
    rows = [
        {**card, "agent_id": "e1", "capabilities": ["summarize"], "last_seen": "2026-11-21T11:30:00.000Z"},
        {
            **card,
            "agent_id": "executor-with-a-very-long-name-in-region-eu-west-1",
            "capabilities": ["summarize", "translate", "classify", "analyze", "transcribe-audio-to-text"],
            "last_seen": "2026-11-21T11:30:01.000Z",
        },
        {
            "agent_id": "cli-4f593d90",
            "registered": False,
            "log": {"roles": ["requester"], "messages": 12345, "open_tasks": ["t1", "t2"], "last_seen": "-"},
        },
    ]
    lines = agent_table(rows)
    names = ["AGENT", "STATE", "ROLES/TYPE", "CAPABILITIES", "MESSAGES", "OPEN", "LAST SEEN"]
    starts = column_starts(lines[0], names)
    assert starts == sorted(starts)
    for line in lines[1:]:
        cells = line.split()
        assert len(cells) == len(names), line
        # Left-aligned cells start under their heading; right-aligned numbers end under theirs.
        for name, cell, start in zip(names, cells, starts, strict=True):
            if name in ("MESSAGES", "OPEN"):
                assert line.index(f" {cell} ", start - 1) + 1 + len(cell) == start + len(name), (name, line)
            else:
                assert line[start : start + len(cell)] == cell, (name, line)
    assert lines[3].split()[1:4] == ["unregistered", "requester", "-"]


def test_tables_fit_their_widest_cell() -> None:
    assert table(("A", "LONG HEADING", "N"), [("x" * 20, "y", "7"), ("z", "w", "1234")], right=(2,)) == [
        "A                    LONG HEADING    N",
        "xxxxxxxxxxxxxxxxxxxx y               7",
        "z                    w            1234",
    ]


def test_cancel_takes_a_task_id_a_reason_and_a_wait_above_zero(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["cancel", "699b", "--reason", "no longer needed", "--max-wait", "5"])
    assert (args.task_id, args.reason, args.max_wait, args.json) == ("699b", "no longer needed", 5.0, False)
    assert build_parser().parse_args(["cancel", "699b"]).max_wait == 60.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["cancel", "699b", "--max-wait", bad])
    assert "'soon' is not a number of seconds" in capsys.readouterr().err
