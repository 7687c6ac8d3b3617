"""File descriptors: read, write, close, readv, writev (fs/read_write.c, fs/open.c), ioctl
(fs/ioctl.c) and fcntl (fs/fcntl.c).

fds 0-2 are the standard streams (stdin as given; stdout and stderr streamed out, or collected
in a pipe of bounded size); the rest are sockets of the fake network (:mod:`harness.net`).  A
write that finds no room sleeps (:func:`write_wait`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, Socket, State, raises_sigpipe
from .files import StdStream
from .abi import BLOCK, MAX_RW_COUNT
from .fs import File

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


def sys_write(k: Kernel, fd: int, buf: int, count: int, *_: int) -> object:
    if k.fds.get(fd) is None:
        return -L.EBADF
    data = k.copy_in(buf, min(count, MAX_RW_COUNT))
    if data.__class__ is int:
        return data
    return wrote(k, fd, k.fds.write(fd, data))


def wrote(k: Kernel, fd: int, ret: object) -> object:
    """The end of every write to a file: wait for room (:func:`write_wait`), or return the
    count with SIGPIPE raised for EPIPE, as pipe_write and tcp_sendmsg's callers do."""
    if ret is WOULD_BLOCK:
        return write_wait(k, fd)
    k.deadline = None
    if raises_sigpipe(ret):
        k.deliver(L.SIGPIPE)
    return ret


def write_wait(k: Kernel, fd: int) -> object:
    """A write that found no room (a full pipe, a socket whose peer does not read) sleeps:
    BLOCK, and the guest parks until the reader has made room; run again, the file carries
    on from the bytes it already took (its ``wdone``).  Once SO_SNDTIMEO has run out it
    returns those bytes, or -EAGAIN if there are none (socket(7), ``sk_stream_wait_memory``
    then tcp_sendmsg's ``copied``)."""
    ret = k.block(fd, writing=True)
    if ret is BLOCK:
        return ret
    f = k.fds.get(fd)
    done, f.wdone = f.wdone, 0
    return done or ret


def sys_close(k: Kernel, fd: int, *_: int) -> int:
    return k.fds.close(fd)


# --- readv, writev (fs/read_write.c, lib/iov_iter.c) -----------------------------------------

_PAGE = 4096


