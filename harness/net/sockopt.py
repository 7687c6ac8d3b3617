"""Socket options: setsockopt(2) and getsockopt(2) for :class:`~harness.net.Socket`.

``sk_setsockopt`` and ``sk_getsockopt`` (net/core/sock.c) for SOL_SOCKET,
``do_tcp_setsockopt`` and ``do_tcp_getsockopt`` (net/ipv4/tcp.c) for IPPROTO_TCP.  The
options that change what the network does (SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF,
SO_RCVBUF, SO_LINGER, the timeouts) are slots of Socket, which the ports, the flow control
and close read; the others need only read back what was set, so they live in a small dict
made on first use (most sockets set none).  :class:`_Options` is a part of Socket: Socket
inherits it, and it has no slots of its own.
"""

from __future__ import annotations

from ..linux import (
    AF_INET,
    EDOM,
    EINVAL,
    ENOPROTOOPT,
    EOPNOTSUPP,
    EPERM,
    IPPROTO_TCP,
    MAX_TCP_KEEPCNT,
    MAX_TCP_KEEPIDLE,
    MAX_TCP_KEEPINTVL,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_RCVTIMEO_NEW,
    SO_RCVTIMEO_OLD,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_SNDTIMEO_NEW,
    SO_SNDTIMEO_OLD,
    SO_TYPE,
    SOCK_MIN_RCVBUF,
    SOCK_MIN_SNDBUF,
    SOCK_STREAM,
    SOL_IP,
    SOL_SOCKET,
    TCP_CORK,
    TCP_KEEPALIVE_INTVL,
    TCP_KEEPALIVE_PROBES,
    TCP_KEEPALIVE_TIME,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    TCP_QUICKACK,
)
from .endpoint import _LISTENING

_INT_MAX = 0x7FFFFFFF

# Default values of the options Socket keeps in its small option dict.
_SO_BOOLS = frozenset({SO_DEBUG, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE})
_TCP_BOOLS = frozenset({TCP_NODELAY, TCP_CORK, TCP_QUICKACK})
_TCP_RANGES = {
    TCP_KEEPIDLE: MAX_TCP_KEEPIDLE,
    TCP_KEEPINTVL: MAX_TCP_KEEPINTVL,
    TCP_KEEPCNT: MAX_TCP_KEEPCNT,
}
_OPTION_DEFAULTS = {
    (SOL_SOCKET, SO_PRIORITY): 0,
    (SOL_SOCKET, SO_RCVLOWAT): 1,
    (IPPROTO_TCP, TCP_QUICKACK): 1,
    (IPPROTO_TCP, TCP_KEEPIDLE): TCP_KEEPALIVE_TIME,
    (IPPROTO_TCP, TCP_KEEPINTVL): TCP_KEEPALIVE_INTVL,
    (IPPROTO_TCP, TCP_KEEPCNT): TCP_KEEPALIVE_PROBES,
}


def _int32(raw: bytes) -> int:
    return int.from_bytes(raw[:4], "little", signed=True)


