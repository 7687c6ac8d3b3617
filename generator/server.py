"""The server program, one Python line per machine instruction.

Read it like an assembly listing: ``a.mov(EAX, SYS_socket)`` is ``mov eax, 359``.  Every
system call has a comment with its C spelling.  The program:

1. ignores SIGPIPE, so a client that resets before the response is written cannot kill it;
2. socket, setsockopt(SO_REUSEADDR), bind, listen -- if any of them fails it writes
   ``<call>() failed: errno <n>`` to stderr and exits with status 1 (the seed's programs
   went on after a failed bind, and the kernel then gives them a random port on listen);
3. sets the idle timeout (SO_RCVTIMEO) on the listening socket, for every connection;
4. forever: accept4 (a failure is retried after 100 ms, so a lasting one such as EMFILE
   is no busy loop; its negative result is never used as an fd),
   **read the request** until the end of its head
   (CRLF CRLF, or bare LF LF) across as many reads as it takes (end of file before it
   ends gets 400 if anything was sent), route it, write the whole
   response (resuming short writes and EINTR), shut down the sending side, drain what
   the client still sends (at most 8 reads, each bounded by the idle timeout) and close.
   Draining first means the close never turns into a reset that could cost the client
   the end of its response (RFC 2525 section 2.17; tcp_close in net/ipv4/tcp.c).

Routing, all precomputed at build time (:mod:`generator.site`): ``GET`` and ``HEAD`` of a
known path (exact match, query ignored) get the page or its head; an unknown path 404;
another method (capital letters) 405 with ``Allow: GET, HEAD``; a request line that is
not ``METHOD SP target SP HTTP/1.x`` 400; a head that does not fit the buffer 431.  The
target is a path (origin-form) or ``http://authority/path`` (absolute-form, whose
authority is skipped: this server has one site whatever the Host; an absolute URI with no
path at all is 400).

Registers that live across system calls (int 0x80 preserves every register but eax,
arch/x86/entry/entry_32.S): during setup ebx holds the listening socket and ebp the name
of the call in progress, for the error line; from the accept loop on, ebp holds the
listening socket and ebx the client.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from . import elf
from .errors import ConfigError
from .linux import (
    AF_INET, EINTR, SHUT_WR, SIG_IGN, SIGPIPE, SO_RCVTIMEO, SO_REUSEADDR, SOCK_STREAM,
    SOL_SOCKET, STDERR_FILENO, SYS_accept4, SYS_bind, SYS_close, SYS_exit, SYS_listen,
    SYS_nanosleep, SYS_read, SYS_setsockopt, SYS_shutdown, SYS_signal, SYS_socket, SYS_write,
)
from .site import BAD_REQUEST, HEADERS_TOO_LARGE, METHOD_NOT_ALLOWED, NOT_FOUND, Page, Response, Site
from .x86 import AL, DL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, Assembler, Label, Mem, byte, dword

#: How many bytes of a request are read: enough for any ordinary request's headers.
DEFAULT_BUFFER_SIZE = 8192
#: How long to wait after a failed accept4 before trying again: 100 ms.
ACCEPT_BACKOFF_NS = 100_000_000


@dataclass(frozen=True)
class ServerConfig:
    """What the program listens on; checked here so a bad value never reaches the bytes."""

    port: int = 8080
    bind: str = "0.0.0.0"
    backlog: int = 64
    buffer_size: int = DEFAULT_BUFFER_SIZE
    idle_timeout: int = 5
    #: The epoll program of :mod:`generator.eventloop` (keep-alive, deadlines, workers)
    #: instead of the one-connection-at-a-time program below.
    event_loop: bool = False
    #: Event loop only: connections per worker; the next is closed as it is accepted.
    max_connections: int = 1024
    #: Event loop only: whole seconds a request head may take from its first byte.
    header_timeout: int = 10
    #: Event loop only: whole seconds a response may wait for the client to read.
    send_timeout: int = 10
    #: Event loop only: processes that serve (1..256), or "auto": the CPUs allowed.
    workers: int | str = 1

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is outside 1..65535")
        try:
            ipaddress.IPv4Address(self.bind)
        except ValueError:
            raise ConfigError(f"bind address {self.bind!r} is not a dotted IPv4 address") from None
        if not 1 <= self.backlog <= 65535:
            raise ConfigError(f"backlog {self.backlog} is outside 1..65535")
        if not 16 <= self.buffer_size <= 1 << 24:
            raise ConfigError(f"buffer size {self.buffer_size} is outside 16..16777216")
        for what, value in (("idle timeout", self.idle_timeout),
                            ("header timeout", self.header_timeout),
                            ("send timeout", self.send_timeout)):
            if not isinstance(value, int) or not 1 <= value <= 86400:
                raise ConfigError(f"{what} {value} is outside 1..86400 seconds")
        if not isinstance(self.max_connections, int) or not 1 <= self.max_connections <= 65536:
            raise ConfigError(f"max connections {self.max_connections} is outside 1..65536")
        if self.workers != "auto" and (not isinstance(self.workers, int)
                                       or not 1 <= self.workers <= 256):
            raise ConfigError(f"workers {self.workers!r} is neither auto nor 1..256")

    def sockaddr_in(self) -> bytes:
        """struct sockaddr_in (include/uapi/linux/in.h): family in host order, port and
        address in network order, eight bytes of zero padding; 16 bytes in all."""
        return struct.pack("<H", AF_INET) + struct.pack(">H", self.port) + \
            ipaddress.IPv4Address(self.bind).packed + bytes(8)


def _pascal(text: str) -> bytes:
    """A length-prefixed string, so one register can name both the bytes and their count."""
    raw = text.encode()
    return bytes([len(raw)]) + raw


def response_bytes(site: Site) -> list[bytes]:
    """Every distinct response the program holds, in the order it holds them: the pages'
    (a page served at two paths is stored once), then 404, 405, 400 and 431."""
    out: dict[bytes, None] = {}
    for _, x in site.routes:
        out[(x if isinstance(x, Response) else Response.of(x)).data] = None
    for r in (NOT_FOUND, METHOD_NOT_ALLOWED, BAD_REQUEST, HEADERS_TOO_LARGE):
        out[r.data] = None
    return list(out)


def assemble(site: Site, config: ServerConfig = ServerConfig()) -> tuple[Assembler, Label]:
    """The program as an :class:`Assembler` and its entry label, not yet laid out.

    Small constants are loaded with ``push imm8; pop reg`` (3 bytes) rather than
    ``mov reg, imm32`` (5 bytes): the same value, two bytes shorter.
    """
    a = Assembler()
    bufsize = config.buffer_size

    # ------------------------------------------------------------------ data
    # Each response's bytes once; an entry is [address][length][head length] (12 bytes).
    pages = {id(x): x if isinstance(x, Response) else Response.of(x) for _, x in site.routes}
    blobs = {data: a.data(data, "response") for data in response_bytes(site)}

    def response_data(r: Response) -> Label:
        return blobs[r.data]

    def entry(r: Response) -> None:
        a.dd(response_data(r), align=1)   # packed: the lookup steps over fixed sizes
        a.data(struct.pack("<II", len(r.data), r.head_length))

    routes = a.data(b"", "routes")
    for path, page in site.routes:
        raw = path.encode("ascii")
        if not 1 <= len(raw) <= 255:
            raise ConfigError(f"path {path!r} must be 1 to 255 bytes long")
        a.data(bytes([len(raw)]) + raw)
        entry(pages[id(page)])
    a.data(b"\0")                                    # the end of the table, then
    entry(NOT_FOUND)                                 # what an unknown path gets
    not_allowed_entry = a.data(b"", "entry_405")
    entry(METHOD_NOT_ALLOWED)
    bad_request_entry = a.data(b"", "entry_400")
    entry(BAD_REQUEST)
    too_large_entry = a.data(b"", "entry_431")
    entry(HEADERS_TOO_LARGE)
    http_1 = a.data(b"HTTP/1.", "http_1")
    http_scheme = a.data(b"http://", "http_scheme")
    idle = a.data(struct.pack("<ii", config.idle_timeout, 0), "idle_timeval")
    backoff = a.data(struct.pack("<ii", 0, ACCEPT_BACKOFF_NS), "backoff_timespec")
    sockaddr = a.data(config.sockaddr_in(), "sockaddr")
    name = {call: a.data(_pascal(call), f"name_{call}")
            for call in ("socket", "setsockopt", "bind", "listen")}
    failed = a.data(_pascal("() failed: errno "), "failed")

    # ------------------------------------------------------------------ bss
    request = a.reserve(bufsize, "request")
    errline = a.reserve(64, "errline")

    L = a.label
    start, accept_loop, die, digits, emit = L("_start"), L("accept_loop"), L("die"), L("digits"), L("emit")
    accepted = L("accepted")
    read_more, next_lf, head_incomplete, head_complete = L("read_more"), L("next_lf"), L("head_incomplete"), L("head_complete")
    cut_short = L("cut_short")
    origin_form, authority, authority_end = L("origin_form"), L("authority"), L("authority_end")
    not_get, other_method, method_letter, target = L("not_get"), L("other_method"), L("method_letter"), L("target")
    path_char, path_end, skip_query, version, line_ok = L("path_char"), L("path_end"), L("skip_query"), L("version"), L("line_ok")
    next_route, skip_route, found = L("next_route"), L("skip_route"), L("found")
    not_allowed, bad_request, respond, write_more, drain, hang_up = (
        L("not_allowed"), L("bad_request"), L("respond"), L("write_more"), L("drain"), L("hang_up"))

    # ------------------------------------------------------------------ setup
    a.bind(start)
    a.push(SYS_signal)            # signal(SIGPIPE, SIG_IGN): a reset peer must not kill us
    a.pop(EAX)
    a.push(SIGPIPE)
    a.pop(EBX)
    a.push(SIG_IGN)
    a.pop(ECX)
    a.int_(0x80)

    a.mov(EBP, name["socket"])
    a.mov(EAX, SYS_socket)        # socket(AF_INET, SOCK_STREAM, 0)
    a.push(AF_INET)
    a.pop(EBX)
    a.push(SOCK_STREAM)
    a.pop(ECX)
    a.cdq()                       # edx = 0, the sign of the positive eax
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)
    a.xchg(EAX, EBX)              # ebx = the listening socket

    a.mov(EBP, name["setsockopt"])
    a.mov(EAX, SYS_setsockopt)    # setsockopt(ebx, SOL_SOCKET, SO_REUSEADDR, &1, 4)
    a.push(SOL_SOCKET)
    a.pop(ECX)
    a.push(SO_REUSEADDR)
    a.pop(EDX)
    a.push(1)
    a.mov(ESI, ESP)               # the option's value, 1, lives on the stack
    a.push(4)
    a.pop(EDI)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)

    a.mov(EAX, SYS_setsockopt)    # setsockopt(ebx, SOL_SOCKET, SO_RCVTIMEO, &idle, 8):
    a.push(SO_RCVTIMEO)           #   every accepted socket inherits it (sk_clone_lock), so
    a.pop(EDX)                    #   a client that says nothing is dropped after the idle
    a.mov(ESI, idle)              #   timeout and the next visitor is served; accept4 wakes
    a.push(8)                     #   up as often, finds nobody, and waits again
    a.pop(EDI)                    #   (ecx is still SOL_SOCKET)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)

    a.mov(EBP, name["bind"])
    a.mov(EAX, SYS_bind)          # bind(ebx, &sockaddr, sizeof sockaddr)
    a.mov(ECX, sockaddr)
    a.push(len(config.sockaddr_in()))
    a.pop(EDX)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)

    a.mov(EBP, name["listen"])
    a.mov(EAX, SYS_listen)        # listen(ebx, backlog)
    a.push(config.backlog)
    a.pop(ECX)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)
    a.mov(EBP, EBX)               # ebp = the listening socket from here on
    a.jmp(accept_loop)

    # ------------------------------------------------------------------ die
    # Between setup and the accept loop, so that every "js die" of the setup is short.
    a.bind(die)                   # eax = -errno, ebp = the name of the call that failed
    a.neg(EAX)
    a.mov(EDI, errline)
    a.mov(ESI, EBP)
    a.movzx(ECX, byte[ESI])
    a.inc(ESI)
    a.rep_movsb()                 # "bind"
    a.mov(ESI, failed)
    a.movzx(ECX, byte[ESI])
    a.inc(ESI)
    a.rep_movsb()                 # "() failed: errno "
    a.xor(ECX, ECX)               # ecx counts the digits
    a.push(10)
    a.pop(EBX)
    a.bind(digits)
    a.xor(EDX, EDX)
    a.div(EBX)
    a.push(EDX)                   # least significant digit first, so popped last
    a.inc(ECX)
    a.test(EAX, EAX)
    a.j("nz", digits)
    a.bind(emit)
    a.pop(EAX)
    a.add(AL, ord("0"))
    a.stosb()
    a.dec(ECX)
    a.j("nz", emit)
    a.mov(AL, ord("\n"))
    a.stosb()
    a.mov(ECX, errline)
    a.mov(EDX, EDI)
    a.sub(EDX, ECX)
    a.push(SYS_write)             # write(2, errline, edx): the whole line at once
    a.pop(EAX)
    a.push(STDERR_FILENO)
    a.pop(EBX)
    a.int_(0x80)
    a.push(SYS_exit)              # exit(1)
    a.pop(EAX)
    a.mov(EBX, EAX)
    a.int_(0x80)

    # ------------------------------------------------------------------ serve forever
    a.bind(accept_loop)
    a.mov(EAX, SYS_accept4)       # accept4(ebp, NULL, NULL, 0)
    a.mov(EBX, EBP)
    a.xor(ECX, ECX)
    a.cdq()
    a.xor(ESI, ESI)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("ns", accepted)
    a.mov(EAX, SYS_nanosleep)     # nanosleep(&backoff, NULL): no connection (EMFILE at the
    a.mov(EBX, backoff)           #   fd limit, ENOMEM, the idle timeout...); a failure that
    a.xor(ECX, ECX)               #   lasts must not become a busy loop, so wait a little
    a.int_(0x80)                  #   before trying again
    a.jmp(accept_loop)
    a.bind(accepted)
    a.xchg(EAX, EBX)              # ebx = the client from here to close

    a.xor(ESI, ESI)               # esi = bytes of the request read so far
    a.bind(read_more)
    a.push(SYS_read)              # read(ebx, request + esi, sizeof request - esi):
    a.pop(EAX)
    a.lea(ECX, ESI + request)     #   the request is read here, until the end of its head
    a.mov(EDX, bufsize)
    a.sub(EDX, ESI)
    a.int_(0x80)
    a.cmp(EAX, -EINTR)
    a.j("e", read_more)
    a.test(EAX, EAX)
    a.j("s", hang_up)             # idle timeout (EAGAIN), reset: nobody to answer
    a.j("z", cut_short)           # end of file before the head ended
    a.add(ESI, EAX)

    a.mov(EDI, request)           # the head ends at an LF followed by LF, or by CR LF
    a.mov(ECX, ESI)
    a.bind(next_lf)
    a.mov(AL, ord("\n"))
    a.jecxz(head_incomplete)
    a.scasb(repne=True)
    a.j("ne", head_incomplete)
    a.jecxz(head_incomplete)      # ecx = bytes after this LF
    a.cmp(byte[EDI], ord("\n"))
    a.j("e", head_complete)
    a.cmp(byte[EDI], ord("\r"))
    a.j("ne", next_lf)
    a.cmp(ECX, 2)
    a.j("b", head_incomplete)
    a.cmp(byte[EDI + 1], ord("\n"))
    a.j("ne", next_lf)
    a.jmp(head_complete)

    a.bind(head_incomplete)
    a.cmp(ESI, bufsize)
    a.j("b", read_more)
    a.mov(EDI, too_large_entry)   # the head fills the buffer and has not ended: 431
    a.xor(EDX, EDX)
    a.jmp(respond)

    a.bind(cut_short)             # the client stopped sending mid-head: 400 if it sent
    a.test(ESI, ESI)              #   anything (RFC 9112 section 8), else just close
    a.j("z", hang_up)
    a.xor(EDX, EDX)
    a.jmp(bad_request)

    # ------------------------------------------------------------------ the request line
    a.bind(head_complete)         # edx: 0 for GET, 4 for HEAD (the entry's field), 1 other
    a.mov(ESI, request)
    a.xor(EDX, EDX)
    a.cmp(dword[ESI], int.from_bytes(b"GET ", "little"))
    a.j("ne", not_get)
    a.add(ESI, 4)
    a.jmp(target)
    a.bind(not_get)
    a.cmp(dword[ESI], int.from_bytes(b"HEAD", "little"))
    a.j("ne", other_method)
    a.cmp(byte[ESI + 4], ord(" "))
    a.j("ne", other_method)
    a.mov(DL, 4)
    a.add(ESI, 5)
    a.jmp(target)
    a.bind(other_method)          # capital letters then a space: a method, just not ours
    a.inc(EDX)
    a.lodsb()
    a.bind(method_letter)
    a.sub(AL, ord("A"))
    a.cmp(AL, ord("Z") - ord("A"))
    a.j("a", bad_request)
    a.lodsb()
    a.cmp(AL, ord(" "))
    a.j("ne", method_letter)

    a.bind(target)                # esi -> the target: a path, /..., or http://host/...
    a.cmp(byte[ESI], ord("/"))
    a.j("e", origin_form)
    a.mov(EDI, http_scheme)       # absolute-form, which a server must accept
    a.push(len(b"http://"))       #   (RFC 9112 section 3.2.2): skip the authority
    a.pop(ECX)
    a.cmpsb(repe=True)
    a.j("ne", bad_request)
    a.bind(authority)             # up to the path's "/"; a space or a control byte
    a.lodsb()                     #   first (no path at all) is a bad request here
    a.cmp(AL, ord("/"))
    a.j("e", authority_end)
    a.cmp(AL, ord(" "))
    a.j("a", authority)
    a.jmp(bad_request)
    a.bind(authority_end)
    a.dec(ESI)                    # esi -> the path's "/"
    a.bind(origin_form)
    a.mov(EDI, ESI)               # edi = the path
    a.bind(path_char)
    a.lodsb()
    a.cmp(AL, ord("?"))
    a.j("e", path_end)
    a.cmp(AL, ord(" "))
    a.j("e", path_end)
    a.j("b", bad_request)         # a control character: CR, LF, NUL...
    a.jmp(path_char)
    a.bind(path_end)
    a.lea(ECX, ESI + -1)
    a.sub(ECX, EDI)               # ecx = the path's length, query left out
    a.cmp(AL, ord(" "))
    a.j("e", version)
    a.bind(skip_query)
    a.lodsb()
    a.cmp(AL, ord(" "))
    a.j("e", version)
    a.j("b", bad_request)
    a.jmp(skip_query)

    a.bind(version)               # esi -> "HTTP/1.x" and the end of the line
    a.push(EDI)
    a.push(ECX)
    a.mov(EDI, http_1)
    a.push(7)
    a.pop(ECX)
    a.cmpsb(repe=True)
    a.pop(ECX)
    a.pop(EDI)
    a.j("ne", bad_request)
    a.lodsb()
    a.sub(AL, ord("0"))
    a.cmp(AL, 9)
    a.j("a", bad_request)
    a.lodsb()
    a.cmp(AL, ord("\r"))
    a.j("e", line_ok)
    a.cmp(AL, ord("\n"))
    a.j("ne", bad_request)
    a.bind(line_ok)
    a.cmp(DL, 1)
    a.j("e", not_allowed)

    # ------------------------------------------------------------------ routing
    a.mov(ESI, EDI)               # esi = the path, ecx = its length
    a.mov(EDI, routes)
    a.bind(next_route)
    a.movzx(EAX, byte[EDI])       # a route: its path's length, the path, its entry
    a.inc(EDI)
    a.test(EAX, EAX)
    a.j("z", respond)             # the end of the table: edi is at the 404 entry
    a.cmp(EAX, ECX)
    a.j("ne", skip_route)
    a.push(ECX)
    a.push(ESI)
    a.push(EDI)
    a.cmpsb(repe=True)
    a.pop(EDI)
    a.pop(ESI)
    a.pop(ECX)
    a.j("e", found)
    a.bind(skip_route)
    a.lea(EDI, Mem(EDI, EAX, 1, 12))
    a.jmp(next_route)
    a.bind(found)
    a.add(EDI, EAX)
    a.jmp(respond)

    a.bind(not_allowed)
    a.mov(EDI, not_allowed_entry)
    a.jmp(respond)
    a.bind(bad_request)
    a.mov(EDI, bad_request_entry)

    # ------------------------------------------------------------------ the response
    a.bind(respond)               # edi -> [address][length][head length]; edx 4 for HEAD
    a.and_(EDX, 4)
    a.mov(ECX, dword[EDI])
    a.mov(EDX, dword[Mem(EDI, EDX, 1, 4)])
    a.bind(write_more)
    a.push(SYS_write)             # write(ebx, ecx, edx): the rest of the response
    a.pop(EAX)
    a.int_(0x80)
    a.cmp(EAX, -EINTR)
    a.j("e", write_more)
    a.test(EAX, EAX)
    a.j("le", hang_up)            # the client is gone (EPIPE, ECONNRESET): drop it
    a.add(ECX, EAX)
    a.sub(EDX, EAX)
    a.j("nz", write_more)         # a short write: send what is left

    a.mov(EAX, SYS_shutdown)      # shutdown(ebx, SHUT_WR): the client reads end of file
    a.push(SHUT_WR)
    a.pop(ECX)
    a.int_(0x80)
    a.push(8)                     # then drain what it still sends, at most 8 reads
    a.pop(ESI)
    a.bind(drain)
    a.push(SYS_read)              # read(ebx, request, sizeof request), thrown away
    a.pop(EAX)
    a.mov(ECX, request)
    a.mov(EDX, bufsize)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("le", hang_up)
    a.dec(ESI)
    a.j("nz", drain)

    a.bind(hang_up)
    a.push(SYS_close)             # close(ebx)
    a.pop(EAX)
    a.int_(0x80)
    a.jmp(accept_loop)
    return a, start


def as_site(content: Site | Page | bytes) -> Site:
    """A site from what the caller has: a Site, one Page (served at ``/``), or the exact
    bytes of one response (served at ``/`` as they are, lies and all: tests use that)."""
    if isinstance(content, Site):
        return content
    if isinstance(content, Page):
        return Site.single(content)
    raw = bytes(content)
    end = raw.find(b"\r\n\r\n")
    return Site((("/", Response(raw, end + 4 if end >= 0 else len(raw))),))


def build_server(content: Site | Page | bytes, config: ServerConfig = ServerConfig()) -> bytes:
    """The executable's bytes: a static i386 ELF that serves ``content``."""
    if config.event_loop:
        from .eventloop import assemble as assemble_loop

        a, entry = assemble_loop(as_site(content), config)
    else:
        a, entry = assemble(as_site(content), config)
    return elf.link(a, entry)
