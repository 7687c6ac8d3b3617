"""fork, vfork, clone, wait4 and waitpid (kernel/fork.c, kernel/exit.c): see :mod:`.task`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from .task import _FORK_FLAGS, tasks_of

if TYPE_CHECKING:
    from .process import Kernel


def sys_fork(k: Kernel, *_: int) -> int:
    """fork(2): clone with SIGCHLD and nothing shared.  The child returns 0, the parent the
    child's pid; EAGAIN past the guest's process limit (task.MAX_PROCESSES)."""
    return tasks_of(k).fork(k, L.SIGCHLD, 0, 0, 0)


def sys_vfork(k: Kernel, *_: int) -> int:
    """vfork(2), done as fork: the child has a copy of memory and the parent goes on at once,
    which a program that only calls _exit or execve in the child cannot tell apart."""
    return tasks_of(k).fork(k, L.SIGCHLD, 0, 0, 0)


def sys_clone(k: Kernel, flags: int, newsp: int, parent_tid: int, tls: int, child_tid: int,
              *_: int) -> int:
    """clone(2), i386 order: ebx flags, ecx newsp, edx parent_tidptr, esi tls, edi
    child_tidptr.  The flags fork, vfork and posix_spawn use (an exit signal,
    CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID, CLONE_PARENT_SETTID, CLONE_VM with
    CLONE_VFORK) make a process; threads and other sharing (CLONE_VM alone, CLONE_THREAD,
    CLONE_FILES, namespaces...) answer ENOSYS."""
    if flags & ~_FORK_FLAGS or (flags & L.CLONE_VM and not flags & L.CLONE_VFORK):
        return -L.ENOSYS
    return tasks_of(k).fork(k, flags, newsp, parent_tid, child_tid)


def sys_wait4(k: Kernel, pid: int, status: int, options: int, rusage: int, *_: int) -> object:
    """wait4(2): ECHILD without children (or with SIGCHLD ignored once all have ended);
    WNOHANG gives 0 while they run; else the call waits.  The status word is Linux's
    (exit code << 8, or the killing signal); the rusage is zero."""
    if k.tasks is None:
        return -L.EINVAL if options & ~0xE000000B else -L.ECHILD
    return k.tasks.wait(k, pid, status, options, rusage)


def sys_waitpid(k: Kernel, pid: int, status: int, options: int, *_: int) -> object:
    """waitpid(2): wait4 without rusage."""
    return sys_wait4(k, pid, status, options, 0)
