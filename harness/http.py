"""Judge a response as HTTP/1.1 (with h11) and show where two byte strings part ways.

Used by ``webelf check``: a guest's response must be byte-for-byte the expected one *and*
valid HTTP.  h11 is a sans-IO parser, so it reads the captured bytes as a client that sent
one request and then saw the connection close, without any socket.

The problems reported are the ones a hand-written server gets wrong, in plain words.  The
one checked most carefully is framing (RFC 9112 section 6.3): a Content-Length that
disagrees with the bytes that follow the header block is reported as
``Content-Length 138 but the body has 155 bytes``, counting as the body everything after the
header block up to the connection's close, because that is what a browser receives (and,
with keep-alive, would take as the start of the next response).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import h11

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})")
_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class HttpReport:
    """What a client would make of a response.

    ``body`` is the message body as h11 framed it when the framing holds; when it does not
    (a wrong Content-Length), it is every byte after the header block, as received.
    ``problems`` break HTTP/1.1; ``notes`` are legal but worth knowing (a body delimited only
    by the connection closing).
    """

    status: int | None
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    problems: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _final_head(raw: bytes) -> tuple[int, int] | None:
    """(start, end) of the final response's header block: interim 1xx responses, which have
    no body (RFC 9110 section 15.2), are skipped.  None when no header block ends."""
    start = 0
    while True:
        match = _HEAD_END.search(raw, start)
        if match is None:
            return None
        status = _STATUS_LINE.match(raw, start)
        if status is None or not status.group(1).startswith(b"1") or status.group(1) == b"101":
            return start, match.end()
        start = match.end()


def check_response(raw: bytes, method: str = "GET") -> HttpReport:
    """Parse ``raw`` as the whole response (up to close) to a ``method /`` request."""
    raw = bytes(raw)
    problems: list[str] = []
    notes: list[str] = []
    if not raw:
        return HttpReport(None, "", "", (), b"", ("not valid HTTP/1.1: the response is empty",), ())

    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "webelf")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    response: h11.Response | None = None
    chunks: list[bytes] = []
    complete = False
    error: str | None = None
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                complete = True
            elif event is h11.PAUSED or event is h11.NEED_DATA \
                    or isinstance(event, h11.ConnectionClosed):
                break
    except h11.RemoteProtocolError as exc:
        error = str(exc)

    head = _final_head(raw)
    if head is None:
        problems.append("not valid HTTP/1.1: the header block never ends (no empty line "
                        "after the headers)")
        return _report(response, b"".join(chunks), problems, notes)
    if _BARE_LF.search(raw, head[0], head[1]):
        problems.append("the header block has lines ending in a bare LF; HTTP/1.1 ends them "
                        "with CRLF (RFC 9112 section 2.2)")
    if response is None:
        problems.append(f"not valid HTTP/1.1: {error or 'no response'}")
        return _report(None, b"", problems, notes)

    after_head = raw[head[1]:]
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers]
    lengths = [v for k, v in headers if k == "content-length"]
    chunked = any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    no_body = method.upper() == "HEAD" or response.status_code in (204, 304)
    framing_reported = False

    if no_body:
        if after_head:
            why = "a response to HEAD" if method.upper() == "HEAD" else \
                f"a {response.status_code} response"
            problems.append(f"{why} has no body (RFC 9110), but {len(after_head)} bytes "
                            "follow the header block")
            framing_reported = True
        body = b""
    elif chunked:
        body = b"".join(chunks)
        leftover = conn.trailing_data[0]
        if complete and leftover:
            problems.append(f"{len(leftover)} bytes follow the end of the chunked body")
            framing_reported = True
    elif lengths:  # h11 has already refused conflicting or malformed ones
        declared = int(lengths[0])
        if declared != len(after_head):
            problems.append(f"Content-Length {declared} but the body has {len(after_head)} bytes")
            framing_reported = True
            body = after_head
        else:
            body = b"".join(chunks)
    else:
        body = b"".join(chunks)
        if not lengths:
            notes.append(f"no Content-Length and no chunked Transfer-Encoding: the body "
                         f"({len(body)} bytes) ends where the connection closes "
                         "(RFC 9112 section 6.3)")

    if error is not None and not framing_reported:
        problems.append(f"not valid HTTP/1.1: {error}")
    elif error is None and not complete and not framing_reported:
        problems.append("not valid HTTP/1.1: the response ends before its message is complete")
    return _report(response, body, problems, notes)


def _report(response: h11.Response | None, body: bytes, problems: list[str],
            notes: list[str]) -> HttpReport:
    if response is None:
        return HttpReport(None, "", "", (), body, tuple(problems), tuple(notes))
    return HttpReport(
        status=response.status_code,
        reason=bytes(response.reason).decode("latin-1"),
        http_version=bytes(response.http_version).decode("ascii"),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1"))
                      for k, v in response.headers.raw_items()),
        body=body,
        problems=tuple(problems),
        notes=tuple(notes),
    )


# --- byte diffs ---------------------------------------------------------------------------------

_WINDOW = 32  # bytes of a long line shown on each side of the difference


def first_difference(expected: bytes, actual: bytes) -> int | None:
    """The first offset where the two differ (the shorter length when one is a prefix of the
    other), or None when they are equal."""
    if expected == actual:
        return None
    limit = min(len(expected), len(actual))
    low, high = 0, limit
    while low < high:  # bisect on prefix equality: C-speed comparisons, log(n) of them
        middle = (low + high + 1) // 2
        if expected[:middle] == actual[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def escape(data: bytes) -> str:
    """Bytes as a double-quoted string where every byte is visible: \\r \\n \\t \\" \\\\ by
    name, other bytes outside printable ASCII as \\xNN."""
    out = ['"']
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"}


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, line) for each line, each keeping its \\n so that \\r\\n shows."""
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        out.append((start, data[start:end]))
        start = end
    return out