def _file_for(k: Kernel, fd: int, writing: bool) -> object | int:
    """fdget and the FMODE_READ/FMODE_WRITE check of vfs_readv/vfs_writev: -EBADF."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if f.__class__ is StdStream and f.readable == writing:
        return -L.EBADF
    return f


def import_iovec(k: Kernel, iov: int, count: int) -> list[tuple[int, int]] | int:
    """The ``struct iovec`` array {void *base; size_t len} (8 bytes each for i386, 16 for
    x86-64: ``k.abi.iovec``) as ``__import_iovec`` reads it: more than UIO_MAXIOV entries is
    -EINVAL, an unreadable array -EFAULT, a negative length (ssize_t) -EINVAL; the total is
    cut at MAX_RW_COUNT."""
    if count == 0:
        return []
    if count > L.UIO_MAXIOV:
        return -L.EINVAL
    layout = k.abi.iovec
    raw = k.copy_in(iov, layout.size * count)
    if raw.__class__ is int:
        return raw
    out = []
    total = 0
    for base, length in layout.iter_unpack(raw):
        if length < 0:
            return -L.EINVAL
        length = min(length, MAX_RW_COUNT - total)
        total += length
        out.append((base, length))
    return out


def _gather(k: Kernel, vecs: list[tuple[int, int]]) -> bytes | int:
    """copy_from_iter: the bytes up to the first that cannot be read; -EFAULT if none
    could.  tcp_sendmsg sends what was gathered; pipe_write only its whole pages."""
    parts = []
    for base, length in vecs:
        if not length:
            continue
        data = k.peek(base, length)
        if data is not None:
            parts.append(data)
            continue
        done = 0  # the readable prefix, a page at a time
        while done < length:
            size = min(length - done, _PAGE - (base + done) % _PAGE)
            chunk = k.peek(base + done, size)
            if chunk is None:
                break
            parts.append(chunk)
            done += size
        break
    data = b"".join(parts)
    return data if data else -L.EFAULT


def sys_writev(k: Kernel, fd: int, iov: int, count: int, *_: int) -> object:
    """writev(2): one write of the iovecs' bytes in order, through the same file as
    write(2) (so a socket may take fewer, and EPIPE raises SIGPIPE); a total of 0 returns 0
    without touching the file (``do_iter_write``)."""
    f = _file_for(k, fd, True)
    if f.__class__ is int:
        return f
    vecs = import_iovec(k, iov, count)
    if vecs.__class__ is int:
        return vecs
    if not any(length for _base, length in vecs):
        return 0
    data = _gather(k, vecs)
    if data.__class__ is int:
        return data
    if k.io_cap and len(data) > k.io_cap:  # an injected short write (harness.faults)
        data = data[:k.io_cap]
    if f.__class__ is StdStream and len(data) < sum(length for _base, length in vecs):
        # pipe_write copies a page at a time and keeps only whole pages before a fault
        data = data[:len(data) // _PAGE * _PAGE]
        if not data:
            return -L.EFAULT
    return wrote(k, fd, f.write(data))


def _unread(f: object, data: bytes) -> None:
    """Put bytes a failed copy did not deliver back at the head of the queue: Linux
    consumes only what reached user memory (pipe_read, tcp_recvmsg)."""
    if f.__class__ is File:
        f.pos -= len(data)
        return
    queue = f.data if f.__class__ is StdStream else f.rx
    queue[:0] = data


def sys_readv(k: Kernel, fd: int, iov: int, count: int, *_: int) -> object:
    """readv(2): one read of the iovecs' total, scattered in order; a blocking socket
    sleeps as read(2) does.  A buffer that faults part way returns the bytes stored before
    it (the rest stay queued), one that faults at once -EFAULT."""
    f = _file_for(k, fd, False)
    if f.__class__ is int:
        return f
    vecs = import_iovec(k, iov, count)
    if vecs.__class__ is int:
        return vecs
    total = sum(length for _base, length in vecs)
    if not total:
        return 0
    if k.io_cap:  # an injected short read (harness.faults)
        total = min(total, k.io_cap)
    result = f.read(total)
    if result is WOULD_BLOCK:
        return k.block(fd)
    k.deadline = None
    if result.__class__ is int:
        return result
    done = 0
    for base, length in vecs:
        piece = result[done:done + length]
        if not piece:
            break
        if k.copy_out(base, piece):
            stored = 0  # the writable prefix, a page at a time
            while stored < len(piece):
                size = min(len(piece) - stored, _PAGE - (base + stored) % _PAGE)
                if k.copy_out(base + stored, piece[stored:stored + size]):
                    break
                stored += size
            done += stored
            _unread(f, result[done:])
            return done if done else -L.EFAULT
        done += len(piece)
    return done


# --- ioctl (fs/ioctl.c, fs/pipe.c, net/socket.c, net/ipv4/tcp.c) -----------------------------


def _status_flags(k: Kernel, fd: int, f: object) -> int:
    """The open file's f_flags as F_GETFL shows them: sockets O_RDWR (sock_alloc_file),
    the standard streams the pipe ends they stand for, O_RDONLY and O_WRONLY
    (create_pipe_files), plus what F_SETFL set."""
    if f.__class__ is StdStream:
        return k.std_flags.get(f.fd, L.O_RDONLY if f.readable else L.O_WRONLY)
    if f.__class__ is File:
        return f.flags
    mode = getattr(f, "access_mode", L.O_RDWR)  # a pipe end's, else sockets' and epoll's
    return mode | (L.O_NONBLOCK if f.nonblock else 0) | k.sock_flags.get(id(f), 0)


def _set_status_flags(k: Kernel, f: object, flags: int) -> None:
    if f.__class__ is StdStream:
        k.std_flags[f.fd] = flags
        f.nonblock = bool(flags & L.O_NONBLOCK)
    elif f.__class__ is File:
        f.flags = flags
    else:
        f.nonblock = bool(flags & L.O_NONBLOCK)
        extra = flags & ~(L.O_ACCMODE | L.O_NONBLOCK)
        if extra:
            k.sock_flags[id(f)] = extra
        else:
            k.sock_flags.pop(id(f), None)


def sys_ioctl(k: Kernel, fd: int, request: int, arg: int, *_: int) -> int:
    """ioctl(2) on the harness's files, which are pipes and sockets, never terminals.

    The generic requests first (``do_vfs_ioctl``): FIOCLEX/FIONCLEX set and clear
    close-on-exec, FIONBIO and FIOASYNC read an int and set or clear O_NONBLOCK/FASYNC.
    Then the file's own: FIONREAD (SIOCINQ) gives the bytes waiting to be read (-EINVAL on
    a listening socket, ``tcp_ioctl``); stdout and stderr have none waiting, as the
    harness's reader has taken everything.  Anything else, the terminal requests (TCGETS,
    TIOCGWINSZ, ...) included, is -ENOTTY, as for any pipe or socket."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if request in (L.FIOCLEX, L.FIONCLEX):
        k.fds.set_cloexec(fd, request == L.FIOCLEX)
        return 0
    if request in (L.FIONBIO, L.FIOASYNC):
        raw = k.copy_in(arg, 4)
        if raw.__class__ is int:
            return raw
        bit = L.O_NONBLOCK if request == L.FIONBIO else L.FASYNC
        flags = _status_flags(k, fd, f)
        _set_status_flags(k, f, flags | bit if any(raw) else flags & ~bit)
        return 0
    if request == L.FIONREAD:
        if f.__class__ is StdStream:
            count = len(f.data) if f.readable else 0
        elif f.__class__ is File:
            return -L.ENOTTY if f.is_dir else k.copy_out(
                arg, struct.pack("<i", max(0, f.stat().st_size - f.pos)))
        elif not isinstance(f, Socket):
            return getattr(f, "unknown_ioctl", -L.ENOTTY)
        elif f.state is State.LISTENING:
            return -L.EINVAL
        else:
            count = len(f.rx)
        return k.copy_out(arg, struct.pack("<i", count))
    return -L.ENOTTY


