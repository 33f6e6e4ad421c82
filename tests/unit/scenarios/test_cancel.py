"""The cancel scenarios (tests/scenarios/cancel.py) on the in-memory transport."""

from __future__ import annotations

import pytest

from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Scenario, cancel, fresh_mesh, run_strict


@pytest.mark.parametrize("scenario", cancel.SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(scenario: Scenario) -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
