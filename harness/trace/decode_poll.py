"""Decoders of the readiness calls (src/poll.c, src/desc.c, src/epoll.c): poll, select and
pselect6 (fd sets), epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait."""

from __future__ import annotations

import struct

from .. import linux as L
from .format import _FD, _UDECIMAL, Pending, _addr, _d, _flag_table, _flags, _Memory, _table

_POLL_EVENTS = _flag_table(
    "POLLIN POLLPRI POLLOUT POLLERR POLLHUP POLLNVAL POLLRDNORM POLLRDBAND POLLWRNORM "
    "POLLWRBAND POLLMSG POLLREMOVE POLLRDHUP")
_EPOLL_EVENTS = _flag_table(
    "POLLIN POLLPRI POLLOUT POLLERR POLLHUP POLLNVAL POLLRDNORM POLLRDBAND POLLWRNORM "
    "POLLWRBAND POLLMSG POLLRDHUP EPOLLEXCLUSIVE EPOLLWAKEUP EPOLLONESHOT EPOLLET")
_EPOLL_EVENTS = tuple((v, n.replace("POLL", "EPOLL", 1) if n.startswith("POLL") else n)
                      for v, n in _EPOLL_EVENTS)
_EPOLL_OPS = _table("EPOLL_CTL_ADD EPOLL_CTL_DEL EPOLL_CTL_MOD")
_CREATE_FLAGS = _flag_table("EPOLL_CLOEXEC")
_MAX_ITEMS = 1024  # strace's -X/abbrev limit is not reached by these tests' sizes


def _pollfds(mem: _Memory, address: int, nfds: int, field: str, only_set: bool) -> str:
    raw = mem.fetch(address, 8 * nfds) if nfds else b""
    if raw is None:
        return _addr(address)
    items = []
    for fd, events, revents in struct.iter_unpack("<ihH", raw):
        value = (events & 0xFFFF) if field == "events" else revents
        if only_set and not value:
            continue
        items.append(f"{{fd={fd}, {field}={_flags(_POLL_EVENTS, value, 'POLL???')}}}")
    return "[" + ", ".join(items) + "]"


def _enter_poll(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_pollfds(mem, a[0], a[1], 'events', False)}, {a[1]}, {_d(a[2])}"
    return False


def _exit_poll(p: Pending, mem: _Memory, ret: int) -> str | None:
    if ret < 0:
        return None
    if ret == 0:
        return "Timeout"
    return _pollfds(mem, p.args[0], p.args[1], "revents", True)


def _fdset(mem: _Memory, address: int, n: int) -> str:
    if not address:
        return "NULL"
    word = 8 if mem.mask > 0xFFFFFFFF else 4  # an fd_set of the process's longs
    size = (max(n, 0) + 8 * word - 1) // (8 * word) * word
    raw = mem.fetch(address, size) if size else b""
    if raw is None:
        return _addr(address)
    bits = int.from_bytes(raw, "little")
    return "[" + " ".join(str(fd) for fd in range(n) if bits >> fd & 1) + "]"


def _enter_select(p: Pending, mem: _Memory) -> bool:
    a = p.args
    n = a[0] if a[0] < 0x80000000 else 0
    p.saved = n
    sets = ", ".join(_fdset(mem, ptr, n) for ptr in a[1:4])
    p.text += f"{_d(a[0])}, {sets}, "
    if p.name == "pselect6":
        p.text += ("NULL" if not a[4] else _addr(a[4])) + ", " + (
            "NULL" if not a[5] else _addr(a[5]))
    else:
        p.text += "NULL" if not a[4] else _addr(a[4])
    return False


def _exit_select(p: Pending, mem: _Memory, ret: int) -> str | None:
    if ret < 0:
        return None
    if ret == 0:
        return "Timeout"
    parts = []
    for name, ptr in zip(("in", "out", "except"), p.args[1:4]):
        if ptr:
            text = _fdset(mem, ptr, p.saved)
            if text != "[]":
                parts.append(f"{name} {text}")
    return ", ".join(parts)


def _event(raw: bytes) -> str:
    events, data = struct.unpack("<IQ", raw)
    return (f"{{events={_flags(_EPOLL_EVENTS, events, 'EPOLL???')}, "
            f"data={{u32={data & 0xFFFFFFFF}, u64={data}}}}}")


def _enter_epoll_create1(p: Pending, mem: _Memory) -> bool:
    p.text += _flags(_CREATE_FLAGS, p.args[0], "EPOLL_???")
    return True


def _enter_epoll_create(p: Pending, mem: _Memory) -> bool:
    p.text += _d(p.args[0])
    return True


def _enter_epoll_ctl(p: Pending, mem: _Memory) -> bool:
    a = p.args
    op = _EPOLL_OPS.get(a[1], f"{a[1]:#x} /* EPOLL_CTL_??? */")
    p.text += f"{_d(a[0])}, {op}, {_d(a[2])}, "
    raw = mem.fetch(a[3], 12) if a[1] != L.EPOLL_CTL_DEL else None
    p.text += "NULL" if not a[3] else (_event(raw) if raw is not None else _addr(a[3]))
    return True


def _enter_epoll_wait(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_epoll_wait(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    if ret > 0:
        raw = mem.fetch(a[1], 12 * ret)
        text = (_addr(a[1]) if raw is None else
                "[" + ", ".join(_event(raw[i:i + 12]) for i in range(0, len(raw), 12)) + "]")
    else:
        text = "[]" if ret == 0 else _addr(a[1])
    p.text += f"{text}, {_d(a[2])}, {_d(a[3])}"
    if p.name == "epoll_pwait":
        p.text += ", " + ("NULL" if not a[4] else _addr(a[4])) + f", {a[5]}"


_EFD_FLAGS = _flag_table("EFD_SEMAPHORE EFD_CLOEXEC EFD_NONBLOCK")


def _enter_eventfd(p: Pending, mem: _Memory) -> bool:
    """src/eventfd.c: the initial value, and eventfd2's flags."""
    p.text += str(p.args[0])
    if p.name == "eventfd2":
        p.text += ", " + _flags(_EFD_FLAGS, p.args[1], "EFD_???")
    return True


DECODERS = {
    "poll": (_enter_poll, _exit_poll, _UDECIMAL),
    "eventfd": (_enter_eventfd, None, _FD),
    "eventfd2": (_enter_eventfd, None, _FD),
    "_newselect": (_enter_select, _exit_select, _UDECIMAL),
    "pselect6": (_enter_select, _exit_select, _UDECIMAL),
    "epoll_create": (_enter_epoll_create, None, _FD),
    "epoll_create1": (_enter_epoll_create1, None, _FD),
    "epoll_ctl": (_enter_epoll_ctl, None, _UDECIMAL),
    "epoll_wait": (_enter_epoll_wait, _exit_epoll_wait, _UDECIMAL),
    "epoll_pwait": (_enter_epoll_wait, _exit_epoll_wait, _UDECIMAL),
}
