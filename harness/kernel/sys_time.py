"""Time on the network's virtual clock: nanosleep (kernel/time/hrtimer.c) and the clocks
(see the section below)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .abi import BLOCK, CLOCK_SLACK, s32

if TYPE_CHECKING:
    from .process import Kernel


def sys_nanosleep(k: Kernel, req: int, rem: int, *_: int) -> object:
    """nanosleep(2) on the network's virtual clock: the guest is parked until
    :meth:`Network.advance` has moved the clock past the interval, so a test decides
    when a sleeping guest wakes, and no test waits for real."""
    deadline = k.deadline
    if deadline is None:
        word = k.abi.word  # old_timespec32 for i386, __kernel_timespec for x86-64
        raw = k.copy_in(req, 2 * word)
        if raw.__class__ is int:
            return raw
        sec = int.from_bytes(raw[:word], "little", signed=True)
        nsec = int.from_bytes(raw[word:], "little", signed=True)
        if sec < 0 or not 0 <= nsec <= 999_999_999:
            return -L.EINVAL
        deadline = k.deadline = k.network.now + sec + nsec / 1e9
    if k.network.now + CLOCK_SLACK >= deadline:
        k.deadline = None
        return 0
    k.blocked_fd = -1
    return BLOCK


# --- clocks: clock_gettime, clock_getres, gettimeofday, time (kernel/time/posix-timers.c,
# kernel/time/posix-cpu-timers.c, kernel/time/time.c) -----------------------------------------
#
# Every clock reads the network's virtual clock, so the same inputs give the same outputs:
#
# * CLOCK_REALTIME (and _COARSE, _ALARM, CLOCK_TAI, whose offset Linux starts at 0) is
#   ``network.epoch_ns`` plus ``network.now``: REALTIME_EPOCH, 2024-01-01T00:00:00Z, unless
#   the network was given another start (``webelf serve`` gives the wall clock's);
# * CLOCK_MONOTONIC (and _RAW, _COARSE, CLOCK_BOOTTIME, _ALARM) is BOOT_UPTIME, a fixed
#   1000 s of uptime when the guest starts, plus ``network.now``;
# * the CPU-time clocks (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID and the
#   MAKE_PROCESS_CPUCLOCK / MAKE_THREAD_CPUCLOCK ids of the process itself) are
#   ``network.now``: monotonic, and never more than the time that has passed.
#
# Resolutions are Linux's: 1 ns for the high-resolution clocks and CPUCLOCK_SCHED, one tick
# (4 ms, Debian's HZ=250) for the coarse clocks and the PROF/VIRT CPU clocks.

REALTIME_EPOCH = 1704067200
BOOT_UPTIME = 1000
TICK_NSEC = 4_000_000
_REALTIME = frozenset({L.CLOCK_REALTIME, L.CLOCK_REALTIME_COARSE, L.CLOCK_REALTIME_ALARM,
                       L.CLOCK_TAI})
_MONOTONIC = frozenset({L.CLOCK_MONOTONIC, L.CLOCK_MONOTONIC_RAW, L.CLOCK_MONOTONIC_COARSE,
                        L.CLOCK_BOOTTIME, L.CLOCK_BOOTTIME_ALARM})
_CPU = frozenset({L.CLOCK_PROCESS_CPUTIME_ID, L.CLOCK_THREAD_CPUTIME_ID})
_COARSE = frozenset({L.CLOCK_REALTIME_COARSE, L.CLOCK_MONOTONIC_COARSE})


def _ns(seconds: float) -> int:
    return round(seconds * L.NSEC_PER_SEC)


def _cpu_clock(k: Kernel, clock: int) -> int | None:
    """A negative id's CPU clock kind (CPUCLOCK_PROF, _VIRT, _SCHED), or None when Linux
    refuses it (-EINVAL): an fd clock, kind 3, or a pid that is not this process's."""
    kind = clock & L.CLOCKFD_MASK & ~L.CPUCLOCK_PERTHREAD_MASK
    if clock & L.CLOCKFD_MASK == L.CLOCKFD or kind > L.CPUCLOCK_SCHED:
        return None
    pid = ~(clock >> 3)
    if pid and pid != k.pid and pid != k.tid:
        return None
    return kind


def clock_ns(k: Kernel, clock: int) -> int | None:
    """Clock ``clock`` (a signed id) now, in nanoseconds; None for an invalid id."""
    now = k.network.now
    if clock in _REALTIME:
        return k.network.epoch_ns + _ns(now)
    if clock in _MONOTONIC:
        return BOOT_UPTIME * L.NSEC_PER_SEC + _ns(now)
    if clock in _CPU or (clock < 0 and _cpu_clock(k, clock) is not None):
        return _ns(now)
    return None


def clock_res_ns(k: Kernel, clock: int) -> int | None:
    if clock in _COARSE:
        return TICK_NSEC
    if clock < 0:
        kind = _cpu_clock(k, clock)
        if kind is None:
            return None
        return 1 if kind == L.CPUCLOCK_SCHED else TICK_NSEC
    return None if clock_ns(k, clock) is None else 1


def _timespec(ns: int, wide: bool) -> bytes:
    sec, nsec = divmod(ns, L.NSEC_PER_SEC)
    return struct.pack("<qq" if wide else "<iI", sec, nsec)


def _clock_call(k: Kernel, clock: int, tp: int, wide: bool, reader) -> int:
    ns = reader(k, s32(clock))
    if ns is None:
        return -L.EINVAL
    if not tp and reader is clock_res_ns:
        return 0  # clock_getres(2): a NULL res is allowed
    return k.copy_out(tp, _timespec(ns, wide))


def sys_clock_gettime(k: Kernel, clock: int, tp: int, *_: int) -> int:
    """clock_gettime(2) with the 32-bit struct old_timespec32: -EINVAL, -EFAULT."""
    return _clock_call(k, clock, tp, False, clock_ns)


def sys_clock_gettime64(k: Kernel, clock: int, tp: int, *_: int) -> int:
    """clock_gettime64: struct __kernel_timespec, 64-bit seconds and nanoseconds."""
    return _clock_call(k, clock, tp, True, clock_ns)


def sys_clock_getres(k: Kernel, clock: int, tp: int, *_: int) -> int:
    return _clock_call(k, clock, tp, False, clock_res_ns)


def sys_clock_getres_time64(k: Kernel, clock: int, tp: int, *_: int) -> int:
    return _clock_call(k, clock, tp, True, clock_res_ns)


def sys_gettimeofday(k: Kernel, tv: int, tz: int, *_: int) -> int:
    """gettimeofday(2): the realtime clock in microseconds, and the kernel's sys_tz, which
    nothing has set (0 minutes west, no DST); each pointer may be NULL."""
    if tv:
        sec, nsec = divmod(clock_ns(k, L.CLOCK_REALTIME), L.NSEC_PER_SEC)
        # old_timeval32 for i386, __kernel_old_timeval (two longs) for x86-64
        err = k.copy_out(tv, struct.pack("<qq" if k.abi.word == 8 else "<ii", sec,
                                         nsec // 1000))
        if err:
            return err
    if tz:
        return k.copy_out(tz, bytes(8))
    return 0


def sys_time(k: Kernel, tloc: int, *_: int) -> int:
    """time(2): the realtime seconds, also stored at ``tloc`` unless NULL (-EFAULT)."""
    sec = clock_ns(k, L.CLOCK_REALTIME) // L.NSEC_PER_SEC
    if tloc:
        err = k.copy_out(tloc, struct.pack("<q" if k.abi.word == 8 else "<i", sec))
        if err:
            return err
    return sec
