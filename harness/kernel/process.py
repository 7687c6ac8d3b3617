"""One process's view of Linux: the state its system calls act on, and the dispatch.

The handlers live by subsystem in the ``sys_*`` modules beside this one, as plain functions
``sys_NAME(kernel, a, b, c, d, e, f)`` named as Linux names them; the architecture's table
(:mod:`.i386`) maps each number to one of them.  A :class:`Kernel` binds the table's
functions to itself once, so the hot path is one dict lookup and one bound call, as fast as
a method.

This module also holds what many handlers share: copying to and from guest memory with
Linux's EFAULT rules, sleeping under a receive timeout on the virtual clock, and raising a
signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MethodType
from typing import TYPE_CHECKING, Protocol

from .. import linux as L
from .. import linux64 as L64
from ..errors import UnsupportedSyscall
from ..faults import Fault, Faults
from ..net import Network, raises_sigpipe
from .files import FdTable
from . import i386, x86_64
from .abi import (
    ABIS, BLOCK, CLOCK_SLACK, EXIT, I386, IGNORED_BY_DEFAULT, NO_DEADLINE, RESTART, SIG_DFL,
    SIG_IGN, Abi, BadAddress, Stop, s32,
)
from .sigframe import SigAction, SigInfo, Terminate, handle_signals

if TYPE_CHECKING:
    from ..elf import Image


class GuestMemory(Protocol):
    """What the kernel needs of guest memory (the machine provides it)."""

    def read(self, address: int, size: int) -> bytes: ...
    def write(self, address: int, data: bytes) -> None: ...
    def map(self, start: int, size: int, prot: int, data: bytes = b"") -> None: ...


class GuestCpu(Protocol):
    """What the kernel needs of the CPU: a descriptor in the GDT (set_thread_area), and
    every register, read and written when a signal frame is built or undone."""

    def set_gdt_entry(self, index: int, descriptor: bytes) -> None: ...
    def cpu_state(self) -> dict[str, int]: ...
    def set_cpu_state(self, state: dict[str, int]) -> None: ...


#: The calls whose EPIPE comes with SIGPIPE, and which of them take send(2)'s flags.
_SENDS = frozenset({"write", "send", "sendto", "writev"})
#: The calls whose strace line is read from the stack (the signal frame they undo).
_READS_ESP = frozenset({L.SYS_sigreturn, L.SYS_rt_sigreturn})


class Kernel:
    """One process's view of Linux: its fd table on a :class:`Network`, its signal
    dispositions and memory layout, and what it has done (exit status, unsupported calls).

    ``faults`` are fault specs (strings or parsed, see :mod:`harness.faults`) that this
    process's calls suffer; their results are recorded and traced like real ones.
    """

    def __init__(
        self,
        network: Network | None = None,
        *,
        strict: bool = False,
        strace: Callable[[str], None] | None = None,
        record: bool = False,
        fd_limit: int = L.INR_OPEN_CUR,
        stdin: bytes = b"",
        faults: Iterable[Fault | str] | Faults | None = None,
    ) -> None:
        self.network = network if network is not None else Network()
        self.fds: FdTable = self.network.fdtable(limit=fd_limit, stdin=stdin)
        self.strict = strict
        self.strace = strace
        #: (name, return value) of every completed call, when ``record`` was asked for.
        self.calls: list[tuple[str, int]] | None = [] if record else None
        self.unsupported: list[int] = []
        #: A short fault's byte cap for the readv/writev running now (0: none).
        self.io_cap = 0
        self.blocked: Stop | None = None
        self.blocked_fd = -1
        #: When the call that last blocked gives up (SO_RCVTIMEO), on the network's clock;
        #: None once it has returned.  Not None at entry means the call is being run again.
        self.deadline: float | None = None
        self._parked_fault: Fault | None = None
        self.exit_status: int | None = None
        #: Identity.  One process of one thread: pid = tid (the thread-group leader).  1000
        #: is a plain user-range pid, the same on every run so traces compare; the parent
        #: (999) is the shell or test that started it, which the guest cannot reach.
        self.pid = self.tid = 1000
        self.ppid = 999
        #: The CPUs this process may run on (sched_setaffinity(2), :mod:`.sys_sched`), bit n
        #: for CPU n: every CPU of the host at first, inherited by fork and kept across exec.
        self.cpus_mask = (1 << self.network.ncpus) - 1
        #: The process table shared by every process of the guest (task.Tasks), made by
        #: the first fork; None while the guest is one process.
        self.tasks = None
        #: Signals (see :mod:`.sigframe`): the k_sigaction per signal (absent is SIG_DFL),
        #: the blocked mask, the pending set and each pending signal's siginfo, the
        #: sigaltstack, and the (trapno, err, cr2) of the last fault.  ``pending_signal`` is
        #: the lowest pending signal that is not blocked, or None: the one check the
        #: machine makes after every call.
        self.sigactions: dict[int, SigAction] = {}
        self.sigmask = 0
        self.sigpending = 0
        self.siginfo: dict[int, SigInfo] = {}
        self.pending_signal: int | None = None
        #: Interval timers (:mod:`.sys_itimer`): ITIMER_REAL's deadline on the network's
        #: clock (None: disarmed) and its interval in seconds; ITIMER_VIRTUAL's and
        #: ITIMER_PROF's (interval, value) in microseconds, kept as set.
        self.itimer_at: float | None = None
        self.itimer_every = 0.0
        self.cpu_itimers: dict[int, tuple[int, int]] = {}
        self.altstack_sp = self.altstack_size = 0
        self.altstack_flags = 0  # as a new process inherits it: never set
        self.fault_arch = (0, 0, 0)
        self.mem: GuestMemory | None = None
        self.cpu: GuestCpu | None = None
        self.tls_used: set[int] = set()
        self.brk_start = self.brk_end = self.mapped_brk = 0
        self.read_implies_exec = False
        # Identity, files and start-up state of the process, identity, time and file calls
        # (sys_identity, sys_stat, sys_rlimit, sys_random, sys_thread):
        #: Who the guest is (real, effective, saved): root on a privileged network, as the
        #: auxiliary vector's AT_UID says, else an ordinary user.
        self.uid = self.gid = 0 if self.network.privileged else 1000
        #: The working directory getcwd reports and relative paths start from.
        self.cwd = "/"
        #: The read-only file tree (fs.Tree, ``--root``) or None (no files), and the cwd
        #: as components from its root (sys_fs).
        self.tree = None
        self.cwd_parts: list[str] = []
        #: The target of /proc/self/exe (Guest.load sets the program's absolute path).
        #: prctl(2): PR_SET_DUMPABLE's value (1 for a task exec'd normally), and the name
        #: PR_SET_NAME gave (None: the exe_path's last part, as exec sets it; sys_prctl).
        self.dumpable = L.SUID_DUMP_USER
        self.comm: bytes | None = None
        self.exe_path = "/guest"
        #: Resource limits, resource -> [soft, hard] (64-bit), made on first use.
        self.rlimits: dict[int, list[int]] | None = None
        #: F_SETFL flags of the standard streams (by fd 0-2) and extra ones of sockets.
        self.std_flags: dict[int, int] = {}
        self.sock_flags: dict[int, int] = {}
        #: sockfs inode numbers handed out by fstat, socket -> inode.
        self.sock_inodes: dict[object, int] = {}
        #: The AT_RANDOM bytes (the machine hands them over) seeding getrandom's stream.
        self.random_seed: bytes | None = None
        self.random = None
        self.clear_child_tid = 0
        self.robust_list = 0
        #: The system call ABI of the program (struct layouts, numbers): i386 until the
        #: machine attaches an x86-64 image (:meth:`attach`); ``home_abi`` is the same but
        #: while a 64-bit program's int 0x80 runs (:meth:`compat_syscall`).
        self.abi: Abi = I386
        self.home_abi: Abi = I386
        self._compat_tables: tuple[dict, dict] | None = None
        #: The faults this process runs under (see :mod:`harness.faults`), or None.
        self.faults: Faults | None = None
        if faults:
            self.faults = faults if isinstance(faults, Faults) else Faults(faults)
        self.bind_tables()

    def bind_tables(self) -> None:
        """The architecture's table bound to this kernel: number -> bound handler, and
        socketcall's call number -> bound handler (i386 only), behind the faults."""
        table = x86_64.TABLE if self.abi.name == "x86_64" else i386.TABLE
        self.table: dict[int, Callable[..., object]] = {
            entry.number: MethodType(entry.handler, self) for entry in table}
        self.socketcalls: dict[int, Callable[..., object]] = {
            call: MethodType(handler, self) for call, handler in i386.SOCKETCALLS.items()
        } if table is i386.TABLE else {}
        if self.faults is not None:
            self._install_faults()

    def attach(self, mem: GuestMemory, image: Image, cpu: GuestCpu | None = None) -> None:
        """Called by the machine once guest memory exists (a new program, or execve's)."""
        self.mem = mem
        self.cpu = cpu
        self.brk_start = self.brk_end = self.mapped_brk = image.brk
        self.read_implies_exec = image.read_implies_exec
        abi = ABIS[image.arch]
        if abi is not self.abi:
            self.abi = self.home_abi = abi
            self._compat_tables = None
            self.bind_tables()

    # ------------------------------------------------------------------ dispatch

    def syscall(self, nr: int, a: int, b: int, c: int, d: int, e: int, f: int) -> object:
        if self.strace is not None:
            return self._traced(nr, a, b, c, d, e, f)
        handler = self.table.get(nr)
        if handler is None:
            ret: object = self.unknown(nr)
        else:
            ret = handler(a, b, c, d, e, f)
        if ret is BLOCK:
            self.blocked = Stop("blocked", syscall=self.name_of(nr, a), fd=self.blocked_fd)
            return ret
        if self.calls is not None:
            self.calls.append((self.name_of(nr, a), ret if ret is not EXIT else None))
        return ret

    def compat_syscall(self, nr: int, a: int, b: int, c: int, d: int, e: int,
                       f: int) -> object:
        """A 64-bit program's ``int 0x80``: Linux's ia32 compat table (ia32_sys_call_table)
        with i386 numbers and struct layouts, for this one call."""
        home = (self.abi, self.table, self.socketcalls)
        if self._compat_tables is None:
            self.abi = I386
            self.bind_tables()
            self._compat_tables = (self.table, self.socketcalls)
        self.abi = I386
        self.table, self.socketcalls = self._compat_tables
        try:
            return self.syscall(nr, a, b, c, d, e, f)
        finally:
            self.abi, self.table, self.socketcalls = home

    def _traced(self, nr: int, a: int, b: int, c: int, d: int, e: int, f: int) -> object:
        """The same call with an strace line: arguments decoded before the call (the kernel
        may overwrite them, as set_thread_area does), results after, as strace does."""
        from ..trace import exit_line, syscall_enter, syscall_exit

        assert self.strace is not None
        regs: tuple[int, ...] = (a, b, c, d, e, f)
        abi = self.abi
        if nr in _READS_ESP and abi is I386:  # strace finds the sigreturn frame from esp
            regs += (self.cpu.cpu_state()["esp"],)
        elif nr == L64.SYS_rt_sigreturn and abi is not I386:  # and from rsp
            regs += (self.cpu.stack_pointer(),)
        pending = syscall_enter(nr, regs, self.peek, abi.name)
        strace, self.strace = self.strace, None
        self.strace_outer = strace
        try:
            ret = self.syscall(nr, a, b, c, d, e, f)
        finally:
            self.strace = strace if self.tasks is None else self.tasks.traced(self, strace)
            strace = self.strace
        if ret is not BLOCK:
            strace(syscall_exit(pending, None if ret is EXIT else ret, self.peek))
            if ret is EXIT:
                strace(exit_line(self.exit_status))
        return ret

    def _install_faults(self) -> None:
        """Put :meth:`_faulted` in front of the handler of every call a fault names, in both
        tables: the direct numbers and socketcall's, which share names (``socket``, ``bind``)."""
        names = self.faults.names
        for table, name_of in ((self.table, self.abi.names),
                               (self.socketcalls, L.SOCKETCALL_NAMES)):
            for number, handler in table.items():
                name = name_of[number]
                if name in names:
                    table[number] = self._faulted(name, handler)

    def _faulted(self, name: str, handler: Callable[..., object]) -> Callable[..., object]:
        """``handler`` behind the faults for ``name``.  Each call is counted once: a call
        that blocked and is run again (``deadline`` set) keeps the fault it drew first.
        An errno fault returns without running the call, with SIGPIPE for EPIPE where a real
        EPIPE would raise it; a short fault runs it with the byte count (the third argument
        of read, write, send, recv, sendto and recvfrom) cut down."""
        check = self.faults.check
        sends = name in _SENDS
        takes_flags = name not in ("write", "writev")
        frees_fd = name == "close"
        vectored = name in ("readv", "writev")

        def call(a: int, b: int, c: int, d: int, e: int, f: int) -> object:
            if self.deadline is None:
                fault = self._parked_fault = check(name)
            else:
                fault = self._parked_fault
            if fault is None:
                return handler(a, b, c, d, e, f)
            if fault.errno:
                ret = -fault.errno
                if sends and raises_sigpipe(ret, d if takes_flags else 0):
                    self.deliver(L.SIGPIPE)
                if frees_fd and fault.errno != L.EBADF:
                    handler(a, b, c, d, e, f)  # close(2): the fd is gone even on error
                return ret
            if vectored:  # the count is of iovecs: the handler caps the bytes itself
                self.io_cap = fault.short
                try:
                    return handler(a, b, c, d, e, f)
                finally:
                    self.io_cap = 0
            return handler(a, b, min(c, fault.short), d, e, f)

        return call

    def unknown(self, nr: int) -> int:
        """A call the harness does not model: -ENOSYS, recorded (strict mode raises)."""
        self.unsupported.append(nr)
        if self.strict:
            raise UnsupportedSyscall(nr)
        return -L.ENOSYS

    def name_of(self, nr: int, a: int) -> str:
        if nr == L.SYS_socketcall and self.abi is I386:
            return L.SOCKETCALL_NAMES.get(a, "socketcall")
        return self.abi.names.get(nr, f"syscall_{nr}")

    def peek(self, address: int, size: int) -> bytes | None:
        try:
            return self.mem.read(address, size)
        except BadAddress:
            return None

    # ------------------------------------------------------------------ guest memory

    def copy_in(self, address: int, size: int) -> bytes | int:
        """copy_from_user: the bytes, or -EFAULT."""
        try:
            return self.mem.read(address, size)
        except BadAddress:
            return -L.EFAULT

    def copy_out(self, address: int, data: bytes) -> int:
        """copy_to_user: 0, or -EFAULT."""
        try:
            self.mem.write(address, data)
            return 0
        except BadAddress:
            return -L.EFAULT

    def copy_string(self, address: int, limit: int = L.PATH_MAX) -> bytes | int:
        """strncpy_from_user: a NUL-terminated string without its NUL; -EFAULT, or
        -ENAMETOOLONG when no NUL comes within ``limit`` bytes (getname_flags)."""
        out = bytearray()
        while len(out) < limit:
            chunk = self.peek(address + len(out), 1)
            if chunk is None:
                return -L.EFAULT
            if chunk == b"\0":
                return bytes(out)
            out += chunk
        return -L.ENAMETOOLONG

    def user_length(self, address: int) -> int:
        """A socklen_t passed by pointer: its value, -EFAULT, or -EINVAL if negative
        (move_addr_to_user and sock_getsockopt both refuse a negative length)."""
        raw = self.copy_in(address, 4)
        if raw.__class__ is int:
            return raw
        length = s32(int.from_bytes(raw, "little"))
        return length if length >= 0 else -L.EINVAL

    # ------------------------------------------------------------------ signals and sleeping

    def deliver(self, signal: int, code: int = L.SI_USER, info: SigInfo | None = None) -> None:
        """Send ``signal`` to this process, as from itself (kill, tgkill, SIGPIPE's
        send_sig): pending until it is unblocked, then delivered when the current call
        returns (:meth:`handle_signals`).  A standard signal already pending is not queued
        twice (legacy_queue).  An ignored one is still queued and dropped at delivery: a
        traced process's ignored signals reach the tracer (sig_ignored), so ``--strace``
        shows them as strace does."""
        if self.sigpending & 1 << (signal - 1):
            return
        self.sigpending |= 1 << (signal - 1)
        self.siginfo[signal] = info or SigInfo(signal, code, self.pid, self.uid)
        self.recalc_signals()

    def interrupts(self, nr: int) -> int | None:
        """What a signal pending for this process does to the call it sleeps in (``nr``):
        None when it does not wake it (ignored, by SIG_IGN or by default); else the
        call's result as Linux's signal_pending path decides it: RESTART (run the call
        again after the handler, as ``handle_signal`` does for -ERESTARTSYS with
        SA_RESTART) or -EINTR (no SA_RESTART, a call that never restarts after a handler,
        or a default action that ends the process, which then never sees it)."""
        from .sigframe import DEFAULT_ACTION

        ready = self.sigpending & ~self.sigmask
        while ready:
            sig = (ready & -ready).bit_length()
            ready &= ready - 1
            action = self.sigactions.get(sig, DEFAULT_ACTION)
            if action.handler == SIG_IGN or (action.handler == SIG_DFL
                                             and sig in IGNORED_BY_DEFAULT):
                continue
            self.deadline = None  # the sleep is over, whatever follows
            if (action.handler != SIG_DFL and action.flags & L.SA_RESTART
                    and nr not in self.abi.never_restarted):
                return RESTART
            return -L.EINTR
        return None

    def trace_woken(self, args: tuple[int, ...]) -> None:
        """The strace line of a sleeping call a signal woke (``args``: nr and its six
        arguments): the restart code the kernel hands its signal code, as strace shows it
        (``pause() = ? ERESTARTNOHAND (To be restarted if no handler)``); socketcall's
        calls as their own.  Nothing without --strace."""
        if self.strace is None:
            return
        from ..trace import syscall_enter, syscall_exit
        nr, regs = args[0], args[1:]
        pending = syscall_enter(nr, regs, self.peek, self.abi.name)
        self.strace(syscall_exit(pending, self.abi.woken_result.get(nr, -L.ERESTARTSYS),
                                 self.peek))

    def recalc_signals(self) -> None:
        """recalc_sigpending: note the lowest pending, unblocked signal for the machine."""
        ready = self.sigpending & ~self.sigmask
        self.pending_signal = (ready & -ready).bit_length() if ready else None

    def handle_signals(self, state: dict[str, int]) -> Terminate | None:
        """On the way back to user mode with registers ``state`` (changed in place): run
        get_signal and handle_signal for each deliverable signal (:mod:`.sigframe`)."""
        return handle_signals(self, state)

    def block(self, fd: int, writing: bool = False) -> object:
        """The call would sleep on ``fd``: BLOCK, or -EAGAIN if its receive timeout (its send
        timeout, ``writing``) is over.

        socket(7), SO_RCVTIMEO: "If a blocking receive call times out ... -1 is returned
        with errno set to EAGAIN or EWOULDBLOCK"; accept(2) waits under the listener's
        timeout the same way (``inet_csk_accept`` takes ``sock_rcvtimeo``), a write under
        SO_SNDTIMEO (``sock_sndtimeo``; a pipe has none).  Time is the
        network's virtual clock (:meth:`Network.advance`), counted from the moment this
        call first blocked; the handler forgets the deadline when the call returns any
        other way.  No timeout set is no deadline; a timeout of 0 stored for a negative
        one gives up at once, as Linux's zero ``sk_rcvtimeo`` does.
        """
        deadline = self.deadline
        if deadline is None:
            timeout = getattr(self.fds.get(fd), "sndtimeo" if writing else "rcvtimeo", None)
            if timeout is None:
                self.deadline = NO_DEADLINE
                self.blocked_fd = fd
                return BLOCK
            deadline = self.deadline = self.network.now + timeout
        if self.network.now + CLOCK_SLACK >= deadline:
            self.deadline = None
            return -L.EAGAIN
        self.blocked_fd = fd
        return BLOCK

    @property
    def timeout_at(self) -> float | None:
        """When the call the guest is parked in gives up with EAGAIN (its SO_RCVTIMEO), on
        the network's clock, or when its ITIMER_REAL (alarm) expires if that comes first;
        None if it is not parked or waits without either."""
        deadline = self.deadline
        if deadline is None:
            return None
        alarm = self.itimer_at
        if alarm is not None and alarm < deadline:
            deadline = alarm
        return None if deadline == NO_DEADLINE else deadline

    def fire_timers(self) -> None:
        """SIGALRM if the clock has passed the ITIMER_REAL deadline (:mod:`.sys_itimer`)."""
        from .sys_itimer import fire_timers

        fire_timers(self)
