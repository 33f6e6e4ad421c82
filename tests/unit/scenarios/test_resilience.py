"""The resilience scenarios (tests/scenarios/resilience.py) on the in-memory transport."""

from __future__ import annotations

import pytest

from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Scenario, fresh_mesh, resilience, run_strict

SCENARIOS = [getattr(resilience, name) for name in resilience.__all__]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(scenario: Scenario) -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
