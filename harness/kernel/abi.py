"""What every handler module shares: the two results that are not values, the stop reason,
the bad-pointer exception, and the small integer helpers of the i386 ABI.

A handler returns what Linux leaves in eax (a value, or ``-errno``) or one of two markers:
:data:`BLOCK` (the call would sleep; the machine parks the guest and runs the same call again
once the world has changed, as the kernel re-checks the condition a task slept on) and
:data:`EXIT` (the process is gone).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import linux as L


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
