"""A sans-IO fake TCP network: the sockets, connections and fd table of one Linux host.

Plain Python: no unicorn, no real sockets, no threads, no sleeping.  The syscall layer turns
guest registers and memory into the arguments here and passes the results back: every guest
operation returns what the kernel would put in eax, a value or ``-errno``, or the marker
``WOULD_BLOCK`` when a blocking socket would sleep, so that the emulator can park the guest and
retry the same syscall after the outside world has changed.  The outside world is
:class:`Client`, the other end of each connection, driven by tests and the CLI.

What is modelled, and from where (Linux 6.1; net/ipv4/tcp.c unless noted):

*Connections* are two byte streams with flow control.  Bytes a guest writes reach the
peer's receive queue at once, as over loopback, up to the room its send buffer and the peer's
receive window leave (:meth:`Socket.room`: SO_SNDBUF, the peer's SO_RCVBUF); a write beyond
that queues what fits and sleeps until the peer reads (WOULD_BLOCK: the guest parks, blocked
in write), or returns what fitted, or -EAGAIN, when non-blocking.  So a peer that stops
reading stops the writer, and the bytes held are bounded, as in tcp(7).  The outside client
(:class:`Client`) never waits: what it sends is queued whole.

*Closing with unread data sends a reset.*  ``__tcp_close`` drains the receive queue and, if
it held data, sends RST instead of FIN ("As outlined in RFC 2525, section 2.17, we send a RST
here because data was lost"; RFC 1122 section 4.2.2.13 asks for it).  The same happens
after SO_LINGER with a zero timeout.  What the peer loses depends on the peer:

- A Linux peer keeps what it has already received: ``tcp_reset`` (tcp_input.c) purges the
  *write* queue and sets ``sk_err``; ``tcp_recvmsg_locked`` returns queued bytes before it
  looks at ``sk_err``.  So its reads return the remaining bytes, then fail once with
  ECONNRESET, then return 0 (end of file).  Measured on Linux 6.18 over loopback: a client
  that read 80 bytes of response only after the server had reset still got all 80, then
  ECONNRESET.  This is the default here.
- Stacks that follow RFC 793 section 3.4 literally ("all segment queues should be flushed"),
  Windows among them, throw the unread bytes away: the client loses the response it had not
  read yet.  ``Network.connect(..., discard_on_reset=True)`` models such a client.

What a reset does destroy here, for every peer, is the sender's unread input (drained by the
close) and everything sent afterwards: bytes that reach a socket that can no longer read them
are answered with another RST (``tcp_rcv_state_process``, FIN_WAIT1/2 with RCV_SHUTDOWN,
counted as TCPAbortOnData).

*Errors after the peer is gone* follow ``tcp_reset`` and ``sk_stream_error``: a reset sets the
pending error to ECONNRESET, or EPIPE when it arrives after the peer's FIN (CLOSE_WAIT); the
next call that reports it consumes it; later writes fail with EPIPE, and EPIPE raises SIGPIPE
unless MSG_NOSIGNAL (:func:`raises_sigpipe`).  So the first write after the peer has
closed succeeds and provokes the reset, and the second fails (measured).

*Listen backlog*: ``sk_acceptq_is_full`` is ``sk_ack_backlog > sk_max_ack_backlog``, so
``listen(fd, n)`` queues n + 1 connections (measured: listen(0) accepts one).  When the queue
is full Linux does not refuse: ``tcp_conn_request`` drops the SYN (LISTENOVERFLOWS) and the
client retransmits it 6 times, 1, 2, 4 ... 64 s apart, then connect(2) fails with ETIMEDOUT
after 127 s.  Here such a client is *pending*: it joins the queue, in order, as soon as
accept(2) makes room (as if its next SYN arrived at that moment), or fails with ETIMEDOUT when
``Network.advance`` moves the virtual clock past its 127 s, or with ECONNREFUSED when the
listener closes.  Closing a listener resets the connections still in its queue
(``inet_csk_listen_stop``).

*Ports* follow ``inet_csk_get_port`` / ``inet_bind_conflict``: a port conflicts with another
socket on it whose address overlaps (equal, or either is INADDR_ANY), unless both have
SO_REUSEADDR and the other is not listening, or both have SO_REUSEPORT.  Accepted sockets hold
their listener's port while open; an orphan in FIN_WAIT2 or TIME_WAIT holds it for 60 s of
virtual time after this side closed first.  ``bind`` to port 0, and ``listen`` on an unbound
socket, pick a free odd port from 32768..60999 as ``inet_csk_find_open_port`` prefers odd
ports; clients use even ones, as ``__inet_hash_connect`` does (measured).  Linux starts each
scan at a random offset; here the ports are handed out in order, so runs are reproducible.

*Timeouts*: SO_RCVTIMEO and SO_SNDTIMEO are stored here (``rcvtimeo``, ``sndtimeo``,
inherited by accepted sockets); the wait they bound is the syscall layer's, which parks the
guest, so the syscall layer also ends it with EAGAIN (or the bytes a write had queued) once
``Network.now`` has moved past it (socket(7)).

*File descriptors*: the lowest free one (``alloc_fd``), below RLIMIT_NOFILE (-EMFILE); 0, 1, 2
are open at start.

Deviations, on purpose: only AF_INET / SOCK_STREAM exist (other families are EAFNOSUPPORT and
other types ESOCKTNOSUPPORT, where Linux would succeed); the host's only addresses are
127.0.0.0/8; a client's own port is not checked against guest binds; socket options that are
not modelled fail with ENOPROTOOPT; timeouts are stored without rounding to jiffies; a
TIME_WAIT hold is kept per (port, address, reuse flags) and is not cut short by a later reset.
"""

