"""The Linux ABI the emitted program talks to, named as Linux names it.

i386 system call numbers come from arch/x86/entry/syscalls/syscall_32.tbl; the direct
socket calls (359 and up) exist since Linux 4.3, before which only socketcall(102) did.
Socket constants come from include/linux/socket.h and include/uapi/asm-generic/socket.h,
signal numbers from arch/x86/include/uapi/asm/signal.h.  The constants below the system
call numbers are the same on both architectures; x86-64's own numbers are in
:class:`x86_64`.
"""

# System calls (int 0x80: number in eax, arguments in ebx, ecx, edx, esi, edi, ebp).
SYS_exit = 1
SYS_fork = 2
SYS_read = 3
SYS_write = 4
SYS_close = 6
SYS_signal = 48
SYS_setrlimit = 75
SYS_wait4 = 114
SYS_writev = 146
SYS_nanosleep = 162
SYS_ugetrlimit = 191
SYS_sched_getaffinity = 242
SYS_epoll_ctl = 255
SYS_epoll_wait = 256
SYS_clock_gettime = 265
SYS_epoll_create1 = 329
SYS_socket = 359
SYS_bind = 361
SYS_listen = 363
SYS_accept4 = 364
SYS_setsockopt = 366
SYS_shutdown = 373


class x86_64:
    """x86-64 system call numbers, from arch/x86/entry/syscalls/syscall_64.tbl (the
    ``common`` and ``64`` rows): ``syscall`` with the number in rax, arguments in rdi, rsi,
    rdx, r10, r8, r9; it returns in rax and clobbers rcx and r11 (the entry saves rip and
    rflags there: arch/x86/entry/entry_64.S).  x86-64 has no ``signal`` (rt_sigaction
    instead), no ``ugetrlimit`` (its getrlimit already takes 64-bit limits) and no
    socketcall; the socket calls were direct from the start."""

    SYS_read = 0
    SYS_write = 1
    SYS_close = 3
    SYS_rt_sigaction = 13
    SYS_writev = 20
    SYS_nanosleep = 35
    SYS_socket = 41
    SYS_shutdown = 48
    SYS_bind = 49
    SYS_listen = 50
    SYS_setsockopt = 54
    SYS_fork = 57
    SYS_exit = 60
    SYS_wait4 = 61
    SYS_getrlimit = 97
    SYS_setrlimit = 160
    SYS_sched_getaffinity = 204
    SYS_clock_gettime = 228
    SYS_epoll_wait = 232
    SYS_epoll_ctl = 233
    SYS_accept4 = 288
    SYS_epoll_create1 = 291


# Sockets.
AF_INET = 2
SOCK_STREAM = 1
#: O_NONBLOCK's value, as socket(2) and accept4(2) take it in their type/flags.
SOCK_NONBLOCK = 0o4000
SOL_SOCKET = 1
SO_REUSEADDR = 2
#: SO_RCVTIMEO as i386 has always spelled it (SO_RCVTIMEO_OLD): a struct timeval of two
#: 32-bit longs, seconds and microseconds (arch/x86 uses asm-generic/socket.h).
SO_RCVTIMEO = 20
SHUT_WR = 1

# Errors the program retries rather than gives up on (include/uapi/asm-generic/errno-base.h).
EINTR = 4
EAGAIN = 11
ECONNABORTED = 103

# epoll (include/uapi/linux/eventpoll.h).
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLLIN = 0x001
EPOLLOUT = 0x004
EPOLLEXCLUSIVE = 1 << 28

# Resources (include/uapi/asm-generic/resource.h).
RLIMIT_NOFILE = 7

# Clocks (include/uapi/linux/time.h).
CLOCK_MONOTONIC = 1

# Signals.
SIGPIPE = 13
SIG_IGN = 1

# File descriptors every process starts with.
STDERR_FILENO = 2
