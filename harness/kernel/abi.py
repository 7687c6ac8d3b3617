"""What every handler module shares: the two results that are not values, the stop reason,
the bad-pointer exception, and the small integer helpers of the i386 ABI.

A handler returns what Linux leaves in eax (a value, or ``-errno``) or one of two markers:
:data:`BLOCK` (the call would sleep; the machine parks the guest and runs the same call again
once the world has changed, as the kernel re-checks the condition a task slept on) and
:data:`EXIT` (the process is gone).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .. import linux as L
from .. import linux64 as L64


class BadAddress(Exception):
    """A guest pointer the kernel cannot follow; handlers turn it into -EFAULT."""


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
#: A sleeping call a signal handler interrupted, to run again once the handler returns
#: (SA_RESTART: -ERESTARTSYS turned back into the call by ``handle_signal``).
RESTART = _Marker("RESTART")

#: signal(7): "never restarted after being interrupted by a signal handler, regardless of
#: the use of SA_RESTART; they always fail with the error EINTR".
NEVER_RESTARTED = frozenset({
    L.SYS_poll, L.SYS_ppoll, L.SYS_ppoll_time64, L.SYS_select, L.SYS__newselect,
    L.SYS_pselect6, L.SYS_pselect6_time64, L.SYS_epoll_wait, L.SYS_epoll_pwait,
    L.SYS_nanosleep, L.SYS_clock_nanosleep, L.SYS_clock_nanosleep_time64, L.SYS_pause,
    L.SYS_rt_sigsuspend,
})

#: What a sleeping call returns to the kernel's signal code when a signal wakes it, which a
#: tracer sees (strace's ``= ? ERESTARTNOHAND``): -ERESTARTNOHAND for pause, poll, select
#: and sigsuspend (fs/select.c, kernel/signal.c), -ERESTART_RESTARTBLOCK for the sleeps
#: (kernel/time/hrtimer.c), -EINTR from epoll_wait (fs/eventpoll.c ep_poll), else
#: -ERESTARTSYS (pipe_read, sk_wait_data, inet_csk_accept, do_wait).
WOKEN_RESULT = {
    **dict.fromkeys((L.SYS_pause, L.SYS_poll, L.SYS_ppoll, L.SYS_ppoll_time64, L.SYS_select,
                     L.SYS__newselect, L.SYS_pselect6, L.SYS_pselect6_time64,
                     L.SYS_rt_sigsuspend), -L.ERESTARTNOHAND),
    **dict.fromkeys((L.SYS_nanosleep, L.SYS_clock_nanosleep, L.SYS_clock_nanosleep_time64),
                    -L.ERESTART_RESTARTBLOCK),
    L.SYS_epoll_wait: -L.EINTR, L.SYS_epoll_pwait: -L.EINTR,
}

#: The deadline of a wait without SO_RCVTIMEO.
NO_DEADLINE = float("inf")
#: How far short of a deadline the virtual clock may be and still count as there: it is a
#: float sum, and ten advances of 0.1 s make 0.9999999999999999 s.
CLOCK_SLACK = 1e-9
SIG_DFL, SIG_IGN = 0, 1
#: Signals whose default action is to do nothing (signal(7)).
IGNORED_BY_DEFAULT = frozenset({L.SIGCHLD, L.SIGCONT, L.SIGURG, L.SIGWINCH})

#: read(2) and write(2) move at most this much at once (include/linux/fs.h).
MAX_RW_COUNT = 0x7FFFF000


def s32(v: int) -> int:
    """A register's 32 bits read as the C ``int`` the kernel declares the argument as."""
    v &= 0xFFFFFFFF  # idempotent: a value already made signed stays what it is
    return v - (1 << 32) if v & 0x80000000 else v


def u32(data: bytes, offset: int = 0) -> int:
    return int.from_bytes(data[offset:offset + 4], "little")


def p32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


# --- the layouts of one architecture's structs -------------------------------------------------


@dataclass(frozen=True)
class Abi:
    """What differs between the i386 and the x86-64 system call ABI besides the numbers (the
    tables :mod:`.i386` and :mod:`.x86_64`): the size of a long and a pointer, and the
    structs built of them.  A handler that reads or writes such a struct takes its layout
    from ``k.abi``; one whose structs are the same on both (sockaddr, pollfd, the packed
    12-byte epoll_event, siginfo's first words, prlimit64's rlimit64) does not look.

    Sources: arch/x86/include/uapi/asm/signal.h and include/linux/compat.h (sigaction,
    stack_t), include/uapi/linux/uio.h (iovec), include/uapi/linux/time_types.h (timespec,
    timeval), include/uapi/linux/resource.h (rlimit).
    """

    name: str
    #: sizeof(long) == sizeof(void *)
    word: int
    #: struct iovec {void *iov_base; size_t iov_len}: the length read signed, as
    #: __import_iovec refuses a negative (s)size_t.
    iovec: struct.Struct
    #: struct sigaction as rt_sigaction(2) passes it: handler, flags, restorer, 64-bit mask.
    sigaction: struct.Struct
    #: stack_t {void *ss_sp; int ss_flags; size_t ss_size}.
    stack_t: struct.Struct
    #: struct rlimit {unsigned long rlim_cur, rlim_max} (getrlimit/setrlimit).
    rlimit: struct.Struct
    #: RLIM_INFINITY as that struct holds it.
    rlim_infinity: int
    #: sizeof(struct rusage): two timevals and fourteen longs.
    rusage_size: int
    #: number -> name, as strace prints it for this architecture.
    names: dict[int, str]
    #: NEVER_RESTARTED and WOKEN_RESULT (above) by this architecture's numbers.
    never_restarted: frozenset[int]
    woken_result: dict[int, int]

    @property
    def mask(self) -> int:
        return (1 << 8 * self.word) - 1


def _by_name(numbers: dict[str, int], i386_numbers) -> list[int]:
    """The numbers of the calls named as ``i386_numbers`` are that this architecture has."""
    return [numbers[L.SYSCALL_NAMES[nr]] for nr in i386_numbers
            if L.SYSCALL_NAMES[nr] in numbers]


_NUMBERS_64 = {name: nr for nr, name in L64.SYSCALL_NAMES.items()}

I386 = Abi("i386", 4, iovec=struct.Struct("<Ii"), sigaction=struct.Struct("<IIIQ"),
           stack_t=struct.Struct("<IiI"), rlimit=struct.Struct("<II"),
           rlim_infinity=0xFFFFFFFF, rusage_size=72, names=L.SYSCALL_NAMES,
           never_restarted=NEVER_RESTARTED, woken_result=WOKEN_RESULT)
X86_64 = Abi("x86_64", 8, iovec=struct.Struct("<Qq"), sigaction=struct.Struct("<QQQQ"),
             stack_t=struct.Struct("<Qi4xQ"), rlimit=struct.Struct("<QQ"),
             rlim_infinity=0xFFFFFFFFFFFFFFFF, rusage_size=144, names=L64.SYSCALL_NAMES,
             never_restarted=frozenset(_by_name(_NUMBERS_64, NEVER_RESTARTED)),
             woken_result={_NUMBERS_64[L.SYSCALL_NAMES[nr]]: ret
                           for nr, ret in WOKEN_RESULT.items()
                           if L.SYSCALL_NAMES[nr] in _NUMBERS_64})
ABIS = {"i386": I386, "x86_64": X86_64}