from __future__ import annotations

import enum
from collections import deque

from .errors import NetError
from .linux import (
    AF_INET,
    AF_MAX,
    AF_UNSPEC,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EACCES,
    EAFNOSUPPORT,
    EAGAIN,
    EBADF,
    ECONNREFUSED,
    ECONNRESET,
    EDOM,
    EINVAL,
    ENETUNREACH,
    ENOPROTOOPT,
    ENOTCONN,
    EOPNOTSUPP,
    EPERM,
    EPIPE,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    ETIMEDOUT,
    IN_LOOPBACKNET,
    INADDR_ANY,
    INADDR_LOOPBACK,
    INR_OPEN_CUR,
    IP_LOCAL_PORT_RANGE,
    IPPROTO_MAX,
    IPPROTO_TCP,
    MAX_TCP_KEEPCNT,
    MAX_TCP_KEEPIDLE,
    MAX_TCP_KEEPINTVL,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_OOB,
    MSG_PEEK,
    MSG_WAITALL,
    PROT_SOCK,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SK_RMEM_MAX,
    SK_WMEM_MAX,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_RCVTIMEO_NEW,
    SO_RCVTIMEO_OLD,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_SNDTIMEO_NEW,
    SO_SNDTIMEO_OLD,
    SO_TYPE,
    SOCK_CLOEXEC,
    SOCK_MAX,
    SOCK_MIN_RCVBUF,
    SOCK_MIN_SNDBUF,
    SOCK_NONBLOCK,
    SOCK_STREAM,
    SOCK_TYPE_MASK,
    SOL_IP,
    SOL_SOCKET,
    SOMAXCONN,
    TCP_CORK,
    TCP_FIN_TIMEOUT,
    TCP_KEEPALIVE_INTVL,
    TCP_KEEPALIVE_PROBES,
    TCP_KEEPALIVE_TIME,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    TCP_QUICKACK,
    TCP_RMEM_DEFAULT,
    TCP_SYN_RETRIES,
    TCP_TIMEOUT_INIT,
    TCP_TIMEWAIT_LEN,
    TCP_WMEM_DEFAULT,
)

__all__ = [
    "WOULD_BLOCK",
    "Client",
    "Network",
    "Socket",
    "State",
    "WouldBlock",
    "format_ip",
    "ip_address",
    "pack_sockaddr_in",
    "parse_sockaddr_in",
    "raises_sigpipe",
]


class WouldBlock:
    """The type of :data:`WOULD_BLOCK`: a blocking socket would sleep here.

    Not an errno: the guest never sees it.  The emulator parks the guest and repeats the
    syscall once a client has connected, sent, closed or reset (``Socket.readable`` says when
    the repeat will not park again).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "WOULD_BLOCK"


WOULD_BLOCK = WouldBlock()


class State(enum.IntEnum):
    """Where a socket is in its life; TCP's finer states are kept as flags on the endpoint."""

    CREATED = 0  # TCP_CLOSE, no port
    BOUND = 1  # TCP_CLOSE with a port
    LISTENING = 2
    CONNECTING = 3  # a Client whose SYN the full backlog dropped
    CONNECTED = 4  # ESTABLISHED, or half closed (FIN_WAIT*, CLOSE_WAIT)
    CLOSED = 5  # TCP_CLOSE after a connection: reset, or both FINs exchanged, or fd closed


_CREATED = State.CREATED
_BOUND = State.BOUND
_LISTENING = State.LISTENING
#: 2024-01-01T00:00:00Z, the wall-clock time at which a network's clock starts by default.
REALTIME_EPOCH_NS = 1_704_067_200 * 1_000_000_000
#: How many CPUs a network's host has unless told (Network's ``ncpus``), and the most it may
#: have: strace sizes the masks it prints at 128 bytes (1024 CPUs) unless the kernel needs
#: more (src/affinity.c get_cpuset_size), and the harness's decoder keeps to that size.
DEFAULT_NCPUS = 2
MAX_NCPUS = 1024

_CONNECTING = State.CONNECTING
_CONNECTED = State.CONNECTED
_CLOSED = State.CLOSED

_SYN_TIMEOUT = TCP_TIMEOUT_INIT * (2 ** (TCP_SYN_RETRIES + 1) - 1)  # 127 s
_EPHEMERAL_LOW, _EPHEMERAL_HIGH = IP_LOCAL_PORT_RANGE
_SOCKADDR_IN_SIZE = 16  # sizeof(struct sockaddr_in)
_INT_MAX = 0x7FFFFFFF

#: The send buffer a connection gets when SO_SNDBUF was not set: tcp_sndbuf_expand grows
#: tcp_wmem's initial 16384 from the MSS once the connection is established, and over
#: loopback (MSS 65483) getsockopt(SO_SNDBUF) then reports this, measured on Linux 6.18
#: x86-64 for both ends of a connection.
LOOPBACK_SNDBUF = 3939840