class _Options:
    """setsockopt and getsockopt, for :class:`~harness.net.Socket`, which inherits them."""

    __slots__ = ()

    def setsockopt(self, level: int, name: int, value: bytes) -> int:
        """setsockopt(2) with the ``optlen`` bytes the guest passed.

        SOL_SOCKET (``sk_setsockopt``) and IPPROTO_TCP (``do_tcp_setsockopt``) read an int and
        refuse fewer than 4 bytes with EINVAL before they look at the name; an unknown name or
        level is ENOPROTOOPT; booleans are stored as 0/1.
        """
        if level == SOL_SOCKET:
            return self._set_socket_option(name, value)
        if level == IPPROTO_TCP:
            if len(value) < 4:
                return -EINVAL
            val = _int32(value)
            if name in _TCP_BOOLS:
                self._set_opt(level, name, int(val != 0))
                return 0
            high = _TCP_RANGES.get(name)
            if high is None:
                return -ENOPROTOOPT
            if not 1 <= val <= high:
                return -EINVAL
            self._set_opt(level, name, val)
            return 0
        return -ENOPROTOOPT

    def _set_opt(self, level: int, name: int, val: int) -> None:
        if self._opts is None:
            self._opts = {}
        self._opts[(level, name)] = val

    def _set_socket_option(self, name: int, value: bytes) -> int:
        if len(value) < 4:
            return -EINVAL
        val = _int32(value)
        net = self.network
        if name == SO_REUSEADDR:
            self.reuseaddr = val != 0
        elif name == SO_REUSEPORT:
            self.reuseport = val != 0
        elif name in _SO_BOOLS:
            self._set_opt(SOL_SOCKET, name, int(val != 0))
        elif name == SO_SNDBUF:
            # sk_setsockopt: min_t(u32, val, wmem_max), then at most INT_MAX / 2 so that
            # the doubled value is an int, doubled "to allow space for bookkeeping
            # overhead" (socket(7)), at least SOCK_MIN_SNDBUF; and SOCK_SNDBUF_LOCK.
            val = min(val & 0xFFFFFFFF, net.wmem_max, _INT_MAX // 2)
            self.sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
            self.sndbuf_locked = True
        elif name == SO_RCVBUF:
            val = min(val & 0xFFFFFFFF, net.rmem_max, _INT_MAX // 2)
            self.rcvbuf = max(val * 2, SOCK_MIN_RCVBUF)
        elif name == SO_PRIORITY:
            if not 0 <= val <= 6 and not net.privileged:
                return -EPERM
            self._set_opt(SOL_SOCKET, name, val)
        elif name == SO_RCVLOWAT:
            self._set_opt(SOL_SOCKET, name, (0x7FFFFFFF if val < 0 else val) or 1)
        elif name == SO_LINGER:
            if len(value) < 8:
                return -EINVAL
            self.linger_on = val != 0
            if self.linger_on:
                self.linger = _int32(value[4:8])
        elif name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW):
            return self._set_timeout(name, value)
        else:
            return -ENOPROTOOPT
        return 0

    def _set_timeout(self, name: int, value: bytes) -> int:
        """``sock_set_timeout``: struct old_timeval32 (two s32) for the _OLD names an i386
        program uses, struct __kernel_sock_timeval (two s64) for the _NEW ones.  Zero is "no
        timeout" (None); a negative time is a timeout of 0, which never waits."""
        if name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD):
            if len(value) < 8:
                return -EINVAL
            sec = _int32(value)
            usec = _int32(value[4:8])
        else:
            if len(value) < 16:
                return -EINVAL
            sec = int.from_bytes(value[:8], "little", signed=True)
            usec = int.from_bytes(value[8:16], "little", signed=True)
        if not 0 <= usec < 1_000_000:
            return -EDOM
        timeout: float | None
        if sec < 0:
            timeout = 0.0
        elif sec == 0 and usec == 0:
            timeout = None
        else:
            timeout = sec + usec / 1_000_000
        if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW):
            self.rcvtimeo = timeout
        else:
            self.sndtimeo = timeout
        return 0

    def getsockopt(self, level: int, name: int, optlen: int) -> bytes | int:
        """getsockopt(2): the value's bytes cut to ``optlen`` (the caller writes back their
        length), or -errno.  SOL_SOCKET refuses a negative ``optlen`` with EINVAL; TCP reads it
        as unsigned and caps it at 4.  SO_ERROR consumes the pending error.  An unknown option
        is ENOPROTOOPT; an unknown level EOPNOTSUPP (``ip_getsockopt``)."""
        if level == SOL_SOCKET:
            if optlen < 0:
                return -EINVAL
            raw = self._get_socket_option(name)
            if raw.__class__ is int:
                return raw
            return raw[:optlen]
        if level == IPPROTO_TCP:
            if optlen < 0 or optlen > 4:
                optlen = 4
            if name in _TCP_BOOLS or name in _TCP_RANGES:
                return self._get_opt(level, name).to_bytes(4, "little", signed=True)[:optlen]
            return -ENOPROTOOPT
        if level == SOL_IP:
            return -ENOPROTOOPT
        return -EOPNOTSUPP

    def _get_opt(self, level: int, name: int) -> int:
        key = (level, name)
        if self._opts is not None and key in self._opts:
            return self._opts[key]
        return _OPTION_DEFAULTS.get(key, 0)

    def _get_socket_option(self, name: int) -> bytes | int:
        if name == SO_ERROR:
            val, self.err = self.err, 0
        elif name == SO_TYPE:
            val = SOCK_STREAM
        elif name == SO_PROTOCOL:
            val = IPPROTO_TCP
        elif name == SO_DOMAIN:
            val = AF_INET
        elif name == SO_ACCEPTCONN:
            val = int(self.state is _LISTENING)
        elif name == SO_REUSEADDR:
            val = int(self.reuseaddr)
        elif name == SO_REUSEPORT:
            val = int(self.reuseport)
        elif name == SO_SNDBUF:
            val = self.sndbuf
        elif name == SO_RCVBUF:
            val = self.rcvbuf
        elif name == SO_SNDLOWAT:
            val = 1
        elif name in _SO_BOOLS or name in (SO_PRIORITY, SO_RCVLOWAT):
            val = self._get_opt(SOL_SOCKET, name)
        elif name == SO_LINGER:
            return int(self.linger_on).to_bytes(4, "little") + self.linger.to_bytes(
                4, "little", signed=True)
        elif name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW):
            timeout = self.rcvtimeo if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW) else self.sndtimeo
            sec = int(timeout or 0)
            usec = round(((timeout or 0) - sec) * 1_000_000)
            size = 4 if name in (SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD) else 8
            return sec.to_bytes(size, "little", signed=True) + usec.to_bytes(
                size, "little", signed=True)
        else:
            return -ENOPROTOOPT
        return val.to_bytes(4, "little", signed=True)
