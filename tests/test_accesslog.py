"""Unit tests for harness.accesslog: Common Log Format records from the bytes of one connection.

The module is sans-IO, so these tests feed it bytes and a fake clock and compare whole
log lines: no sockets, no emulator.  Times are fixed (``T``) or counted, so every line is
exact.  Lines that contain a timestamp are checked under ``TZ=UTC`` (the ``utc`` fixture),
so they do not depend on the machine's zone.
"""

from __future__ import annotations

import gc
import locale
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.accesslog import HEAD_LIMIT, Exchange, Record, clf_time

#: 2025-11-29 21:00:00 UTC.
T = 1764450000.0
STAMP = "[29/Nov/2025:21:00:00 +0000]"
CLIENT = "127.0.0.1"


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def set_tz(monkeypatch):
    """Switch the process's local zone for one test; the old one is back (and re-read by
    tzset) afterwards, whatever happens."""
    def switch(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()
    yield switch
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def utc(set_tz):
    set_tz("UTC")


@pytest.fixture
def c_time_locale():
    """strftime's %b under the C locale is the English month name, which is what CLF uses."""
    old = locale.setlocale(locale.LC_TIME)
    locale.setlocale(locale.LC_TIME, "C")
    yield
    locale.setlocale(locale.LC_TIME, old)


def counter(start: float = T):
    """A clock that ticks one second each time it is read: shows which read went where."""
    ticks = iter(range(1_000_000))
    return lambda: start + next(ticks)


def request(method: str = "GET", target: str = "/", extra: bytes = b"") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n".encode() + extra + b"\r\n"


def response(status: int = 200, body: bytes = b"", length: int | None = None,
             headers: bytes = b"") -> bytes:
    """A response with Content-Length (``length`` overrides it, for HEAD and short bodies)."""
    length = len(body) if length is None else length
    return (f"HTTP/1.1 {status} X\r\nContent-Length: {length}\r\n".encode() + headers
            + b"\r\n" + body)


def converse(client: bytes, server: bytes, now=lambda: T) -> tuple[list[Record], list[Record]]:
    """Feed one connection whole: (records from from_server, records from close)."""
    exchange = Exchange(CLIENT, now=now)
    exchange.from_client(client)
    return exchange.from_server(server), exchange.close()


def lines(records: list[Record]) -> list[str]:
    return [record.line() for record in records]


# -- the time field ----------------------------------------------------------------------------

@pytest.mark.parametrize("zone", [
    "UTC",
    "CET-1CEST,M3.5.0,M10.5.0/3",       # +0100 / +0200 with DST (POSIX rule, no tzdata)
    "EST5EDT,M3.2.0,M11.1.0",           # -0500 / -0400
    "IST-5:30",                          # +0530: minutes in the offset
    "NST3:30NDT,M3.2.0,M11.1.0",        # -0330 / -0230: a negative offset with minutes
])
@pytest.mark.parametrize("when", [0.0, T, 1719835200.9, 951782400.0, 4102444799.0])
def test_clf_time_is_strftime_under_c_locale(set_tz, c_time_locale, zone, when):
    """clf_time writes its own month names and offset (so a user's LC_TIME cannot turn
    'Nov' into 'nov.'): it must agree with strftime's %d/%b/%Y:%H:%M:%S %z in the C locale,
    in zones east and west of UTC, with half-hour offsets, in and out of summer time."""
    set_tz(zone)
    assert clf_time(when) == time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(when))


def test_clf_time_fixed_values(set_tz):
    """Known answers, so the test above cannot pass by both sides being wrong together."""
    set_tz("UTC")
    assert clf_time(T) == STAMP
    assert clf_time(0) == "[01/Jan/1970:00:00:00 +0000]"
    set_tz("NST3:30")
    assert clf_time(T) == "[29/Nov/2025:17:30:00 -0330]"
    set_tz("IST-5:30")
    assert clf_time(T) == "[30/Nov/2025:02:30:00 +0530]"


# -- one request, one response -----------------------------------------------------------------