def ip_address(text: str) -> int:
    """``"127.0.0.1"`` -> ``0x7F000001``, the host-order integer the network uses."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    a, b, c, d = (int(p) for p in parts)
    return a << 24 | b << 16 | c << 8 | d


def format_ip(ip: int) -> str:
    """``0x7F000001`` -> ``"127.0.0.1"``."""
    return f"{ip >> 24 & 255}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


def parse_sockaddr_in(raw: bytes) -> tuple[int, int] | int:
    """The ``(ip, port)`` in the ``addrlen`` bytes a guest passed to bind(2), or -errno.

    Follows ``__inet_bind``: shorter than a sockaddr_in is EINVAL, another family is
    EAFNOSUPPORT, except that AF_UNSPEC with INADDR_ANY is accepted for old programs.
    """
    if len(raw) < _SOCKADDR_IN_SIZE:
        return -EINVAL
    family = raw[0] | raw[1] << 8
    port = raw[2] << 8 | raw[3]
    ip = raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7]
    if family != AF_INET and (family != AF_UNSPEC or ip != INADDR_ANY):
        return -EAFNOSUPPORT
    return ip, port


def pack_sockaddr_in(ip: int, port: int) -> bytes:
    """The 16-byte struct sockaddr_in that accept(2) and getsockname(2) write for an i386 guest."""
    return (
        AF_INET.to_bytes(2, "little") + port.to_bytes(2, "big") + ip.to_bytes(4, "big") + bytes(8)
    )


def raises_sigpipe(result: int | bytes | WouldBlock, flags: int = 0) -> bool:
    """Whether a send/write ``result`` comes with SIGPIPE: ``sk_stream_error`` sends it with
    every EPIPE unless the call passed MSG_NOSIGNAL (write(2) passes no flags)."""
    return result == -EPIPE and not flags & MSG_NOSIGNAL


def _is_local(ip: int) -> bool:
    return ip >> 24 == IN_LOOPBACKNET


def _overlap(a: int, b: int) -> bool:
    """``inet_rcv_saddr_equal`` with wildcards: INADDR_ANY overlaps every address."""
    return a == b or a == INADDR_ANY or b == INADDR_ANY


def _int32(raw: bytes) -> int:
    return int.from_bytes(raw[:4], "little", signed=True)


# ---------------------------------------------------------------------------------------------
# Connection endpoints
# ---------------------------------------------------------------------------------------------


class _Endpoint:
    """One end of a TCP connection: what both a guest Socket and an outside Client are.

    ``done`` is Linux's SOCK_DONE (the peer's FIN arrived), ``fin_sent`` says this end sent
    its FIN, ``shut`` holds sk_shutdown's RCV_SHUTDOWN/SEND_SHUTDOWN bits and ``err`` is
    sk_err, the pending error the next read, write or SO_ERROR consumes.  ``arrived``
    counts what has ever arrived (bytes into ``rx``; for a listener, connections into its
    queue): each arrival is a wakeup, which an edge-triggered epoll set reports even while
    older bytes wait unread (harness.kernel.sys_poll).
    """

    __slots__ = ("network", "state", "peer", "rx", "done", "fin_sent", "shut", "err",
                 "was_reset", "arrived")

    def __init__(self, network: Network, state: State) -> None:
        self.network = network
        self.state = state
        self.peer: _Endpoint | None = None
        self.rx = bytearray()
        self.done = False
        self.fin_sent = False
        self.shut = 0
        self.err = 0
        self.was_reset = False
        self.arrived = 0

    def _unread(self) -> int:
        return len(self.rx)

    def _send(self, data: bytes, flags: int) -> int:
        """tcp_sendmsg_locked: bytes accepted, or -errno (see :func:`raises_sigpipe`)."""
        if self.state is _CONNECTED and not self.err and not self.shut & SEND_SHUTDOWN:
            peer = self.peer
            if data:
                if peer.shut & RCV_SHUTDOWN and peer.fin_sent and not peer.done:
                    # The peer can no longer read (closed, or shut down both ways after its
                    # FIN): it drops the data, resets itself and answers with RST.
                    peer.err = ECONNRESET
                    peer._die()
                    self._rst_received()
                else:
                    peer.rx += data
                    peer.arrived += len(data)
            return len(data)
        err = self.err
        if err:
            self.err = 0
            return -err
        return -EPIPE

    def _send_fin(self) -> None:
        self.fin_sent = True
        self.shut |= SEND_SHUTDOWN
        peer = self.peer
        peer._fin_received()
        if self.done:
            self._finish(active=False)
        peer._after_fin()

    def _after_fin(self) -> None:
        """Called once this end has taken the peer's FIN in; a client may answer it."""

    def _fin_received(self) -> None:
        self.done = True
        if self.fin_sent:
            self._finish(active=True)

    def _finish(self, active: bool) -> None:
        """Both FINs are through: TCP_CLOSE, via TIME_WAIT for the side that closed first."""
        self.state = _CLOSED
        self.shut = SHUTDOWN_MASK
        self.peer = None

    def _rst_received(self) -> None:
        """tcp_reset: the error a later call reports; queued bytes stay readable."""
        if self.state is not _CONNECTED:
            return
        self.err = EPIPE if self.done and not self.fin_sent else ECONNRESET
        self.was_reset = True
        self._die()

    def _die(self) -> None:
        self.state = _CLOSED
        self.shut = SHUTDOWN_MASK
        self.peer = None

    def _abort(self) -> None:
        """Send RST to the peer and drop the connection (close with unread data, linger 0)."""
        peer = self.peer
        self._die()
        peer._rst_received()


