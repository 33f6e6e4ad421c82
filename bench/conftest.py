"""Shared conventions of the benchmarks.

Every case sets ``benchmark.group`` (one comparison) and ``benchmark.extra_info`` with ``impl`` (who
ran it: ``a2a_fast`` or the baseline's name) and ``items`` (messages handled per call), so that
``python -m bench.report`` can print per-item times and ratios against ``a2a_fast`` in the same run.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def tag(benchmark: Any) -> Any:
    """``tag(group, impl, items)`` labels the current benchmark for the report."""

    def label(group: str, impl: str, items: int = 1) -> None:
        benchmark.group = group
        benchmark.extra_info["impl"] = impl
        benchmark.extra_info["items"] = items

    return label