def test_get_with_content_length(utc):
    """The plain case: the record comes out as soon as the response's last body byte has
    passed, not at the close, and reads exactly like Apache's common format."""
    body = b"<html>hello</html>\n"
    exchange = Exchange(CLIENT, now=lambda: T)
    assert exchange.from_client(request()) is None
    assert exchange.from_server(response(200, body)[:-1]) == []  # one byte short: not yet
    records = exchange.from_server(response(200, body)[-1:])
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "GET / HTTP/1.1" 200 {len(body)}']
    assert exchange.close() == []


def test_time_is_when_the_request_arrived(utc):
    """%t is the time the request was received, not the time the response ended."""
    clock = [T]
    exchange = Exchange(CLIENT, now=lambda: clock[0])
    exchange.from_client(request())
    clock[0] = T + 3600
    records = exchange.from_server(response(200, b"x"))
    assert records[0].when == T
    assert STAMP in records[0].line()


def test_client_field_is_the_given_address(utc):
    exchange = Exchange("::1", now=lambda: T)
    exchange.from_client(request())
    assert lines(exchange.from_server(response(200, b"x"))) == [
        f'::1 - - {STAMP} "GET / HTTP/1.1" 200 1']


def test_head_has_no_body(utc):
    """h11 knows a response to HEAD has no body whatever its Content-Length says: the record
    comes out at the end of the head, with size '-'."""
    records, closing = converse(request("HEAD"), response(200, length=4096))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "HEAD / HTTP/1.1" 200 -']
    assert closing == []


