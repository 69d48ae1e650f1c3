"""How much memory a handler's model takes, and how much is free: for choosing a re-init.

A re-init normally builds the new handler before it lets go of the old one (nothing is lost
if ``__init__`` fails), so for a moment two models are in memory. When there is no room for a
second model, the old one is freed first. The model's size is what building the handler added
to this process (resident memory, and memory allocated on each CUDA device torch sees).
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass

from ..choice import Choice
from ..errors import let_go


class Memory(Choice):
    """How a re-init treats the old model: decide by free memory, keep it, or free it first."""

    AUTO = "auto"
    SWAP = "swap"  # build the new handler, then free the old one: two models for a moment
    FREE_FIRST = "free-first"  # free the old one, then build: one model at a time


@dataclass(frozen=True)
class Footprint:
    """Memory in bytes: resident (RAM) and allocated on each CUDA device."""

    ram: int = 0
    cuda: tuple[int, ...] = ()

    def __sub__(self, other: Footprint) -> Footprint:
        cuda = tuple(a - b for a, b in zip(self.cuda, other.cuda, strict=False))
        return Footprint(max(0, self.ram - other.ram), tuple(max(0, c) for c in cuda))


def used() -> Footprint:
    """This process's resident memory, and what torch allocated on each CUDA device."""
    return Footprint(_rss(), tuple(_cuda_allocated()))


def free() -> Footprint:
    """Memory available now: RAM (MemAvailable), and free memory on each CUDA device."""
    return Footprint(_available(), tuple(_cuda_free()))


def room_for_two(model: Footprint) -> bool:
    """True when a second model of this size fits beside the first, on every device it uses.

    Twice the size must be free: the new model, and as much again for what building it takes
    (weights are often read into memory before they are moved into place).
    """
    now = free()
    if model.ram and now.ram and now.ram < 2 * model.ram:
        return False
    return all(
        not need or have >= 2 * need for need, have in zip(model.cuda, now.cuda, strict=False)
    )


def _rss() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource  # not Linux: the peak is the best there is

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0  # unknown: never the reason to free first


def _cuda_allocated() -> list[int]:
    torch = sys.modules.get("torch")  # only if the handler uses torch: never imported here
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.memory_allocated(d) for d in range(torch.cuda.device_count())]


def _cuda_free() -> list[int]:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.mem_get_info(d)[0] for d in range(torch.cuda.device_count())]


def release_failed(error: BaseException) -> None:
    """After a failed or abandoned build: let go of what its error holds, and collect once.

    The half-built handler and its model stay reachable from the error's traceback (the
    frames of ``__init__``), and often sit in a reference cycle (the error, its traceback, a
    frame that holds the error): without this, a failed build keeps its model in memory, and
    the next build has room for one model less.
    """
    let_go(error)
    gc.collect()
