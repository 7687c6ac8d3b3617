"""Processes: the table every process of one guest shares, fork, wait, and the scheduler.

A guest starts as one process (pid 1000) and pays nothing for this module until it forks:
``Kernel.tasks`` is None until then.  The first fork makes a :class:`Tasks`, shared by the
kernels of every process of the guest; each process has its own :class:`Machine` (its own
emulator, a copy of its parent's memory, registers and descriptor table) and its own
:class:`Kernel` whose fd table holds the parent's open files by reference (``FdTable.fork``:
a socket closes when the last fd of every process that holds it closes, as on Linux).

Scheduling is deterministic: :meth:`Tasks.run` runs the runnable processes lowest pid first,
each until it blocks, exits or, when more than one can run, has used :data:`TIME_SLICE`
instructions, and starts over while any of them made progress; it stops when every process
waits or has exited.  A signal sent to a preempted process is taken when it runs again,
so a process spinning without system calls can still be killed.

Limits: at most :data:`MAX_PROCESSES` processes (live and zombie) per guest, as an
RLIMIT_NPROC would: fork then fails with EAGAIN.  Threads (CLONE_VM without CLONE_VFORK,
CLONE_THREAD, CLONE_FILES...) answer ENOSYS; vfork and CLONE_VM|CLONE_VFORK are a fork (the
child gets a copy of memory, not the parent's, and the parent does not wait for its exec).
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

from .. import linux as L
from ..errors import GuestTimeout
from ..trace import insn_text
from .abi import BLOCK, Stop, s32
from .sigframe import SigInfo

if TYPE_CHECKING:
    from ..machine import Machine
    from .process import Kernel

#: How many instructions a process runs before the next runnable one gets the CPU, when
#: several can run: a deterministic time slice (the same inputs, the same interleaving).
#: Counting instructions slows unicorn a little, so a lone process runs uncounted.
TIME_SLICE = 200_000
#: The most processes one guest may have at once, zombies included (fork: EAGAIN).
MAX_PROCESSES = 64
FIRST_CHILD_PID = 1001

#: The flags fork, vfork and posix_spawn pass, which the harness does as a fork.
_FORK_FLAGS = (L.CSIGNAL | L.CLONE_VM | L.CLONE_VFORK | L.CLONE_PARENT_SETTID
               | L.CLONE_CHILD_CLEARTID | L.CLONE_CHILD_SETTID)
#: The options wait4 accepts (kernel_wait4); the __W names would be mangled inside a class.
_WAIT4_OPTIONS = (L.WNOHANG | L.WUNTRACED | L.WCONTINUED | L.__WALL | L.__WCLONE
                  | L.__WNOTHREAD)
#: The calls that wait for a child.
_WAITS = ("wait4", "waitpid", "waitid")


class Process:
    """One entry of the process table."""

    __slots__ = ("pid", "ppid", "kernel", "machine", "status", "zombie", "exit_signal")

    def __init__(self, pid: int, ppid: int, kernel: Kernel, machine: Machine,
                 exit_signal: int = L.SIGCHLD) -> None:
        self.pid = pid
        self.ppid = ppid
        self.kernel = kernel
        self.machine = machine
        #: The wait status (exit: code << 8; killed: the signal), once it has ended.
        self.status: int | None = None
        self.zombie = False
        self.exit_signal = exit_signal


class Tasks:
    """The process table of one guest, and its scheduler."""

    def __init__(self, kernel: Kernel, machine: Machine) -> None:
        self.procs: dict[int, Process] = {kernel.pid: Process(kernel.pid, kernel.ppid,
                                                              kernel, machine)}
        self.first = kernel.pid
        self.next_pid = FIRST_CHILD_PID
        #: Processes that have not ended (strace -f prefixes lines while more than one).
        self.live = 1
        #: The kernel of the process whose stop run() reported last.
        self.reporter: Kernel | None = kernel
        kernel.tasks = self

    def _prefixed(self, strace, pid: int):
        """strace -f's leader to stderr: ``[pid NNNNN] `` while several processes live."""
        def line(text: str) -> None:
            strace(f"[pid {pid:5d}] {text}" if self.live > 1 else text)
        line.inner = strace
        return line

    def traced(self, k: Kernel, strace):
        """The strace sink of ``k`` once a traced call returns: prefixed by its pid."""
        if getattr(strace, "inner", None) is not None:
            return strace
        return self._prefixed(strace, k.pid)

    # ------------------------------------------------------------------ fork

    def fork(self, k: Kernel, flags: int, newsp: int, parent_tid: int, child_tid: int) -> int:
        if len(self.procs) >= MAX_PROCESSES:
            return -L.EAGAIN
        pid = self.next_pid
        self.next_pid += 1
        child = copy.copy(k)
        child.pid = child.tid = pid
        child.ppid = k.pid
        child.fds = k.fds.fork()
        child.sigactions = dict(k.sigactions)
        child.sigpending = 0
        child.siginfo = {}
        child.pending_signal = None
        child.blocked = None
        child.blocked_fd = -1
        child.deadline = None
        child.itimer_at = None  # fork(2): timers are not inherited
        child.itimer_every = 0.0
        child.cpu_itimers = {}
        child._parked_fault = None
        child.exit_status = None
        child.unsupported = []
        child.tls_used = set(k.tls_used)
        child.rlimits = None if k.rlimits is None else {r: list(v) for r, v in k.rlimits.items()}
        child.std_flags = dict(k.std_flags)
        child.sock_flags = dict(k.sock_flags)
        child.cwd_parts = list(k.cwd_parts)
        child.clear_child_tid = child_tid if flags & L.CLONE_CHILD_CLEARTID else 0
        child.robust_list = 0
        child.abi = k.home_abi  # not the compat view of a 64-bit program's int 0x80
        child._compat_tables = None
        child.bind_tables()
        strace = k.strace or getattr(k, "strace_outer", None)
        if strace is not None:
            child.strace = self._prefixed(getattr(strace, "inner", strace), pid)
        machine = k.cpu.fork(child)
        if newsp:
            machine.set_stack_pointer(newsp)
        tid = pid.to_bytes(4, "little")
        if flags & L.CLONE_CHILD_SETTID:
            child.copy_out(child_tid, tid)
        if flags & L.CLONE_PARENT_SETTID:
            k.copy_out(parent_tid, tid)
        self.procs[pid] = Process(pid, k.pid, child, machine, flags & L.CSIGNAL)
        self.live += 1
        return pid

    # ------------------------------------------------------------------ exit and wait

    def ended(self, proc: Process, status: int) -> None:
        """``proc`` exited or was killed: a zombie for its parent, or reaped at once."""
        proc.status = status
        self.live -= 1
        machine = proc.machine
        proc.kernel.fds.close_all()
        if proc.kernel.clear_child_tid:
            proc.kernel.clear_child_tid = 0  # the memory goes with the process
        for other in self.procs.values():  # orphans go to init: outside the guest
            if other.ppid == proc.pid:
                other.ppid = 1
                other.kernel.ppid = 1
        if proc.pid != self.first:
            machine.close()  # its memory goes now; the table keeps the status
        parent = self.procs.get(proc.ppid)
        if parent is None or parent.status is not None:
            if proc.pid != self.first:
                del self.procs[proc.pid]
            return
        action = parent.kernel.sigactions.get(L.SIGCHLD)
        ignored = action is not None and action.handler == L.SIG_IGN
        nocldwait = action is not None and action.flags & L.SA_NOCLDWAIT
        if proc.exit_signal and not ignored:
            # do_notify_parent: the child's pid and uid, and its exit code or signal
            killed = status & 0x7F
            code = L.CLD_KILLED if killed else L.CLD_EXITED
            parent.kernel.deliver(proc.exit_signal, code, SigInfo(
                proc.exit_signal, code, proc.pid, proc.kernel.uid,
                status=killed or status >> 8 & 0xFF))
        if ignored or nocldwait:
            del self.procs[proc.pid]  # do_notify_parent: autoreap
        else:
            proc.zombie = True

    def _children(self, k: Kernel, pid: int) -> list[Process]:
        """The children wait4's ``pid`` selects (-1 any, > 0 that one, 0 or < -1 a process
        group: every child is in the caller's group here)."""
        return [p for p in self.procs.values() if p.ppid == k.pid and p.pid != k.pid
                and (pid <= 0 and pid != -k.pid if pid < -1 else pid <= 0 or p.pid == pid)]

    def waitid(self, k: Kernel, pid: int, options: int) -> object:
        """kernel_waitid (kernel/exit.c) with ``pid`` in wait4's terms: the child that has
        ended (reaped unless WNOWAIT), None under WNOHANG while none has, -ECHILD, or BLOCK."""
        children = self._children(k, pid)
        if not children:
            return -L.ECHILD
        found = next((p for p in children if p.zombie), None) if options & L.WEXITED else None
        if found is None and not options & L.WNOHANG:
            k.blocked_fd = -1
            return BLOCK
        if found is not None and not options & L.WNOWAIT:
            del self.procs[found.pid]
        return found

    def wait(self, k: Kernel, pid: int, status_ptr: int, options: int, rusage: int) -> object:
        """wait4(2): reap a zombie child that ``pid`` selects (-1 any, > 0 that one, 0 or < -1
        a process group: every child is in the caller's group here)."""
        if options & ~_WAIT4_OPTIONS:
            return -L.EINVAL
        children = self._children(k, s32(pid))
        if not children:
            return -L.ECHILD
        for p in children:
            if p.zombie:
                if status_ptr:
                    ret = k.copy_out(status_ptr, (p.status & 0xFFFFFFFF).to_bytes(4, "little"))
                    if ret:
                        return ret
                if rusage:
                    ret = k.copy_out(rusage, bytes(k.abi.rusage_size))
                    if ret:
                        return ret
                del self.procs[p.pid]
                return p.pid
        if options & L.WNOHANG:
            return 0
        k.blocked_fd = -1
        return BLOCK

    # ------------------------------------------------------------------ scheduling

    def run(self) -> Stop:
        """Run every runnable process, lowest pid first, each until it waits or ends, and
        again while any made progress; the stop to report (see :meth:`_report`)."""
        stops: dict[int, Stop] = {}
        if not self.procs:
            from ..errors import HarnessError
            raise HarnessError("the machine was closed; it cannot run")
        progress = True
        deadline = time.monotonic() + self.procs[self.first].machine.max_seconds
        # --max-instructions spans the slices: a slice that ends preempted has run all of
        # its TIME_SLICE instructions (one that ends in a wait ran fewer, uncounted, so the
        # budget is spent no sooner than exactly), and a process that never waits, while
        # the others do, runs out of it as a lone process would.
        budget = self.procs[self.first].machine.max_instructions
        spent = 0
        while progress:
            progress = False
            for pid in sorted(self.procs):
                proc = self.procs.get(pid)
                if proc is None or proc.status is not None:
                    continue
                machine = proc.machine
                parked = machine._parked
                live = sum(1 for p in self.procs.values() if p.status is None)
                try:
                    stop = machine.run(TIME_SLICE if live > 1 else None)
                except Exception:
                    if machine.killed_by is None or pid == self.first:
                        raise
                    self.ended(proc, machine.killed_by)
                    progress = True
                    continue
                if stop.reason == "preempted":  # its slice is over: the next one's turn
                    progress = True
                    spent += TIME_SLICE
                    over = (f"budget of {budget:,} instructions" if budget and spent >= budget
                            else f"time budget of {machine.max_seconds:g} s"
                            if time.monotonic() >= deadline else None)
                    if over is not None:
                        eip = machine.eip
                        raise GuestTimeout(eip, insn_text(machine.mem.fetch(eip), eip,
                                                          machine.wide), over)
                    continue
                stops[pid] = stop
                if stop.reason == "exited":
                    self.ended(proc, (stop.status or 0) << 8)
                    progress = True
                elif parked is None or machine._parked is not parked:
                    progress = True
        return self._report(stops)

    def _report(self, stops: dict[int, Stop]) -> Stop:
        """The first process's stop, unless it waits for its children (wait4) or has ended
        while a child waits: then the lowest child's that waits for something else."""
        first = self.procs[self.first]
        stop = stops.get(self.first) or first.machine.run()
        self.reporter = first.kernel
        if stop.reason == "blocked" and stop.syscall not in _WAITS:
            if stop.syscall not in ("accept", "accept4"):
                return stop
        for pid in sorted(self.procs):
            proc = self.procs[pid]
            other = stops.get(pid)
            if pid != self.first and proc.status is None and other is not None \
                    and other.reason == "blocked" and other.syscall not in _WAITS:
                if stop.reason == "exited" or stop.syscall in _WAITS or \
                        other.syscall not in ("accept", "accept4"):
                    self.reporter = proc.kernel
                    return other
        return stop

    def close(self) -> None:
        """Free every process's machine, and let go of the kernels (a cycle: each kernel
        holds this table)."""
        for proc in list(self.procs.values()):
            proc.machine.close()
        self.procs.clear()
        self.reporter = None


def tasks_of(k: Kernel) -> Tasks:
    tasks = k.tasks
    if tasks is None:
        tasks = Tasks(k, k.cpu)
    return tasks
