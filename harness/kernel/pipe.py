"""Pipes (fs/pipe.c, pipe(7)): a 64 KiB buffer between a read end and a write end.

Each end is its own open file, so the fd table's reference counting (dup shares an end,
the last close releases it) tells the pipe how many readers and writers it has, as
``pipe_release`` counts them:

* a read of an empty pipe returns end of file once no writer is left; otherwise it waits
  (WOULD_BLOCK: the guest parks), or answers -EAGAIN with O_NONBLOCK;
* a write with no reader left is -EPIPE (the caller raises SIGPIPE); a write of at most
  PIPE_BUF bytes is atomic, so it waits until that much room is free; a longer one takes
  what fits and waits for the rest (``wdone`` keeps the count across the wait, as for the
  standard streams); with O_NONBLOCK it returns what fitted, or -EAGAIN;
* ``poll`` is ``pipe_poll``: the read end POLLIN with bytes, POLLHUP with no writer; the
  write end POLLOUT with PIPE_BUF bytes of room, POLLERR with no reader.

Nothing here imports unicorn.
"""

from __future__ import annotations

from .. import linux as L
from ..net import WOULD_BLOCK, WouldBlock

#: pipe(7): "Since Linux 2.6.11, the pipe capacity is 16 pages" (PIPE_DEF_BUFFERS).
PIPE_CAPACITY = 16 * 4096
#: pipe(7): writes of at most PIPE_BUF bytes are atomic.
PIPE_BUF = 4096


class Pipe:
    __slots__ = ("data", "readers", "writers", "arrived")

    def __init__(self) -> None:
        self.data = bytearray()
        self.readers = self.writers = 1
        #: Bytes ever written: each write is an edge for EPOLLET on the read end (sys_poll).
        self.arrived = 0

    def ends(self) -> tuple[PipeEnd, PipeEnd]:
        return PipeEnd(self, True), PipeEnd(self, False)


class PipeEnd:
    """One end of a :class:`Pipe`, as an fd table holds it."""

    __slots__ = ("pipe", "readable", "nonblock", "wdone")

    def __init__(self, pipe: Pipe, readable: bool) -> None:
        self.pipe = pipe
        self.readable = readable
        self.nonblock = False
        self.wdone = 0

    def __repr__(self) -> str:
        return f"<PipeEnd {'read' if self.readable else 'write'}>"

    @property
    def arrived(self) -> int:
        return self.pipe.arrived if self.readable else 0

    @property
    def access_mode(self) -> int:
        """F_GETFL's access mode: create_pipe_files opens the ends O_RDONLY and O_WRONLY."""
        return L.O_RDONLY if self.readable else L.O_WRONLY

    def read(self, count: int) -> bytes | int | WouldBlock:
        if not self.readable:
            return -L.EBADF
        pipe = self.pipe
        if pipe.data:
            chunk = bytes(pipe.data[:count])
            del pipe.data[:count]
            return chunk
        if not pipe.writers:
            return b""
        return -L.EAGAIN if self.nonblock else WOULD_BLOCK

    def write(self, data: bytes) -> int | WouldBlock:
        if self.readable:
            return -L.EBADF
        pipe = self.pipe
        done = self.wdone
        if not pipe.readers:
            self.wdone = 0
            return done or -L.EPIPE
        room = PIPE_CAPACITY - len(pipe.data)
        left = len(data) - done
        if left <= PIPE_BUF and room < left:
            take = 0  # atomic: all of it or none yet
        else:
            take = min(room, left)
        if take:
            pipe.data += data[done:done + take]
            pipe.arrived += take
            done += take
        if done == len(data):
            self.wdone = 0
            return done
        if self.nonblock:
            self.wdone = 0
            return done or -L.EAGAIN
        self.wdone = done
        return WOULD_BLOCK

    def poll(self) -> int:
        pipe = self.pipe
        if self.readable:
            mask = L.POLLIN | L.POLLRDNORM if pipe.data else 0
            return mask | (0 if pipe.writers else L.POLLHUP)
        mask = L.POLLOUT | L.POLLWRNORM if PIPE_CAPACITY - len(pipe.data) >= PIPE_BUF else 0
        return mask | (0 if pipe.readers else L.POLLERR)

    def close(self) -> None:
        if self.readable:
            self.pipe.readers -= 1
        else:
            self.pipe.writers -= 1
