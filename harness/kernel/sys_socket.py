"""Sockets (net/socket.c): the direct calls of Linux 4.3 and later, and socketcall, the
multiplexer older binaries use.  Every call lands on the fake network (:mod:`harness.net`);
the order of the checks follows net/socket.c so that a bad argument gets Linux's errno.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, pack_sockaddr_in, parse_sockaddr_in, raises_sigpipe
from .abi import BLOCK, MAX_RW_COUNT, p32, s32
from .sys_file import write_wait

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


def _sock_addr(k: Kernel, fd: int, addr: int, addrlen: int):
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
    parsed = parse_sockaddr_in(raw)
    if parsed.__class__ is int:
        return parsed, None
    return sock, parsed


def sys_socket(k: Kernel, domain: int, type_: int, protocol: int, *_: int) -> int:
    return k.fds.socket(s32(domain), s32(type_), s32(protocol))


def sys_bind(k: Kernel, fd: int, addr: int, addrlen: int, *_: int) -> int:
    sock, where = _sock_addr(k, fd, addr, addrlen)
    if where is None:
        return sock
    return sock.bind(*where)


def sys_connect(k: Kernel, fd: int, addr: int, addrlen: int, *_: int) -> int:
    """No server exists outside the guest, so an outgoing connection is refused."""
    sock, where = _sock_addr(k, fd, addr, addrlen)
    if where is None:
        return sock
    return -L.ECONNREFUSED


def sys_listen(k: Kernel, fd: int, backlog: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
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
    ip, port = sock.getsockname()
    return addr_out(k, pack_sockaddr_in(ip, port), addr, addrlen_ptr)


def sys_getpeername(k: Kernel, fd: int, addr: int, addrlen_ptr: int, *_: int) -> int:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
    peer = sock.getpeername()
    if peer.__class__ is int:
        return peer
    return addr_out(k, pack_sockaddr_in(*peer), addr, addrlen_ptr)


def sys_sendto(k: Kernel, fd: int, buf: int, length: int, flags: int, *_: int) -> object:
    sock = k.fds.sock(fd)
    if sock.__class__ is int:
        return sock
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
    return sys_sendto(k, fd, buf, length, flags, 0, 0)


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