# Default values of the options Socket keeps in its small option dict.
_SO_BOOLS = frozenset({SO_DEBUG, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE})
_TCP_BOOLS = frozenset({TCP_NODELAY, TCP_CORK, TCP_QUICKACK})
_TCP_RANGES = {
    TCP_KEEPIDLE: MAX_TCP_KEEPIDLE,
    TCP_KEEPINTVL: MAX_TCP_KEEPINTVL,
    TCP_KEEPCNT: MAX_TCP_KEEPCNT,
}
_OPTION_DEFAULTS = {
    (SOL_SOCKET, SO_PRIORITY): 0,
    (SOL_SOCKET, SO_RCVLOWAT): 1,
    (IPPROTO_TCP, TCP_QUICKACK): 1,
    (IPPROTO_TCP, TCP_KEEPIDLE): TCP_KEEPALIVE_TIME,
    (IPPROTO_TCP, TCP_KEEPINTVL): TCP_KEEPALIVE_INTVL,
    (IPPROTO_TCP, TCP_KEEPCNT): TCP_KEEPALIVE_PROBES,
}


class Socket(_Endpoint):
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

    # -- addresses ------------------------------------------------------------------------

    def bind(self, ip: int, port: int) -> int:
        """bind(2) for an address already parsed (:func:`parse_sockaddr_in`), ``__inet_bind``
        order: EADDRNOTAVAIL, EACCES, EINVAL (already bound), EADDRINUSE."""
        net = self.network
        if ip != INADDR_ANY and not _is_local(ip):
            return -EADDRNOTAVAIL
        if port and port < PROT_SOCK and not net.privileged:
            return -EACCES
        if self.state is not _CREATED:
            return -EINVAL
        if port == 0:
            port = net._free_port()
            if not port:
                return -EADDRINUSE
        elif self._conflicts(ip, port):
            return -EADDRINUSE
        self.local = (ip, port)
        self.port_locked = port != 0
        self.state = _BOUND
        net._ports.setdefault(port, []).append(self)
        return 0

    def _conflicts(self, ip: int, port: int) -> bool:
        net = self.network
        for other in net._ports.get(port, ()):
            if other is self or not _overlap(ip, other.local[0]):
                continue
            if self.reuseaddr and other.reuseaddr and other.state is not _LISTENING:
                continue
            if self.reuseport and other.reuseport:
                continue
            return True
        holds = net._timewait.get(port)
        if holds:
            now = net.now
            for (other_ip, reuseaddr, reuseport), until in holds.items():
                if until <= now or not _overlap(ip, other_ip):
                    continue
                if (self.reuseaddr and reuseaddr) or (self.reuseport and reuseport):
                    continue
                return True
        return False

    def getsockname(self) -> tuple[int, int]:
        """getsockname(2): ``(0, 0)`` before bind, as Linux reports 0.0.0.0:0."""
        return self.local or (INADDR_ANY, 0)

    def getpeername(self) -> tuple[int, int] | int:
        """getpeername(2): -ENOTCONN unless connected (a reset socket no longer is)."""
        if self.state is _CONNECTED:
            return self.remote
        return -ENOTCONN

    # -- listening ------------------------------------------------------------------------

    def listen(self, backlog: int) -> int:
        """listen(2): the backlog is capped at somaxconn (a negative one, read as unsigned,
        too); an unbound socket gets a free port on INADDR_ANY; listening again only changes
        the backlog."""
        net = self.network
        if backlog < 0 or backlog > net.somaxconn:
            backlog = net.somaxconn
        state = self.state
        if state is _LISTENING:
            self.backlog = backlog
            self._admit_pending()
            return 0
        if state is _CREATED:
            port = net._free_port()
            if not port:
                return -EADDRINUSE
            self.local = (INADDR_ANY, port)
            net._ports.setdefault(port, []).append(self)
        elif state is _BOUND:
            if self._conflicts(*self.local):
                return -EADDRINUSE
        else:
            return -EINVAL
        self.state = _LISTENING
        self.backlog = backlog
        self.queue = deque()
        self.pending = deque()
        net._listeners.setdefault(self.local, []).append(self)
        return 0

    def accept(self, flags: int = 0) -> Socket | int | WouldBlock:
        """The connection at the head of the queue (accept4(2)); ``flags`` may carry
        SOCK_NONBLOCK for the new socket.  An empty queue is -EAGAIN for a non-blocking
        listener and WOULD_BLOCK otherwise; a socket that does not listen is -EINVAL.
        A connection the client has already reset is still returned, as Linux does."""
        if self.state is not _LISTENING:
            return -EINVAL
        queue = self.queue
        if not queue:
            return -EAGAIN if self.nonblock else WOULD_BLOCK
        child = queue.popleft()
        child.nonblock = bool(flags & SOCK_NONBLOCK)
        child.accepted = True
        if self.pending:
            self._admit_pending()
        return child

    def _admit_pending(self) -> None:
        pending = self.pending
        queue = self.queue
        while pending and len(queue) <= self.backlog:
            client = pending.popleft()
            client._listener = None
            self._establish(client)

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

    def _stop_listening(self) -> None:
        """inet_csk_listen_stop: queued connections are reset, pending SYNs refused."""
        net = self.network
        port = self.local[1]
        for child in self.queue:
            if child.state is _CONNECTED:
                child._abort()
            net._unhold_port(child, port)
        for client in self.pending:
            client._refused(ECONNREFUSED)
        self.queue = None
        self.pending = None
        listeners = net._listeners[self.local]
        listeners.remove(self)
        if not listeners:
            del net._listeners[self.local]

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
        SO_LINGER on and a zero timeout, is reset: RST instead of FIN (see the module
        docstring).  Otherwise FIN is sent if it was not yet, and a socket that closed first
        holds its port for tcp_fin_timeout.
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

    # -- options --------------------------------------------------------------------------

    def setsockopt(self, level: int, name: int, value: bytes) -> int:
        """setsockopt(2) with the ``optlen`` bytes the guest passed.

        SOL_SOCKET (``sk_setsockopt``) and IPPROTO_TCP (``do_tcp_setsockopt``) read an int and
        refuse fewer than 4 bytes with EINVAL before they look at the name; an unknown name or
        level is ENOPROTOOPT; booleans are stored as 0/1.
        """
        if level == SOL_SOCKET:
            return self._set_socket_option(name, value)
        if level == IPPROTO_TCP:
            if len(value) < 4:
                return -EINVAL
            val = _int32(value)
            if name in _TCP_BOOLS:
                self._set_opt(level, name, int(val != 0))
                return 0
            high = _TCP_RANGES.get(name)
            if high is None:
                return -ENOPROTOOPT
            if not 1 <= val <= high:
                return -EINVAL
            self._set_opt(level, name, val)
            return 0
        return -ENOPROTOOPT

    def _set_opt(self, level: int, name: int, val: int) -> None:
        if self._opts is None:
            self._opts = {}
        self._opts[(level, name)] = val

    def _set_socket_option(self, name: int, value: bytes) -> int:
        if len(value) < 4:
            return -EINVAL
        val = _int32(value)
        net = self.network
        if name == SO_REUSEADDR:
            self.reuseaddr = val != 0
        elif name == SO_REUSEPORT:
            self.reuseport = val != 0
        elif name in _SO_BOOLS:
            self._set_opt(SOL_SOCKET, name, int(val != 0))
        elif name == SO_SNDBUF:
            # sk_setsockopt: min_t(u32, val, wmem_max), then at most INT_MAX / 2 so that
            # the doubled value is an int, doubled "to allow space for bookkeeping
            # overhead" (socket(7)), at least SOCK_MIN_SNDBUF; and SOCK_SNDBUF_LOCK.
            val = min(val & 0xFFFFFFFF, net.wmem_max, _INT_MAX // 2)
            self.sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
            self.sndbuf_locked = True
        elif name == SO_RCVBUF:
            val = min(val & 0xFFFFFFFF, net.rmem_max, _INT_MAX // 2)
            self.rcvbuf = max(val * 2, SOCK_MIN_RCVBUF)
        elif name == SO_PRIORITY:
            if not 0 <= val <= 6 and not net.privileged:
                return -EPERM
            self._set_opt(SOL_SOCKET, name, val)
        elif name == SO_RCVLOWAT:
            self._set_opt(SOL_SOCKET, name, (0x7FFFFFFF if val < 0 else val) or 1)
        elif name == SO_LINGER:
            if len(value) < 8:
                return -EINVAL
            self.linger_on = val != 0
            if self.linger_on:
                self.linger = _int32(value[4:8])
        elif name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW):
            return self._set_timeout(name, value)
        else:
            return -ENOPROTOOPT
        return 0

    def _set_timeout(self, name: int, value: bytes) -> int:
        """``sock_set_timeout``: struct old_timeval32 (two s32) for the _OLD names an i386
        program uses, struct __kernel_sock_timeval (two s64) for the _NEW ones.  Zero is "no
        timeout" (None); a negative time is a timeout of 0, which never waits."""
        if name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD):
            if len(value) < 8:
                return -EINVAL
            sec = _int32(value)
            usec = _int32(value[4:8])
        else:
            if len(value) < 16:
                return -EINVAL
            sec = int.from_bytes(value[:8], "little", signed=True)
            usec = int.from_bytes(value[8:16], "little", signed=True)
        if not 0 <= usec < 1_000_000:
            return -EDOM
        timeout: float | None
        if sec < 0:
            timeout = 0.0
        elif sec == 0 and usec == 0:
            timeout = None
        else:
            timeout = sec + usec / 1_000_000
        if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW):
            self.rcvtimeo = timeout
        else:
            self.sndtimeo = timeout
        return 0

    def getsockopt(self, level: int, name: int, optlen: int) -> bytes | int:
        """getsockopt(2): the value's bytes cut to ``optlen`` (the caller writes back their
        length), or -errno.  SOL_SOCKET refuses a negative ``optlen`` with EINVAL; TCP reads it
        as unsigned and caps it at 4.  SO_ERROR consumes the pending error.  An unknown option
        is ENOPROTOOPT; an unknown level EOPNOTSUPP (``ip_getsockopt``)."""
        if level == SOL_SOCKET:
            if optlen < 0:
                return -EINVAL
            raw = self._get_socket_option(name)
            if raw.__class__ is int:
                return raw
            return raw[:optlen]
        if level == IPPROTO_TCP:
            if optlen < 0 or optlen > 4:
                optlen = 4
            if name in _TCP_BOOLS or name in _TCP_RANGES:
                return self._get_opt(level, name).to_bytes(4, "little", signed=True)[:optlen]
            return -ENOPROTOOPT
        if level == SOL_IP:
            return -ENOPROTOOPT
        return -EOPNOTSUPP

    def _get_opt(self, level: int, name: int) -> int:
        key = (level, name)
        if self._opts is not None and key in self._opts:
            return self._opts[key]
        return _OPTION_DEFAULTS.get(key, 0)

    def _get_socket_option(self, name: int) -> bytes | int:
        if name == SO_ERROR:
            val, self.err = self.err, 0
        elif name == SO_TYPE:
            val = SOCK_STREAM
        elif name == SO_PROTOCOL:
            val = IPPROTO_TCP
        elif name == SO_DOMAIN:
            val = AF_INET
        elif name == SO_ACCEPTCONN:
            val = int(self.state is _LISTENING)
        elif name == SO_REUSEADDR:
            val = int(self.reuseaddr)
        elif name == SO_REUSEPORT:
            val = int(self.reuseport)
        elif name == SO_SNDBUF:
            val = self.sndbuf
        elif name == SO_RCVBUF:
            val = self.rcvbuf
        elif name == SO_SNDLOWAT:
            val = 1
        elif name in _SO_BOOLS or name in (SO_PRIORITY, SO_RCVLOWAT):
            val = self._get_opt(SOL_SOCKET, name)
        elif name == SO_LINGER:
            return int(self.linger_on).to_bytes(4, "little") + self.linger.to_bytes(
                4, "little", signed=True)
        elif name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW):
            timeout = self.rcvtimeo if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW) else self.sndtimeo
            sec = int(timeout or 0)
            usec = round(((timeout or 0) - sec) * 1_000_000)
            size = 4 if name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD) else 8
            return sec.to_bytes(size, "little", signed=True) + usec.to_bytes(
                size, "little", signed=True)
        else:
            return -ENOPROTOOPT
        return val.to_bytes(4, "little", signed=True)


