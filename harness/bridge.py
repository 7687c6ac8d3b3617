"""``webelf serve``'s bridge: real sockets on one side, the guest's fake network on the other.

The guest runs in the emulator as always; what changes is who its clients are.  Each port it
listens on gets a real listening socket on the host, and each real connection accepted there
becomes a :class:`harness.net.Client` connected to the guest's port.  Bytes then flow both
ways as the guest reads and writes, and the rules of TCP pass through:

- **Flow control.**  A real client's bytes are read only while the guest's socket has room
  in its receive window (:meth:`Client.room`); the guest's bytes are taken only while at
  most :data:`OUT_LIMIT` of them wait for the real socket.  So a real client that stops
  reading fills the guest's send buffer and the guest's ``write`` sleeps, and a guest that
  stops reading stops the real client's ``send``, as over loopback on Linux.
- **Ends.**  A real client's end of file becomes a FIN to the guest (``shutdown_write``), a
  reset becomes an RST (``reset``); a guest that closes has the real socket closed once its
  last byte is handed over (its half-close only shuts the real socket's sending side), and
  a guest's RST is sent as one (SO_LINGER with a zero timeout, then close).  Bytes a real
  client sends after the guest closed reach nobody: the host's kernel answers them with RST,
  as the guest's would.
- **The backlog.**  Real connections are accepted at once and queue in the guest's own
  listen backlog (:meth:`Network.connect`: a connection beyond it waits as a client whose
  SYN is dropped would); at most :data:`MAX_LINKS` are held, the rest wait in the host's
  backlog.
- **Time** follows the wall clock: before each run the network's virtual clock is moved to
  the seconds since the guest started, and the bridge sleeps until the guest's next
  deadline (:meth:`Guest.next_deadline`) when nothing else happens, so receive timeouts,
  ``poll`` timeouts, ``nanosleep`` and alarms take as long as they would natively.

Each connection's bytes are also shown to an :class:`harness.accesslog.Exchange`, which
turns them into Common Log Format lines.  The loop is one thread and :mod:`selectors`
(epoll, kqueue or select, whatever the OS has), so it runs wherever Python does.
"""

from __future__ import annotations

import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable

from .accesslog import Exchange
from .errors import HarnessError, NetError
from .guest import Guest
from .linux import INADDR_LOOPBACK, SHUTDOWN_MASK
from .net import State

__all__ = ["Bridge", "BridgeError", "MAX_LINKS", "OUT_LIMIT", "listen"]

#: The most of a guest's bytes held on their way to one real client (the rest stays in the
#: guest's send buffer, so its writes sleep).
OUT_LIMIT = 256 * 1024
_WINDOWS = sys.platform == "win32"
#: The most real connections held at once; more wait in the host's listen backlog.  (Windows'
#: select, which selectors uses there, takes at most 512 sockets.)
MAX_LINKS = 500 if _WINDOWS else 4096
#: How long the loop sleeps at most with nothing to do: the clock is synchronised at least
#: this often (pending connections' SYN timeouts, TIME_WAIT), and Ctrl-C is seen on every
#: OS.
MAX_WAIT = 1.0
#: How long, at most, the bytes an exited guest left queued are still handed to real
#: clients that are slow to read them.
LINGER = 10.0
#: Connections accepted in one go before the guest runs again.
_ACCEPT_BURST = 64
#: The host's listen backlog for each bridged port.
_BACKLOG = 511
_READ_CHUNK = 64 * 1024
#: struct linger {l_onoff = 1, l_linger = 0}: two ints on POSIX, two u_shorts on Windows.
_LINGER_ZERO = struct.pack("HH" if _WINDOWS else "ii", 1, 0)


class BridgeError(HarnessError):
    """A real socket could not be set up (the port is taken, the address is not local)."""


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on ``host:port`` (0: a port the OS picks).

    SO_REUSEADDR on POSIX lets a port be listened on again while the last run's connections
    linger in TIME_WAIT (on Windows it would let two servers share a port, so it is left
    off there)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if not _WINDOWS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BridgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _Link:
    """One real connection and the fake-network client that stands for it."""

    __slots__ = ("sock", "client", "out", "eof_in", "fin_out", "exchange", "mask", "closed")

    def __init__(self, sock: socket.socket, client, exchange: Exchange | None) -> None:
        self.sock = sock
        self.client = client
        self.out = bytearray()   # the guest's bytes not yet taken by the real socket
        self.eof_in = False      # the real client's FIN arrived
        self.fin_out = False     # the real socket's sending side is shut
        self.exchange = exchange
        self.mask = 0            # the events registered with the selector
        self.closed = False


