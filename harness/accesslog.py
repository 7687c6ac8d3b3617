"""Access-log lines in the Common Log Format, from the bytes of a connection seen from the side.

``webelf serve`` passes bytes between a real client and the guest without touching them;
this module watches both directions of one connection and says, for each response, what a
web server's access log says: who asked, when, the request line, the status and how many
body bytes went back.  The format is the Common Log Format of NCSA httpd, which Apache
(``LogFormat "%h %l %u %t \\"%r\\" %>s %b" common``) and nginx's ``$remote_addr - ... ``
lines follow::

    127.0.0.1 - - [29/Nov/2026:21:15:14 +0000] "GET / HTTP/1.1" 200 2143

Apache's rules for the fields (mod_log_config): ``%t`` is the time the request was
received; ``%r`` is the first line of the request, with ``"``, ``\\`` and control bytes
escaped (``\\"``, ``\\\\``, ``\\xhh``); ``%b`` is the size of the response body, ``-`` when
it is empty.  A field this side cannot know is ``-``: the status of a request the guest
never answered (the connection ended first), the request line of a response that answered
no request.

Plain Python and sans-IO like :mod:`harness.net`: :class:`Exchange` is fed bytes and hands
back :class:`Record` objects; it never reads a socket or a clock of its own.  h11 does the
framing both ways: one server-side parser per request finds where each request ends (so
pipelined requests are told apart), one client-side parser per response, primed with the
request's method, finds where each response ends (a response to HEAD has no body; one
without Content-Length ends at the close, RFC 9112 section 6.3).  Bytes that are not HTTP
stop the parsing of that direction: the request line is then the raw first line, and the
connection's close ends the response.  Empty lines before a request line are skipped, as
RFC 9112 section 2.2 asks of a server (old clients send a CRLF after a POST body).  Memory
is bounded: at most :data:`HEAD_LIMIT` bytes of a request head that has not ended are held
(plus the one piece being fed), and a parser that gave up is dropped with its buffer.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass

import h11

__all__ = ["Exchange", "Record", "clf_time"]

#: The most of a request head held while it has not ended: h11's own limit, past which it
#: refuses the request (and the guest, if it is ours, answers 431).
HEAD_LIMIT = 16 * 1024
#: The request line shown for bytes that are not a request (Apache shows what it read).
_LINE_LIMIT = 1024
#: The request each response parser is primed with, by method (only the method matters to
#: the framing of a response: HEAD's has no body): h11's events are immutable, and building
#: one validates its headers, so they are made once.
_PRIMERS: dict[bytes, h11.Request] = {}
_END = h11.EndOfMessage()
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(when: float) -> str:
    """``[29/Nov/2026:21:15:14 +0000]``: local time and its offset from UTC, as Apache's
    ``%t`` and nginx's ``$time_local`` write it."""
    t = time.localtime(when)
    offset = t.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (f"[{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:"
            f"{t.tm_min:02d}:{t.tm_sec:02d} {sign}{hours:02d}{minutes:02d}]")


def _escape(raw: bytes) -> str:
    """mod_log_config's ap_escape_logitem: ``"`` and ``\\`` backslashed, bytes outside
    printable ASCII as ``\\xhh``, so that one record is one line whatever a client sent."""
    out = []
    for byte in raw:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


@dataclass(frozen=True)
class Record:
    """One line of the access log: a request and what answered it."""

    client: str
    when: float
    request: bytes | None
    status: int | None
    size: int | None

    def line(self) -> str:
        """The Common Log Format line (no newline)."""
        request = "-" if self.request is None else _escape(self.request)
        status = "-" if self.status is None else str(self.status)
        size = "-" if not self.size else str(self.size)
        return f'{self.client} - - {clf_time(self.when)} "{request}" {status} {size}'


class _Request:
    __slots__ = ("line", "method", "when")

    def __init__(self, line: bytes | None, method: bytes, when: float) -> None:
        self.line = line
        self.method = method
        self.when = when


