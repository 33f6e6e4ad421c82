"""The executor's priority slots, and the executor role on the in-memory transport."""

from __future__ import annotations

import asyncio

import pytest

from a2a_fast.agents.executor import PrioritySlots


def test_priority_slots_serve_high_first_and_keep_a_slot_from_low() -> None:
    async def scenario() -> list[str]:
        slots = PrioritySlots(3, reserved=1)
        order: list[str] = []
        await slots.acquire(0)
        await slots.acquire(0)  # LOW now holds every slot it may have
        assert slots.in_use == 2

        async def job(name: str, level: int) -> None:
            await slots.acquire(level)
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(job(f"low{n}", 0)) for n in range(3)]
        await asyncio.sleep(0)
        assert slots.waiting == 3 and order == []
        await asyncio.create_task(job("high", 2))  # the reserved slot, at once
        await asyncio.create_task(job("normal", 1))  # ahead of the LOW waiters
        assert order == ["high", "normal"] and slots.waiting == 3
        slots.release()
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["high", "normal", "low0", "low1", "low2"]
    with pytest.raises(ValueError, match="reserved 2"):
        PrioritySlots(2, reserved=2)
