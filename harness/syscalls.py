"""The i386 system call table: number -> handler over the fake network and guest memory.

Each handler takes the six argument registers (ebx, ecx, edx, esi, edi, ebp) as unsigned
32-bit integers and returns what Linux leaves in eax: a value, or ``-errno``.  Two markers
are not values: :data:`BLOCK` (the call would sleep; the emulator parks the guest and runs
the same call again later) and :data:`EXIT` (the process is gone).

Implemented, with the order of their checks taken from the kernel so that a bad argument
gets the errno Linux gives:

=====================  ======  ==========================================================
call                   number  notes
=====================  ======  ==========================================================
exit, exit_group       1, 252  closes every fd (sockets send FIN, or RST with unread data)
read, write, close     3, 4, 6 fds 0-2 are stdin (empty) and the collected stdout/stderr
brk                    45      grows the heap in whole pages; shrinking keeps the pages
set_thread_area        243     a TLS descriptor in GDT entries 12-14, as C libraries need
nanosleep              162     parks the guest until the virtual clock has moved on
signal                 48      dispositions only; a handler is recorded, never run
socketcall             102     the multiplexer of old binaries, args copied like net/socket.c
rt_sigaction           174     as signal, through struct kernel_sigaction (20 bytes on i386)
rt_sigprocmask         175     the mask is kept and reported back
socket ... shutdown    359-373 socket, bind, connect (-ECONNREFUSED: no outside servers),
                               listen, accept4, get/setsockopt, getsockname, getpeername,
                               sendto, recvfrom, shutdown
=====================  ======  ==========================================================

Anything else returns -ENOSYS and is recorded in :attr:`Kernel.unsupported` (in strict
mode it raises :class:`UnsupportedSyscall`).  Pointers are checked: one the kernel could
not follow gives -EFAULT, as copy_from_user and copy_to_user do.

A write that fails with EPIPE raises SIGPIPE (unless MSG_NOSIGNAL or SIGPIPE is ignored):
the process dies of it right after the call returns, as Linux delivers the signal on the
way back to user mode.

A read, recv or accept that would block on a socket with SO_RCVTIMEO gives up with EAGAIN
once the network's virtual clock has moved that far past the moment the call first blocked
(socket(7); :meth:`Kernel._block`).  Faults (:mod:`harness.faults`) are applied by wrapping
the handlers of the calls they name, so calls no fault names run exactly as without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import linux as L
from .elf import PROT_EXEC, PROT_READ, PROT_WRITE
from .errors import UnsupportedSyscall
from .faults import Fault, Faults
from .net import WOULD_BLOCK, FdTable, Network, pack_sockaddr_in, parse_sockaddr_in, raises_sigpipe

if TYPE_CHECKING:
    from .elf import Image


class BadAddress(Exception):
    """A guest pointer the kernel cannot follow; handlers turn it into -EFAULT."""


class GuestMemory(Protocol):
    """What the kernel needs of guest memory (the machine provides it)."""

    def read(self, address: int, size: int) -> bytes: ...
    def write(self, address: int, data: bytes) -> None: ...
    def map(self, start: int, size: int, prot: int, data: bytes = b"") -> None: ...


class GuestCpu(Protocol):
    """What the kernel needs of the CPU: a descriptor in the GDT (set_thread_area)."""

    def set_gdt_entry(self, index: int, descriptor: bytes) -> None: ...


@dataclass(frozen=True)
class Stop:
    """Why the guest stopped running: ``"blocked"`` in ``syscall`` on ``fd``, or
    ``"exited"`` with ``status``."""

    reason: str
    status: int | None = None
    syscall: str | None = None
    fd: int | None = None


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


BLOCK = _Marker("BLOCK")
EXIT = _Marker("EXIT")

#: read(2) and write(2) move at most this much at once (include/linux/fs.h).
MAX_RW_COUNT = 0x7FFFF000
#: sizeof(struct sockaddr_storage): longer addresses are -EINVAL (move_addr_to_kernel).
_SOCKADDR_STORAGE = 128
#: i386 struct kernel_sigaction: handler, flags, restorer, 64-bit mask.
_SIGACTION_SIZE = 20
_SIGSET_SIZE = 8
SIG_DFL, SIG_IGN = 0, 1
#: Signals whose default action is to do nothing (signal(7)).
_IGNORED_BY_DEFAULT = {L.SIGCHLD, L.SIGCONT, L.SIGURG, L.SIGWINCH}
#: The deadline of a wait without SO_RCVTIMEO.
_NO_DEADLINE = float("inf")
#: How far short of a deadline the virtual clock may be and still count as there: it is a
#: float sum, and ten advances of 0.1 s make 0.9999999999999999 s.
_CLOCK_SLACK = 1e-9
#: The calls whose EPIPE comes with SIGPIPE, and which of them take send(2)'s flags.
_SENDS = frozenset({"write", "send", "sendto"})


def _descriptor(base: int, limit: int, flags: int) -> bytes:
    """The 8-byte segment descriptor for a struct user_desc (``fill_ldt`` in
    arch/x86/include/asm/desc.h): flags bits are seg_32bit, contents (2 bits),
    read_exec_only, limit_in_pages, seg_not_present, useable."""
    seg_32bit, contents = flags & 1, flags >> 1 & 3
    read_exec_only, limit_in_pages = flags >> 3 & 1, flags >> 4 & 1
    present, useable = not flags >> 5 & 1, flags >> 6 & 1
    type_ = (contents << 2) | ((read_exec_only ^ 1) << 1) | 1  # accessed
    access = 0x80 * present | 0x60 | 0x10 | type_  # DPL 3, code/data
    gran = (limit >> 16 & 0xF) | useable << 4 | seg_32bit << 6 | limit_in_pages << 7
    return bytes([limit & 0xFF, limit >> 8 & 0xFF, base & 0xFF, base >> 8 & 0xFF,
                  base >> 16 & 0xFF, access, gran, base >> 24 & 0xFF])


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


class Kernel:
    """One process's view of Linux: its fd table on a :class:`Network`, its signal
    dispositions and heap, and what it has done (exit status, unsupported calls).

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
        self.blocked: Stop | None = None
        self._blocked_fd = -1
        #: When the call that last blocked gives up (SO_RCVTIMEO), on the network's clock;
        #: None once it has returned.  Not None at entry means the call is being run again.
        self._deadline: float | None = None
        self._parked_fault: Fault | None = None
        self.exit_status: int | None = None
        self.pending_signal: int | None = None
        self.dispositions: dict[int, int] = {}
        self.sigmask = 0
        self.mem: GuestMemory | None = None
        self.cpu: GuestCpu | None = None
        self._tls_used: set[int] = set()
        self.brk_start = self.brk_end = 0
        self._mapped_brk = 0
        self._read_implies_exec = False
        self._table: dict[int, Callable[..., object]] = {
            L.SYS_exit: self.sys_exit,
            L.SYS_exit_group: self.sys_exit,
            L.SYS_read: self.sys_read,
            L.SYS_write: self.sys_write,
            L.SYS_close: self.sys_close,
            L.SYS_brk: self.sys_brk,
            L.SYS_signal: self.sys_signal,
            L.SYS_set_thread_area: self.sys_set_thread_area,
            L.SYS_nanosleep: self.sys_nanosleep,
            L.SYS_rt_sigaction: self.sys_rt_sigaction,
            L.SYS_rt_sigprocmask: self.sys_rt_sigprocmask,
            L.SYS_socketcall: self.sys_socketcall,
            L.SYS_socket: self.sys_socket,
            L.SYS_bind: self.sys_bind,
            L.SYS_connect: self.sys_connect,
            L.SYS_listen: self.sys_listen,
            L.SYS_accept4: self.sys_accept4,
            L.SYS_getsockopt: self.sys_getsockopt,
            L.SYS_setsockopt: self.sys_setsockopt,
            L.SYS_getsockname: self.sys_getsockname,
            L.SYS_getpeername: self.sys_getpeername,
            L.SYS_sendto: self.sys_sendto,
            L.SYS_recvfrom: self.sys_recvfrom,
            L.SYS_shutdown: self.sys_shutdown,
        }
        self._socketcalls: dict[int, Callable[..., object]] = {
            L.SOCKETCALL_SOCKET: self.sys_socket,
            L.SOCKETCALL_BIND: self.sys_bind,
            L.SOCKETCALL_CONNECT: self.sys_connect,
            L.SOCKETCALL_LISTEN: self.sys_listen,
            L.SOCKETCALL_ACCEPT: lambda fd, addr, alen, *_: self.sys_accept4(fd, addr, alen, 0),
            L.SOCKETCALL_GETSOCKNAME: self.sys_getsockname,
            L.SOCKETCALL_GETPEERNAME: self.sys_getpeername,
            L.SOCKETCALL_SEND: lambda fd, buf, n, fl, *_: self.sys_sendto(fd, buf, n, fl, 0, 0),
            L.SOCKETCALL_RECV: lambda fd, buf, n, fl, *_: self.sys_recvfrom(fd, buf, n, fl, 0, 0),
            L.SOCKETCALL_SENDTO: self.sys_sendto,
            L.SOCKETCALL_RECVFROM: self.sys_recvfrom,
            L.SOCKETCALL_SHUTDOWN: self.sys_shutdown,
            L.SOCKETCALL_SETSOCKOPT: self.sys_setsockopt,
            L.SOCKETCALL_GETSOCKOPT: self.sys_getsockopt,
            L.SOCKETCALL_ACCEPT4: self.sys_accept4,
        }
        #: The faults this process runs under (see :mod:`harness.faults`), or None.
        self.faults: Faults | None = None
        if faults:
            self.faults = faults if isinstance(faults, Faults) else Faults(faults)
            self._install_faults()

    def attach(self, mem: GuestMemory, image: Image, cpu: GuestCpu | None = None) -> None:
        """Called by the machine once guest memory exists."""
        self.mem = mem
        self.cpu = cpu
        self.brk_start = self.brk_end = self._mapped_brk = image.brk
        self._read_implies_exec = image.read_implies_exec

    # ------------------------------------------------------------------ dispatch

    def syscall(self, nr: int, a: int, b: int, c: int, d: int, e: int, f: int) -> object:
        if self.strace is not None:
            return self._traced(nr, a, b, c, d, e, f)
        handler = self._table.get(nr)
        if handler is None:
            ret: object = self._unknown(nr)
        else:
            ret = handler(a, b, c, d, e, f)
        if ret is BLOCK:
            self.blocked = Stop("blocked", syscall=self._name(nr, a), fd=self._blocked_fd)
            return ret
        if self.calls is not None:
            self.calls.append((self._name(nr, a), ret if ret is not EXIT else None))
        return ret

    def _traced(self, nr: int, a: int, b: int, c: int, d: int, e: int, f: int) -> object:
        """The same call with an strace line: arguments decoded before the call (the kernel
        may overwrite them, as set_thread_area does), results after, as strace does."""
        from .trace import exit_line, syscall_enter, syscall_exit

        assert self.strace is not None
        pending = syscall_enter(nr, (a, b, c, d, e, f), self._peek)
        strace, self.strace = self.strace, None
        try:
            ret = self.syscall(nr, a, b, c, d, e, f)
        finally:
            self.strace = strace
        if ret is not BLOCK:
            strace(syscall_exit(pending, None if ret is EXIT else ret, self._peek))
            if ret is EXIT:
                strace(exit_line(self.exit_status))
        return ret

    def _install_faults(self) -> None:
        """Put :meth:`_faulted` in front of the handler of every call a fault names, in both
        tables: the direct numbers and socketcall's, which share names (``socket``, ``bind``)."""
        names = self.faults.names
        for table, name_of in ((self._table, L.SYSCALL_NAMES),
                               (self._socketcalls, L.SOCKETCALL_NAMES)):
            for number, handler in table.items():
                name = name_of[number]
                if name in names:
                    table[number] = self._faulted(name, handler)

    def _faulted(self, name: str, handler: Callable[..., object]) -> Callable[..., object]:
        """``handler`` behind the faults for ``name``.  Each call is counted once: a call
        that blocked and is run again (``_deadline`` set) keeps the fault it drew first.
        An errno fault returns without running the call, with SIGPIPE for EPIPE where a real
        EPIPE would raise it; a short fault runs it with the byte count (the third argument
        of read, write, send, recv, sendto and recvfrom) cut down."""
        check = self.faults.check
        sends = name in _SENDS
        takes_flags = name != "write"
        frees_fd = name == "close"

        def call(a: int, b: int, c: int, d: int, e: int, f: int) -> object:
            if self._deadline is None:
                fault = self._parked_fault = check(name)
            else:
                fault = self._parked_fault
            if fault is None:
                return handler(a, b, c, d, e, f)
            if fault.errno:
                ret = -fault.errno
                if sends and raises_sigpipe(ret, d if takes_flags else 0):
                    self._deliver(L.SIGPIPE)
                if frees_fd and fault.errno != L.EBADF:
                    handler(a, b, c, d, e, f)  # close(2): the fd is gone even on error
                return ret
            return handler(a, b, min(c, fault.short), d, e, f)

        return call

    def _unknown(self, nr: int) -> int:
        self.unsupported.append(nr)
        if self.strict:
            raise UnsupportedSyscall(nr)
        return -L.ENOSYS

    @staticmethod
    def _name(nr: int, a: int) -> str:
        if nr == L.SYS_socketcall:
            return L.SOCKETCALL_NAMES.get(a, "socketcall")
        return L.SYSCALL_NAMES.get(nr, f"syscall_{nr}")

    def _peek(self, address: int, size: int) -> bytes | None:
        try:
            return self.mem.read(address, size)
        except BadAddress:
            return None

    # ------------------------------------------------------------------ memory helpers

    def _copy_in(self, address: int, size: int) -> bytes | int:
        try:
            return self.mem.read(address, size)
        except BadAddress:
            return -L.EFAULT

    def _copy_out(self, address: int, data: bytes) -> int:
        try:
            self.mem.write(address, data)
            return 0
        except BadAddress:
            return -L.EFAULT

    def _user_length(self, address: int) -> int:
        """A socklen_t passed by pointer: its value, -EFAULT, or -EINVAL if negative
        (move_addr_to_user and sock_getsockopt both refuse a negative length)."""
        raw = self._copy_in(address, 4)
        if raw.__class__ is int:
            return raw
        length = _s32(int.from_bytes(raw, "little"))
        return length if length >= 0 else -L.EINVAL

    def _addr_out(self, sockaddr: bytes, addr: int, addrlen_ptr: int) -> int:
        """move_addr_to_user: read the buffer's length, copy what fits, store the full
        length; -EINVAL for a negative length, -EFAULT for a bad pointer."""
        room = self._user_length(addrlen_ptr)
        if room < 0:
            return room
        if room and self._copy_out(addr, sockaddr[:room]):
            return -L.EFAULT
        return self._copy_out(addrlen_ptr, len(sockaddr).to_bytes(4, "little"))

    # ------------------------------------------------------------------ process

    def sys_exit(self, status: int, *_: int) -> object:
        self.exit_status = status & 0xFF
        self.fds.close_all()
        return EXIT

    def _deliver(self, signal: int) -> None:
        """A signal raised by a call: fatal unless ignored (handlers are not run here)."""
        action = self.dispositions.get(signal, SIG_DFL)
        if action == SIG_IGN or (action == SIG_DFL and signal in _IGNORED_BY_DEFAULT):
            return
        self.pending_signal = signal

    def sys_signal(self, sig: int, handler: int, *_: int) -> int:
        """signal(2) as i386's sys_signal: SA_ONESHOT|SA_NOMASK semantics, old handler back."""
        if not 1 <= sig <= L.NSIG or sig in (L.SIGKILL, L.SIGSTOP):
            return -L.EINVAL
        old = self.dispositions.get(sig, SIG_DFL)
        self.dispositions[sig] = handler
        return old

    def sys_rt_sigaction(self, sig: int, act: int, oact: int, size: int, *_: int) -> int:
        if size != _SIGSET_SIZE:
            return -L.EINVAL
        if not 1 <= sig <= L.NSIG:
            return -L.EINVAL
        new = None
        if act:
            raw = self._copy_in(act, _SIGACTION_SIZE)
            if raw.__class__ is int:
                return raw
            new = int.from_bytes(raw[:4], "little")
            if sig in (L.SIGKILL, L.SIGSTOP):
                return -L.EINVAL
        if oact:
            old = self.dispositions.get(sig, SIG_DFL).to_bytes(4, "little") + bytes(16)
            if self._copy_out(oact, old):
                return -L.EFAULT
        if new is not None:
            self.dispositions[sig] = new
        return 0

    def sys_rt_sigprocmask(self, how: int, set_: int, oset: int, size: int, *_: int) -> int:
        if size != _SIGSET_SIZE:
            return -L.EINVAL
        old = self.sigmask
        if set_:
            raw = self._copy_in(set_, 8)
            if raw.__class__ is int:
                return raw
            value = int.from_bytes(raw, "little") & ~(1 << (L.SIGKILL - 1) | 1 << (L.SIGSTOP - 1))
            if how == 0:
                self.sigmask |= value
            elif how == 1:
                self.sigmask &= ~value
            elif how == 2:
                self.sigmask = value
            else:
                return -L.EINVAL
        if oset and self._copy_out(oset, old.to_bytes(8, "little")):
            return -L.EFAULT
        return 0

    def sys_brk(self, address: int, *_: int) -> int:
        """brk(2): the new break if it could be set, else the current one (never -errno)."""
        if address < self.brk_start or address > self.brk_start + (1 << 30):
            return self.brk_end
        page_end = (address + 0xFFF) & ~0xFFF
        if page_end > self._mapped_brk:
            prot = PROT_READ | PROT_WRITE
            if self._read_implies_exec:
                prot |= PROT_EXEC
            self.mem.map(self._mapped_brk, page_end - self._mapped_brk, prot)
            self._mapped_brk = page_end
        self.brk_end = address
        return address

    def sys_set_thread_area(self, u_info: int, *_: int) -> int:
        """set_thread_area(2) (arch/x86/kernel/tls.c, ``do_set_thread_area``): read a
        struct user_desc, pick a free TLS slot for entry_number -1 and write the slot back,
        then install the descriptor that ``fill_ldt`` builds."""
        raw = self._copy_in(u_info, 16)
        if raw.__class__ is int:
            return raw
        entry, base, limit, flags = (int.from_bytes(raw[i:i + 4], "little") for i in (0, 4, 8, 12))
        first, count = L.GDT_ENTRY_TLS_MIN, L.GDT_ENTRY_TLS_ENTRIES
        if entry == 0xFFFFFFFF:
            free = [i for i in range(first, first + count) if i not in self._tls_used]
            if not free:
                return -L.ESRCH
            entry = free[0]
            if self._copy_out(u_info, entry.to_bytes(4, "little")):
                return -L.EFAULT
        if not first <= entry < first + count:
            return -L.EINVAL
        if self.cpu is None:
            return -L.ENOSYS
        self._tls_used.add(entry)
        self.cpu.set_gdt_entry(entry, _descriptor(base, limit, flags))
        return 0

    def sys_nanosleep(self, req: int, rem: int, *_: int) -> object:
        """nanosleep(2) on the network's virtual clock: the guest is parked until
        :meth:`Network.advance` has moved the clock past the interval, so a test decides
        when a sleeping guest wakes, and no test waits for real."""
        deadline = self._deadline
        if deadline is None:
            raw = self._copy_in(req, 8)
            if raw.__class__ is int:
                return raw
            sec, nsec = int.from_bytes(raw[:4], "little", signed=True), int.from_bytes(raw[4:], "little", signed=True)
            if sec < 0 or not 0 <= nsec <= 999_999_999:
                return -L.EINVAL
            deadline = self._deadline = self.network.now + sec + nsec / 1e9
        if self.network.now + _CLOCK_SLACK >= deadline:
            self._deadline = None
            return 0
        self._blocked_fd = -1
        return BLOCK

    # ------------------------------------------------------------------ files

    def sys_read(self, fd: int, buf: int, count: int, *_: int) -> object:
        result = self.fds.read(fd, min(count, MAX_RW_COUNT))
        if result is WOULD_BLOCK:
            return self._block(fd)
        self._deadline = None
        if result.__class__ is int:
            return result
        return self._copy_out(buf, result) or len(result)

    def sys_write(self, fd: int, buf: int, count: int, *_: int) -> int:
        if self.fds.get(fd) is None:
            return -L.EBADF
        data = self._copy_in(buf, min(count, MAX_RW_COUNT))
        if data.__class__ is int:
            return data
        ret = self.fds.write(fd, data)
        if raises_sigpipe(ret):
            self._deliver(L.SIGPIPE)
        return ret

    def sys_close(self, fd: int, *_: int) -> int:
        return self.fds.close(fd)

    def _block(self, fd: int) -> object:
        """The call would sleep on ``fd``: BLOCK, or -EAGAIN if its receive timeout is over.

        socket(7), SO_RCVTIMEO: "If a blocking receive call times out ... -1 is returned
        with errno set to EAGAIN or EWOULDBLOCK"; accept(2) waits under the listener's
        timeout the same way (``inet_csk_accept`` takes ``sock_rcvtimeo``).  Time is the
        network's virtual clock (:meth:`Network.advance`), counted from the moment this
        call first blocked; the handler forgets the deadline when the call returns any
        other way.  No timeout set is no deadline; a timeout of 0 stored for a negative
        one gives up at once, as Linux's zero ``sk_rcvtimeo`` does.
        """
        deadline = self._deadline
        if deadline is None:
            timeout = self.fds.get(fd).rcvtimeo  # only a Socket says WOULD_BLOCK
            if timeout is None:
                self._deadline = _NO_DEADLINE
                self._blocked_fd = fd
                return BLOCK
            deadline = self._deadline = self.network.now + timeout
        if self.network.now + _CLOCK_SLACK >= deadline:
            self._deadline = None
            return -L.EAGAIN
        self._blocked_fd = fd
        return BLOCK

    @property
    def timeout_at(self) -> float | None:
        """When the call the guest is parked in gives up with EAGAIN (its SO_RCVTIMEO), on
        the network's clock; None if it is not parked or waits without a timeout."""
        deadline = self._deadline
        return None if deadline is None or deadline == _NO_DEADLINE else deadline

    # ------------------------------------------------------------------ sockets

    def sys_socketcall(self, call: int, args: int, *_: int) -> object:
        """socketcall(2): copy ``nargs[call]`` words from ``args`` and make the call
        (net/socket.c ``SYSCALL_DEFINE2(socketcall)``)."""
        if not 1 <= call < len(L.SOCKETCALL_NARGS):
            return -L.EINVAL
        n = L.SOCKETCALL_NARGS[call]
        raw = self._copy_in(args, 4 * n)
        if raw.__class__ is int:
            return raw
        handler = self._socketcalls.get(call)
        if handler is None:
            return self._unknown(L.SYS_socketcall)
        words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 4 * n, 4)]
        words += [0] * (6 - n)
        return handler(*words)

    def sys_socket(self, domain: int, type_: int, protocol: int, *_: int) -> int:
        return self.fds.socket(_s32(domain), _s32(type_), _s32(protocol))

    def _sock_addr(self, fd: int, addr: int, addrlen: int):
        """sockfd_lookup_light, then move_addr_to_kernel: the socket and (ip, port), or -errno."""
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock, None
        addrlen = _s32(addrlen)
        if addrlen < 0 or addrlen > _SOCKADDR_STORAGE:
            return -L.EINVAL, None
        raw = self._copy_in(addr, addrlen)
        if raw.__class__ is int:
            return raw, None
        parsed = parse_sockaddr_in(raw)
        if parsed.__class__ is int:
            return parsed, None
        return sock, parsed

    def sys_bind(self, fd: int, addr: int, addrlen: int, *_: int) -> int:
        sock, where = self._sock_addr(fd, addr, addrlen)
        if where is None:
            return sock
        return sock.bind(*where)

    def sys_connect(self, fd: int, addr: int, addrlen: int, *_: int) -> int:
        """No server exists outside the guest, so an outgoing connection is refused."""
        sock, where = self._sock_addr(fd, addr, addrlen)
        if where is None:
            return sock
        return -L.ECONNREFUSED

    def sys_listen(self, fd: int, backlog: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        return sock.listen(_s32(backlog))

    def sys_accept4(self, fd: int, addr: int, addrlen_ptr: int, flags: int, *_: int) -> object:
        newfd = self.fds.accept4(fd, _s32(flags))
        if newfd is WOULD_BLOCK:
            return self._block(fd)
        self._deadline = None
        if newfd < 0 or not addr:
            return newfd
        peer = self.fds.get(newfd).remote
        err = self._addr_out(pack_sockaddr_in(*peer), addr, addrlen_ptr)
        if err:
            self.fds.close(newfd)
            return err
        return newfd

    def sys_setsockopt(self, fd: int, level: int, name: int, optval: int, optlen: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        optlen = _s32(optlen)
        if optlen < 0:
            return -L.EINVAL
        value = self._copy_in(optval, optlen)
        if value.__class__ is int:
            return value
        return sock.setsockopt(_s32(level), _s32(name), value)

    def sys_getsockopt(self, fd: int, level: int, name: int, optval: int, optlen_ptr: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        optlen = self._user_length(optlen_ptr)
        if optlen < 0:
            return optlen
        value = sock.getsockopt(_s32(level), _s32(name), optlen)
        if value.__class__ is int:
            return value
        if self._copy_out(optval, value) or self._copy_out(optlen_ptr, len(value).to_bytes(4, "little")):
            return -L.EFAULT
        return 0

    def sys_getsockname(self, fd: int, addr: int, addrlen_ptr: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        ip, port = sock.getsockname()
        return self._addr_out(pack_sockaddr_in(ip, port), addr, addrlen_ptr)

    def sys_getpeername(self, fd: int, addr: int, addrlen_ptr: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        peer = sock.getpeername()
        if peer.__class__ is int:
            return peer
        return self._addr_out(pack_sockaddr_in(*peer), addr, addrlen_ptr)

    def sys_sendto(self, fd: int, buf: int, length: int, flags: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        data = self._copy_in(buf, min(length, MAX_RW_COUNT))
        if data.__class__ is int:
            return data
        ret = sock.send(data, flags)
        if raises_sigpipe(ret, flags):
            self._deliver(L.SIGPIPE)
        return ret

    def sys_recvfrom(self, fd: int, buf: int, length: int, flags: int, src: int, srclen: int) -> object:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        count = min(length, MAX_RW_COUNT)
        result = sock.recv(count, flags)
        if result is WOULD_BLOCK:
            ret = self._block(fd)
            if ret is BLOCK or not sock.rx:
                return ret
            # Timed out in MSG_WAITALL with part of the bytes: tcp_recvmsg returns those.
            result = sock.recv(count, flags & ~L.MSG_WAITALL | L.MSG_DONTWAIT)
        self._deadline = None
        if result.__class__ is int:
            return result
        if self._copy_out(buf, result):
            return -L.EFAULT
        if src and srclen and self._copy_out(srclen, bytes(4)):  # TCP reports no source
            return -L.EFAULT
        return len(result)

    def sys_shutdown(self, fd: int, how: int, *_: int) -> int:
        sock = self.fds.sock(fd)
        if sock.__class__ is int:
            return sock
        return sock.shutdown(_s32(how))
