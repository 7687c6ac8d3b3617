"""Scheduling: the CPU affinity mask (sched_getaffinity(2), sched_setaffinity(2)) and
sched_yield(2).

The host has ``Network.ncpus`` CPUs (nr_cpu_ids; 2 unless told), all online: a fixed number,
so that a guest that counts its CPUs (``--workers auto``) behaves the same on every machine.
Each process has its own mask (``Kernel.cpus_mask``), every CPU at first, inherited by fork.

An i386 program on an x86-64 kernel reaches the compat calls (kernel/compat.c
``COMPAT_SYSCALL_DEFINE3(sched_getaffinity)`` and ``(sched_setaffinity)``), which check and
copy as the native ones do (kernel/sched/syscalls.c, core.c before 6.10) but move the mask
in 32-bit words:

* getaffinity: ``len * 8`` (an unsigned int product, so it wraps) below nr_cpu_ids, or
  ``len`` not a multiple of 4 (sizeof(compat_ulong_t)), is -EINVAL; an unknown pid -ESRCH;
  then min(len, cpumask_size()) bytes of the mask are copied out (-EFAULT) and that count
  is the result.
* setaffinity: min(len, cpumask_size()) bytes, rounded up to whole 32-bit words
  (compat_get_bitmap), are copied in (-EFAULT), the rest of the mask being zero; an unknown
  pid is -ESRCH; a mask with none of the host's CPUs is -EINVAL
  (__set_cpus_allowed_ptr_locked: no CPU of cpu_valid_mask); else it becomes the process's.

cpumask_size() is the bytes of nr_cpu_ids bits in 64-bit longs: a distribution kernel's
(Debian's amd64 config: CONFIG_MAXSMP, so CONFIG_CPUMASK_OFFSTACK and NR_CPUS 8192) sizes
its masks by nr_cpu_ids, so 8 bytes for up to 64 CPUs.  A kernel built without off-stack
masks sizes them by NR_CPUS instead (32 bytes for NR_CPUS=256): the count a call returns
varies with the kernel's configuration, the mask does not.

An x86-64 program reaches the native calls: the same checks and copies in units of its
8-byte longs, and setaffinity copies min(len, cpumask_size()) bytes as they are
(get_user_cpu_mask), without rounding to words.

pid 0 is the caller; another pid is a process of the guest, a zombie included
(find_task_by_vpid finds a task until it is reaped); any other pid, negative ones too, is
-ESRCH.  Every process has the same uid, so setaffinity's check_same_owner always passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from .abi import s32

if TYPE_CHECKING:
    from .process import Kernel

#: sizeof(compat_ulong_t): the unit of an i386 program's masks.
_COMPAT_LONG = 4


def cpumask_size(ncpus: int) -> int:
    """cpumask_size() of an off-stack-cpumask kernel: nr_cpu_ids bits in 64-bit longs."""
    return (ncpus + 63) // 64 * 8


def _find(k: Kernel, pid: int) -> Kernel | None:
    """find_process_by_pid: 0 is the caller, else a process of the guest not yet reaped."""
    pid = s32(pid)
    if pid == 0 or pid == k.pid:
        return k
    tasks = k.tasks
    proc = tasks.procs.get(pid) if tasks is not None else None
    if proc is None or proc.status is not None and not proc.zombie:
        return None
    return proc.kernel


def sys_sched_getaffinity(k: Kernel, pid: int, length: int, mask: int, *_: int) -> int:
    ncpus = k.network.ncpus
    length &= 0xFFFFFFFF  # unsigned int len
    if (length * 8) & 0xFFFFFFFF < ncpus or length & (k.abi.word - 1):
        return -L.EINVAL
    target = _find(k, pid)
    if target is None:
        return -L.ESRCH
    size = min(length, cpumask_size(ncpus))
    return k.copy_out(mask, target.cpus_mask.to_bytes(size, "little")) or size


def sys_sched_setaffinity(k: Kernel, pid: int, length: int, mask: int, *_: int) -> int:
    ncpus = k.network.ncpus
    size = min(length & 0xFFFFFFFF, cpumask_size(ncpus))
    if k.abi.word == _COMPAT_LONG:
        size = -(-size // _COMPAT_LONG) * _COMPAT_LONG  # compat_get_bitmap: whole words
    raw = k.copy_in(mask, size) if size else b""
    if raw.__class__ is int:
        return raw
    target = _find(k, pid)
    if target is None:
        return -L.ESRCH
    cpus = int.from_bytes(raw, "little") & ((1 << ncpus) - 1)
    if not cpus:
        return -L.EINVAL
    target.cpus_mask = cpus
    return 0


def sys_sched_yield(k: Kernel, *_: int) -> int:
    """sched_yield(2): always 0.  The harness's scheduler runs one process at a time until
    it waits or its slice ends, which a yield does not change."""
    return 0