def _side(label: str, data: bytes, offset: int, context: int) -> list[str]:
    lines = _lines(data)
    index = next((i for i, (start, line) in enumerate(lines)
                  if start <= offset < start + len(line)), len(lines))
    if index == len(lines) and lines and not data.endswith(b"\n"):
        index -= 1  # the data ends inside its last line: point just past that line's end
    out = [f"{label} ({len(data)} bytes):"]
    for i in range(max(0, index - context), min(len(lines), index + context + 1)):
        start, line = lines[i]
        if i != index:
            text = escape(line[:2 * _WINDOW]) + ("..." if len(line) > 2 * _WINDOW else "")
            out.append(f"  {i + 1:>4}: {text}")
            continue
        column = offset - start
        left = max(0, column - _WINDOW)
        shown = line[left : column + _WINDOW]
        prefix = "..." if left else ""
        text = prefix + escape(shown) + ("..." if column + _WINDOW < len(line) else "")
        caret = 2 + 4 + 2 + len(prefix) + len(escape(line[left:column])) - 1
        out.append(f"  {i + 1:>4}: {text}")
        out.append(" " * caret + "^")
    if index == len(lines):
        out.append(f"  {len(lines) + 1:>4}: (end of data)")
    elif offset == len(data):
        out[-1] += " (end of data)"
    return out


def diff_bytes(expected: bytes, actual: bytes, context: int = 1) -> str | None:
    """None when equal; otherwise a report a person can read at a glance.

    It names the first differing byte offset (with its line and column), both lengths, says
    when one side is a prefix of the other, and shows from each side the line holding that
    offset with ``context`` lines around it, escaped so that \\r, tabs and NULs are visible,
    and a caret under the first differing byte.
    """
    offset = first_difference(bytes(expected), bytes(actual))
    if offset is None:
        return None
    line = expected.count(b"\n", 0, offset) + 1
    column = offset - (expected.rfind(b"\n", 0, offset) + 1) + 1
    where = f"at byte {offset} (line {line}, column {column})"
    if offset == len(actual):
        summary = (f"actual is a prefix of expected: it ends {where}, "
                   f"{len(expected) - offset} bytes short")
    elif offset == len(expected):
        summary = (f"expected is a prefix of actual: actual goes on {where} with "
                   f"{len(actual) - offset} more bytes")
    else:
        summary = f"first difference {where}"
    summary += f"; expected {len(expected)} bytes, actual {len(actual)} bytes"
    return "\n".join([summary, *_side("expected", expected, offset, context),
                      *_side("actual", actual, offset, context)])


def split_responses(raw: bytes, methods: list[str]) -> list[bytes]:
    """``raw`` as the responses to pipelined requests of ``methods``, in order: each framed
    by h11 as a client that sent that request would frame it (a HEAD's response has no
    body), the last one taking whatever follows.  Stops early, with the rest as the last
    piece, where h11 cannot frame a response."""
    pieces: list[bytes] = []
    rest = bytes(raw)
    for i, method in enumerate(methods):
        if i == len(methods) - 1 or not rest:
            break
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "webelf")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(rest)
        try:
            while True:
                event = conn.next_event()
                if isinstance(event, h11.EndOfMessage):
                    break
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    raise h11.RemoteProtocolError("the response does not end")
        except h11.RemoteProtocolError:
            break
        left = conn.trailing_data[0]
        pieces.append(rest[:len(rest) - len(left)])
        rest = bytes(left)
    pieces.append(rest)
    return pieces
