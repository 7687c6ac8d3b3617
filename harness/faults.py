"""Fault injection: make the guest's system calls fail, or move fewer bytes, on purpose.

A server has to survive what the kernel may answer (accept4 at the fd limit, a write to a
client that has gone, a read interrupted by a signal, a short write), but a test cannot
make a real kernel do any of that on cue.  A fault spec names a call, what happens to it
and which of its calls::

    NAME=ACTION@WHEN

    write=EPIPE@1        the 1st write fails with EPIPE, without running
    accept4=EMFILE@2     the 2nd accept4 fails with EMFILE
    read=EINTR@1         the 1st read fails with EINTR
    read=short:1@*       every read returns at most 1 byte
    write=short:7@2      the 2nd write writes at most 7 bytes
    recv=ECONNRESET@3-5  the 3rd, 4th and 5th recv fail with ECONNRESET

NAME
    The call as strace names it: ``read``, ``write``, ``accept4``, ``close`` ...  The calls
    an old binary makes through socketcall(2) go by their own names (``accept``, ``recv``,
    ``send``), as strace shows them.  Any call the harness models and that returns can be
    named (:data:`INJECTABLE`): not exit or exit_group.
ACTION
    ``ERRNO``: an errno name (``EPIPE``, ``EINTR``, ``EMFILE``, ``EAGAIN``; any of errno(3),
    ``EWOULDBLOCK`` included, in any case): the call returns -1 with that errno and has no
    other effect.
    An injected EPIPE on write, send or sendto raises SIGPIPE as a real one does (write(2),
    send(2)): fatal unless SIGPIPE is ignored or send passed MSG_NOSIGNAL.

    ``short:N`` (N >= 1), for read, recv, recvfrom, write, send, sendto, readv and writev
    only: the call
    runs with its byte count cut to N, so it moves at most N bytes, as read(2) and write(2)
    allow ("It is not an error if this number is smaller than the number of bytes
    requested").
WHEN
    Which calls of NAME, counted from 1 since the process started: ``N`` (the Nth call),
    ``N-M`` (the Nth to the Mth), ``N-`` (the Nth and every later one), ``*`` (every call).
    A call that waits (a read with nothing to read yet) counts once, however often the
    guest is resumed before it returns.

Several specs may name the same call; for each call the first one that matches applies.
This module only parses and counts; :class:`harness.kernel.Kernel` applies the faults
(``Guest(program, faults=["write=EPIPE@1"])``).  Invalid specs raise :class:`FaultSpecError`,
whose message is one line naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from . import linux as L
from . import linux64 as L64
from .errors import HarnessError

__all__ = ["INJECTABLE", "SHORTABLE", "Fault", "FaultSpecError", "Faults", "parse_fault"]  # noqa: F822 - INJECTABLE: module __getattr__

#: Modelled calls a fault may not name: they never return to the guest as a call does
#: (exit, exit_group, the sigreturns) or stand for another call (socketcall).
_NOT_INJECTABLE = frozenset({"exit", "exit_group", "socketcall", "sigreturn", "rt_sigreturn"})


@cache
def _injectable() -> frozenset[str]:
    """The calls the harness models (the i386 table and socketcall's, the x86-64 table) that
    return, by strace name: what a fault may name.  Imported late: the kernel imports this
    module."""
    from .kernel import x86_64
    from .kernel.i386 import SOCKETCALLS, TABLE

    names = {entry.name for entry in TABLE} | {L.SOCKETCALL_NAMES[c] for c in SOCKETCALLS}
    names |= {entry.name for entry in x86_64.TABLE}
    return frozenset(names - _NOT_INJECTABLE)


def __getattr__(name: str):
    if name == "INJECTABLE":  # PEP 562: computed from the table on first use
        return _injectable()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The calls that move a byte count and may be made short.
SHORTABLE = frozenset({"read", "recv", "recvfrom", "write", "send", "sendto", "readv", "writev"})

_ERRNOS = {name: value for value, name in L.ERRNO_NAMES.items()}
_ERRNOS.update(EWOULDBLOCK=L.EWOULDBLOCK, EDEADLOCK=L.EDEADLOCK)
_KNOWN_CALLS = (frozenset(L.SYSCALL_NAMES.values()) | frozenset(L.SOCKETCALL_NAMES.values())
                | frozenset(L64.SYSCALL_NAMES.values()))
_FORM = "expected NAME=ACTION@WHEN, such as write=EPIPE@1 or read=short:1@*"


class FaultSpecError(HarnessError):
    """A fault spec that cannot be parsed; the message names the part that is wrong."""


@dataclass(frozen=True)
class Fault:
    """One parsed spec.  Exactly one of ``errno`` (fail with it) and ``short`` (cap the byte
    count at it) is non-zero; it applies to calls ``first`` to ``last`` of ``name``
    (``last`` None: no end).  ``str()`` gives the spec back in its canonical form."""

    name: str
    errno: int = 0
    short: int = 0
    first: int = 1
    last: int | None = None

    def __post_init__(self) -> None:
        if (self.errno > 0) == (self.short > 0) or self.first < 1:
            raise FaultSpecError(f"a fault on {self.name} needs an errno or a short count, "
                                 "not both, and calls that count from 1")

    def covers(self, n: int) -> bool:
        """Whether the ``n``-th call of ``name`` (from 1) suffers this fault."""
        return self.first <= n and (self.last is None or n <= self.last)

    def __str__(self) -> str:
        action = L.ERRNO_NAMES[self.errno] if self.errno else f"short:{self.short}"
        if self.first == 1 and self.last is None:
            when = "*"
        elif self.last == self.first:
            when = str(self.first)
        else:
            when = f"{self.first}-{'' if self.last is None else self.last}"
        return f"{self.name}={action}@{when}"


def parse_fault(text: str) -> Fault:
    """``"write=EPIPE@1"`` -> ``Fault("write", errno=EPIPE, first=1, last=1)``; the syntax is
    in the module docstring.  Raises :class:`FaultSpecError`."""
    spec = text.strip()
    head, at, when = spec.rpartition("@")
    name, eq, action = head.partition("=")
    if not at or not eq or not name or not action or not when:
        raise FaultSpecError(f"bad fault spec {text!r}: {_FORM}")

    def bad(why: str) -> FaultSpecError:
        return FaultSpecError(f"bad fault spec {spec!r}: {why}")

    if name not in _injectable():
        if name in ("exit", "exit_group"):
            raise bad(f"{name} never returns, so it cannot fail")
        if name in _KNOWN_CALLS:
            raise bad(f"the harness does not model {name} (it returns ENOSYS)")
        raise bad(f"unknown system call {name!r}")

    errno = short = 0
    if action.startswith("short:"):
        if name not in SHORTABLE:
            raise bad(f"short applies to {', '.join(sorted(SHORTABLE))}; not to {name}")
        count = action[6:]
        if not count.isdigit() or int(count) < 1:
            raise bad(f"short needs a byte count of at least 1, not {count!r}")
        short = int(count)
    else:
        errno = _ERRNOS.get(action.upper(), 0)
        if not errno:
            raise bad(f"unknown errno {action!r} (an errno(3) name such as EPIPE)")

    if when == "*":
        first, last = 1, None
    else:
        low, dash, high = when.partition("-")
        if not low.isdigit() or not (high.isdigit() or not high):
            raise bad(f"bad call count {when!r}: N, N-M, N- or *")
        first = int(low)
        last = int(high) if high else (None if dash else first)
        if first < 1:
            raise bad(f"bad call count {when!r}: calls count from 1")
        if last is not None and last < first:
            raise bad(f"bad call count {when!r}: the range ends before it starts")
    return Fault(name, errno, short, first, last)


class Faults:
    """The faults one process runs under, and how many calls of each name it has made.

    ``check(name)`` is the kernel's one question per call of a faulted name: it counts the
    call and returns the :class:`Fault` it suffers, or None.  Names no fault mentions are
    neither counted nor slowed down (the kernel does not ask about them).
    """

    __slots__ = ("faults", "counts", "_by_name")

    def __init__(self, specs: Iterable[Fault | str] = ()) -> None:
        self.faults: tuple[Fault, ...] = tuple(
            spec if isinstance(spec, Fault) else parse_fault(spec) for spec in specs)
        by_name: dict[str, list[Fault]] = {}
        for fault in self.faults:
            by_name.setdefault(fault.name, []).append(fault)
        self._by_name = {name: tuple(faults) for name, faults in by_name.items()}
        #: Calls made so far, per faulted name.
        self.counts: dict[str, int] = dict.fromkeys(self._by_name, 0)

    def __repr__(self) -> str:
        return f"Faults({[str(f) for f in self.faults]!r})"

    def __bool__(self) -> bool:
        return bool(self.faults)

    @property
    def names(self) -> frozenset[str]:
        """The call names some fault applies to."""
        return frozenset(self._by_name)

    def check(self, name: str) -> Fault | None:
        """Count one call of ``name``; the first fault that covers it, or None."""
        faults = self._by_name.get(name)
        if faults is None:
            return None
        n = self.counts[name] = self.counts[name] + 1
        for fault in faults:
            if fault.covers(n):
                return fault
        return None
