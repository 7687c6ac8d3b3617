"""What both event-loop programs (:mod:`generator.eventloop` for i386,
:mod:`generator.eventloop64` for x86-64) share: the constants of their design and their
data section, which is the same bytes for both but for ``struct timespec``'s width.

The programs differ in every instruction (registers, system call numbers and entry,
struct layouts), so each is its own listing; what they must agree on -- the slot's
size, its state bits, the request's flags, the route table's layout, the strings the
parser compares, the banner, the names in error messages -- is written once, here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ConfigError
from .site import (
    BAD_REQUEST, CONNECTION_KEEP_ALIVE, HEADERS_TOO_LARGE, METHOD_NOT_ALLOWED, NOT_FOUND,
    Response, Site,
)
from .x86 import Assembler, Label

#: The fds below the first client's: 0, 1, 2, the listening socket, the epoll instance.
FIRST_CLIENT_FD = 5
#: How many ready fds one epoll_wait reports at most.
MAX_EVENTS = 64
#: How long epoll_wait sleeps with nothing to do: the deadline sweep needs a turn a second.
WAIT_MS = 1000
ACCEPT_BACKOFF_NS = 100_000_000
#: A connection's slot: its size (a power of two), and how many struct iovec it holds:
#: the head up to its Connection line, the Connection: keep-alive line an HTTP/1.0 client
#: asked for (or nothing), the rest.
SLOT_SHIFT = 6
IOVECS = 3
#: STATE bits: waiting for EPOLLOUT, close after this response, draining.
W, C, D = 1, 2, 4
#: The request's flags, from the request line to the response: another method (one this
#: server answers 405), close after it, HEAD, HTTP/1.0.  The entry's HEAD field is 4.
OTHER, HEAD, HTTP_10 = 1, 4, 8


def _pascal(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


@dataclass(frozen=True)
class ProgramData:
    """The labels of the data both programs hold (:func:`program_data`)."""

    routes: Label
    not_allowed_entry: Label
    bad_request_entry: Label
    too_large_entry: Label
    http_1: Label
    #: The URL banner; its first 7 bytes are also the "http://" of absolute-form targets.
    http_scheme: Label
    banner: bytes
    connection: Label
    keep_alive_line: Label
    #: The supervisor's struct timespec (None without a supervisor).
    backoff: Label | None
    sockaddr: Label
    #: Each setup call's name, Pascal strings laid end to end in the order of the calls
    #: (the programs step from one to the next by adding its length).
    name: dict[str, Label]
    failed: Label


def program_data(a: Assembler, site: Site, config, backoff_timespec: bytes) -> ProgramData:
    """The data the event loop reads, the same for i386 and x86-64 (only ``struct
    timespec`` differs: two longs, 8 bytes on i386 and 16 on x86-64): the distinct
    responses; the route table (a Pascal string per path, then its 12-byte entry), ended
    by a 0 and the 404 entry; the 405, 400 and 431 entries; the strings the parser
    compares; the banner; the socket address; the names used in error messages."""
    from .server import response_bytes

    pages = {id(x): x if isinstance(x, Response) else Response.of(x) for _, x in site.routes}
    blobs = {data: a.data(data, "response") for data in response_bytes(site)}

    def entry(r: Response) -> None:
        """[address][length][head length] (12 bytes).  Whether it may go out kept-alive is
        read from its bytes: a head that ends with the Connection: close line.  The
        address is 32 bits on x86-64 too: the image lies below 4 GiB."""
        a.dd(blobs[r.data], align=1)
        a.data(struct.pack("<II", len(r.data), r.head_length))

    routes = a.data(b"", "routes")
    for path, page in site.routes:
        raw = path.encode("ascii")
        if not 1 <= len(raw) <= 255:
            raise ConfigError(f"path {path!r} must be 1 to 255 bytes long")
        a.data(bytes([len(raw)]) + raw)
        entry(pages[id(page)])
    a.data(b"\0")
    entry(NOT_FOUND)
    not_allowed_entry = a.data(b"", "entry_405")
    entry(METHOD_NOT_ALLOWED)
    bad_request_entry = a.data(b"", "entry_400")
    entry(BAD_REQUEST)
    too_large_entry = a.data(b"", "entry_431")
    entry(HEADERS_TOO_LARGE)
    http_1 = a.data(b"HTTP/1.", "http_1")
    banner = f"{config.url}\n".encode()   # also the "http://" an absolute-form target
    http_scheme = a.data(banner, "banner")   #   starts with: its first 7 bytes
    connection = a.data(b"connection:", "connection")
    keep_alive_line = a.data(CONNECTION_KEEP_ALIVE, "keep_alive_line")
    assert len(CONNECTION_KEEP_ALIVE) == HTTP_10 * 3   # its length is computed from the flag
    backoff = None
    if config.workers != 1:       # the supervisor's pause before it forks again
        backoff = a.data(backoff_timespec, "backoff_timespec")
    sockaddr = a.data(config.sockaddr_in(), "sockaddr")
    name = {call: a.data(_pascal(call), f"name_{call}")
            for call in ("socket", "setsockopt", "bind", "listen", "epoll_create1",
                         "epoll_ctl")}
    failed = a.data(_pascal("() failed: errno "), "failed")
    return ProgramData(routes, not_allowed_entry, bad_request_entry, too_large_entry, http_1,
                       http_scheme, banner, connection, keep_alive_line, backoff, sockaddr,
                       name, failed)