# --- fcntl, fcntl64 (fs/fcntl.c) --------------------------------------------------------------

_PIPE_SIZE = 16 * _PAGE  # PIPE_DEF_BUFFERS pages


def sys_fcntl64(k: Kernel, fd: int, cmd: int, arg: int, *_: int) -> int:
    """fcntl(2) as ``do_fcntl``: F_DUPFD and F_DUPFD_CLOEXEC (the open file shared: closing
    one fd keeps it open for the other), F_GETFD/F_SETFD (FD_CLOEXEC), F_GETFL/F_SETFL
    (O_APPEND, O_NONBLOCK, FASYNC and O_NOATIME change; O_DIRECT is -EINVAL, neither end
    being a packet pipe nor a file with direct I/O), F_GETOWN/F_SETOWN and F_GETSIG (no
    owner, no signal), F_GETPIPE_SZ (64 KiB; -EBADF for a socket).  Locks, leases, seals
    and notifications are not modelled: -EINVAL, as for an unknown command."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC):
        limit = k.fds.limit
        if arg >= limit:
            return -L.EINVAL
        return k.fds.dup(fd, arg, cmd == L.F_DUPFD_CLOEXEC)
    if cmd == L.F_GETFD:
        return L.FD_CLOEXEC if k.fds.is_cloexec(fd) else 0
    if cmd == L.F_SETFD:
        k.fds.set_cloexec(fd, bool(arg & L.FD_CLOEXEC))
        return 0
    if cmd == L.F_GETFL:
        return _status_flags(k, fd, f)
    if cmd == L.F_SETFL:
        if arg & L.O_DIRECT:
            return -L.EINVAL
        flags = _status_flags(k, fd, f)
        _set_status_flags(k, f, (arg & L.SETFL_MASK) | (flags & ~L.SETFL_MASK))
        return 0
    if cmd in (L.F_GETOWN, L.F_GETSIG):
        return 0
    if cmd == L.F_SETOWN:
        return 0
    if cmd == L.F_GETPIPE_SZ:
        return _PIPE_SIZE if f.__class__ is StdStream else -L.EBADF
    return -L.EINVAL


def sys_fcntl(k: Kernel, fd: int, cmd: int, arg: int, *_: int) -> int:
    """fcntl (55) of a compat task: as fcntl64, except the 64-bit lock commands are
    -EINVAL (``compat_sys_fcntl``), which fcntl64 here answers the same way."""
    return sys_fcntl64(k, fd, cmd, arg)
