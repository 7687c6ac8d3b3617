"""File descriptors: read, write, close (fs/read_write.c, fs/open.c).

fds 0-2 are the standard streams (stdin as given, stdout and stderr collected); the rest are
sockets of the fake network (:mod:`harness.net`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, raises_sigpipe
from .abi import MAX_RW_COUNT

if TYPE_CHECKING:
    from .process import Kernel


def sys_read(k: Kernel, fd: int, buf: int, count: int, *_: int) -> object:
    result = k.fds.read(fd, min(count, MAX_RW_COUNT))
    if result is WOULD_BLOCK:
        return k.block(fd)
    k.deadline = None
    if result.__class__ is int:
        return result
    return k.copy_out(buf, result) or len(result)


def sys_write(k: Kernel, fd: int, buf: int, count: int, *_: int) -> int:
    if k.fds.get(fd) is None:
        return -L.EBADF
    data = k.copy_in(buf, min(count, MAX_RW_COUNT))
    if data.__class__ is int:
        return data
    ret = k.fds.write(fd, data)
    if raises_sigpipe(ret):
        k.deliver(L.SIGPIPE)
    return ret


def sys_close(k: Kernel, fd: int, *_: int) -> int:
    return k.fds.close(fd)