# ---------------------------------------------------------------------------------------------
# The outside client
# ---------------------------------------------------------------------------------------------


class Client(_Endpoint):
    """The outside end of one connection, for tests and the CLI: made by
    :meth:`Network.connect`.  It never blocks: ``recv`` returns what has arrived so far.

    It follows the same Linux rules as the guest's sockets: ``close`` with bytes it has not
    taken with ``recv``/``recv_all`` resets the connection instead of closing it cleanly.
    Failures raise :class:`~harness.errors.NetError` with the errno a Linux client would get.
    """

    __slots__ = ("local", "remote", "discard_on_reset", "error", "deadline", "_pos", "_early",
                 "_early_fin", "_closed", "_listener", "close_on_eof", "rcvbuf", "keep")

    def __init__(self, network: Network, local: tuple[int, int], remote: tuple[int, int],
                 discard_on_reset: bool) -> None:
        super().__init__(network, _CONNECTING)
        self.local = local
        self.remote = remote
        self.discard_on_reset = discard_on_reset
        self.error = 0
        self.deadline = 0.0
        self._pos = 0
        self._early: bytearray | None = None
        self._early_fin = False
        self._closed = False
        self._listener: Socket | None = None
        #: Close as soon as the server's FIN arrives, as curl and browsers do with a
        #: ``Connection: close`` response: everything that arrived stays in ``received``
        #: (the client read it into its own memory), so the close is a FIN, never a reset.
        self.close_on_eof = False
        #: The receive buffer, half of which is the window the guest may fill before its
        #: writes wait for this client to read (:meth:`Socket.room`); tcp_rmem's default.
        self.rcvbuf = TCP_RMEM_DEFAULT
        #: Keep every byte that arrived in ``received``; False lets go of what was taken
        #: with recv, so a client that reads a long stream holds only what it has not read.
        self.keep = True

    def __repr__(self) -> str:
        return (f"<Client {format_ip(self.local[0])}:{self.local[1]} -> "
                f"{format_ip(self.remote[0])}:{self.remote[1]} {self.state.name}>")

    @property
    def pending(self) -> bool:
        """The listener's queue was full: the connection is not established yet."""
        return self.state is _CONNECTING

    @property
    def closed_by_peer(self) -> bool:
        """The guest has closed its side: FIN or RST arrived."""
        return self.done or self.was_reset

    @property
    def received(self) -> bytes:
        """Every byte that has arrived on this connection, taken with recv or not (less
        what a reset discarded with ``discard_on_reset``, and what recv took when ``keep``
        is False)."""
        return bytes(self.rx)

    def _unread(self) -> int:
        return len(self.rx) - self._pos

    def recv(self, count: int | None = None) -> bytes:
        """Take up to ``count`` (default: all) of the bytes not taken yet; b"" if none.
        Taking them makes room for a guest that waits to write more (:meth:`Socket.room`)."""
        rx = self.rx
        start = self._pos
        end = len(rx) if count is None else min(len(rx), start + count)
        data = bytes(rx[start:end])
        if self.keep:
            self._pos = end
        else:
            del rx[:end]
            self._pos = 0
        return data

    def _after_fin(self) -> None:
        if self.close_on_eof and not self._closed and self.state is _CONNECTED:
            self._closed = True
            self._close_cleanly()

    def recv_all(self) -> bytes:
        """Take every byte not taken yet."""
        return self.recv()

    def available(self) -> int:
        """How many bytes :meth:`recv` would take now."""
        return self._unread()

    def room(self) -> int:
        """How many more bytes a sender that keeps to TCP's flow control may :meth:`send`
        now (``webelf serve`` forwards a real client's bytes no faster): the guest socket's
        receive window, half its SO_RCVBUF as in :meth:`Socket.room`, less what it has not
        read; while pending, a first window of the default size less what already waits.
        0 once the connection is over."""
        if self.state is _CONNECTING:
            return max(0, TCP_RMEM_DEFAULT // 2 - len(self._early or b""))
        peer = self.peer
        if peer is None or self.state is not _CONNECTED:
            return 0
        return max(0, peer.rcvbuf // 2 - len(peer.rx))

    def send(self, data: bytes) -> None:
        """Send bytes to the guest.  While pending they wait and go when the connection is
        established.  Raises NetError: EPIPE after shutdown_write, ECONNRESET (then EPIPE)
        after the guest reset, ECONNREFUSED/ETIMEDOUT if the connection failed."""
        self._check_open("send")
        if self.state is _CONNECTING:
            if self._early_fin:
                raise NetError(EPIPE, "send after shutdown_write")
            if self._early is None:
                self._early = bytearray()
            self._early += data
            return
        if self.error:
            raise NetError(self.error, "send")
        result = self._send(data, MSG_NOSIGNAL)
        if result < 0:
            raise NetError(-result, "send")

    def shutdown_write(self) -> None:
        """Send FIN, keep reading (``shutdown(SHUT_WR)``, what ``nc -N`` does at end of input):
        the guest's reads return end of file once it has read everything."""
        self._check_open("shutdown_write")
        if self.state is _CONNECTING:
            self._early_fin = True
        elif self.state is _CONNECTED and not self.fin_sent:
            self._send_fin()

    def close(self) -> None:
        """close(2): FIN, or RST if bytes that arrived were not taken with recv."""
        self._end(abortive=False)

    def reset(self) -> None:
        """Abortive close (SO_LINGER with a zero timeout, then close): RST to the guest."""
        self._end(abortive=True)

    def _end(self, abortive: bool) -> None:
        if self._closed:
            return
        self._closed = True
        if self.state is _CONNECTING:
            self._withdraw()
        elif self.state is _CONNECTED:
            if abortive or self._unread():
                self._abort()
            else:
                self._close_cleanly()

    def _close_cleanly(self) -> None:
        self.shut = SHUTDOWN_MASK
        if not self.fin_sent:
            self._send_fin()

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise NetError(EBADF, f"{what} on a closed client")

    def _rst_received(self) -> None:
        super()._rst_received()
        if self.discard_on_reset:
            del self.rx[self._pos:]

    def _flush_early(self) -> None:
        if self._early:
            self.peer.rx += self._early
            self.peer.arrived += len(self._early)
            self._early = None
        if self._early_fin:
            self._send_fin()

    def _withdraw(self) -> None:
        self._listener.pending.remove(self)
        self._listener = None
        self.state = _CLOSED

    def _refused(self, errno: int) -> None:
        self._listener = None
        self.error = errno
        self.state = _CLOSED


class Network:
    """The host's TCP state: who holds which port, who listens where, and a virtual clock.

    ``privileged`` makes the guest act with CAP_NET_BIND_SERVICE and CAP_NET_ADMIN (ports
    below 1024, SO_PRIORITY above 6), as root in a container would; ``somaxconn``,
    ``wmem_max`` and ``rmem_max`` are the sysctls of those names.  ``epoch_ns`` is the
    wall-clock time (CLOCK_REALTIME, in nanoseconds since 1970) at which ``now`` was 0:
    2024-01-01T00:00:00Z by default, so that runs are reproducible.

    ``ncpus`` is how many CPUs the host has (nr_cpu_ids), every one online and in every new
    process's affinity mask (sched_getaffinity(2), :mod:`harness.kernel.sys_sched`): a
    fixed number, not the real machine's, so that a guest that sizes itself by its CPUs
    (a server's ``--workers auto``) does the same on every machine.  The default,
    :data:`DEFAULT_NCPUS` (2), is the smallest machine on which such a guest forks workers,
    so the code that runs them is exercised; 1 to :data:`MAX_NCPUS`.
    """

    __slots__ = ("now", "epoch_ns", "privileged", "somaxconn", "wmem_max", "rmem_max", "ncpus",
                 "_ports", "_listeners", "_timewait", "_next_bind_port", "_next_client_port",
                 "shared", "watchers")

    def __init__(self, *, privileged: bool = True, somaxconn: int = SOMAXCONN,
                 wmem_max: int = SK_WMEM_MAX, rmem_max: int = SK_RMEM_MAX,
                 epoch_ns: int = REALTIME_EPOCH_NS, ncpus: int = DEFAULT_NCPUS) -> None:
        if not 1 <= ncpus <= MAX_NCPUS:
            raise ValueError(f"ncpus must be 1 to {MAX_NCPUS}, not {ncpus}")
        self.now = 0.0
        self.ncpus = ncpus
        self.epoch_ns = epoch_ns
        self.privileged = privileged
        self.somaxconn = somaxconn
        self.wmem_max = wmem_max
        self.rmem_max = rmem_max
        self._ports: dict[int, list[Socket]] = {}
        self._listeners: dict[tuple[int, int], list[Socket]] = {}
        self._timewait: dict[int, dict[tuple[int, bool, bool], float]] = {}
        self._next_bind_port = _EPHEMERAL_LOW | 1
        self._next_client_port = _EPHEMERAL_LOW
        #: id(open file) -> how many fd tables hold it, for files fork shared (FdTable.fork).
        self.shared: dict[int, int] = {}
        #: id(open file) -> the epoll sets watching it, told when the file is released
        #: (eventpoll_release, from __fput: FdTable._fput), wherever its last fd was.
        self.watchers: dict[int, list] = {}

    def fdtable(self, *, limit: int = INR_OPEN_CUR, stdin: bytes = b""):
        """A new process's fd table on this host (:class:`harness.kernel.files.FdTable`)."""
        from .kernel.files import FdTable  # the kernel's, which builds on this module

        return FdTable(self, limit=limit, stdin=stdin)

    def listening(self) -> list[tuple[int, int]]:
        """The ``(ip, port)`` addresses some socket listens on, in the order they started."""
        return list(self._listeners)

    def connect(self, port: int, ip: int | str = INADDR_LOOPBACK, *,
                discard_on_reset: bool = False) -> Client:
        """Connect from outside to ``ip:port``.

        A listener bound to that address wins over one bound to INADDR_ANY.  Raises NetError
        ECONNREFUSED when nothing listens (the host answers the SYN with RST) and
        ENETUNREACH for an address outside 127.0.0.0/8.  A full backlog is not an error: the
        client is returned ``pending`` (see the module docstring).
        """
        if ip.__class__ is str:
            ip = ip_address(ip)
        if not _is_local(ip):
            raise NetError(ENETUNREACH, f"connect to {format_ip(ip)}:{port}")
        listeners = self._listeners.get((ip, port)) or self._listeners.get((INADDR_ANY, port))
        if not listeners:
            raise NetError(ECONNREFUSED, f"connect to {format_ip(ip)}:{port}")
        listener = listeners[0]
        client = Client(self, (INADDR_LOOPBACK, self._client_port()), (ip, port),
                        discard_on_reset)
        if len(listener.queue) > listener.backlog:
            client.deadline = self.now + _SYN_TIMEOUT
            client._listener = listener
            listener.pending.append(client)
        else:
            listener._establish(client)
        return client

    def advance(self, seconds: float) -> None:
        """Move the virtual clock: pending connections time out, port holds expire, and a
        guest call waiting under SO_RCVTIMEO that has waited its timeout returns EAGAIN
        when the guest next runs (the syscall layer keeps that deadline)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        now = self.now = self.now + seconds
        for listeners in self._listeners.values():
            for listener in listeners:
                pending = listener.pending
                while pending and pending[0].deadline <= now:
                    pending.popleft()._refused(ETIMEDOUT)
        for port in list(self._timewait):
            holds = self._timewait[port]
            for key in [k for k, until in holds.items() if until <= now]:
                del holds[key]
            if not holds:
                del self._timewait[port]

    # -- ports ----------------------------------------------------------------------------

    def _hold(self, sock: Socket, seconds: float) -> None:
        ip, port = sock.local
        holds = self._timewait.get(port)
        if holds is None:
            holds = self._timewait[port] = {}
        holds[(ip, sock.reuseaddr, sock.reuseport)] = self.now + seconds

    def _unhold_port(self, sock: Socket, port: int) -> None:
        owners = self._ports.get(port)
        if owners is not None and sock in owners:
            owners.remove(sock)
            if not owners:
                del self._ports[port]

    def _port_free(self, port: int) -> bool:
        if port in self._ports:
            return False
        holds = self._timewait.get(port)
        return not holds or all(until <= self.now for until in holds.values())

    def _free_port(self) -> int:
        """An ephemeral port nobody holds, odd ones first, or 0 when none is left."""
        for parity in (1, 0):
            first = _EPHEMERAL_LOW + (parity - _EPHEMERAL_LOW) % 2
            count = (_EPHEMERAL_HIGH - first) // 2 + 1
            offset = (self._next_bind_port - first) // 2 if parity else 0
            for i in range(count):
                port = first + 2 * ((offset + i) % count)
                if self._port_free(port):
                    if parity:
                        self._next_bind_port = first + 2 * ((offset + i + 1) % count)
                    return port
        return 0

    def _client_port(self) -> int:
        """The next even ephemeral port no guest socket holds (any, if they all are)."""
        port = self._next_client_port
        for _ in range((_EPHEMERAL_HIGH - _EPHEMERAL_LOW) // 2):
            if port not in self._ports:
                break
            port = port + 2 if port + 2 <= _EPHEMERAL_HIGH else _EPHEMERAL_LOW
        self._next_client_port = port + 2 if port + 2 <= _EPHEMERAL_HIGH else _EPHEMERAL_LOW
        return port