class Bridge:
    """Real listening sockets bridged to a started :class:`Guest`.

    ``ports`` pairs each real listening socket (from :func:`listen`) with the guest's
    ``(ip, port)`` it leads to.  ``log`` gets one Common Log Format line per response (None:
    no log).  ``started`` is the :func:`time.monotonic` time at which the guest's clock was
    0 (just before :meth:`Guest.start`).  :meth:`serve` runs until the guest exits; the
    guest's faults and runaways propagate (GuestFault, GuestTimeout), and so does
    KeyboardInterrupt; :meth:`close` closes every real socket.
    """

    def __init__(self, guest: Guest, ports: Iterable[tuple[socket.socket, tuple[int, int]]],
                 *, log: Callable[[str], None] | None = None, started: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.guest = guest
        self.network = guest.network
        self.log = log
        self.clock = clock
        self.started = clock() if started is None else started
        self.selector = selectors.DefaultSelector()
        self.listeners: list[tuple[socket.socket, tuple[int, int]]] = list(ports)
        self.links: dict[int, _Link] = {}
        self._accepting = True
        for sock, target in self.listeners:
            self.selector.register(sock, selectors.EVENT_READ, target)

    # ------------------------------------------------------------------ the loop

    def serve(self) -> None:
        """Run the guest and move bytes until it exits."""
        while not self.step():
            pass

    def step(self, wait: float | None = None) -> bool:
        """One turn of the loop: run the guest until it waits, hand over what it wrote,
        then wait for the real sockets (at most ``wait`` seconds, if given, and never past
        the guest's next deadline) and take in what they bring.  True once the guest has
        exited."""
        guest = self.guest
        self._follow_wall_clock()
        guest.run()
        if guest.exited:
            self._linger()
            return True
        moved = False
        for link in list(self.links.values()):
            moved |= self._to_real(link)
        self._update_masks()
        # Bytes taken from the guest may let it write more: look around, then run it.
        timeout = 0.0 if moved else self._timeout()
        if wait is not None:
            timeout = min(timeout, wait)
        self._dispatch(timeout)
        return False

    def _dispatch(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            data = key.data
            if data.__class__ is _Link:
                if events & selectors.EVENT_WRITE:
                    self._flush(data)
                if events & selectors.EVENT_READ and not data.closed:
                    self._from_real(data)
            else:
                self._accept(key.fileobj, data)

    def _linger(self) -> None:
        """The guest has exited, and its sockets with it; what they had queued still goes
        out, as the kernel goes on sending an orphaned socket's data after its process is
        gone (the children of a forking server often write their last bytes just before
        the parent exits), for at most :data:`LINGER` seconds."""
        deadline = self.clock() + LINGER
        for sock, _ in self.listeners:  # nobody will accept what arrives now
            if self._accepting:
                self.selector.unregister(sock)
        self._accepting = False
        self.listeners, closing = [], self.listeners
        for sock, _ in closing:
            sock.close()
        while self.links:
            for link in list(self.links.values()):
                self._to_real(link)
            left = deadline - self.clock()
            if not any(link.out for link in self.links.values()) or left <= 0:
                return
            self._update_masks()
            self._dispatch(min(left, MAX_WAIT))

    def _follow_wall_clock(self) -> None:
        network = self.network
        elapsed = self.clock() - self.started
        if elapsed > network.now:
            network.advance(elapsed - network.now)

    def _timeout(self) -> float:
        deadline = self.guest.next_deadline()
        if deadline is None:
            return MAX_WAIT
        return min(MAX_WAIT, max(0.0, deadline - (self.clock() - self.started)))

    def _update_masks(self) -> None:
        selector = self.selector
        listening = len(self.links) < MAX_LINKS and bool(self.listeners)
        if listening != self._accepting:
            self._accepting = listening
            for sock, target in self.listeners:
                if listening:
                    selector.register(sock, selectors.EVENT_READ, target)
                else:
                    selector.unregister(sock)
        for link in self.links.values():
            client = link.client
            want = 0
            if not link.eof_in and (client.room() > 0 or client.closed_by_peer):
                want = selectors.EVENT_READ
            if link.out:
                want |= selectors.EVENT_WRITE
            if want != link.mask:
                if not link.mask:
                    selector.register(link.sock, want, link)
                elif not want:
                    selector.unregister(link.sock)
                else:
                    selector.modify(link.sock, want, link)
                link.mask = want

    # ------------------------------------------------------------------ connections

    def _accept(self, listener: socket.socket, target: tuple[int, int]) -> None:
        ip, port = target
        ip = ip or INADDR_LOOPBACK  # a guest listening on every address: its loopback
        for _ in range(_ACCEPT_BURST):
            if len(self.links) >= MAX_LINKS:
                return
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ECONNABORTED, EMFILE...: the next one may do
                return
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                client = self.network.connect(port, ip)
            except NetError:  # the guest no longer listens there: RST, as its host would
                _reset(sock)
                continue
            except OSError:
                sock.close()
                continue
            client.keep = False  # what has been passed on is not kept twice
            exchange = Exchange(address[0]) if self.log is not None else None
            link = _Link(sock, client, exchange)
            self.links[sock.fileno()] = link
            self._from_real(link)  # a client's request often came with its handshake

    def _from_real(self, link: _Link) -> None:
        """The real socket is readable: bytes for the guest, its FIN, or its reset."""
        client = link.client
        room = client.room()
        if client.closed_by_peer or client.state is State.CLOSED:
            room = _READ_CHUNK  # only to see what comes: more bytes get an RST
        if room <= 0:
            return
        try:
            data = link.sock.recv(min(room, _READ_CHUNK))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ECONNRESET: the real client reset
            self._drop(link, reset_guest=True)
            return
        if not data:
            link.eof_in = True
            if not client.fin_sent and not client.error:
                try:
                    client.shutdown_write()
                except NetError:
                    pass
            self._to_real(link)
            return
        if link.exchange is not None:
            link.exchange.from_client(data)
        try:
            client.send(data)
        except NetError:  # the guest closed or reset: nobody reads these
            self._drop(link, reset_real=True)

    def _to_real(self, link: _Link) -> bool:
        """Take what the guest wrote (as much as :data:`OUT_LIMIT` allows) and hand it to the
        real socket; end the real connection once the guest's end has come through.  True
        if bytes were taken, so a guest waiting to write may go on."""
        if link.closed:
            return False
        client = link.client
        taken = False
        space = OUT_LIMIT - len(link.out)
        if space > 0:
            data = client.recv(space)
            if data:
                taken = True
                link.out += data
                if link.exchange is not None:
                    for record in link.exchange.from_server(data):
                        self.log(record.line())
        if link.out and not self._flush(link):
            return taken
        if link.out or client.available():
            return taken
        if client.error:  # a pending connection failed: ETIMEDOUT, ECONNREFUSED
            self._drop(link, reset_real=True)
        elif client.was_reset:
            self._drop(link, reset_real=True)
        elif client.done:
            peer = client.peer
            if (link.eof_in or peer is None or peer.state is not State.CONNECTED
                    or peer.shut == SHUTDOWN_MASK):
                self._drop(link)
            elif not link.fin_out:  # the guest shut only its sending side: so do we
                link.fin_out = True
                try:
                    link.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        return taken

    def _flush(self, link: _Link) -> bool:
        """Send what waits for the real socket; False if the link was dropped."""
        try:
            sent = link.sock.send(link.out)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:  # EPIPE, ECONNRESET: the real client is gone
            self._drop(link, reset_guest=True)
            return False
        del link.out[:sent]
        return True

    def _drop(self, link: _Link, *, reset_real: bool = False, reset_guest: bool = False) -> None:
        """End a link: the access log told, the fake client closed (reset if
        ``reset_guest``), and the real socket closed (with RST if ``reset_real``) last, so
        that a client which has seen its connection end finds its line in the log even if
        serve is stopped at that moment."""
        if link.closed:
            return
        if link.exchange is not None:
            exchange, link.exchange = link.exchange, None
            for record in exchange.close():
                self.log(record.line())
        client = link.client
        if reset_guest:
            client.reset()
        else:
            client.recv()  # what it sent after the real client left is dropped with it
            client.close()
        link.closed = True
        sock = link.sock
        self.links.pop(sock.fileno(), None)
        if link.mask:
            self.selector.unregister(sock)
        if reset_real:
            _reset(sock)
        else:
            sock.close()

    def close(self) -> None:
        """Close every real socket: connections, then listeners."""
        for link in list(self.links.values()):
            self._drop(link, reset_real=bool(link.out))
        for sock, _ in self.listeners:
            if self._accepting:
                try:
                    self.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            sock.close()
        self.listeners = []
        self.selector.close()

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER on, timeout 0: tcp(7), "abortive close")."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    except OSError:
        pass
    sock.close()

