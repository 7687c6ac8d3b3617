"""AF_UNIX stream sockets made by socketpair(2) (net/unix/af_unix.c): two connected,
unnamed endpoints, each receiving what the other sends.

* ``read``/``recv`` take what is queued (MSG_PEEK leaves it); with nothing queued, the
  socket's pending error once (ECONNRESET: the peer closed with bytes unread), then end of
  file once the receive side is shut (SHUT_RD here, SHUT_WR or close at the peer), else
  they wait (-EAGAIN with O_NONBLOCK or MSG_DONTWAIT);
* ``write``/``send`` queue at the peer up to :data:`UNIX_CAPACITY` bytes in flight, then
  wait (a blocking write carries on, keeping ``wdone``, as unix_stream_sendmsg sends in
  pieces); once the send side is shut (SHUT_WR here, SHUT_RD or close at the peer) they are
  -EPIPE, which raises SIGPIPE unless MSG_NOSIGNAL;
* ``shutdown`` is unix_shutdown: this side's bits and the mirrored ones at the peer;
* ``poll`` is unix_poll: POLLIN with bytes queued, POLLRDHUP|POLLIN once the receive side is
  shut, POLLHUP when both are, POLLERR with an error pending, POLLOUT|POLLWRBAND while a
  quarter of the send buffer or less is in flight (unix_writable).

Not modelled: named and abstract addresses (bind, connect), SOCK_DGRAM and SOCK_SEQPACKET,
MSG_OOB, SCM_RIGHTS; the send buffer counts payload bytes, not sk_buff truesize.
"""

from __future__ import annotations

import struct

from .. import linux as L
from ..net import WOULD_BLOCK, WouldBlock

#: The bytes in flight before a writer waits: net.core.wmem_default, the sk_sndbuf a new
#: socket gets (sock_init_data); Linux counts each sk_buff's truesize, so it waits sooner.
UNIX_CAPACITY = L.SK_WMEM_MAX
#: struct sockaddr_un of an unnamed socket as unix_getname fills it: sun_family only.
UNNAMED = struct.pack("<H", L.AF_UNIX)


