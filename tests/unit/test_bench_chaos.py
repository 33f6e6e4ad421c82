"""``bench/chaos.py``'s plan of faults and modes (the suite itself runs in ``tests/integration/test_chaos.py``)."""

from __future__ import annotations

import random
import socket
from collections import Counter

import pytest

from a2a_fast.stack.services import free_ports
from bench.chaos import Mode, _schedule


@pytest.mark.parametrize(("trials", "share", "brokers"), [(100, 0.1, 10), (100, 0.25, 25), (12, 0.25, 3), (3, 0.1, 1)])
def test_every_trial_has_one_fault_and_a_share_of_them_hit_the_broker(trials: int, share: float, brokers: int) -> None:
    faults = Counter(_schedule(trials, random.Random(1), share))
    assert sum(faults.values()) == trials
    assert faults["broker"] == brokers
    assert faults["registry"] == max(1, round(trials / 10))
    assert faults["kill"] == trials - brokers - faults["registry"]


def test_each_mode_writes_its_own_results_file() -> None:
    modes = [Mode(), Mode(transactional=True, dedupe=False), Mode(brokers=3), Mode(transactional=True, brokers=3)]
    assert [mode.name for mode in modes] == ["default", "transactional-no-dedupe", "cluster", "cluster-transactional"]
    assert len({mode.results() for mode in modes}) == len(modes)
    assert Mode(brokers=3).agent_flags() == []


def test_a_run_of_free_ports_can_be_bound_together() -> None:
    base = free_ports(3)
    sockets = [socket.socket() for _ in range(3)]
    try:
        for offset, sock in enumerate(sockets):
            sock.bind(("127.0.0.1", base + offset))
    finally:
        for sock in sockets:
            sock.close()
