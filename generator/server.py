"""The server's configuration, and the executable built from a site and a configuration.

The program itself, one Python line per machine instruction, is :mod:`generator.eventloop`:
an epoll event loop with keep-alive, pipelining, deadlines and workers; for x86-64 it is
:mod:`generator.eventloop64`, the same program with the same bytes on the wire.  This module checks
what a user may configure (so a bad value never reaches the bytes), lists the distinct
responses a program holds, and links the program into an ELF (:mod:`generator.elf`).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, replace

from . import elf
from .errors import ConfigError
from .linux import AF_INET
from .site import BAD_REQUEST, HEADERS_TOO_LARGE, METHOD_NOT_ALLOWED, NOT_FOUND, Page, Response, Site

#: How many bytes of a request are read: enough for any ordinary request's headers.
DEFAULT_BUFFER_SIZE = 8192
#: The architectures a program can be built for: i386 (ELF32, int 0x80) and x86-64 (ELF64,
#: syscall).
ARCHES = ("i386", "x86_64")


@dataclass(frozen=True)
class ServerConfig:
    """What the program listens on; checked here so a bad value never reaches the bytes."""

    port: int = 8080
    bind: str = "0.0.0.0"
    backlog: int = 64
    buffer_size: int = DEFAULT_BUFFER_SIZE
    idle_timeout: int = 5
    #: Connections per worker; the next is closed as it is accepted.
    max_connections: int = 1024
    #: Whole seconds a request head may take from its first byte.
    header_timeout: int = 10
    #: Whole seconds a response may wait for the client to read.
    send_timeout: int = 10
    #: Processes that serve (1..256), or "auto": the CPUs the program may run on.
    workers: int | str = 1
    #: The program's architecture: "i386" (a static ELF32 any x86 Linux runs, 64-bit
    #: kernels included) or "x86_64" (a static ELF64 for x86-64 Linux).
    arch: str = "i386"

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
        if self.arch not in ARCHES:
            raise ConfigError(f"architecture {self.arch!r} is neither i386 nor x86_64")

    @property
    def url(self) -> str:
        """Where a browser on this machine finds the server: ``localhost`` when it listens
        on every address (0.0.0.0), else the address it is bound to."""
        host = "localhost" if self.bind == "0.0.0.0" else self.bind
        return f"http://{host}:{self.port}/"

    def sockaddr_in(self) -> bytes:
        """struct sockaddr_in (include/uapi/linux/in.h): family in host order, port and
        address in network order, eight bytes of zero padding; 16 bytes in all."""
        return struct.pack("<H", AF_INET) + struct.pack(">H", self.port) + \
            ipaddress.IPv4Address(self.bind).packed + bytes(8)


def response_bytes(site: Site) -> list[bytes]:
    """Every distinct response the program holds, in the order it holds them: the pages'
    (a page served at two paths is stored once), then 404, 405, 400 and 431."""
    out: dict[bytes, None] = {}
    for _, x in site.routes:
        out[(x if isinstance(x, Response) else Response.of(x)).data] = None
    for r in (NOT_FOUND, METHOD_NOT_ALLOWED, BAD_REQUEST, HEADERS_TOO_LARGE):
        out[r.data] = None
    return list(out)


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


def assembler_for(arch: str):
    """The ``assemble(site, config)`` that writes the program for ``arch``."""
    if arch == "x86_64":
        from .eventloop64 import assemble
    else:
        from .eventloop import assemble
    return assemble


def build_server(content: Site | Page | bytes, config: ServerConfig = ServerConfig(),
                 arch: str | None = None) -> bytes:
    """The executable's bytes: a static ELF that serves ``content``, i386 (ELF32) or, with
    ``arch="x86_64"`` (or ``config.arch``), x86-64 (ELF64)."""
    if arch is not None and arch != config.arch:
        config = replace(config, arch=arch)
    a, entry = assembler_for(config.arch)(as_site(content), config)
    return elf.link(a, entry)
