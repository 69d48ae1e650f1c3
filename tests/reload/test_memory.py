"""memory.py: the size of a model and the room for a second one decide a re-init's order."""

import pytest

from handler_kit.reload import memory
from handler_kit.reload.memory import Footprint, Memory


def test_what_a_build_added_is_a_difference_that_never_goes_below_zero():
    assert Footprint(500, (30, 5)) - Footprint(200, (10, 9)) == Footprint(300, (20, 0))
    assert Footprint(100) - Footprint(300) == Footprint(0)


def test_this_process_uses_memory_and_the_machine_has_some_free():
    assert memory.used().ram > 10 * 2**20
    assert memory.free().ram > 0


@pytest.mark.parametrize(
    ("model", "free", "fits"),
    [
        (Footprint(1000), Footprint(5000), True),
        (Footprint(1000), Footprint(1500), False),  # the new model fits, its build may not
        (Footprint(1000, (800,)), Footprint(9000, (1000,)), False),  # the GPU is the limit
        (Footprint(1000, (0, 800)), Footprint(9000, (0, 2000)), True),
        (Footprint(0), Footprint(0), True),  # nothing known: never the reason to free first
    ],
)
def test_room_for_two_counts_ram_and_every_cuda_device(monkeypatch, model, free, fits):
    monkeypatch.setattr(memory, "free", lambda: free)
    assert memory.room_for_two(model) is fits


def test_modes_are_named():
    assert Memory.of("free-first") is Memory.FREE_FIRST
    with pytest.raises(ValueError, match="memory must be one of auto, swap, free-first"):
        Memory.of("more")