class UnixSocket:
    __slots__ = ("peer", "rx", "shut", "err", "nonblock", "wdone", "closed", "sndbuf",
                 "rcvbuf", "cred", "arrived", "__weakref__")

    #: FdTable.sock hands it to the socket calls (harness.net knows no AF_UNIX).
    is_unix = True
    rcvtimeo = sndtimeo = None

    def __init__(self, cred: tuple[int, int, int]) -> None:
        self.peer: UnixSocket | None = None
        self.rx = bytearray()
        self.shut = 0
        self.err = 0
        self.nonblock = False
        self.wdone = 0
        self.closed = False
        self.sndbuf = self.rcvbuf = L.SK_WMEM_MAX
        self.cred = cred
        #: Bytes that have ever arrived: each arrival is an edge for EPOLLET (sys_poll).
        self.arrived = 0

    def __repr__(self) -> str:
        return "<UnixSocket stream>"

    @classmethod
    def pair(cls, nonblock: bool, cred: tuple[int, int, int]) -> tuple[UnixSocket, UnixSocket]:
        a, b = cls(cred), cls(cred)
        a.peer, b.peer = b, a
        a.nonblock = b.nonblock = nonblock
        return a, b

    # -- receiving ----------------------------------------------------------------------

    def read(self, count: int) -> bytes | int | WouldBlock:
        return self.recv(count, 0)

    def recv(self, count: int, flags: int = 0) -> bytes | int | WouldBlock:
        if flags & L.MSG_OOB:
            return -L.EINVAL  # CONFIG_AF_UNIX_OOB: no out-of-band byte is ever pending
        rx = self.rx
        if rx and (not flags & L.MSG_WAITALL or len(rx) >= count or self.shut & L.RCV_SHUTDOWN
                   or self.nonblock or flags & L.MSG_DONTWAIT):
            chunk = bytes(rx[:count])
            if not flags & L.MSG_PEEK:
                del rx[:count]
            return chunk
        if not rx:
            if self.err:
                err, self.err = self.err, 0
                return -err
            if self.shut & L.RCV_SHUTDOWN:
                return b""
        return -L.EAGAIN if self.nonblock or flags & L.MSG_DONTWAIT else WOULD_BLOCK

    # -- sending ------------------------------------------------------------------------

    def write(self, data: bytes) -> int | WouldBlock:
        return self.send(data, 0)

    def send(self, data: bytes, flags: int = 0) -> int | WouldBlock:
        done = self.wdone
        peer = self.peer
        if self.shut & L.SEND_SHUTDOWN or peer.closed:
            self.wdone = 0
            return done or -L.EPIPE
        take = min(UNIX_CAPACITY - len(peer.rx), len(data) - done)
        if take > 0:
            peer.rx += data[done:done + take]
            peer.arrived += take
            done += take
        if done == len(data):
            self.wdone = 0
            return done
        if self.nonblock or flags & L.MSG_DONTWAIT:
            self.wdone = 0
            return done or -L.EAGAIN
        self.wdone = done
        return WOULD_BLOCK

    # -- the rest -----------------------------------------------------------------------

    def shutdown(self, how: int) -> int:
        """unix_shutdown: SHUT_RD/WR/RDWR become RCV/SEND_SHUTDOWN bits, mirrored at the
        peer (its send side for our receive side, and the other way)."""
        if not L.SHUT_RD <= how <= L.SHUT_RDWR:
            return -L.EINVAL
        mode = how + 1
        self.shut |= mode
        peer = self.peer
        if not peer.closed:
            peer.shut |= (L.SEND_SHUTDOWN if mode & L.RCV_SHUTDOWN else 0) | (
                L.RCV_SHUTDOWN if mode & L.SEND_SHUTDOWN else 0)
        return 0

    def poll(self) -> int:
        mask = L.POLLERR if self.err else 0
        shut = self.shut
        if shut == L.SHUTDOWN_MASK:
            mask |= L.POLLHUP
        if shut & L.RCV_SHUTDOWN:
            mask |= L.POLLRDHUP | L.POLLIN | L.POLLRDNORM
        if self.rx:
            mask |= L.POLLIN | L.POLLRDNORM
        peer = self.peer
        in_flight = 0 if peer.closed else len(peer.rx)
        if in_flight << 2 <= self.sndbuf:
            mask |= L.POLLOUT | L.POLLWRNORM | L.POLLWRBAND
        return mask

    def close(self) -> None:
        """unix_release_sock: the peer can neither send nor receive any more, and learns
        ECONNRESET if bytes it sent were never read."""
        self.closed = True
        peer = self.peer
        if not peer.closed:
            peer.shut = L.SHUTDOWN_MASK
            if self.rx:
                peer.err = L.ECONNRESET
        self.rx.clear()

    def getsockopt(self, level: int, name: int, optlen: int) -> bytes | int:
        """sk_getsockopt for the options an AF_UNIX stream socket answers simply; the value
        cut to ``optlen``.  Other levels: -EOPNOTSUPP (unix_stream_ops has no getsockopt)."""
        if level != L.SOL_SOCKET:
            return -L.EOPNOTSUPP
        if name == L.SO_PEERCRED:
            value = struct.pack("<iII", *self.cred)
        else:
            if name == L.SO_ERROR:
                number, self.err = self.err, 0
            else:
                number = {L.SO_TYPE: L.SOCK_STREAM, L.SO_DOMAIN: L.AF_UNIX, L.SO_PROTOCOL: 0,
                          L.SO_ACCEPTCONN: 0, L.SO_SNDBUF: self.sndbuf,
                          L.SO_RCVBUF: self.rcvbuf}.get(name)
                if number is None:
                    return -L.ENOPROTOOPT
            value = struct.pack("<i", number)
        return value[:optlen]

    def setsockopt(self, level: int, name: int, value: bytes) -> int:
        """sk_setsockopt's SO_SNDBUF and SO_RCVBUF (doubled, within wmem_max/rmem_max);
        -ENOPROTOOPT for the options not modelled, -EOPNOTSUPP for other levels."""
        if level != L.SOL_SOCKET:
            return -L.EOPNOTSUPP
        if len(value) < 4:
            return -L.EINVAL
        val = struct.unpack("<I", value[:4])[0]
        if name == L.SO_SNDBUF:
            self.sndbuf = max(min(val, L.SK_WMEM_MAX, 0x7FFFFFFF // 2) * 2, L.SOCK_MIN_SNDBUF)
        elif name == L.SO_RCVBUF:
            self.rcvbuf = max(min(val, L.SK_RMEM_MAX, 0x7FFFFFFF // 2) * 2, L.SOCK_MIN_RCVBUF)
        else:
            return -L.ENOPROTOOPT
        return 0
