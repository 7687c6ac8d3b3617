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

The package, one module per concept, each building on the ones before it:
:mod:`.addresses` (IPv4 addresses, struct sockaddr_in), :mod:`.endpoint` (what both ends
of a connection share: the streams, FIN, RST, the pending error; :class:`State` and
:data:`WOULD_BLOCK`), :mod:`.listener` (bind, listen, accept), :mod:`.sockopt`
(setsockopt, getsockopt), :mod:`.socket` (:class:`Socket`, the guest's end, made of those
three), :mod:`.client` (:class:`Client`, the outside end) and :mod:`.network`
(:class:`Network`: the ports, the listeners, the clock).
"""

from .addresses import format_ip, ip_address, pack_sockaddr_in, parse_sockaddr_in
from .client import Client
from .endpoint import WOULD_BLOCK, State, WouldBlock, raises_sigpipe
from .network import Network
from .socket import LOOPBACK_SNDBUF, Socket  # noqa: F401 - LOOPBACK_SNDBUF: tests compare with it

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
