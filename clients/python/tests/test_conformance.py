"""The shared conformance scenarios (clients/conformance), run by the blocking and the asyncio client."""
from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from conformance_runner import CONTROL_URL, SERVICE_URL, SERVICES, AsyncAdapter, SyncAdapter, load_scenarios, run_scenario

pytestmark = pytest.mark.skipif(not SERVICE_URL, reason="LOCK_SERVICE_URL is not set: `npm test` runs these against a real service")

SCENARIOS = load_scenarios()


@pytest.fixture(scope="module", params=[SyncAdapter, AsyncAdapter], ids=["sync", "asyncio"])
def adapter(request: pytest.FixtureRequest) -> Iterator[Any]:
    made = request.param()
    yield made
    made.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario["name"] for scenario in SCENARIOS])
def test_scenario(adapter: Any, scenario: Dict[str, Any]) -> None:
    if "needs" in scenario and not CONTROL_URL:
        pytest.skip(f"needs LOCK_CONFORMANCE_CONTROL_URL (the harness's control of the {scenario['needs']})")
    if "service" in scenario and scenario["service"] not in SERVICES:
        pytest.skip(f"needs the service {scenario['service']!r} in LOCK_CONFORMANCE_SERVICES")
    run_scenario(adapter, scenario)