@pytest.mark.parametrize("status, head", [
    (204, b"HTTP/1.1 204 No Content\r\n\r\n"),
    (304, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
    (200, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
])
def test_empty_body_is_dash(utc, status, head):
    """%b is '-' for an empty body (Apache's %B would be 0); 204 and 304 end at the head."""
    records, _ = converse(request(), head)
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "GET / HTTP/1.1" {status} -']


def test_interim_100_continue_is_not_the_status(utc):
    """A 100 Continue before the real response is not what the log names."""
    records, _ = converse(request("POST", "/f", b"Content-Length: 0\r\n"),
                          b"HTTP/1.1 100 Continue\r\n\r\n" + response(201, b"made"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "POST /f HTTP/1.1" 201 4']


def test_chunked_response_counts_decoded_body(utc):
    """The size is the body's bytes, not the chunk framing's."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    records, _ = converse(request(), head + b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "GET / HTTP/1.1" 200 8']


# -- pipelining --------------------------------------------------------------------------------

def test_pipelined_requests_and_responses(utc):
    """Three requests in one piece and three responses in one piece: three records, in
    order, each with its own request line and size (the HEAD's body-less)."""
    exchange = Exchange(CLIENT, now=counter())
    exchange.from_client(request("GET", "/a") + request("HEAD", "/b")
                         + request("GET", "/c?q=1"))
    records = exchange.from_server(response(200, b"aaaa") + response(200, length=99)
                                   + response(404, b"no such page"))
    assert [(r.request, r.status, r.size) for r in records] == [
        (b"GET /a HTTP/1.1", 200, 4),
        (b"HEAD /b HTTP/1.1", 200, 0),
        (b"GET /c?q=1 HTTP/1.1", 404, 12),
    ]
    assert [r.when for r in records] == [T, T + 1, T + 2]
    assert exchange.close() == []


def test_pipelined_request_with_body(utc):
    """A request body is not the next request: the framing of each request is h11's."""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request("POST", "/p", b"Content-Length: 15\r\n")
                         + b"GET /x HTTP/1.1" + request("GET", "/y"))
    records = exchange.from_server(response(200, b"1") + response(200, b"22"))
    assert [r.request for r in records] == [b"POST /p HTTP/1.1", b"GET /y HTTP/1.1"]


def test_empty_lines_before_a_request_are_skipped(utc):
    """RFC 9112 section 2.2: a server ignores empty lines before a request line (old
    browsers sent a CRLF after a POST body).  Such a line is not a request to log, and the
    request after it keeps its own line.

    (harness/accesslog.py fed them to a fresh h11 parser, which calls them a request with
    no request line: the second request was logged as "-", and a lone CRLF then close as
    "-" - -.)"""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request("POST", "/p", b"Content-Length: 2\r\n") + b"ab\r\n")
    exchange.from_client(b"\r\n" + request("GET", "/b"))
    records = exchange.from_server(response(200, b"1") + response(200, b"22"))
    assert [r.request for r in records] == [b"POST /p HTTP/1.1", b"GET /b HTTP/1.1"]

    assert converse(b"\r\n", b"") == ([], [])


# -- a response that ends at the close ---------------------------------------------------------

def test_body_delimited_by_close(utc):
    """No Content-Length and no chunking: the body ends when the connection does (RFC 9112
    section 6.3), so nothing is logged before close(), which counts every body byte."""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(b"GET /old HTTP/1.0\r\n\r\n")
    assert exchange.from_server(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n") == []
    assert exchange.from_server(b"x" * 1000) == []
    assert exchange.from_server(b"y" * 234) == []
    assert lines(exchange.close()) == [f'127.0.0.1 - - {STAMP} "GET /old HTTP/1.0" 200 1234']
    assert exchange.close() == []  # and only once


def test_body_cut_short_logs_what_was_sent(utc):
    """A Content-Length the server did not keep: the close ends it, and %b is what went."""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request())
    assert exchange.from_server(response(200, b"abc", length=30)) == []
    assert lines(exchange.close()) == [f'127.0.0.1 - - {STAMP} "GET / HTTP/1.1" 200 3']


# -- bad requests ------------------------------------------------------------------------------

def test_garbage_request_answered_400(utc):
    """Bytes that are not a request line: the request field is what was read (its first
    line), as Apache logs it."""
    records, closing = converse(b"garbage\r\n\r\n", response(400, b"bad"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "garbage" 400 3']
    assert closing == []


def test_unfinished_head_answered_400_is_one_record(utc):
    """A head that never ends, answered (400) before the client gives up: the answer names
    the partial first line, and the close does not log it a second time as unanswered."""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(b"GET / HT")
    records = exchange.from_server(response(400, b"bad request"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "GET / HT" 400 11']
    assert exchange.close() == []


def test_unfinished_head_unanswered(utc):
    """A partial head and no answer: one record at close, status and size unknown."""
    assert lines(converse(b"GET /slow HTTP/1.1\r\nHost: x\r\n", b"")[1]) == [
        f'127.0.0.1 - - {STAMP} "GET /slow HTTP/1.1" - -']


def test_tls_hello_on_plain_port(utc):
    """A TLS ClientHello (what https:// on an http port sends) is binary: escaped, one line."""
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32))
    records, _ = converse(hello, response(400, b""))
    line = records[0].line()
    assert line.startswith(f'127.0.0.1 - - {STAMP} "\\x16\\x03\\x01\\x02\\x00\\x01')
    assert line.endswith('" 400 -') and line.isprintable() and line.isascii()


# -- no answer ---------------------------------------------------------------------------------

def test_request_without_answer(utc):
    """The connection ended before the server said anything: status and size are '-'."""
    records, closing = converse(request("GET", "/wait"), b"")
    assert records == []
    assert lines(closing) == [f'127.0.0.1 - - {STAMP} "GET /wait HTTP/1.1" - -']


def test_second_pipelined_request_unanswered(utc):
    """The server answered one of two and closed: the other is logged after it, as '-'."""
    exchange = Exchange(CLIENT, now=counter())
    exchange.from_client(request("GET", "/1") + request("GET", "/2"))
    assert [r.status for r in exchange.from_server(response(200, b"one"))] == [200]
    closing = exchange.close()
    assert [(r.request, r.status, r.size, r.when) for r in closing] == [
        (b"GET /2 HTTP/1.1", None, None, T + 1)]


def test_answer_before_request_body_ended_is_one_record(utc):
    """A POST whose body never fully arrived, answered 413 anyway: one record.

    (harness/accesslog.py logged it a second time at close, as an unanswered request,
    because the head of a request whose body was still coming looked like a head that
    never ended.)"""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request("POST", "/up", b"Content-Length: 100000\r\n") + b"x" * 10)
    records = exchange.from_server(response(413, b"too big", headers=b"Connection: close\r\n"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "POST /up HTTP/1.1" 413 7']
    assert exchange.close() == []


def test_unanswered_post_with_unfinished_body_once(utc):
    """The same POST with no answer at all: logged once, unanswered."""
    records, closing = converse(request("POST", "/up", b"Content-Length: 100\r\n") + b"x", b"")
    assert records == []
    assert lines(closing) == [f'127.0.0.1 - - {STAMP} "POST /up HTTP/1.1" - -']


def test_nothing_at_all():
    """A connection that carried no bytes logs nothing."""
    assert converse(b"", b"") == ([], [])


# -- escaping ----------------------------------------------------------------------------------

def test_quote_and_backslash_are_escaped(utc):
    """h11 accepts '"' and '\\' in a target (they are VCHARs): they are backslashed, so the
    quoted field cannot end early."""
    records, _ = converse(b'GET /a"b\\c HTTP/1.1\r\nHost: x\r\n\r\n', response(404, b"no"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "GET /a\\"b\\\\c HTTP/1.1" 404 2']


@pytest.mark.parametrize("raw, shown", [
    (b"GET /a\x01b HTTP/1.1", "GET /a\\x01b HTTP/1.1"),
    (b"GET /caf\xc3\xa9 HTTP/1.1", "GET /caf\\xc3\\xa9 HTTP/1.1"),
    (b"GET /a\rb HTTP/1.1", "GET /a\\x0db HTTP/1.1"),
    (b"GET /a\x1b[31m HTTP/1.1", "GET /a\\x1b[31m HTTP/1.1"),
    (b"GET /\x7f\"\\ HTTP/1.1", "GET /\\x7f\\\"\\\\ HTTP/1.1"),
])
def test_bytes_h11_refuses_are_escaped(utc, raw, shown):
    """Control bytes, DEL and non-ASCII in a target make h11 refuse the request; the raw
    first line is then logged with them as \\xhh (a bare CR too: the line stays one line,
    and a terminal escape sequence stays inert)."""
    records, _ = converse(raw + b"\r\nHost: x\r\n\r\n", response(400, b"bad"))
    line = records[0].line()
    assert line == f'127.0.0.1 - - {STAMP} "{shown}" 400 3'
    assert line.isprintable() and line.isascii()


def test_garbage_first_line_only(utc):
    """A bad request's field is its first line, whatever follows."""
    records, _ = converse(b"HELLO there\r\nsecond line\r\n\r\n", response(400, b""))
    assert records[0].request == b"HELLO there"


# -- a body after a HEAD response --------------------------------------------------------------

def test_body_after_head_response(utc):
    """busybox httpd sends the body after its response to HEAD.  The HEAD is logged at the
    end of its head; the stray bytes answer no request and are logged at close as
    "-" - <bytes>, so that what went over the wire is all accounted for."""
    stray = b"<html>" + b"x" * 994  # 1000 bytes, no CRLF
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request("HEAD"))
    records = exchange.from_server(response(200, length=len(stray)))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "HEAD / HTTP/1.1" 200 -']
    assert exchange.from_server(stray[:300]) == []
    assert exchange.from_server(stray[300:]) == []
    assert lines(exchange.close()) == [f'127.0.0.1 - - {STAMP} "-" - 1000']
    assert exchange.close() == []


def test_body_after_head_response_same_piece(utc):
    """The same with the head and the start of the stray body in one piece, a blank line
    in it (which h11 tries, and fails, to read as a status line: from there on the bytes are
    only counted), and the rest in pieces, more than h11's head limit in all."""
    stray = b"<html>\r\n\r\n" + b"y" * (HEAD_LIMIT * 2)
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request("HEAD"))
    records = exchange.from_server(response(200, length=len(stray)) + stray[:20])
    assert [(r.request, r.status, r.size) for r in records] == [(b"HEAD / HTTP/1.1", 200, 0)]
    for start in range(20, len(stray), 4096):
        assert exchange.from_server(stray[start:start + 4096]) == []
    assert lines(exchange.close()) == [f'127.0.0.1 - - {STAMP} "-" - {len(stray)}']


def test_response_nobody_asked_for(utc):
    """A server that speaks first (or answers nothing): the response is logged with "-"."""
    records, closing = converse(b"", response(408, b"timeout"))
    assert lines(records) == [f'127.0.0.1 - - {STAMP} "-" 408 7']
    assert closing == []


def test_response_that_is_not_http(utc):
    """A server that answers without a status line (HTTP/0.9 style): the whole stream is
    the response, with no status."""
    records, closing = converse(request(), b"just some text\n\nand more")
    assert records == []
    assert lines(closing) == [f'127.0.0.1 - - {STAMP} "GET / HTTP/1.1" - 24']


# -- splitting does not matter -----------------------------------------------------------------

def _conversation(*pairs: tuple[bytes, bytes], trailer: bytes = b""):
    """client bytes, server bytes, and for each response the client offset where its
    request has ended (a server answers only what it has read)."""
    client, server, needs = b"", b"", []
    for req, resp in pairs:
        client += req
        needs.append((len(server), len(server) + len(resp), len(client)))
        server += resp
    if trailer:
        needs.append((len(server), len(server) + len(trailer), len(client)))
        server += trailer
    return client, server, needs


CONVERSATIONS = {
    "keep-alive": _conversation(
        (request("GET", "/one"), response(200, b"hello")),
        (request("HEAD", "/two"), response(200, length=1234)),
        (request("GET", "/three", b"Accept: */*\r\n"),
         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"),
        (request("POST", "/four", b"Content-Length: 7\r\n") + b"payload",
         b"HTTP/1.1 100 Continue\r\n\r\n" + response(201, b"made it")),
        (request("GET", "/five"), b"HTTP/1.0 200 OK\r\n\r\nto the end of the connection"),
    ),
    "busybox-head": _conversation(
        (request("HEAD"), response(200, length=11)),
        trailer=b"<p>\r\n\r\nhi\r\n",
    ),
    "garbage": _conversation((b"garbage\r\n\r\n", response(400, b"bad request"))),
    "unanswered": _conversation(
        (request("GET", "/a"), response(200, b"a")),
        (request("GET", "/b"), b""),
        (b"GET /c HTTP/1.1\r\nHo", b""),
    ),
}


def _feed_whole(client: bytes, server: bytes) -> list[Record]:
    exchange = Exchange(CLIENT, now=counter())
    exchange.from_client(client)
    return exchange.from_server(server) + exchange.close()


def _pieces(data: bytes, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return list(zip(bounds, bounds[1:]))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(CONVERSATIONS)),
       client_cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
       server_cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
       order=st.lists(st.booleans(), max_size=40))
def test_splitting_does_not_change_records(name, client_cuts, server_cuts, order):
    """The bridge hands over whatever recv() returned, so the records must not depend on
    where the pieces were cut, nor on how the two directions interleave, as long as the
    server answers a request only after it was sent.  Each run is compared with the same
    conversation fed whole, including the counted clock readings (so each request's time
    is still read once, in order)."""
    client, server, needs = CONVERSATIONS[name]
    expected = _feed_whole(client, server)

    exchange = Exchange(CLIENT, now=counter())
    got: list[Record] = []
    client_pieces = _pieces(client, client_cuts)
    server_pieces = _pieces(server, server_cuts)
    sent = 0  # client bytes fed so far
    choices = iter(order)
    while client_pieces or server_pieces:
        want_server = next(choices, True)
        if server_pieces:
            start, end = server_pieces[0]
            # the client bytes every response this piece touches needs
            needed = max((need for s, e, need in needs if s < end and e > start), default=0)
            allowed = needed <= sent
        else:
            allowed = False
        if server_pieces and allowed and (want_server or not client_pieces):
            server_pieces.pop(0)
            got += exchange.from_server(server[start:end])
        else:
            start, end = client_pieces.pop(0)
            exchange.from_client(client[start:end])
            sent = end
    got += exchange.close()
    assert got == expected


def test_conversations_log_what_they_should(utc):
    """The reference the property compares with is right in the first place."""
    assert lines(_feed_whole(*CONVERSATIONS["keep-alive"][:2])) == [
        f'127.0.0.1 - - {STAMP} "GET /one HTTP/1.1" 200 5',
        '127.0.0.1 - - [29/Nov/2025:21:00:01 +0000] "HEAD /two HTTP/1.1" 200 -',
        '127.0.0.1 - - [29/Nov/2025:21:00:02 +0000] "GET /three HTTP/1.1" 200 19',
        '127.0.0.1 - - [29/Nov/2025:21:00:03 +0000] "POST /four HTTP/1.1" 201 7',
        '127.0.0.1 - - [29/Nov/2025:21:00:04 +0000] "GET /five HTTP/1.1" 200 28',
    ]
    assert lines(_feed_whole(*CONVERSATIONS["busybox-head"][:2])) == [
        f'127.0.0.1 - - {STAMP} "HEAD / HTTP/1.1" 200 -',
        '127.0.0.1 - - [29/Nov/2025:21:00:01 +0000] "-" - 11',
    ]
    assert lines(_feed_whole(*CONVERSATIONS["garbage"][:2])) == [
        f'127.0.0.1 - - {STAMP} "garbage" 400 11']
    assert lines(_feed_whole(*CONVERSATIONS["unanswered"][:2])) == [
        f'127.0.0.1 - - {STAMP} "GET /a HTTP/1.1" 200 1',
        '127.0.0.1 - - [29/Nov/2025:21:00:01 +0000] "GET /b HTTP/1.1" - -',
        '127.0.0.1 - - [29/Nov/2025:21:00:02 +0000] "GET /c HTTP/1.1" - -',
    ]


# -- memory ------------------------------------------------------------------------------------

_TEN_MB = 10 * 1024 * 1024


def _retained(feed) -> int:
    """Bytes still allocated after ``feed(exchange)`` returned and dropped its input, with
    the exchange alive (it lives as long as the connection).  h11's protocol errors leave a
    reference cycle (exception, traceback, frame) that holds the failed parser until the
    cycle collector runs; it is collected first, so what counts is what the exchange holds."""
    tracemalloc.start()
    try:
        exchange = Exchange(CLIENT, now=lambda: T)
        base = tracemalloc.get_traced_memory()[0]
        feed(exchange)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    exchange.close()  # keeps it alive until here
    return held


@pytest.mark.parametrize("piece", [4096, 64 * 1024, _TEN_MB])
def test_endless_request_head_is_bounded(utc, piece):
    """10 MB of a request head that never ends, fed in pieces like the bridge's 64 KiB
    reads (or all at once): h11's head limit makes it a bad request, its first line is
    logged cut short (at most 1024 bytes, so at most 4 KiB escaped), and the exchange keeps
    almost nothing of it.

    (harness/accesslog.py kept the failed h11 parser, and so its buffer, for the rest of the
    connection: all 10 MB when fed in one piece.)"""
    def feed(exchange: Exchange) -> None:
        head = b"GET /" + b"a" * 100 + b'"\x01' * (_TEN_MB // 2)
        for start in range(0, len(head), piece):
            exchange.from_client(head[start:start + piece])
            assert len(exchange._in_raw) <= 1024
    assert _retained(feed) < 64 * 1024

    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(b"GET /" + b"\x01" * (HEAD_LIMIT * 2))
    records = exchange.from_server(response(431, b""))
    assert len(records) == 1 and records[0].status == 431
    field = records[0].line().split('"')[1]
    assert field == "GET /" + "\\x01" * (1024 - 5)


def test_endless_server_garbage_is_bounded(utc):
    """The same on the server's side: 10 MB that are not HTTP are counted, not kept."""
    def feed(exchange: Exchange) -> None:
        exchange.from_client(request())
        exchange.from_server(b"\x00" * _TEN_MB)
    assert _retained(feed) < 64 * 1024


def test_long_body_is_not_kept(utc):
    """A 10 MB response body passes through h11 as Data events and is only counted."""
    exchange = Exchange(CLIENT, now=lambda: T)
    exchange.from_client(request())
    head = response(200, length=_TEN_MB)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        exchange.from_server(head)
        chunk = b"z" * (64 * 1024)
        records: list[Record] = []
        for _ in range(_TEN_MB // len(chunk)):
            records += exchange.from_server(chunk)
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held < 64 * 1024 + len(chunk)
    assert [(r.status, r.size) for r in records] == [(200, _TEN_MB)]

