"""The A2A scenarios (tests/scenarios/a2a.py) on the in-memory transport."""

from __future__ import annotations

import pytest

from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Scenario, a2a, fresh_mesh, run_strict

SCENARIOS = [getattr(a2a, name) for name in a2a.__all__]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(scenario: Scenario) -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
