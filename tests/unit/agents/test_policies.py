"""The negotiation policies: the provider's pricing and the requester's budget, alone and against each other."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.agents.policies import BudgetPolicy, PricingPolicy


def test_provider_accepts_at_or_above_its_minimum() -> None:
    policy = PricingPolicy(markup=1.5, concession=0.5, max_rounds=3)
    assert policy.decide(100.0, 120.0, 1).action == "accept"
    assert policy.decide(100.0, 100.0, 1).price == 100.0


def test_provider_concedes_half_the_gap_each_round_then_rejects() -> None:
    policy = PricingPolicy(markup=1.5, concession=0.5, max_rounds=3)
    asks = [policy.decide(100.0, 10.0, n) for n in (1, 2, 3)]
    assert [(d.action, d.price) for d in asks] == [("counter", 150.0), ("counter", 125.0), ("counter", 112.5)]
    final = policy.decide(100.0, 10.0, 4)
    assert final.action == "reject" and final.reason == "no agreement after 3 rounds"
    assert policy.decide(100.0, None, 1).price == 150.0


def test_requester_accepts_within_budget_counters_at_midpoint_and_gives_up() -> None:
    policy = BudgetPolicy(max_rounds=3)
    assert policy.respond(20.0, 75.0, 1, budget=75.0).action == "accept"
    counter = policy.respond(20.0, 90.0, 1, budget=75.0)
    assert (counter.action, counter.price) == ("counter", 55.0)
    assert policy.respond(70.0, 200.0, 2, budget=75.0).price == 75.0  # midpoint capped at the budget
    assert policy.respond(20.0, 90.0, 3, budget=75.0).action == "reject"
    assert BudgetPolicy(budget=None).limit(42.0) == 42.0
    assert BudgetPolicy(budget=None).limit(None) == math.inf  # no price named: the provider's is accepted
    assert BudgetPolicy().respond(None, 106.25, 1, BudgetPolicy().limit(None)).action == "accept"


@given(minimum=st.floats(1, 1e6), offer=st.floats(0, 1e6), budget=st.floats(0, 1e6), rounds=st.integers(1, 8))
def test_negotiation_always_ends_within_the_round_limits(
    minimum: float, offer: float, budget: float, rounds: int
) -> None:
    provider, requester = PricingPolicy(max_rounds=rounds), BudgetPolicy(max_rounds=rounds)
    round_number, last = 0, offer
    while True:
        answer = provider.decide(minimum, last, round_number + 1)
        if answer.action != "counter":
            break
        round_number += 1
        assert answer.price is not None and answer.price >= minimum
        turn = requester.respond(last, answer.price, round_number, budget)
        if turn.action == "accept":
            assert answer.price <= budget
            break
        if turn.action == "reject":
            break
        assert turn.price is not None and turn.price <= budget
        last = turn.price
    assert round_number <= rounds


def test_policies_refuse_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="markup"):
        PricingPolicy(markup=0.5)
    with pytest.raises(ValueError, match="max_rounds"):
        BudgetPolicy(max_rounds=0)


BAD_RECORDS = [
    lambda h, v, k: (h[:-1], v, k),
    lambda h, v, k: (h, b"\x01" + v[1:], k),
    lambda h, v, k: (h, v[:5] + b"\xff", k),
    lambda h, v, k: (h, b"\x00\x00\x00\x00\x07" + v[5:], k),
    lambda h, v, k: (h, v, b"other"),
    lambda h, v, k: ([(n, b"a2a.other" if n == "ce_type" else x) for n, x in h], v, k),
    lambda h, v, k: ([], b"not json", k),
    lambda h, v, k: (h, v + bytes(400), k),  # over the limit below, when there is one
    lambda h, v, k: ([(n, b"2000-01-01T00:00:00.000Z" if n == "ce_time" else x) for n, x in h], v, k),
]
