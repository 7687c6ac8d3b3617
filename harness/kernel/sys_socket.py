"""Sockets (net/socket.c): the direct calls of Linux 4.3 and later, and socketcall, the
multiplexer older binaries use.  Every call lands on the fake network (:mod:`harness.net`);
the order of the checks follows net/socket.c so that a bad argument gets Linux's errno.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, Socket, pack_sockaddr_in, parse_sockaddr_in, raises_sigpipe
from .abi import BLOCK, MAX_RW_COUNT, p32, s32
from .sys_file import write_wait
from .unix import UNNAMED, UnixSocket

if TYPE_CHECKING:
    from .process import Kernel

#: sizeof(struct sockaddr_storage): longer addresses are -EINVAL (move_addr_to_kernel).
SOCKADDR_STORAGE = 128


def addr_out(k: Kernel, sockaddr: bytes, addr: int, addrlen_ptr: int) -> int:
    """move_addr_to_user: read the buffer's length, copy what fits, store the full
    length; -EINVAL for a negative length, -EFAULT for a bad pointer."""
    room = k.user_length(addrlen_ptr)
    if room < 0:
        return room
    if room and k.copy_out(addr, sockaddr[:room]):
        return -L.EFAULT
    return k.copy_out(addrlen_ptr, p32(len(sockaddr)))


def _sock_addr(k: Kernel, fd: int, addr: int, addrlen: int, nr: int):
    """sockfd_lookup_light, then move_addr_to_kernel: the socket and (ip, port), or -errno."""
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock, None
    addrlen = s32(addrlen)
    if addrlen < 0 or addrlen > SOCKADDR_STORAGE:
        return -L.EINVAL, None
    raw = k.copy_in(addr, addrlen)
    if raw.__class__ is int:
        return raw, None
    if sock.__class__ is UnixSocket:
        # unix_validate_addr: -EINVAL unless an AF_UNIX address; named and abstract
        # sockets are not modelled
        if len(raw) < 2 or int.from_bytes(raw[:2], "little") != L.AF_UNIX:
            return -L.EINVAL, None
        return k.unknown(nr), None
    parsed = parse_sockaddr_in(raw)
    if parsed.__class__ is int:
        return parsed, None
    return sock, parsed


def sys_socket(k: Kernel, domain: int, type_: int, protocol: int, *_: int) -> int:
    return k.fds.socket(s32(domain), s32(type_), s32(protocol))


def sys_bind(k: Kernel, fd: int, addr: int, addrlen: int, *_: int) -> int:
    sock, where = _sock_addr(k, fd, addr, addrlen, L.SYS_bind)
    if where is None:
        return sock
    return sock.bind(*where)


def sys_connect(k: Kernel, fd: int, addr: int, addrlen: int, *_: int) -> int:
    """No server exists outside the guest, so an outgoing connection is refused."""
    sock, where = _sock_addr(k, fd, addr, addrlen, L.SYS_connect)
    if where is None:
        return sock
    return -L.ECONNREFUSED


def sys_listen(k: Kernel, fd: int, backlog: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    if sock.__class__ is UnixSocket:
        return -L.EINVAL  # unix_listen: an unbound socket cannot listen
    return sock.listen(s32(backlog))


def sys_accept4(k: Kernel, fd: int, addr: int, addrlen_ptr: int, flags: int, *_: int) -> object:
    newfd = k.fds.accept4(fd, s32(flags))
    if newfd is WOULD_BLOCK:
        return k.block(fd)
    k.deadline = None
    if newfd < 0 or not addr:
        return newfd
    peer = k.fds.get(newfd).remote
    err = addr_out(k, pack_sockaddr_in(*peer), addr, addrlen_ptr)
    if err:
        k.fds.close(newfd)
        return err
    return newfd


def sys_accept(k: Kernel, fd: int, addr: int, addrlen_ptr: int, *_: int) -> object:
    return sys_accept4(k, fd, addr, addrlen_ptr, 0)


def sys_setsockopt(k: Kernel, fd: int, level: int, name: int, optval: int, optlen: int,
                   *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    optlen = s32(optlen)
    if optlen < 0:
        return -L.EINVAL
    value = k.copy_in(optval, optlen)
    if value.__class__ is int:
        return value
    return sock.setsockopt(s32(level), s32(name), value)


def sys_getsockopt(k: Kernel, fd: int, level: int, name: int, optval: int, optlen_ptr: int,
                   *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    optlen = k.user_length(optlen_ptr)
    if optlen < 0:
        return optlen
    value = sock.getsockopt(s32(level), s32(name), optlen)
    if value.__class__ is int:
        return value
    if k.copy_out(optval, value) or k.copy_out(optlen_ptr, p32(len(value))):
        return -L.EFAULT
    return 0


def sys_getsockname(k: Kernel, fd: int, addr: int, addrlen_ptr: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    if sock.__class__ is UnixSocket:  # unix_getname: unnamed, sun_family only
        return addr_out(k, UNNAMED, addr, addrlen_ptr)
    ip, port = sock.getsockname()
    return addr_out(k, pack_sockaddr_in(ip, port), addr, addrlen_ptr)


def sys_getpeername(k: Kernel, fd: int, addr: int, addrlen_ptr: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    if sock.__class__ is UnixSocket:  # the peer is unnamed too
        return addr_out(k, UNNAMED, addr, addrlen_ptr)
    peer = sock.getpeername()
    if peer.__class__ is int:
        return peer
    return addr_out(k, pack_sockaddr_in(*peer), addr, addrlen_ptr)


def sys_sendto(k: Kernel, fd: int, buf: int, length: int, flags: int, dest: int = 0,
               destlen: int = 0) -> object:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    if destlen and sock.__class__ is UnixSocket:
        return -L.EISCONN  # unix_stream_sendmsg: an address for a connected socket
    data = k.copy_in(buf, min(length, MAX_RW_COUNT))
    if data.__class__ is int:
        return data
    ret = sock.send(data, flags)
    if ret is WOULD_BLOCK:
        return write_wait(k, fd)
    k.deadline = None
    if raises_sigpipe(ret, flags):
        k.deliver(L.SIGPIPE)
    return ret


def sys_send(k: Kernel, fd: int, buf: int, length: int, flags: int, *_: int) -> object:
    return sys_sendto(k, fd, buf, length, flags)


def sys_recvfrom(k: Kernel, fd: int, buf: int, length: int, flags: int, src: int,
                 srclen: int) -> object:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    count = min(length, MAX_RW_COUNT)
    result = sock.recv(count, flags)
    if result is WOULD_BLOCK:
        ret = k.block(fd)
        if ret is BLOCK or not sock.rx:
            return ret
        # Timed out in MSG_WAITALL with part of the bytes: tcp_recvmsg returns those.
        result = sock.recv(count, flags & ~L.MSG_WAITALL | L.MSG_DONTWAIT)
    k.deadline = None
    if result.__class__ is int:
        return result
    if k.copy_out(buf, result):
        return -L.EFAULT
    if src and srclen and k.copy_out(srclen, bytes(4)):  # TCP reports no source
        return -L.EFAULT
    return len(result)


def sys_recv(k: Kernel, fd: int, buf: int, length: int, flags: int, *_: int) -> object:
    return sys_recvfrom(k, fd, buf, length, flags, 0, 0)


def sys_shutdown(k: Kernel, fd: int, how: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    return sock.shutdown(s32(how))


def sys_socketpair(k: Kernel, domain: int, type_: int, protocol: int, sv: int,
                   *_: int) -> int:
    """socketpair(2) in ``__sys_socketpair`` order: -EINVAL for unknown flags, two fds
    reserved (-EMFILE), both numbers stored (-EFAULT, and the fds go back), then the two
    sockets made (``__sock_create``'s errnos) and joined: AF_UNIX SOCK_STREAM connects them
    (unix_socketpair); AF_INET has no socketpair (-EOPNOTSUPP, sock_no_socketpair)."""
    domain, type_, protocol = s32(domain), s32(type_), s32(protocol)
    flags = type_ & ~L.SOCK_TYPE_MASK
    if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):
        return -L.EINVAL
    fds = k.fds
    fd1 = fds._lowest_free()
    if fd1 < 0:
        return fd1
    files = fds._files
    try:
        fd2 = files.index(None, fd1 + 1)
    except ValueError:
        fd2 = max(len(files), fd1 + 1)
    if fd2 >= fds.limit:
        return -L.EMFILE
    if k.copy_out(sv, struct.pack("<ii", fd1, fd2)):
        return -L.EFAULT
    kind = type_ & L.SOCK_TYPE_MASK
    if not 0 <= domain < L.AF_MAX:
        return -L.EAFNOSUPPORT
    if kind >= L.SOCK_MAX:
        return -L.EINVAL
    if domain in (L.AF_INET, L.AF_INET6):
        # inet_create finds TCP, UDP or a raw socket, none of which pairs
        if kind == L.SOCK_DGRAM:
            return -L.EOPNOTSUPP if protocol in (0, L.IPPROTO_UDP) else -L.EPROTONOSUPPORT
        if kind == L.SOCK_RAW:
            return -L.EOPNOTSUPP if k.network.privileged else -L.EPERM
        made = Socket.open(k.network, L.AF_INET, type_, protocol)
        return made if made.__class__ is int else -L.EOPNOTSUPP
    if domain != L.AF_UNIX:
        return -L.EAFNOSUPPORT
    if protocol and protocol != L.AF_UNIX:  # unix_create: PF_UNIX or 0
        return -L.EPROTONOSUPPORT
    if kind in (L.SOCK_DGRAM, L.SOCK_SEQPACKET, L.SOCK_RAW):
        return k.unknown(L.SYS_socketpair)
    if kind != L.SOCK_STREAM:
        return -L.ESOCKTNOSUPPORT
    a, b = UnixSocket.pair(bool(flags & L.SOCK_NONBLOCK), (k.pid, k.uid, k.gid))
    cloexec = bool(flags & L.SOCK_CLOEXEC)
    fds.install(a, cloexec)
    fds.install(b, cloexec)
    return 0


#: socketcall(2)'s call numbers (include/uapi/linux/net.h) -> handler.
SOCKETCALLS = {
    L.SOCKETCALL_SOCKET: sys_socket,
    L.SOCKETCALL_BIND: sys_bind,
    L.SOCKETCALL_CONNECT: sys_connect,
    L.SOCKETCALL_LISTEN: sys_listen,
    L.SOCKETCALL_ACCEPT: sys_accept,
    L.SOCKETCALL_GETSOCKNAME: sys_getsockname,
    L.SOCKETCALL_GETPEERNAME: sys_getpeername,
    L.SOCKETCALL_SEND: sys_send,
    L.SOCKETCALL_RECV: sys_recv,
    L.SOCKETCALL_SENDTO: sys_sendto,
    L.SOCKETCALL_RECVFROM: sys_recvfrom,
    L.SOCKETCALL_SHUTDOWN: sys_shutdown,
    L.SOCKETCALL_SETSOCKOPT: sys_setsockopt,
    L.SOCKETCALL_GETSOCKOPT: sys_getsockopt,
    L.SOCKETCALL_ACCEPT4: sys_accept4,
    L.SOCKETCALL_SOCKETPAIR: sys_socketpair,
}


def sys_socketcall(k: Kernel, call: int, args: int, *_: int) -> object:
    """socketcall(2): copy ``nargs[call]`` words from ``args`` and make the call
    (net/socket.c ``SYSCALL_DEFINE2(socketcall)``)."""
    if not 1 <= call < len(L.SOCKETCALL_NARGS):
        return -L.EINVAL
    n = L.SOCKETCALL_NARGS[call]
    raw = k.copy_in(args, 4 * n)
    if raw.__class__ is int:
        return raw
    handler = k.socketcalls.get(call)
    if handler is None:
        return k.unknown(L.SYS_socketcall)
    words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 4 * n, 4)]
    words += [0] * (6 - n)
    return handler(*words)
