"""Time on the network's virtual clock: nanosleep (kernel/time/hrtimer.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from .abi import BLOCK, CLOCK_SLACK

if TYPE_CHECKING:
    from .process import Kernel


def sys_nanosleep(k: Kernel, req: int, rem: int, *_: int) -> object:
    """nanosleep(2) on the network's virtual clock: the guest is parked until
    :meth:`Network.advance` has moved the clock past the interval, so a test decides
    when a sleeping guest wakes, and no test waits for real."""
    deadline = k.deadline
    if deadline is None:
        raw = k.copy_in(req, 8)
        if raw.__class__ is int:
            return raw
        sec = int.from_bytes(raw[:4], "little", signed=True)
        nsec = int.from_bytes(raw[4:], "little", signed=True)
        if sec < 0 or not 0 <= nsec <= 999_999_999:
            return -L.EINVAL
        deadline = k.deadline = k.network.now + sec + nsec / 1e9
    if k.network.now + CLOCK_SLACK >= deadline:
        k.deadline = None
        return 0
    k.blocked_fd = -1
    return BLOCK
