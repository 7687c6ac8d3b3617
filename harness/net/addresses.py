"""IPv4 addresses as the network keeps them, and the struct sockaddr_in guests exchange.

An address is a host-order integer (``0x7F000001``): cheap to compare and to mask, which
the port checks do on every bind.  Tests and the CLI write ``"127.0.0.1"``
(:func:`ip_address`, :func:`format_ip`); the syscall layer hands over the bytes of a
struct sockaddr_in (include/uapi/linux/in.h) and takes them back (:func:`parse_sockaddr_in`,
:func:`pack_sockaddr_in`).  The host's only addresses are 127.0.0.0/8 (:func:`_is_local`).
"""

from __future__ import annotations

from ..linux import AF_INET, AF_UNSPEC, EAFNOSUPPORT, EINVAL, IN_LOOPBACKNET, INADDR_ANY

_SOCKADDR_IN_SIZE = 16  # sizeof(struct sockaddr_in)


def ip_address(text: str) -> int:
    """``"127.0.0.1"`` -> ``0x7F000001``, the host-order integer the network uses."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    a, b, c, d = (int(p) for p in parts)
    return a << 24 | b << 16 | c << 8 | d


def format_ip(ip: int) -> str:
    """``0x7F000001`` -> ``"127.0.0.1"``."""
    return f"{ip >> 24 & 255}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


def parse_sockaddr_in(raw: bytes) -> tuple[int, int] | int:
    """The ``(ip, port)`` in the ``addrlen`` bytes a guest passed to bind(2), or -errno.

    Follows ``__inet_bind``: shorter than a sockaddr_in is EINVAL, another family is
    EAFNOSUPPORT, except that AF_UNSPEC with INADDR_ANY is accepted for old programs.
    """
    if len(raw) < _SOCKADDR_IN_SIZE:
        return -EINVAL
    family = raw[0] | raw[1] << 8
    port = raw[2] << 8 | raw[3]
    ip = raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7]
    if family != AF_INET and (family != AF_UNSPEC or ip != INADDR_ANY):
        return -EAFNOSUPPORT
    return ip, port


def pack_sockaddr_in(ip: int, port: int) -> bytes:
    """The 16-byte struct sockaddr_in that accept(2) and getsockname(2) write for an i386 guest."""
    return (
        AF_INET.to_bytes(2, "little") + port.to_bytes(2, "big") + ip.to_bytes(4, "big") + bytes(8)
    )

def _is_local(ip: int) -> bool:
    return ip >> 24 == IN_LOOPBACKNET


def _overlap(a: int, b: int) -> bool:
    """``inet_rcv_saddr_equal`` with wildcards: INADDR_ANY overlaps every address."""
    return a == b or a == INADDR_ANY or b == INADDR_ANY