class Exchange:
    """Both directions of one connection, turned into :class:`Record` objects.

    ``client`` is the address the log names; ``now`` the clock (seconds since the epoch)
    read when a request's head has arrived.  Feed :meth:`from_client` and
    :meth:`from_server` with the bytes as they pass, in any interleaving, and call
    :meth:`close` once the connection has ended: each returns the records that are now
    complete, in the order the responses went out.
    """

    def __init__(self, client: str, now=time.time) -> None:
        self.client = client
        self._now = now
        self._requests: deque[_Request] = deque()
        self._in: h11.Connection | None = h11.Connection(h11.SERVER)
        self._in_raw = bytearray()  # the start of the head being parsed, for a bad one
        self._in_broken = False
        self._out: h11.Connection | None = None
        self._out_request: _Request | None = None
        self._status: int | None = None
        self._size = 0
        self._fed = 0  # bytes of the current response given to its parser
        self._out_broken = False
        self._out_raw = bytearray()  # the start of the response, for its status line

    # -- the client's side ------------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        """Bytes the client sent: each request head that ends queues a request."""
        if self._in_broken or not data:
            return
        while data:
            conn = self._in
            if not self._in_raw:
                # A fresh parser: empty lines before the request line are not a request
                # (h11 would call them one that is missing its line).
                data = data.lstrip(b"\r\n")
                if not data:
                    return
            if len(self._in_raw) < _LINE_LIMIT:
                self._in_raw += data[:_LINE_LIMIT - len(self._in_raw)]
            conn.receive_data(data)
            data = b""
            try:
                while True:
                    event = conn.next_event()
                    if isinstance(event, h11.Request):
                        version = event.http_version.decode("ascii")
                        self._requests.append(_Request(
                            b"%s %s HTTP/%s" % (event.method, event.target, version.encode()),
                            event.method, self._now()))
                    elif isinstance(event, h11.EndOfMessage):
                        # The next request starts with what follows: a fresh parser, fed
                        # the bytes this one did not take (pipelining).
                        data = bytes(conn.trailing_data[0])
                        self._in = h11.Connection(h11.SERVER)
                        self._in_raw = bytearray()
                        break
                    elif event is h11.NEED_DATA or event is h11.PAUSED or isinstance(
                            event, h11.ConnectionClosed):
                        return
            except h11.RemoteProtocolError:
                first = bytes(self._in_raw).split(b"\n", 1)[0].rstrip(b"\r")
                self._requests.append(_Request(first or None, b"GET", self._now()))
                self._in_broken = True
                self._in = None  # and its buffer, which holds all of one piece fed
                self._in_raw = bytearray()
                return

    def _unfinished(self) -> None:
        """A head that never ended still names a request, by its first line: the one a
        response that came first answers (a 400 to a client that stopped half way), or a
        request the connection's end left unanswered."""
        if self._in_broken or self._in is None or not self._in_raw.strip():
            return
        if self._in.their_state is not h11.IDLE:
            return  # its head ended: it is queued already, only its body is unfinished
        first = bytes(self._in_raw).split(b"\n", 1)[0].rstrip(b"\r")
        self._requests.append(_Request(first, b"GET", self._now()))
        self._in_broken = True  # what follows is not read as a new request

    # -- the server's side ------------------------------------------------------------------

    def from_server(self, data: bytes) -> list[Record]:
        """Bytes the server sent: the records of the responses they complete."""
        records: list[Record] = []
        if self._out_broken:
            self._size += len(data)  # to the close, what the client got of it
            return records
        while data:
            if self._out is None:
                self._start_response()
            conn = self._out
            if len(self._out_raw) < _LINE_LIMIT:
                self._out_raw += data[:_LINE_LIMIT - len(self._out_raw)]
            self._fed += len(data)
            conn.receive_data(data)
            data = b""
            try:
                while True:
                    event = conn.next_event()
                    if isinstance(event, h11.Response):
                        self._status = event.status_code
                    elif isinstance(event, h11.Data):
                        self._size += len(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        records.append(self._finish())
                        data = bytes(conn.trailing_data[0])
                        break
                    elif event is h11.NEED_DATA or event is h11.PAUSED or isinstance(
                            event, h11.ConnectionClosed):
                        break
            except h11.RemoteProtocolError:
                # Not HTTP (or framed wrongly): the rest of the connection is this
                # response, as a client that read to the close would take it.  The
                # parser is dropped with its buffer (all of one piece fed).
                self._out_broken = True
                self._out = None
                if self._status is None:  # no head h11 could read: all of it counts
                    match = _STATUS_LINE.match(self._out_raw)
                    self._status = int(match.group(1)) if match else None
                    self._size = self._fed
                break
        return records

    def _start_response(self) -> None:
        if not self._requests:
            self._unfinished()
        request = self._requests.popleft() if self._requests else None
        self._out_request = request
        conn = self._out = h11.Connection(h11.CLIENT)
        method = request.method if request is not None else b"GET"
        primer = _PRIMERS.get(method)
        if primer is None:
            primer = h11.Request(method=method, target="/", headers=[("Host", "-")])
            if len(_PRIMERS) < 64:  # methods are few; a client's made-up ones are not kept
                _PRIMERS[method] = primer
        conn.send(primer)
        conn.send(_END)
        self._status = None
        self._size = 0
        self._fed = 0
        self._out_raw = bytearray()

    def _finish(self) -> Record:
        request = self._out_request
        record = Record(self.client, request.when if request is not None else self._now(),
                        request.line if request is not None else None, self._status,
                        self._size)
        self._out = None
        self._out_request = None
        return record

    # -- the end ----------------------------------------------------------------------------

    def close(self) -> list[Record]:
        """The connection ended: a response that runs to the close is complete, and
        requests nobody answered are logged with status ``-``."""
        self._unfinished()
        records: list[Record] = []
        if self._out is not None or self._out_broken:
            if not self._out_broken:
                try:
                    self._out.receive_data(b"")
                    while True:
                        event = self._out.next_event()
                        if isinstance(event, h11.Data):
                            self._size += len(event.data)
                        elif isinstance(event, h11.EndOfMessage):
                            break
                        elif not isinstance(event, h11.Response):
                            break
                except h11.RemoteProtocolError:
                    if self._status is None:  # never a head: bytes that answer nothing
                        match = _STATUS_LINE.match(self._out_raw)
                        self._status = int(match.group(1)) if match else None
                        self._size = self._fed
            records.append(self._finish())
            self._out_broken = False  # logged: a second close() logs nothing more
        for request in self._requests:
            records.append(Record(self.client, request.when, request.line, None, None))
        self._requests.clear()
        return records
