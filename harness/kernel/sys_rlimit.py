"""Resource limits: getrlimit, ugetrlimit, setrlimit, prlimit64 (kernel/sys.c).

A process starts with the limits Linux gives init (INIT_RLIMITS, include/asm-generic/
resource.h), which a Debian login passes on unchanged except where noted: stack 8 MiB soft
and unlimited hard (_STK_LIM), core 0 soft, open files INR_OPEN_CUR/INR_OPEN_MAX (1024/
4096, the fd table's limit), locked memory 8 MiB (MLOCK_LIMIT), POSIX message queues
819200 bytes (MQ_BYTES_MAX), nice and real-time priority 0, everything else unlimited.
NPROC and SIGPENDING are computed at boot from the memory size (``fork_init``); the
harness fixes them at 96364, what the Debian 12 test machine shows, so runs are
reproducible.

Limits are kept 64-bit (RLIM64_INFINITY for unlimited) in ``k.rlimits`` and converted per
call: ugetrlimit (191) returns values that do not fit 32 bits as RLIM_INFINITY
(``compat_sys_getrlimit``), the old getrlimit (76) clamps at 0x7fffffff
(``compat_sys_old_getrlimit``), and setrlimit (75) reads a 32-bit RLIM_INFINITY as
unlimited.  Setting RLIMIT_NOFILE moves the fd table's limit, so the next fd past it is
-EMFILE.  Only the process itself exists: a pid other than 0 or its own is -ESRCH.
Raising a hard limit needs CAP_SYS_RESOURCE, which the guest has when it is root
(``k.uid`` 0, see :mod:`.sys_identity`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel

INF = L.RLIM64_INFINITY
_MIB8 = 8 * 1024 * 1024
#: The fixed boot-time NPROC / SIGPENDING (see the module docstring).
MAX_THREADS_HALF = 96364
#: fs.nr_open: no RLIMIT_NOFILE above it (do_prlimit: -EPERM).
NR_OPEN = 1024 * 1024

INITIAL_RLIMITS: dict[int, tuple[int, int]] = {
    L.RLIMIT_CPU: (INF, INF),
    L.RLIMIT_FSIZE: (INF, INF),
    L.RLIMIT_DATA: (INF, INF),
    L.RLIMIT_STACK: (_MIB8, INF),
    L.RLIMIT_CORE: (0, INF),
    L.RLIMIT_RSS: (INF, INF),
    L.RLIMIT_NPROC: (MAX_THREADS_HALF, MAX_THREADS_HALF),
    L.RLIMIT_NOFILE: (L.INR_OPEN_CUR, L.INR_OPEN_MAX),
    L.RLIMIT_MEMLOCK: (_MIB8, _MIB8),
    L.RLIMIT_AS: (INF, INF),
    L.RLIMIT_LOCKS: (INF, INF),
    L.RLIMIT_SIGPENDING: (MAX_THREADS_HALF, MAX_THREADS_HALF),
    L.RLIMIT_MSGQUEUE: (819200, 819200),
    L.RLIMIT_NICE: (0, 0),
    L.RLIMIT_RTPRIO: (0, 0),
    L.RLIMIT_RTTIME: (INF, INF),
}


def initial_rlimits(fd_limit: int = L.INR_OPEN_CUR) -> dict[int, list[int]]:
    limits = {resource: list(pair) for resource, pair in INITIAL_RLIMITS.items()}
    nofile = limits[L.RLIMIT_NOFILE]
    nofile[0] = fd_limit
    nofile[1] = max(nofile[1], fd_limit)
    return limits


def _limits(k: Kernel) -> dict[int, list[int]]:
    limits = k.rlimits
    if limits is None:
        limits = k.rlimits = initial_rlimits(k.fds.limit)
    return limits


def do_prlimit(k: Kernel, resource: int, new: tuple[int, int] | None) -> tuple[int, int] | int:
    """kernel/sys.c ``do_prlimit``: the old limit, or -EINVAL (resource, soft above hard),
    -EPERM (NOFILE above nr_open, a hard limit raised without CAP_SYS_RESOURCE)."""
    if resource >= L.RLIM_NLIMITS:
        return -L.EINVAL
    limit = _limits(k)[resource]
    old = (limit[0], limit[1])
    if new is not None:
        cur, high = new
        if cur > high:
            return -L.EINVAL
        if resource == L.RLIMIT_NOFILE and high > NR_OPEN:
            return -L.EPERM
        if high > limit[1] and k.uid != 0:
            return -L.EPERM
        limit[0], limit[1] = cur, high
        if resource == L.RLIMIT_NOFILE:
            k.fds.limit = cur
    return old


def sys_ugetrlimit(k: Kernel, resource: int, rlim: int, *_: int) -> int:
    """getrlimit(2) with struct rlimit of longs (``k.abi.rlimit``): compat_sys_getrlimit
    for i386 (ugetrlimit, values above 32 bits read as RLIM_INFINITY), sys_getrlimit for
    x86-64 (the 64-bit values)."""
    old = do_prlimit(k, resource, None)
    if old.__class__ is int:
        return old
    abi = k.abi
    return k.copy_out(rlim, abi.rlimit.pack(*(min(v, abi.rlim_infinity) for v in old)))


def sys_getrlimit(k: Kernel, resource: int, rlim: int, *_: int) -> int:
    """The old getrlimit of i386: anything above 0x7fffffff reads as 0x7fffffff."""
    old = do_prlimit(k, resource, None)
    if old.__class__ is int:
        return old
    return k.copy_out(rlim, struct.pack(
        "<II", *(min(v, L.COMPAT_RLIM_OLD_INFINITY) for v in old)))


def sys_setrlimit(k: Kernel, resource: int, rlim: int, *_: int) -> int:
    """setrlimit (compat for i386): the struct is read before the resource is checked."""
    abi = k.abi
    raw = k.copy_in(rlim, abi.rlimit.size)
    if raw.__class__ is int:
        return raw
    new = tuple(INF if v == abi.rlim_infinity else v for v in abi.rlimit.unpack(raw))
    ret = do_prlimit(k, resource, new)
    return ret if ret.__class__ is int else 0


def sys_prlimit64(k: Kernel, pid: int, resource: int, new_rlim: int, old_rlim: int,
                  *_: int) -> int:
    """prlimit64(2): new limit read first (-EFAULT), then the pid (-ESRCH), then
    do_prlimit, then the old limit written (-EFAULT, the new one stays set)."""
    new = None
    if new_rlim:
        raw = k.copy_in(new_rlim, 16)
        if raw.__class__ is int:
            return raw
        new = struct.unpack("<QQ", raw)
    if pid and pid != k.pid:
        return -L.ESRCH
    old = do_prlimit(k, resource, new)
    if old.__class__ is int:
        return old
    if old_rlim:
        return k.copy_out(old_rlim, struct.pack("<QQ", *old))
    return 0
