"""How a :class:`~harness.net.Socket` holds a port and takes connections: bind(2),
listen(2), accept(2), and the queues of a listener.

Linux keeps this apart from the byte stream too: ``__inet_bind`` (net/ipv4/af_inet.c),
``inet_csk_get_port``, ``inet_csk_accept`` and ``inet_csk_listen_stop``
(net/ipv4/inet_connection_sock.c).  :class:`_Listener` is a part of Socket, not a socket
of its own: Socket inherits it, it has no slots, and its methods use the slots Socket
declares and the port tables of the :class:`~harness.net.Network`.  The accepted socket a
completed handshake makes is built by Socket itself (``_establish``), beside ``__init__``,
since both set every slot.  The rules (which binds conflict, how many connections a
backlog queues, what becomes of the SYNs a full queue drops) are in :mod:`harness.net`'s
docstring, "Listen backlog" and "Ports".
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..linux import (
    EACCES,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EAGAIN,
    ECONNREFUSED,
    EINVAL,
    INADDR_ANY,
    PROT_SOCK,
    SOCK_NONBLOCK,
)
from .addresses import _is_local, _overlap
from .endpoint import _BOUND, _CONNECTED, _CREATED, _LISTENING, WOULD_BLOCK, WouldBlock

if TYPE_CHECKING:
    from .socket import Socket


class _Listener:
    """bind, listen and accept, for :class:`~harness.net.Socket`, which inherits them."""

    __slots__ = ()

    # -- ports ----------------------------------------------------------------------------

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
