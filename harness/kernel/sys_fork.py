"""fork, vfork, clone, wait4, waitpid and waitid (kernel/fork.c, kernel/exit.c): see :mod:`.task`."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .abi import BLOCK
from .task import _FORK_FLAGS, Process, tasks_of

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


def sys_clone_64(k: Kernel, flags: int, newsp: int, parent_tid: int, child_tid: int,
                 tls: int, *_: int) -> int:
    """clone(2) of an x86-64 process: kernel/fork.c's clone without CONFIG_CLONE_BACKWARDS
    takes (flags, newsp, parent_tidptr, child_tidptr, tls), child and tls the other way
    round from i386; otherwise :func:`sys_clone`."""
    return sys_clone(k, flags, newsp, parent_tid, tls, child_tid)


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


#: The options waitid accepts (kernel_waitid).
_WAITID_OPTIONS = (L.WNOHANG | L.WNOWAIT | L.WEXITED | L.WSTOPPED | L.WCONTINUED
                   | L.__WNOTHREAD | L.__WCLONE | L.__WALL)


def sys_waitid(k: Kernel, which: int, upid: int, infop: int, options: int, rusage: int,
               *_: int) -> object:
    """waitid(2), i386 order: ebx idtype, ecx id, edx infop, esi options, edi rusage (the
    compat waitid and kernel_waitid, kernel/exit.c).  P_ALL, P_PID (id > 0) and P_PGID (0:
    the caller's group); EINVAL for other options, without WEXITED, WSTOPPED or WCONTINUED,
    or another idtype (P_PIDFD among them: no pidfds here).  As Linux does, infop's
    si_signo, si_errno, si_code, si_pid, si_uid and si_status are written whatever the
    answer: SIGCHLD, CLD_EXITED or CLD_KILLED and the child's pid, uid and exit code or
    signal for a child that has ended, zeros otherwise (WNOHANG with none ended, an error);
    a reaped child's rusage is zeros.  No child stops or continues here."""
    found = _waitid(k, which, upid & 0xFFFFFFFF, options)
    if found is BLOCK:
        return found
    fields = (0, 0, 0, 0, 0, 0)
    if isinstance(found, Process):
        killed = found.status & 0x7F
        code = (L.CLD_DUMPED if found.status & 0x80 else L.CLD_KILLED) if killed \
            else L.CLD_EXITED
        fields = (L.SIGCHLD, 0, code, found.pid, found.kernel.uid,
                  killed or found.status >> 8 & 0xFF)
        if rusage and k.copy_out(rusage, bytes(k.abi.rusage_size)):
            return -L.EFAULT
    # si_signo, si_errno, si_code, then the union: at 12 in compat_siginfo, at 16 (8-byte
    # aligned) in an x86-64 process's siginfo_t.
    layout = "<iii4xiIi" if k.abi.word == 8 else "<iiiiIi"
    if infop and k.copy_out(infop, struct.pack(layout, *fields)):
        return -L.EFAULT
    return found if isinstance(found, int) else 0


def _waitid(k: Kernel, which: int, upid: int, options: int) -> object:
    if options & ~_WAITID_OPTIONS or not options & (L.WEXITED | L.WSTOPPED | L.WCONTINUED):
        return -L.EINVAL
    if which == L.P_ALL:
        pid = -1
    elif which == L.P_PID:
        if upid == 0 or upid >= 0x80000000:
            return -L.EINVAL
        pid = upid
    elif which == L.P_PGID:
        if upid >= 0x80000000:
            return -L.EINVAL
        pid = -upid if upid else 0
    else:
        return -L.EINVAL
    if k.tasks is None:
        return -L.ECHILD
    return k.tasks.waitid(k, pid, options)
