"""The outside end of a connection: :class:`Client`, what tests and the CLI drive.

An :class:`~harness.net.endpoint._Endpoint` like the guest's socket, under the same Linux
rules (a close with unread bytes resets), with a test's interface: it never blocks, raises
:class:`~harness.errors.NetError` where a socket would return -errno, and keeps every
byte that arrived (``received``) so that a test can judge a whole response.  While a full
backlog keeps it *pending* it holds what it sends until accept(2) makes room for it
(:mod:`harness.net`'s docstring, "Listen backlog").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NetError
from ..linux import EBADF, EPIPE, MSG_NOSIGNAL, SHUTDOWN_MASK, TCP_RMEM_DEFAULT
from .addresses import format_ip
from .endpoint import _CLOSED, _CONNECTED, _CONNECTING, _Endpoint

if TYPE_CHECKING:
    from .network import Network
    from .socket import Socket


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

