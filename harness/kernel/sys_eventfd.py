"""eventfd and eventfd2 (fs/eventfd.c, eventfd(2)): a 64-bit counter behind an fd.

A read of 8 bytes or more returns the counter and zeroes it (with EFD_SEMAPHORE: returns 1
and decrements it); a counter of 0 waits, or answers -EAGAIN with EFD_NONBLOCK.  A write
adds an 8-byte value; the counter holds at most 0xfffffffffffffffe, so a write that would
pass it waits (or -EAGAIN), and the value 0xffffffffffffffff itself is -EINVAL.  Readiness
is ``eventfd_poll``: POLLIN with a counter above 0, POLLOUT while 1 more fits.  Like epoll,
an eventfd is an anonymous inode: fstat shows mode 0600 and no file type.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, WouldBlock

if TYPE_CHECKING:
    from .process import Kernel

ULLONG_MAX = 0xFFFFFFFFFFFFFFFF
_EFD_FLAGS = L.EFD_SEMAPHORE | L.EFD_CLOEXEC | L.EFD_NONBLOCK


class EventFd:
    __slots__ = ("count", "semaphore", "nonblock", "wdone")
    anon_inode = True
    access_mode = L.O_RDWR

    def __init__(self, count: int, semaphore: bool, nonblock: bool) -> None:
        self.count = count
        self.semaphore = semaphore
        self.nonblock = nonblock
        self.wdone = 0

    def __repr__(self) -> str:
        return f"<EventFd {self.count}>"

    def read(self, size: int) -> bytes | int | WouldBlock:
        if size < 8:
            return -L.EINVAL
        if not self.count:
            return -L.EAGAIN if self.nonblock else WOULD_BLOCK
        value = 1 if self.semaphore else self.count
        self.count -= value
        return struct.pack("<Q", value)

    def write(self, data: bytes) -> int | WouldBlock:
        if len(data) < 8:
            return -L.EINVAL
        value = struct.unpack_from("<Q", data)[0]
        if value == ULLONG_MAX:
            return -L.EINVAL
        if ULLONG_MAX - self.count <= value:
            return -L.EAGAIN if self.nonblock else WOULD_BLOCK
        self.count += value
        return 8

    def poll(self) -> int:
        mask = L.POLLIN | L.POLLRDNORM if self.count else 0
        if self.count < ULLONG_MAX - 1:
            mask |= L.POLLOUT | L.POLLWRNORM
        return mask

    def close(self) -> None:
        pass


def sys_eventfd2(k: Kernel, count: int, flags: int, *_: int) -> int:
    """eventfd2(2) (``do_eventfd``): -EINVAL for unknown flags, then the fd (-EMFILE)."""
    if flags & ~_EFD_FLAGS:
        return -L.EINVAL
    f = EventFd(count, bool(flags & L.EFD_SEMAPHORE), bool(flags & L.EFD_NONBLOCK))
    return k.fds.install(f, bool(flags & L.EFD_CLOEXEC))


def sys_eventfd(k: Kernel, count: int, *_: int) -> int:
    return sys_eventfd2(k, count, 0)
