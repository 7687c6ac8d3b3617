"""Record the exact bytes real HTTP clients send: the ``webelf capture`` listener.

The corpus in ``fixtures/requests/`` is what curl, browsers and load generators really
put on the wire, so a replay test sends the guest nothing we made up.  Two halves:

* :class:`RequestFramer` and :class:`Recorder` are sans-IO: bytes and clock readings in,
  "is the request complete, and how many bytes belong to it?" out.  h11 is the framing
  judge, so the end of a request is where RFC 9112 puts it: the empty line after the
  header block (section 2.1), then a body framed by ``Transfer-Encoding: chunked``
  (section 7.1) or ``Content-Length`` (section 6.2), or no body at all, since a request
  with neither has length zero (section 6.3, rule 7).  What h11 rejects, or what never
  completes, is recorded as it arrived once the client closes or falls idle.
* :func:`listen` and :func:`serve` are the socket loop: 127.0.0.1 only, one selector for
  every open connection (a browser opens the page and the favicon connections at once).

Decisions, each visible in a capture file:

* A file holds one request.  Bytes after the end of the first request (a pipelined second
  one) are read and thrown away, and the capture line says how many; a corpus file that
  holds two requests is written by hand (``fixtures/requests/make_synthetic.py``).
* A connection that sends nothing at all (a browser's speculative preconnect, a port
  probe) is not recorded and does not count toward ``--count``: it is closed unanswered.
* Every other connection is answered with :data:`RESPONSE`, a small valid page with
  ``Connection: close``, after its request was recorded; then the write side is shut and
  whatever the client still sends is read until it closes, so that closing the socket with
  unread data never turns into a reset (RFC 9112 section 9.6).
* ``Expect: 100-continue`` gets an interim ``100 Continue`` (RFC 9110 section 10.1.1), so
  a client does not stall for a second before it sends its body.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from pathlib import Path
from typing import Callable

import h11

from .errors import HarnessError

LOOPBACK = "127.0.0.1"

#: The most a capture keeps; a client that sends more is cut off there (a runaway upload
#: would otherwise fill the disk).
MAX_REQUEST = 1 << 20

_PAGE = (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>captured</title>"
         b"</head><body><p>webelf capture recorded this request.</p></body></html>\n")

#: What every recorded connection is answered with.
RESPONSE = (b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: " + str(len(_PAGE)).encode() + b"\r\n"
            b"Connection: close\r\n"
            b"\r\n" + _PAGE)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class CaptureError(HarnessError):
    """The listener cannot run: its port is taken, or a capture cannot be written."""


class RequestFramer:
    """Where one request ends in the bytes a client sends, judged by h11.

    Feed it the bytes as they arrive, and ``b""`` when the client closes its side.  Once
    :attr:`complete`, :attr:`length` is how many of the bytes fed belong to the request:
    h11 stops at the end of the message and leaves the rest in its receive buffer, so
    the count is everything fed minus that remainder.
    """

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.SERVER)
        self.data = bytearray()
        self.request: h11.Request | None = None
        self.length: int | None = None
        self.error: str | None = None
        self.eof = False

    @property
    def complete(self) -> bool:
        return self.length is not None

    @property
    def wants_continue(self) -> bool:
        """The client announced ``Expect: 100-continue`` and waits before its body."""
        return not self.complete and self.error is None and \
            self._h11.they_are_waiting_for_100_continue

    @property
    def recorded(self) -> bytes:
        """The request's bytes when complete; otherwise every byte that arrived."""
        return bytes(self.data[:self.length] if self.complete else self.data)

    @property
    def extra(self) -> int:
        """Bytes that arrived after the end of the request (a pipelined request)."""
        return len(self.data) - len(self.recorded)

    def feed(self, data: bytes) -> None:
        if self.eof:
            return
        if data:
            self.data += data
        else:
            self.eof = True
        if self.complete or self.error is not None:
            return
        self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self.error = str(exc) or type(exc).__name__
                return
            if isinstance(event, h11.Request):
                self.request = event
            elif isinstance(event, h11.EndOfMessage):
                self.length = len(self.data) - len(self._h11.trailing_data[0])
                return
            elif event is h11.NEED_DATA or event is h11.PAUSED \
                    or isinstance(event, h11.ConnectionClosed):
                return


def frame(data: bytes, eof: bool = False) -> RequestFramer:
    """Frame bytes that are all at hand: ``frame(raw).length`` is the first request's size."""
    framer = RequestFramer()
    framer.feed(data)
    if eof:
        framer.feed(b"")
    return framer


