"""Interval timers: alarm, setitimer, getitimer and pause (kernel/time/itimer.c,
kernel/signal.c), on the network's virtual clock.

ITIMER_REAL is the process's one real-time timer (``signal->real_timer``): when
:meth:`Network.advance` moves the clock past its deadline, the next time the process runs
(:meth:`Kernel.fire_timers`, called from ``Machine.run``), SIGALRM is sent as it_real_fn
sends it, ``kill_pid_info(SIGALRM, SEND_SIG_PRIV, ...)``: si_code SI_KERNEL.  A call the
process sleeps in is woken as any signal wakes it (EINTR, or the call again after an
SA_RESTART handler), and :attr:`Kernel.timeout_at` counts the deadline, so a test that lets
the clock jump to the guest's next deadline reaches the alarm.  An it_interval re-arms the
timer from the deadline (hrtimer_forward: past deadlines are skipped, not queued).

ITIMER_VIRTUAL and ITIMER_PROF count the process's CPU time, which the harness does not
measure (the virtual clock moves only while the guest waits): they are kept and read back as
set, and never expire.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .abi import BLOCK, CLOCK_SLACK, NO_DEADLINE, s32

if TYPE_CHECKING:
    from .process import Kernel

#: struct old_itimerval32: it_interval then it_value, each {tv_sec, tv_usec} (32-bit).
ITIMERVAL = struct.Struct("<iiii")
#: struct __kernel_old_itimerval of an x86-64 process: two timevals of longs.
ITIMERVAL_64 = struct.Struct("<qqqq")
_USEC = 1_000_000


def _usec(seconds: float) -> int:
    return max(0, round(seconds * _USEC))


def _get(k: Kernel, which: int) -> tuple[int, int] | None:
    """(interval, value) in microseconds, as do_getitimer reads them; None for a bad
    ``which``.  A real timer due but not yet fired reads 1 us (itimer_get_remtime)."""
    if which == L.ITIMER_REAL:
        at = k.itimer_at
        if at is None:
            return _usec(k.itimer_every), 0
        left = at - k.network.now
        return _usec(k.itimer_every), _usec(left) if left > CLOCK_SLACK else 1
    if which in (L.ITIMER_VIRTUAL, L.ITIMER_PROF):
        return k.cpu_itimers.get(which, (0, 0))
    return None


def _set(k: Kernel, which: int, interval: int, value: int) -> tuple[int, int] | None:
    """do_setitimer: the old (interval, value), or None for a bad ``which``.  A zero value
    disarms the timer and forgets the interval."""
    old = _get(k, which)
    if old is None:
        return None
    if which == L.ITIMER_REAL:
        if value:
            k.itimer_at = k.network.now + value / _USEC
            k.itimer_every = interval / _USEC
        else:
            k.itimer_at = None
            k.itimer_every = 0.0
    else:
        k.cpu_itimers[which] = (interval if value else 0, value)
    return old


def sys_alarm(k: Kernel, seconds: int, *_: int) -> int:
    """alarm(2), alarm_setitimer: the seconds left of the previous alarm, rounded to the
    nearest second but never 0 for a pending one ("we'd better return too much than too
    little")."""
    old = _set(k, L.ITIMER_REAL, 0, seconds * _USEC)
    sec, usec = divmod(old[1], _USEC)
    if (not sec and usec) or usec >= _USEC // 2:
        sec += 1
    return sec


def _layout(k: Kernel) -> struct.Struct:
    """struct old_itimerval32 for i386, of longs for x86-64."""
    return ITIMERVAL_64 if k.abi.word == 8 else ITIMERVAL


def _pack(k: Kernel, pair: tuple[int, int]) -> bytes:
    interval, value = pair
    return _layout(k).pack(*divmod(interval, _USEC), *divmod(value, _USEC))


def sys_setitimer(k: Kernel, which: int, new: int, old: int, *_: int) -> int:
    """setitimer(2) (compat for i386): the new value is read and checked (timeval_valid: EINVAL)
    before ``which`` is; a NULL one disarms; the old one is written after the change."""
    interval = value = 0
    if new:
        layout = _layout(k)
        raw = k.copy_in(new, layout.size)
        if raw.__class__ is int:
            return raw
        isec, iusec, vsec, vusec = layout.unpack(raw)
        if isec < 0 or vsec < 0 or not 0 <= iusec < _USEC or not 0 <= vusec < _USEC:
            return -L.EINVAL
        interval, value = isec * _USEC + iusec, vsec * _USEC + vusec
    previous = _set(k, s32(which), interval, value)
    if previous is None:
        return -L.EINVAL
    return k.copy_out(old, _pack(k, previous)) if old else 0


def sys_getitimer(k: Kernel, which: int, out: int, *_: int) -> int:
    """compat getitimer(2): EINVAL for a bad ``which``, then EFAULT."""
    current = _get(k, s32(which))
    if current is None:
        return -L.EINVAL
    return k.copy_out(out, _pack(k, current))


def sys_pause(k: Kernel, *_: int) -> object:
    """pause(2): sleep until a signal that is not ignored arrives; its -ERESTARTNOHAND
    becomes EINTR after a handler (the wake-up is :meth:`Kernel.interrupts`)."""
    k.deadline = NO_DEADLINE  # asleep without a timeout (timeout_at sees the alarm)
    k.blocked_fd = -1
    return BLOCK


def fire_timers(k: Kernel) -> None:
    """it_real_fn when the clock has passed the real timer's deadline: SIGALRM from the
    kernel, and the next expiry of a repeating timer."""
    at = k.itimer_at
    now = k.network.now
    if at is None or now + CLOCK_SLACK < at:
        return
    every = k.itimer_every
    if every > 0:
        skipped = int((now + CLOCK_SLACK - at) // every) + 1
        k.itimer_at = at + skipped * every
    else:
        k.itimer_at = None
    k.deliver(L.SIGALRM, L.SI_KERNEL)
