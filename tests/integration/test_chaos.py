"""The short fault suite (``make chaos`` runs the long one): every kind of fault once or more, every task accounted.

Agents are processes of their own, killed with SIGKILL and restarted at once; the broker is restarted and the
registry stopped and started, on a private stack (``bench.chaos``). Nothing acknowledged may be lost, no task may
run to its end twice, and no agent may exit by itself; the same holds with every agent in transactions and the
message-id dedupe off (``make chaos CHAOS_ARGS="--transactional --no-dedupe"``), here over fewer trials.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import Mode, ok, run, table


# Broker restarts take tens of seconds on a loaded machine: a bound on a hung run, not a timing assertion.
@pytest.mark.timeout(600)
def test_kills_and_restarts_lose_and_double_nothing(tmp_path: Path) -> None:
    report = run(6, tasks_per_trial=3, seed=14, out=tmp_path / "chaos.json", work_dir=tmp_path / "run")
    print(table(report))
    assert report["kills_total"] >= 1 and report["broker_restarts"] >= 1 and report["registry_restarts"] >= 1
    # A requester killed between an acknowledgement and its note of it submits one more after its restart.
    assert report["tasks"] >= report["acknowledged_requests"] >= report["tasks_submitted_target"]
    assert report["acknowledged_missing"] == []
    assert report["lost"] == 0 and report["open"] == {}
    assert report["doubled"] == []
    assert report["unplanned_exits"] == {}
    assert report["completed"] + report["rejected"] + report["failed"] == report["tasks"]
    assert ok(report)


@pytest.mark.timeout(600)
def test_in_transactions_without_dedupe_kills_and_restarts_lose_and_double_nothing(tmp_path: Path) -> None:
    mode = Mode(transactional=True, dedupe=False)
    report = run(3, tasks_per_trial=3, seed=15, out=tmp_path / "chaos.json", work_dir=tmp_path / "run", mode=mode)
    print(table(report))
    assert report["mode"] == {"transactional": True, "dedupe": False, "brokers": 1}
    assert report["kills_total"] >= 1 and report["broker_restarts"] >= 1 and report["registry_restarts"] >= 1
    assert report["tasks"] >= report["acknowledged_requests"] >= report["tasks_submitted_target"]
    assert report["acknowledged_missing"] == [] and report["lost"] == 0 and report["open"] == {}
    assert report["doubled"] == []
    assert report["unplanned_exits"] == {}
    assert report["completed"] + report["rejected"] + report["failed"] == report["tasks"]
    assert ok(report)
