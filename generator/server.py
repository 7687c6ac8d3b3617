"""The server program, one Python line per machine instruction.

Read it like an assembly listing: ``a.mov(EAX, SYS_socket)`` is ``mov eax, 359``.  Every
system call has a comment with its C spelling.  The program:

1. ignores SIGPIPE, so a client that resets before the response is written cannot kill it;
2. socket, setsockopt(SO_REUSEADDR), bind, listen -- if any of them fails it writes
   ``<call>() failed: errno <n>`` to stderr and exits with status 1 (the seed's programs
   went on after a failed bind, and the kernel then gives them a random port on listen);
3. forever: accept4, read the request, write the whole response (resuming short writes),
   close.  A failed accept4 is retried and its negative result is never used as an fd.

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
    AF_INET, SIG_IGN, SIGPIPE, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, STDERR_FILENO,
    SYS_accept4, SYS_bind, SYS_close, SYS_exit, SYS_listen, SYS_read, SYS_setsockopt,
    SYS_signal, SYS_socket, SYS_write,
)
from .x86 import AL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, Assembler, Label, byte

#: How many bytes of a request are read: enough for any ordinary request's headers.
DEFAULT_BUFFER_SIZE = 8192


@dataclass(frozen=True)
class ServerConfig:
    """What the program listens on; checked here so a bad value never reaches the bytes."""

    port: int = 8080
    bind: str = "0.0.0.0"
    backlog: int = 64
    buffer_size: int = DEFAULT_BUFFER_SIZE

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is outside 1..65535")
        try:
            ipaddress.IPv4Address(self.bind)
        except ValueError:
            raise ConfigError(f"bind address {self.bind!r} is not a dotted IPv4 address") from None
        if not 1 <= self.backlog <= 65535:
            raise ConfigError(f"backlog {self.backlog} is outside 1..65535")
        if not 1 <= self.buffer_size <= 1 << 24:
            raise ConfigError(f"buffer size {self.buffer_size} is outside 1..16777216")

    def sockaddr_in(self) -> bytes:
        """struct sockaddr_in (include/uapi/linux/in.h): family in host order, port and
        address in network order, eight bytes of zero padding; 16 bytes in all."""
        return struct.pack("<H", AF_INET) + struct.pack(">H", self.port) + \
            ipaddress.IPv4Address(self.bind).packed + bytes(8)


def _pascal(text: str) -> bytes:
    """A length-prefixed string, so one register can name both the bytes and their count."""
    raw = text.encode()
    return bytes([len(raw)]) + raw


def assemble(response: bytes, config: ServerConfig = ServerConfig()) -> tuple[Assembler, Label]:
    """The program as an :class:`Assembler` and its entry label, not yet laid out.

    Small constants are loaded with ``push imm8; pop reg`` (3 bytes) rather than
    ``mov reg, imm32`` (5 bytes): the same value, two bytes shorter.
    """
    a = Assembler()

    # ------------------------------------------------------------------ data
    response_ = a.data(response, "response")
    sockaddr = a.data(config.sockaddr_in(), "sockaddr")
    name = {call: a.data(_pascal(call), f"name_{call}")
            for call in ("socket", "setsockopt", "bind", "listen")}
    failed = a.data(_pascal("() failed: errno "), "failed")

    # ------------------------------------------------------------------ bss
    request = a.reserve(config.buffer_size, "request")
    errline = a.reserve(64, "errline")

    start, accept_loop, write_more, close_client, die, digits, emit = (
        a.label(n) for n in (
            "_start", "accept_loop", "write_more", "close_client", "die", "digits", "emit"))

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
    a.j("s", accept_loop)         # no connection (ECONNABORTED, EMFILE...): wait for the next
    a.xchg(EAX, EBX)              # ebx = the client from here to close

    a.push(SYS_read)              # read(ebx, request, sizeof request): the request is read here
    a.pop(EAX)
    a.mov(ECX, request)
    a.mov(EDX, config.buffer_size)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("le", close_client)       # end of file before a request, or an error: nothing to answer

    a.mov(ECX, response_)
    a.mov(EDX, len(response))
    a.bind(write_more)
    a.push(SYS_write)             # write(ebx, ecx, edx): the rest of the response
    a.pop(EAX)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("le", close_client)       # the client is gone (EPIPE, ECONNRESET): drop it
    a.add(ECX, EAX)
    a.sub(EDX, EAX)
    a.j("nz", write_more)         # a short write: send what is left

    a.bind(close_client)
    a.push(SYS_close)             # close(ebx)
    a.pop(EAX)
    a.int_(0x80)
    a.jmp(accept_loop)
    return a, start


def build_server(response: bytes, config: ServerConfig = ServerConfig()) -> bytes:
    """The executable's bytes: a static i386 ELF that serves ``response`` to everyone."""
    a, entry = assemble(response, config)
    return elf.link(a, entry)
