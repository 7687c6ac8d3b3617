"""What a C library's start-up asks of the thread: set_tid_address, set_robust_list (kernel/
fork.c, kernel/futex/syscalls.c), and rseq (kernel/rseq.c), which is answered ENOSYS.

One thread is the whole process, so neither the clear_child_tid word nor the robust list is
ever acted on (they matter when a thread exits while others run); both are kept as Linux
keeps them.  rseq(2) answers -ENOSYS, as every kernel before 4.18 did: musl never calls it,
and glibc (2.35+) treats ENOSYS as "no rseq" and turns its rseq area off (``__rseq_size`` 0),
after which sched_getcpu falls back to the getcpu call.  Modelling restartable sequences
would need the harness to interrupt the guest inside a critical section, which it never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel

#: sizeof(struct compat_robust_list_head) for an i386 task on a 64-bit kernel: three words.
ROBUST_LIST_HEAD_SIZE = 12


def sys_set_tid_address(k: Kernel, tidptr: int, *_: int) -> int:
    """set_tid_address(2): remember ``tidptr`` (current->clear_child_tid) and return the
    caller's thread id; the pointer is not checked until the thread exits."""
    k.clear_child_tid = tidptr
    return k.tid


def sys_set_robust_list(k: Kernel, head: int, length: int, *_: int) -> int:
    """set_robust_list(2): -EINVAL unless ``len`` is sizeof(struct robust_list_head) of the
    caller's ABI (three words: 12 bytes on i386, 24 on x86-64); the head is only stored,
    never read here."""
    if length != ROBUST_LIST_HEAD_SIZE // 4 * k.abi.word:
        return -L.EINVAL
    k.robust_list = head
    return 0


def sys_rseq(k: Kernel, *_: int) -> int:
    """rseq(2): -ENOSYS, as before Linux 4.18 (see the module docstring)."""
    return -L.ENOSYS
