"""The A2A scenarios (tests/scenarios/a2a.py) on the real broker and registry."""

from __future__ import annotations

import pytest

from a2a_fast.stack import Endpoints
from a2a_fast.transport import KafkaTransport
from tests.scenarios import Scenario, a2a, fresh_mesh, run_strict

SCENARIOS = [getattr(a2a, name) for name in a2a.__all__]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(endpoints: Endpoints, scenario: Scenario) -> None:
    with fresh_mesh(KafkaTransport(endpoints.kafka, endpoints.schema_registry)) as mesh:
        run_strict(lambda: scenario(mesh))
