"""strace-format syscall lines, and capstone listings of guest code.

Why strace's own format, byte for byte: a user can run the same ELF natively under
``strace -o native.txt ./prog``, run it here with ``--strace``, and ``diff`` the two.  Every
rule below is a port of strace 6.1 (the version the differential tests run against) with its
default options: ``-s 32`` (DEFAULT_STRLEN, src/defs.h), ``-a 40`` (acolumn), no ``-y``, no
``-X``.  The source files each rule comes from are named where it is implemented; the tests
in tests/test_trace.py run the real ``/usr/bin/strace`` twice (once raw, once default) and
check that these functions turn the raw numbers into the default text.

Two-phase, like strace itself.  strace prints some arguments when a syscall enters and the
rest when it returns (``read``'s buffer only exists afterwards; ``accept``'s address length is
read before the call and again after, and printed as ``[16 => 8]`` when the kernel changed it).
:func:`syscall_enter` renders the entry part from guest memory as it is *before* the handler
runs and :func:`syscall_exit` finishes the line from memory *after* it.  :func:`strace_line`
does both at once from memory after the call, which is exact for every syscall except the
few whose input memory the kernel overwrites (set_thread_area's entry_number, the value-result
length of accept, getsockname, getpeername, getsockopt and recvfrom): call the two phases
separately when those must match too.

What is decoded as strace decodes it: read, write, close, exit, exit_group, brk, signal,
rt_sigaction, rt_sigprocmask, set_thread_area, socket, bind, connect, listen, accept,
accept4, getsockname, getpeername, send, sendto, recv, recvfrom, shutdown, setsockopt,
getsockopt, the start-up and stdio calls (writev, readv, ioctl, fcntl, fcntl64, fstat64,
stat64, lstat64, fstatat64, statx, getcwd, readlink, readlinkat, uname, getresuid(32),
getresgid(32), getgroups(32), getrlimit, ugetrlimit, setrlimit, prlimit64, getrandom,
set_robust_list, clock_gettime(64), clock_getres(_time64), gettimeofday, time,
sched_getaffinity, sched_setaffinity), and socketcall (102), which strace shows as the call
it stands for (src/syscall.c ``decode_socket_subcall``).  Other known syscalls are printed as
``strace -e raw=NAME`` prints them (hex arguments, strace's argument count); numbers with no
syscall as strace's ``syscall_0x1f3(...)`` stub with six arguments.  Known gaps, each printed
as strace's raw fallback for the same value rather than strace's decoding: socket protocol
names outside AF_INET/AF_INET6, option names of levels other than SOL_SOCKET, SOL_IP, SOL_TCP
and SOL_UDP, socket filters, multicast requests, and addresses of families other than
AF_UNIX, AF_INET and AF_INET6.

An x86-64 process's lines come from :mod:`.x86_64` (``arch="x86_64"``): its names, 64-bit
registers and pointers, and the decoders whose structs hold longs.

Guest memory is reached only through ``read(address, size) -> bytes | None`` (None, or fewer
bytes, for an address the guest could not read either), so this package has no unicorn import.

One module per concept: :mod:`.format` (the printers every decoder shares: numbers, flags,
quoting, guest memory, the result column), the decoders by subsystem as the kernel's
``sys_*`` modules split them (:mod:`.decode_file`, :mod:`.decode_mm`, :mod:`.decode_signal`,
:mod:`.decode_socket`, :mod:`.decode_process`), :mod:`.lines` (whole lines: the decoder table,
the two phases, the ``+++``/``---`` lines) and :mod:`.listing` (capstone).  Everything callers
use is re-exported here.
"""

from __future__ import annotations

from .decode_process import sprinttime
from .format import COLUMN, STRING_LIMIT, Pending, Read, quote
from .lines import (
    _DECODERS, exit_line, killed_line, signal_line, strace_line, syscall_enter, syscall_exit,
)
from .listing import ListingLine, _capstone, insn_text, listing, listing_lines, trace_insn

__all__ = [
    "COLUMN", "STRING_LIMIT", "_DECODERS", "ListingLine", "Pending", "Read", "_capstone",
    "exit_line", "insn_text", "killed_line", "listing", "listing_lines", "quote", "signal_line",
    "sprinttime", "strace_line", "syscall_enter", "syscall_exit", "trace_insn",
]
