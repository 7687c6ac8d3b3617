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
    Syscall(L.SYS_brk, sys_mm.sys_brk, FULL,
            "mm/mmap.c's rules: refuses to grow into (or within a page of) another mapping; "
            "shrinking unmaps"),
    Syscall(L.SYS_signal, sys_signal.sys_signal, PARTIAL, "dispositions only"),
    Syscall(L.SYS_rt_sigaction, sys_signal.sys_rt_sigaction, PARTIAL, "dispositions only"),
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
    Syscall(L.SYS_mmap2, sys_mm.sys_mmap2, PARTIAL,
            "anonymous memory (private, shared, MAP_FIXED, MAP_FIXED_NOREPLACE, hints) placed "
            "top-down as Linux places a 32-bit process's, randomisation off; a file descriptor "
            "gets the errno its file would (EBADF, EACCES, ENODEV); 2 GiB of guest memory "
            "at most"),
    Syscall(L.SYS_mmap, sys_mm.sys_old_mmap, PARTIAL,
            "the old mmap: its six arguments in a struct, the offset in bytes; as mmap2"),
    Syscall(L.SYS_munmap, sys_mm.sys_munmap, FULL),
    Syscall(L.SYS_mprotect, sys_mm.sys_mprotect, FULL,
            "enforced: a forbidden access raises SIGSEGV with SEGV_ACCERR"),
    Syscall(L.SYS_mremap, sys_mm.sys_mremap, FULL,
            "in place or moved; MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP"),
    Syscall(L.SYS_madvise, sys_mm.sys_madvise, PARTIAL,
            "MADV_DONTNEED zeroes private pages; hints accepted and ignored; "
            "the guard pages of MADV_GUARD_INSTALL are refused (EINVAL)"),

    # signals

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
