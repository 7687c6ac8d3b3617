"""What both ends of a connection are, and the words every module of the network speaks.

:class:`_Endpoint` holds what a guest's :class:`~harness.net.Socket` and an outside
:class:`~harness.net.Client` share: the bytes that arrived, FIN and RST, and the pending
error.  One class for both because TCP is symmetric: a FIN or a RST is the same segment
whichever end sends it, and the rules it follows (``tcp_fin`` and ``tcp_reset`` in
net/ipv4/tcp_input.c, ``sk_stream_error`` in net/core/stream.c) do not ask who sent it;
the ends differ only in who drives them, the guest's syscalls or a test.  What a reset
loses, and which errors follow it, is in :mod:`harness.net`'s docstring.

:class:`State`, :data:`WOULD_BLOCK` and :func:`raises_sigpipe` live here, at the bottom of
the package, because every other module of it uses them.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from ..linux import ECONNRESET, EPIPE, MSG_NOSIGNAL, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK

if TYPE_CHECKING:
    from .network import Network


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


# The states as module globals, for the hot paths: a global load, not an attribute lookup.
_CREATED = State.CREATED
_BOUND = State.BOUND
_LISTENING = State.LISTENING
_CONNECTING = State.CONNECTING
_CONNECTED = State.CONNECTED
_CLOSED = State.CLOSED


def raises_sigpipe(result: int | bytes | WouldBlock, flags: int = 0) -> bool:
    """Whether a send/write ``result`` comes with SIGPIPE: ``sk_stream_error`` sends it with
    every EPIPE unless the call passed MSG_NOSIGNAL (write(2) passes no flags)."""
    return result == -EPIPE and not flags & MSG_NOSIGNAL


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