class Recorder:
    """One connection's capture: a :class:`RequestFramer` plus the idle clock.

    The clock is passed in (``now``, in seconds) rather than read, so the idle timeout is
    testable without sleeping.  The capture is :attr:`finished` when the request is
    complete, the client closed, :attr:`deadline` passed with no byte arriving (a client
    that stopped mid-request, or sent garbage h11 rejected and then waits), or
    :data:`MAX_REQUEST` bytes arrived.
    """

    def __init__(self, idle_timeout: float, now: float, max_bytes: int = MAX_REQUEST) -> None:
        self.framer = RequestFramer()
        self.idle_timeout = idle_timeout
        self.max_bytes = max_bytes
        self.deadline = now + idle_timeout
        self.timed_out = False
        self.continue_sent = False

    def feed(self, data: bytes, now: float) -> None:
        self.framer.feed(data)
        self.deadline = now + self.idle_timeout

    def poll(self, now: float) -> None:
        if not self.finished and now >= self.deadline:
            self.timed_out = True

    @property
    def finished(self) -> bool:
        f = self.framer
        return f.complete or f.eof or self.timed_out or len(f.data) >= self.max_bytes

    @property
    def summary(self) -> str:
        """What was captured, in a few words: ``GET / HTTP/1.1``, or why it is not one."""
        f = self.framer
        if f.complete:
            r = f.request
            text = (f"{r.method.decode('latin-1')} {r.target.decode('latin-1')} "
                    f"HTTP/{r.http_version.decode('latin-1')}")
            if f.extra:
                text += f" (+{f.extra} bytes after it, not recorded)"
            return text
        if len(f.data) >= self.max_bytes:
            why = f"cut off at {self.max_bytes} bytes"
        elif f.eof:
            why = "the client closed"
        else:
            why = f"idle for {self.idle_timeout:g} s"
        if f.error is not None and not (f.eof and f.error.startswith("peer unexpectedly")):
            error = f.error if len(f.error) <= 60 else f.error[:57] + "..."
            return f"not valid HTTP ({error}), {why}"
        return f"incomplete request, {why}"


def listen(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: one the kernel picks).

    ``SO_REUSEADDR`` lets the same fixed port be listened on again at once, although the
    previous run's connections linger in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise CaptureError(f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}") from None
    return sock


def _write_new(directory: Path, first: int, data: bytes) -> tuple[Path, int]:
    """Write ``data`` to ``directory/<n>.http`` for the first n >= ``first`` not taken.

    ``O_EXCL`` makes "not taken" hold even against another capture writing there."""
    n = first
    while True:
        path = directory / f"{n}.http"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise CaptureError(f"cannot write {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path, n


def _answer(sock: socket.socket, timeout: float) -> None:
    """Send the page, shut the write side, read until the client closes, then close."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        sock.sendall(RESPONSE)
        sock.shutdown(socket.SHUT_WR)
        while time.monotonic() < end and sock.recv(65536):
            pass
    except OSError:
        pass  # the client left first: nothing is unread, and the capture is written
    finally:
        sock.close()


def serve(directory: Path, listener: socket.socket, *, count: int | None = None,
          idle_timeout: float = 2.0, log: Callable[[str], None] = print) -> int:
    """Capture connections to ``listener`` into ``directory`` until ``count`` are written
    (None: until interrupted).  Returns how many were written."""
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    recorders: dict[socket.socket, Recorder] = {}
    written, number = 0, 1
    try:
        while count is None or written < count:
            timeout = None
            if recorders:
                timeout = max(0.0, min(r.deadline for r in recorders.values()) - time.monotonic())
            for key, _ in selector.select(timeout):
                sock = key.fileobj
                if sock is listener:
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ)
                    recorders[conn] = Recorder(idle_timeout, time.monotonic())
                    continue
                recorder = recorders[sock]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                recorder.feed(data, time.monotonic())
                if recorder.framer.wants_continue and not recorder.continue_sent:
                    recorder.continue_sent = True
                    try:
                        sock.send(CONTINUE)
                    except OSError:
                        pass
            now = time.monotonic()
            for sock, recorder in list(recorders.items()):
                recorder.poll(now)
                if not recorder.finished or (count is not None and written >= count):
                    continue
                selector.unregister(sock)
                del recorders[sock]
                data = recorder.framer.recorded
                if not data:
                    log("empty connection: nothing recorded")
                    sock.close()
                    continue
                path, n = _write_new(directory, number, data)
                number = n + 1
                written += 1
                log(f"captured {path}: {len(data)} bytes, {recorder.summary}")
                _answer(sock, idle_timeout)
        return written
    finally:
        for sock in recorders:
            sock.close()
        selector.close()
