"""The guest's TCP socket: :class:`Socket`, what socket(2) makes and the socket calls act on.

Here is the connection as the guest sees it, net/ipv4/tcp.c's part: socket(2)'s checks,
the socket a completed handshake adds to a listener's queue, poll, reads and writes with
their flow control (:meth:`Socket.room`), shutdown and close.  Binding, listening and
accepting are :mod:`.listener`'s, the options :mod:`.sockopt`'s: parts Socket inherits, so
that each reads on its own while a socket stays one object with one set of slots (which
:mod:`harness.snapshot` pickles).  The fuzzer's hot path runs through recv, send and poll,
so they are this class's own methods.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..linux import (
    AF_INET,
    AF_MAX,
    EAFNOSUPPORT,
    EAGAIN,
    EINVAL,
    ENOTCONN,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    INADDR_ANY,
    IPPROTO_MAX,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_OOB,
    MSG_PEEK,
    MSG_WAITALL,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SOCK_CLOEXEC,
    SOCK_MAX,
    SOCK_NONBLOCK,
    SOCK_STREAM,
    SOCK_TYPE_MASK,
    TCP_FIN_TIMEOUT,
    TCP_RMEM_DEFAULT,
    TCP_TIMEWAIT_LEN,
    TCP_WMEM_DEFAULT,
)
from .addresses import format_ip
from .endpoint import (
    _BOUND,
    _CLOSED,
    _CONNECTED,
    _CREATED,
    _LISTENING,
    WOULD_BLOCK,
    WouldBlock,
    _Endpoint,
)
from .listener import _Listener
from .sockopt import _Options

if TYPE_CHECKING:
    from .client import Client
    from .network import Network

#: The send buffer a connection gets when SO_SNDBUF was not set: tcp_sndbuf_expand grows
#: tcp_wmem's initial 16384 from the MSS once the connection is established, and over
#: loopback (MSS 65483) getsockopt(SO_SNDBUF) then reports this, measured on Linux 6.18
#: x86-64 for both ends of a connection.
LOOPBACK_SNDBUF = 3939840


class Socket(_Endpoint, _Listener, _Options):
    """A guest's TCP socket.  Methods are the socket syscalls with Python arguments; each
    returns what the kernel would return to the guest (a value or -errno) or WOULD_BLOCK.

    Create one with :meth:`harness.kernel.files.FdTable.socket`, which validates like socket(2) and gives it an fd.
    ``local``/``remote`` are ``(ip, port)`` with host-order integers; ``nonblock`` is the
    file's O_NONBLOCK, which the syscall layer may also set through fcntl(2).
    """

    __slots__ = ("local", "remote", "nonblock", "reuseaddr", "reuseport", "backlog", "queue",
                 "pending", "port_locked", "linger_on", "linger", "rcvtimeo", "sndtimeo",
                 "sndbuf", "rcvbuf", "sndbuf_locked", "wdone", "accepted", "_opts")

    def __init__(self, network: Network, nonblock: bool = False) -> None:
        super().__init__(network, _CREATED)
        self.local: tuple[int, int] | None = None
        self.remote: tuple[int, int] | None = None
        self.nonblock = nonblock
        self.reuseaddr = False
        self.reuseport = False
        self.backlog = 0
        self.queue: deque[Socket] | None = None
        self.pending: deque[Client] | None = None
        self.port_locked = False
        self.linger_on = False
        self.linger = 0
        self.rcvtimeo: float | None = None
        self.sndtimeo: float | None = None
        self.sndbuf = TCP_WMEM_DEFAULT
        self.rcvbuf = TCP_RMEM_DEFAULT
        #: SO_SNDBUF was set (SOCK_SNDBUF_LOCK): the connection keeps it as it is.
        self.sndbuf_locked = False
        #: Bytes of the write the guest is parked in that are already queued.
        self.wdone = 0
        self.accepted = False
        self._opts: dict[tuple[int, int], int] | None = None

    def __repr__(self) -> str:
        where = "" if self.local is None else f" {format_ip(self.local[0])}:{self.local[1]}"
        return f"<Socket {self.state.name}{where}>"

    @classmethod
    def open(cls, network: Network, domain: int, type_: int, protocol: int) -> Socket | int:
        """socket(2)'s checks, in ``__sock_create`` / ``inet_create`` order."""
        flags = type_ & ~SOCK_TYPE_MASK
        if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
            return -EINVAL
        kind = type_ & SOCK_TYPE_MASK
        if not 0 <= domain < AF_MAX:
            return -EAFNOSUPPORT
        if kind >= SOCK_MAX:
            return -EINVAL
        if domain != AF_INET:
            return -EAFNOSUPPORT
        if not 0 <= protocol < IPPROTO_MAX:
            return -EINVAL
        if kind != SOCK_STREAM:
            return -ESOCKTNOSUPPORT
        if protocol not in (0, IPPROTO_TCP):
            return -EPROTONOSUPPORT
        return cls(network, nonblock=bool(flags & SOCK_NONBLOCK))

    def _establish(self, client: Client) -> None:
        """The handshake completed: a new socket for the connection joins the accept queue.
        It inherits the listener's options, as ``sk_clone_lock`` copies them.  Built slot by
        slot: this runs once per connection."""
        net = self.network
        child = Socket.__new__(Socket)
        child.network = net
        child.state = _CONNECTED
        child.peer = client
        child.rx = bytearray()
        child.done = child.fin_sent = child.was_reset = child.nonblock = child.accepted = False
        child.shut = child.err = child.backlog = child.wdone = child.arrived = 0
        child.local = (client.remote[0], self.local[1])
        child.remote = client.local
        child.queue = child.pending = None
        child.reuseaddr = self.reuseaddr
        child.reuseport = self.reuseport
        child.port_locked = self.port_locked
        child.linger_on = self.linger_on
        child.linger = self.linger
        child.rcvtimeo = self.rcvtimeo
        child.sndtimeo = self.sndtimeo
        child.sndbuf = self.sndbuf if self.sndbuf_locked else LOOPBACK_SNDBUF
        child.sndbuf_locked = self.sndbuf_locked
        child.rcvbuf = self.rcvbuf
        child._opts = dict(self._opts) if self._opts else None
        client.peer = child
        client.state = _CONNECTED
        self.queue.append(child)
        self.arrived += 1
        net._ports[self.local[1]].append(child)
        if client._early is not None or client._early_fin:
            client._flush_early()

    # -- addresses ------------------------------------------------------------------------

    def getsockname(self) -> tuple[int, int]:
        """getsockname(2): ``(0, 0)`` before bind, as Linux reports 0.0.0.0:0."""
        return self.local or (INADDR_ANY, 0)

    def getpeername(self) -> tuple[int, int] | int:
        """getpeername(2): -ENOTCONN unless connected (a reset socket no longer is)."""
        if self.state is _CONNECTED:
            return self.remote
        return -ENOTCONN

    # -- readiness ------------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        """Whether accept/read would return now instead of WOULD_BLOCK (poll's POLLIN/POLLHUP)."""
        if self.state is _LISTENING:
            return bool(self.queue)
        return bool(self.rx) or self.done or bool(self.err) or bool(
            self.shut & RCV_SHUTDOWN) or self.state is not _CONNECTED

    def poll(self) -> int:
        """The POLL* events ready now, as ``tcp_poll`` computes them (net/ipv4/tcp.c): a
        listener is readable when a connection waits (``inet_csk_listen_poll``); otherwise
        POLLHUP when both directions are shut or the socket is closed (a fresh one too),
        POLLIN|POLLRDNORM|POLLRDHUP once the peer's FIN arrived or reading was shut down,
        POLLIN|POLLRDNORM with bytes queued, POLLOUT|POLLWRNORM while a write has room or
        writing is shut down (it would fail at once), POLLERR with an error pending."""
        state = self.state
        if state is _LISTENING:
            return 0x41 if self.queue else 0  # POLLIN | POLLRDNORM
        shut = self.shut | (RCV_SHUTDOWN if self.done else 0)
        mask = 0
        if shut == SHUTDOWN_MASK or state is not _CONNECTED:
            mask = 0x10  # POLLHUP
        if shut & RCV_SHUTDOWN:
            mask |= 0x2041  # POLLIN | POLLRDNORM | POLLRDHUP
        if self.rx:
            mask |= 0x41
        if shut & SEND_SHUTDOWN or state is not _CONNECTED or self.room() > 0:
            mask |= 0x104  # POLLOUT | POLLWRNORM
        if self.err:
            mask |= 0x8  # POLLERR
        return mask

    # -- data -----------------------------------------------------------------------------

    def read(self, count: int) -> bytes | int | WouldBlock:
        """read(2): like recv with no flags, except that 0 bytes is 0 in any state
        (sock_read_iter: "Match SYS5 behaviour")."""
        if count == 0:
            return b""
        return self.recv(count, 0)

    def recv(self, count: int, flags: int = 0) -> bytes | int | WouldBlock:
        """recvfrom(2) on a stream socket, in ``tcp_recvmsg_locked`` order: queued bytes first,
        then end of file if the peer's FIN arrived, then a pending error (consumed), then end
        of file after shutdown(SHUT_RD) or a reset, then -ENOTCONN if never connected, then
        -EAGAIN (O_NONBLOCK, MSG_DONTWAIT, a zero receive timeout) or WOULD_BLOCK.
        MSG_PEEK leaves the bytes queued; MSG_WAITALL waits for ``count`` bytes while the
        connection can still deliver them."""
        if self.state is _LISTENING:
            return -ENOTCONN
        if flags & MSG_OOB:
            return -EINVAL
        rx = self.rx
        if rx and count > 0:
            if len(rx) <= count:
                if (flags & MSG_WAITALL and len(rx) < count and self.state is _CONNECTED
                        and not (self.done or self.err or self.shut & RCV_SHUTDOWN)
                        and not (self.nonblock or flags & MSG_DONTWAIT)):
                    return WOULD_BLOCK
                data = bytes(rx)
                if not flags & MSG_PEEK:
                    rx.clear()
                return data
            data = bytes(rx[:count])
            if not flags & MSG_PEEK:
                del rx[:count]
            return data
        if count <= 0 or self.done:
            return b""
        err = self.err
        if err:
            self.err = 0
            return -err
        if self.shut & RCV_SHUTDOWN:
            return b""
        if self.state is not _CONNECTED:
            return -ENOTCONN
        if self.nonblock or flags & MSG_DONTWAIT or self.rcvtimeo == 0:
            return -EAGAIN
        return WOULD_BLOCK

    def write(self, data: bytes) -> int | WouldBlock:
        """write(2): send with no flags; -EPIPE means SIGPIPE too (:func:`raises_sigpipe`)."""
        return self._write(data, self.nonblock, 0)

    def send(self, data: bytes, flags: int = 0) -> int | WouldBlock:
        """sendto(2) on a connected stream socket.  -EPIPE after shutdown(SHUT_WR), after a
        reset was reported, or on a socket that was never connected
        (``sk_stream_wait_connect``); a pending error first.  Bytes beyond the room the
        buffers leave (:meth:`room`) wait: see :meth:`_write`."""
        return self._write(data, self.nonblock or flags & MSG_DONTWAIT, flags)

    def room(self) -> int:
        """How many more bytes a write may queue now: this socket's send buffer plus the
        peer's receive window, less what the peer has not read.

        ``sk_stream_memory_free`` lets tcp_sendmsg queue while ``sk_wmem_queued`` is below
        ``sk_sndbuf`` (the value getsockopt(SO_SNDBUF) reports), and over loopback a segment
        leaves that queue as soon as the peer's receive window takes it; the window is half
        the peer's receive buffer (tcp_adv_win_scale 1, tcp(7)).  Linux counts buffer memory
        (skb truesize), not payload, and moves the window as the reader goes, so what it
        queues before a writer sleeps differs from this by up to a factor of two (measured
        on 6.18: 40,960 bytes for a 4,608-byte send buffer, 146,432 for 100,000, 3,943,424
        for the 3,939,840 a connection gets by default; this model gives 70,144, 165,536 and
        4,005,376).  The bound is what matters: a reader that stops reading stops the
        writer."""
        peer = self.peer
        return self.sndbuf + peer.rcvbuf // 2 - peer._unread()

    def _write(self, data: bytes, nonblock: bool | int, flags: int) -> int | WouldBlock:
        """tcp_sendmsg_locked with flow control.  What fits in :meth:`room` is queued for the
        peer.  A blocking write that does not fit queues what fits and sleeps
        (WOULD_BLOCK: the guest parks) until the peer has read; run again, it carries on
        from where it stopped (``wdone``) and returns the whole count once every byte is
        queued (tcp(7)/send(2): a blocking send waits for room).  A non-blocking one
        returns what it queued, or -EAGAIN if nothing fitted.  An error that ends the wait
        (a reset) returns the bytes already queued, leaving the error pending, as the
        ``do_error: if (copied) goto out`` path does; the syscall layer does the same when
        SO_SNDTIMEO runs out."""
        peer = self.peer
        done = self.wdone
        if (not data or self.state is not _CONNECTED or self.err or self.shut & SEND_SHUTDOWN
                or peer.shut & RCV_SHUTDOWN and peer.fin_sent and not peer.done):
            if done:
                self.wdone = 0
                return done
            return self._send(data, flags)
        total = len(data)
        take = min(self.sndbuf + peer.rcvbuf // 2 - peer._unread(), total - done)
        if take > 0:
            peer.rx += data[done:done + take] if done or take < total else data
            peer.arrived += take
            done += take
        if done == total:
            self.wdone = 0
            return done
        if nonblock:
            self.wdone = 0
            return done or -EAGAIN
        self.wdone = done
        return WOULD_BLOCK

    def shutdown(self, how: int) -> int:
        """shutdown(2) as ``inet_shutdown``: SHUT_WR sends FIN once; SHUT_RD makes reads return
        end of file once the queue is empty (Linux still queues what arrives); on a listener
        SHUT_RD or SHUT_RDWR stops listening; anything not connected is -ENOTCONN."""
        if how not in (0, 1, 2):
            return -EINVAL
        bits = how + 1
        state = self.state
        if state is _CONNECTED:
            self.shut |= bits & RCV_SHUTDOWN
            if bits & SEND_SHUTDOWN and not self.fin_sent:
                self._send_fin()
            return 0
        if state is _LISTENING:
            if bits & RCV_SHUTDOWN:
                self._stop_listening()
                if self.port_locked:
                    self.state = _BOUND
                else:
                    self.network._unhold_port(self, self.local[1])
                    self.local = None
                    self.state = _CREATED
            return 0
        return -ENOTCONN

    def close(self) -> None:
        """The last reference to the socket is gone (``__tcp_close``).

        A listener resets its queue.  A connection with unread received bytes, or with
        SO_LINGER on and a zero timeout, is reset: RST instead of FIN (see :mod:`harness.net`).
        Otherwise FIN is sent if it was not yet, and a socket that closed first holds its port
        for tcp_fin_timeout.
        """
        net = self.network
        state = self.state
        if state is _LISTENING:
            self._stop_listening()
        elif state is _CONNECTED:
            if self.rx or (self.linger_on and self.linger == 0):
                self.rx.clear()
                self._abort()
            else:
                self.shut = SHUTDOWN_MASK
                if not self.fin_sent:
                    self._send_fin()
                if self.state is _CONNECTED:
                    net._hold(self, TCP_FIN_TIMEOUT)
        self.state = _CLOSED
        if self.local is not None:
            net._unhold_port(self, self.local[1])

    def _finish(self, active: bool) -> None:
        super()._finish(active)
        if active:
            self.network._hold(self, TCP_TIMEWAIT_LEN)

