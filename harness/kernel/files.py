"""File descriptors: one process's fd table, and the standard streams behind fds 0-2.

The fd-level calls that allocate or release descriptors (socket, accept4, dup, close, fork's
copy) live on :class:`FdTable`, so their error order is the kernel's (fs/file.c); what an fd
names answers the rest (a :class:`~harness.net.Socket`, a :class:`StdStream`, a pipe end,
a file of the ``--root`` tree...).  Open files are shared by reference between the tables of
forked processes, counted in ``Network.shared``.  Nothing here imports unicorn.
"""

from __future__ import annotations

from ..linux import (
    EAGAIN,
    EBADF,
    EINVAL,
    EIO,
    EMFILE,
    ENOTSOCK,
    INR_OPEN_CUR,
    SOCK_CLOEXEC,
    SOCK_NONBLOCK,
)
from ..net import WOULD_BLOCK, Network, Socket, WouldBlock


#: How many bytes a guest's stdout or stderr holds when nothing streams it out
#: (:class:`StdStream` without a sink): the pipe is full there and the writer sleeps.
STD_CAPACITY = 64 << 20


class StdStream:
    """fd 0, 1 or 2, each one end of a pipe whose other end is the harness's user.

    stdin reads from ``data``, then returns end of file.  stdout and stderr either stream
    what the guest writes to ``sink`` as it is written (a callable taking the bytes, or a
    binary file: ``webelf run`` passes its own stdout and stderr), or collect it in
    ``output`` for a reader that looks at it later (the Python API, tests).  A collecting
    stream is a pipe nobody reads until the guest stops: it holds at most ``capacity``
    bytes (:data:`STD_CAPACITY`), and then, as pipe_write does when the pipe is full (pipe(7):
    "If a process attempts to write to a full pipe, then write(2) blocks until sufficient
    data has been read from the pipe"), a blocking write stores what fits and sleeps
    (WOULD_BLOCK: the guest parks, blocked in write on fd 1 or 2) until :meth:`take`
    empties the pipe; with O_NONBLOCK it returns the bytes it stored, or -EAGAIN.  A sink
    that fails gives the writer its errno: a closed reader is -EPIPE (and SIGPIPE), as
    for a pipe whose reader is gone.  The wrong direction is -EBADF, as for a file not
    opened for it (vfs_read/vfs_write check FMODE_READ/FMODE_WRITE)."""

    __slots__ = ("fd", "data", "output", "readable", "sink", "capacity", "nonblock", "wdone")

    def __init__(self, fd: int, data: bytes = b"", sink: object = None,
                 capacity: int = STD_CAPACITY) -> None:
        self.fd = fd
        self.readable = fd == 0
        self.data = bytearray(data)
        self.output = bytearray()
        self.sink = None
        self.capacity = capacity
        self.nonblock = False
        #: Bytes of the write the guest is parked in that are already in the pipe.
        self.wdone = 0
        if sink is not None:
            self.stream_to(sink)

    def __repr__(self) -> str:
        return f"<StdStream {self.fd}>"

    def stream_to(self, sink: object) -> None:
        """Send what is written from now on to ``sink`` (a callable or a binary file, which
        is flushed after every write, so the bytes go out as the guest writes them)."""
        if sink is not None and not callable(sink):
            file = sink

            def sink(data: bytes) -> None:
                file.write(data)
                file.flush()

        self.sink = sink

    def take(self) -> bytes:
        """Read the pipe: everything collected so far, which frees its room."""
        data = bytes(self.output)
        self.output.clear()
        return data

    def poll(self) -> int:
        """``pipe_poll`` (fs/pipe.c) for the pipe end this stream stands for: stdin is
        readable with bytes left and hung up (POLLHUP) since its writer is gone, so a read
        returns end of file at once; stdout and stderr are writable while the pipe has
        room (always, when streamed to a sink)."""
        if self.readable:
            return 0x10 | (0x41 if self.data else 0)  # POLLHUP, POLLIN | POLLRDNORM
        if self.sink is not None or len(self.output) < self.capacity:
            return 0x104  # POLLOUT | POLLWRNORM
        return 0

    def read(self, count: int) -> bytes | int:
        if not self.readable:
            return -EBADF
        chunk = bytes(self.data[:count])
        del self.data[:count]
        return chunk

    def write(self, data: bytes) -> int | WouldBlock:
        if self.readable:
            return -EBADF
        sink = self.sink
        if sink is not None:
            try:
                sink(data)
            except OSError as exc:  # our own stdout closed or full: the guest's error
                return -(exc.errno or EIO)
            return len(data)
        done = self.wdone
        take = min(self.capacity - len(self.output), len(data) - done)
        if take > 0:
            self.output += data[done:done + take] if done or take < len(data) else data
            done += take
        if done == len(data):
            self.wdone = 0
            return done
        if self.nonblock:
            self.wdone = 0
            return done or -EAGAIN
        self.wdone = done
        return WOULD_BLOCK

    def close(self) -> None:
        pass


