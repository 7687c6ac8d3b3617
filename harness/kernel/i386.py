"""The i386 system call table: number -> name -> handler, with a support level and a note.

One table per architecture, as gVisor's sentry keeps them (pkg/sentry/syscalls/linux/
linux64.go): the handlers are written once, by subsystem, in the ``sys_*`` modules and named
as Linux names them; the table says which number reaches which, how faithfully, and why.
The README's list of what is modelled is generated from here (:func:`markdown`), so it
cannot drift from the code.  Any number not in the table returns -ENOSYS and is recorded.

Numbers and names: arch/x86/entry/syscalls/syscall_32.tbl (via :mod:`harness.linux`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import linux as L
from . import sys_file, sys_mm, sys_process, sys_signal, sys_socket, sys_time, sys_tls

#: Support levels, as gVisor's compatibility docs name them.
FULL = "full"  # Linux's semantics and errnos for every argument the harness can be given
PARTIAL = "partial"  # the common uses, as the note says; the rest answers as the note says


@dataclass(frozen=True)
class Syscall:
    number: int
    handler: Callable[..., object]
    support: str
    note: str = ""

    @property
    def name(self) -> str:
        return L.SYSCALL_NAMES[self.number]


TABLE: tuple[Syscall, ...] = (
    Syscall(L.SYS_exit, sys_process.sys_exit, FULL,
            "one thread is the whole process; every fd is closed (FIN, or RST with unread data)"),
    Syscall(L.SYS_exit_group, sys_process.sys_exit, FULL, "as exit"),
    Syscall(L.SYS_read, sys_file.sys_read, FULL, "stdin, sockets"),
    Syscall(L.SYS_write, sys_file.sys_write, FULL, "stdout, stderr, sockets; EPIPE raises SIGPIPE"),
    Syscall(L.SYS_close, sys_file.sys_close, FULL),
    Syscall(L.SYS_brk, sys_mm.sys_brk, PARTIAL,
            "whole pages; shrinking keeps the pages"),
    Syscall(L.SYS_signal, sys_signal.sys_signal, FULL, "SA_ONESHOT | SA_NOMASK, as i386's"),
    Syscall(L.SYS_rt_sigaction, sys_signal.sys_rt_sigaction, FULL,
            "handlers run; SA_SIGINFO, SA_RESTORER, SA_RESETHAND, SA_NODEFER, SA_ONSTACK"),
    Syscall(L.SYS_rt_sigprocmask, sys_signal.sys_rt_sigprocmask, FULL),
    Syscall(L.SYS_set_thread_area, sys_tls.sys_set_thread_area, FULL,
            "GDT entries 12-14, as a 64-bit kernel gives a 32-bit task"),
    Syscall(L.SYS_nanosleep, sys_time.sys_nanosleep, FULL, "on the virtual clock"),
    Syscall(L.SYS_socketcall, sys_socket.sys_socketcall, FULL,
            "the multiplexer of old binaries, arguments copied as net/socket.c does"),
    Syscall(L.SYS_socket, sys_socket.sys_socket, PARTIAL, "AF_INET SOCK_STREAM (TCP)"),
    Syscall(L.SYS_bind, sys_socket.sys_bind, FULL),
    Syscall(L.SYS_connect, sys_socket.sys_connect, PARTIAL,
            "ECONNREFUSED: no server exists outside the guest"),
    Syscall(L.SYS_listen, sys_socket.sys_listen, FULL, "backlog as net.core.somaxconn caps it"),
    Syscall(L.SYS_accept4, sys_socket.sys_accept4, FULL, "SO_RCVTIMEO on the virtual clock"),
    Syscall(L.SYS_getsockopt, sys_socket.sys_getsockopt, FULL),
    Syscall(L.SYS_setsockopt, sys_socket.sys_setsockopt, FULL),
    Syscall(L.SYS_getsockname, sys_socket.sys_getsockname, FULL),
    Syscall(L.SYS_getpeername, sys_socket.sys_getpeername, FULL),
    Syscall(L.SYS_sendto, sys_socket.sys_sendto, FULL, "EPIPE raises SIGPIPE"),
    Syscall(L.SYS_recvfrom, sys_socket.sys_recvfrom, FULL, "SO_RCVTIMEO on the virtual clock"),
    Syscall(L.SYS_shutdown, sys_socket.sys_shutdown, FULL),
    # memory

    # signals
    Syscall(L.SYS_sigaction, sys_signal.sys_sigaction, FULL, "struct old_sigaction"),
    Syscall(L.SYS_sigprocmask, sys_signal.sys_sigprocmask, FULL, "the first 32 signals"),
    Syscall(L.SYS_rt_sigpending, sys_signal.sys_rt_sigpending, FULL),
    Syscall(L.SYS_sigaltstack, sys_signal.sys_sigaltstack, FULL),
    Syscall(L.SYS_sigreturn, sys_signal.sys_sigreturn, PARTIAL,
            "every register and the mask; the FPU state is not restored"),
    Syscall(L.SYS_rt_sigreturn, sys_signal.sys_rt_sigreturn, PARTIAL,
            "every register, the mask and the altstack; the FPU state is not restored"),
    Syscall(L.SYS_kill, sys_signal.sys_kill, FULL,
            "the only process is pid 1000, its own group; other pids ESRCH"),
    Syscall(L.SYS_tkill, sys_signal.sys_tkill, FULL, "the only thread is tid 1000"),
    Syscall(L.SYS_tgkill, sys_signal.sys_tgkill, FULL, "the only thread is 1000 in group 1000"),
    Syscall(L.SYS_getpid, sys_signal.sys_getpid, FULL, "1000"),
    Syscall(L.SYS_getppid, sys_signal.sys_getppid, FULL, "999"),
    Syscall(L.SYS_gettid, sys_signal.sys_gettid, FULL, "1000, the pid: one thread"),

    # process, identity, time and files

)

#: socketcall(2)'s calls, each the same handler as its direct call.
SOCKETCALLS = sys_socket.SOCKETCALLS


def markdown() -> str:
    """The README's table of modelled calls, one row per number, in number order."""
    rows = ["| number | call | support | notes |", "|---|---|---|---|"]
    for entry in sorted(TABLE, key=lambda e: e.number):
        rows.append(f"| {entry.number} | `{entry.name}` | {entry.support} | {entry.note} |")
    return "\n".join(rows)
