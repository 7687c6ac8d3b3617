"""pipe, pipe2 (fs/pipe.c) and dup, dup2, dup3 (fs/file.c): making and copying fds."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .pipe import Pipe

if TYPE_CHECKING:
    from .process import Kernel

#: __do_pipe_flags: the flags pipe2 accepts (O_DIRECT's packet mode is not modelled: the
#: pipe stays a byte stream; O_NOTIFICATION_PIPE needs watch queues, not built by default).
_PIPE2_FLAGS = L.O_CLOEXEC | L.O_NONBLOCK | L.O_DIRECT


def sys_pipe2(k: Kernel, fds: int, flags: int, *_: int) -> int:
    """pipe2(2) (``do_pipe2``): -EINVAL for other flags, then two fds (-EMFILE), then
    the pair copied out; -EFAULT undoes both fds."""
    if flags & ~_PIPE2_FLAGS:
        return -L.EINVAL
    read_end, write_end = Pipe().ends()
    read_end.nonblock = write_end.nonblock = bool(flags & L.O_NONBLOCK)
    cloexec = bool(flags & L.O_CLOEXEC)
    r = k.fds.install(read_end, cloexec)
    if r < 0:
        return r
    w = k.fds.install(write_end, cloexec)
    if w < 0:
        k.fds.close(r)
        return w
    if k.copy_out(fds, struct.pack("<ii", r, w)):
        k.fds.close(r)
        k.fds.close(w)
        return -L.EFAULT
    return 0


def sys_pipe(k: Kernel, fds: int, *_: int) -> int:
    return sys_pipe2(k, fds, 0)


def sys_dup(k: Kernel, fd: int, *_: int) -> int:
    """dup(2): the lowest free fd (-EMFILE), or -EBADF."""
    return k.fds.dup(fd)


def sys_dup3(k: Kernel, fd: int, new: int, flags: int, *_: int) -> int:
    """dup3(2) (``ksys_dup3``): -EINVAL for flags other than O_CLOEXEC or ``fd == new``,
    -EBADF for a ``new`` past RLIMIT_NOFILE or a closed ``fd``; an open ``new`` is closed
    quietly."""
    if flags & ~L.O_CLOEXEC or fd == new:
        return -L.EINVAL
    return k.fds.dup_to(fd, new, bool(flags & L.O_CLOEXEC))


def sys_dup2(k: Kernel, fd: int, new: int, *_: int) -> int:
    """dup2(2): as dup3 without flags, but ``fd == new`` returns ``new`` when it is open."""
    if fd == new:
        return fd if k.fds.get(fd) is not None else -L.EBADF
    return k.fds.dup_to(fd, new)