class FdTable:
    """One process's file descriptors.  The fd-level syscalls that allocate or release fds
    live here, so their error order is the kernel's; everything else is a method of the
    object an fd names (``sock(fd)`` gets the Socket, or -EBADF/-ENOTSOCK)."""

    __slots__ = ("network", "limit", "stdin", "stdout", "stderr", "_files", "_cloexec")

    def __init__(self, network: Network, *, limit: int = INR_OPEN_CUR, stdin: bytes = b"") -> None:
        self.network = network
        self.limit = limit
        self.stdin = StdStream(0, stdin)
        self.stdout = StdStream(1)
        self.stderr = StdStream(2)
        self._files: list[object | None] = [self.stdin, self.stdout, self.stderr]
        self._cloexec: set[int] = set()

    def __repr__(self) -> str:
        return f"<FdTable {self.open_fds()}>"

    def open_fds(self) -> list[int]:
        return [fd for fd, f in enumerate(self._files) if f is not None]

    def get(self, fd: int) -> object | None:
        files = self._files
        if 0 <= fd < len(files):
            return files[fd]
        return None

    def sock(self, fd: int) -> Socket | int:
        """The Socket ``fd`` names, or -EBADF / -ENOTSOCK (``sockfd_lookup_light``)."""
        f = self.get(fd)
        if f is None:
            return -EBADF
        if f.__class__ is not Socket:
            return f if getattr(f, "is_unix", False) else -ENOTSOCK  # kernel/unix.py
        return f

    def is_cloexec(self, fd: int) -> bool:
        return fd in self._cloexec

    def set_cloexec(self, fd: int, on: bool) -> None:
        """FD_CLOEXEC of an open ``fd`` (fcntl F_SETFD, ioctl FIOCLEX/FIONCLEX)."""
        if on:
            self._cloexec.add(fd)
        else:
            self._cloexec.discard(fd)

    def dup(self, fd: int, lowest: int = 0, cloexec: bool = False) -> int:
        """fcntl(F_DUPFD): the same open file at the lowest free fd >= ``lowest``;
        -EBADF, -EINVAL when ``lowest`` is at or past the limit, -EMFILE when none is free
        below it (``f_dupfd``, fs/file.c).  Closing one fd leaves the file open for the other."""
        f = self.get(fd)
        if f is None:
            return -EBADF
        if lowest >= self.limit:
            return -EINVAL
        files = self._files
        new = lowest
        while new < len(files) and files[new] is not None:
            new += 1
        if new >= self.limit:
            return -EMFILE
        if new >= len(files):
            files.extend([None] * (new + 1 - len(files)))
        files[new] = f
        if cloexec:
            self._cloexec.add(new)
        return new

    def dup_to(self, fd: int, new: int, cloexec: bool = False) -> int:
        """dup2/dup3's second half (``do_dup2``, fs/file.c): ``fd``'s file at ``new``, whose
        own file (if any) is closed after; -EBADF for a bad ``fd`` or a ``new`` at or past
        the limit.  The caller handles ``fd == new``."""
        f = self.get(fd)
        if f is None or not 0 <= new < self.limit:
            return -EBADF
        files = self._files
        if new >= len(files):
            files.extend([None] * (new + 1 - len(files)))
        old = files[new]
        files[new] = f
        if cloexec:
            self._cloexec.add(new)
        else:
            self._cloexec.discard(new)
        if old is not None and old not in files:
            self._fput(old)
        return new

    def _lowest_free(self) -> int:
        """``alloc_fd(0, rlimit(RLIMIT_NOFILE))``: the lowest free fd, or -EMFILE."""
        files = self._files
        try:
            fd = files.index(None)
        except ValueError:
            fd = len(files)
        return fd if fd < self.limit else -EMFILE

    def install(self, obj: object, cloexec: bool = False) -> int:
        """Give ``obj`` the lowest free fd; -EMFILE at the limit."""
        fd = self._lowest_free()
        if fd < 0:
            return fd
        files = self._files
        if fd == len(files):
            files.append(obj)
        else:
            files[fd] = obj
        if cloexec:
            self._cloexec.add(fd)
        return fd

    def close_on_exec(self) -> None:
        """execve's do_close_on_exec: close every fd marked FD_CLOEXEC."""
        for fd in sorted(self._cloexec):
            self.close(fd)

    def close(self, fd: int) -> int:
        """close(2): 0, or -EBADF for an fd that is not open."""
        files = self._files
        if 0 <= fd < len(files):
            f = files[fd]
            if f is not None:
                files[fd] = None
                if self._cloexec:
                    self._cloexec.discard(fd)
                if f not in files:  # the last fd of the open file (dup shares it): fput
                    self._fput(f)
                return 0
        return -EBADF

    def _fput(self, f: object) -> None:
        """This table's last fd of ``f`` is gone: the open file is released when no other
        table holds it either (fork shares open files, ``Network.shared`` counts the
        tables holding each shared one, harness.kernel.task), and leaves every epoll set
        that watched it, whichever process added it (``Network.watchers``)."""
        network = self.network
        shared = network.shared
        if shared:
            key = id(f)
            holders = shared.get(key)
            if holders is not None:
                if holders > 2:
                    shared[key] = holders - 1
                else:
                    del shared[key]
                return
        if network.watchers:
            for epoll in network.watchers.pop(id(f), ()):
                epoll.release(f)  # eventpoll_release: out of every epoll set
        f.close()

    def fork(self) -> FdTable:
        """dup_fd: a copy of this table for a child, holding the same open files."""
        child = FdTable.__new__(FdTable)
        child.network = self.network
        child.limit = self.limit
        child.stdin, child.stdout, child.stderr = self.stdin, self.stdout, self.stderr
        child._files = list(self._files)
        child._cloexec = set(self._cloexec)
        shared = self.network.shared
        for key in {id(f) for f in self._files if f is not None}:
            shared[key] = shared.get(key, 1) + 1
        return child

    def close_all(self) -> None:
        """What exit does (``close_files``): every fd, lowest first."""
        for fd in range(len(self._files)):
            self.close(fd)

    def read(self, fd: int, count: int) -> bytes | int | WouldBlock:
        files = self._files
        if 0 <= fd < len(files):
            f = files[fd]
            if f is not None:
                return f.read(count)
        return -EBADF

    def write(self, fd: int, data: bytes) -> int:
        files = self._files
        if 0 <= fd < len(files):
            f = files[fd]
            if f is not None:
                return f.write(data)
        return -EBADF

    def socket(self, domain: int, type_: int, protocol: int) -> int:
        """socket(2): the argument checks first, then the fd (-EMFILE), as ``__sys_socket``."""
        sock = Socket.open(self.network, domain, type_, protocol)
        if sock.__class__ is int:
            return sock
        return self.install(sock, bool(type_ & SOCK_CLOEXEC))

    def accept4(self, fd: int, flags: int = 0) -> int | WouldBlock:
        """accept4(2) in ``__sys_accept4`` order: -EBADF, -EINVAL for unknown flags, -EMFILE
        (even when nothing waits: the fd is reserved first), -ENOTSOCK, then the socket's own
        answer.  The new socket's peer address is ``get(newfd).remote``."""
        files = self._files
        listener = files[fd] if 0 <= fd < len(files) else None
        if listener is None:
            return -EBADF
        if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
            return -EINVAL
        newfd = self._lowest_free()
        if newfd < 0:
            return newfd
        if listener.__class__ is not Socket:
            # unix_accept: a socketpair's socket is not listening
            return -EINVAL if getattr(listener, "is_unix", False) else -ENOTSOCK
        child = listener.accept(flags)
        if child.__class__ is not Socket:
            return child
        return self.install(child, bool(flags & SOCK_CLOEXEC))


# ---------------------------------------------------------------------------------------------
# The host
# ---------------------------------------------------------------------------------------------
