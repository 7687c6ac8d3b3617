"""The fuzzer's judge of HTTP: whether what a server sent back to a fuzzed input is valid
HTTP/1.1, response after response, when the input says only roughly what was asked.

:mod:`harness.http` checks one response to a request whose method is known (``webelf
check``).  A fuzzed input may hold several pipelined requests, or bytes a server may or may
not read as one, and only HEAD changes how a response is framed (it has no body).  So
:func:`judge_http` reads the methods off the request lines it finds, frames the responses
one after another with h11 as a client that sent those requests would, and checks each
with :func:`harness.http.check_response`; where the input leaves a method in doubt, the
other framing is tried too, and the input's responses are invalid only when no framing
tried holds.  The fuzzer calls :func:`request_methods` and :func:`judge_responses` itself,
to remember the judgment of a response it sees again and again (:mod:`harness.fuzz`).

Kept apart from :mod:`harness.http`, which ``webelf check`` and the pytest plugin rely on:
that module says what one response must be; this one guesses what a server may have been
asked, a search shaped by the fuzzer's inputs and its cost per run.
"""

from __future__ import annotations

import re

import h11

from .http import check_response

_REQUEST_LINE = re.compile(rb"(?m)^([!-~]+) [^ \r\n]+ HTTP/\d\.\d\r?\n")
_STATUS = re.compile(rb"HTTP/\d\.\d (\d{3})")


def judge_http(request: bytes, response: bytes) -> str | None:
    """The first problem of ``response`` as HTTP/1.1 responses to ``request``'s requests
    (their methods matter: a response to HEAD has no body), or None.  No response at all is
    no problem: a server may close a connection it does not like.

    The methods are read from well-formed request lines (a method, a target, HTTP/x.y, a
    line end); one that does not start the input may be wrong either way (a server may or
    may not skip empty lines before a request line, RFC 9112 section 2.2, and where a body
    ends is the server's reading); a request this reading does not see is taken for a GET, and where the bytes
    "HEAD" occur, such a response may also be one to HEAD, as the server may have read a
    HEAD there; an error response (4xx, 5xx) to what looked like a HEAD may also be one to
    a request the server could not read, with a body.  The first way that frames every
    response validly wins."""
    # Only HEAD changes how a response is framed (a 2xx to CONNECT would turn the
    # connection into a tunnel, which no server here means: judged as GET).
    return judge_responses(bytes(response), request_methods(request), 0, b"HEAD" in request, {})


def request_methods(request: bytes) -> list[tuple[str, bool]]:
    """(method as framing sees it, whether it is sure) of each request line found; none
    when the bytes HEAD are not there, since a request not found is framed as a GET anyway
    (on the mutated corpus the search took 3% of the fuzz loop, by perf: skipped when it
    cannot matter)."""
    if b"HEAD" not in request:
        return []
    return [("HEAD" if m.group(1) == b"HEAD" else "GET", m.start() == 0)
            for m in _REQUEST_LINE.finditer(request)]


def judge_responses(rest: bytes, methods: list[tuple[str, bool]], i: int, maybe_head: bool,
           memo: dict[tuple[int, int], str | None]) -> str | None:
    """The first problem of the responses in ``rest``, the ``i``-th request's on."""
    if not rest:
        return None
    key = (len(rest), i)
    if key in memo:
        return memo[key]
    method, sure = methods[i] if i < len(methods) else ("GET", False)
    first = None
    if method == "GET":
        tries = (method, "HEAD") if maybe_head else (method,)
    elif not sure:
        tries = (method, "GET")
    else:  # an error answers a request the server could not read: maybe not as a HEAD
        status = _STATUS.match(rest)
        tries = (method, "GET") if status and status.group(1) >= b"400" else (method,)
    for m in tries:
        piece, left = _one_response(rest, m)
        problems = check_response(piece, m).problems
        if not problems and left and not left.lstrip(b"\r\n").startswith(b"HTTP/"):
            problems = [_not_a_response(left, m)]
        problem = problems[0] if problems else judge_responses(left, methods, i + 1, maybe_head,
                                                               memo)
        if problem is None:
            memo[key] = None
            return None
        first = first or problem
    memo[key] = first
    return first


def _not_a_response(left: bytes, method: str) -> str:
    """What to say of bytes after a whole response that cannot begin another (a status
    line starts with the HTTP version, RFC 9112 section 4): after a response to HEAD,
    most likely its body, which a response to HEAD never has (RFC 9110 section 9.3.2)."""
    count = "1 byte" if len(left) == 1 else f"{len(left)} bytes"
    said = f"{count} after the response to {method} begin no response"
    if method == "HEAD":
        said += ": a body after a response to HEAD (RFC 9110 section 9.3.2: it has none)"
    return said


def _one_response(raw: bytes, method: str) -> tuple[bytes, bytes]:
    """The first response in ``raw`` as h11 frames it, and what follows; all of ``raw``
    when it cannot be framed (then check_response says why)."""
    conn = h11.Connection(h11.CLIENT)
    try:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "webelf")]))
    except h11.LocalProtocolError:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "webelf")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage):
                left = bytes(conn.trailing_data[0])
                return raw[:len(raw) - len(left)], left
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return raw, b""
    except h11.RemoteProtocolError:
        return raw, b""
