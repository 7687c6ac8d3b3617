"""Decoders of the socket calls (src/net.c, src/sockaddr.c): socket, bind, connect, listen,
accept, accept4, getsockname, getpeername, send, sendto, recv, recvfrom, shutdown,
setsockopt, getsockopt, and socketcall when strace could not resolve it.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from .. import linux as L
from .format import (
    _FD, _U32, _UDECIMAL, Pending, _addr, _d, _Enter, _Exit, _flag_table, _flags, _hex_str, _id,
    _int_at, _Memory, _s32, _str, _table, _u, _x, _xval, quote,
)

_SOCKADDR_STORAGE = 128  # sizeof(struct sockaddr_storage): decode_sockaddr reads no more
_SIN6_MIN_LEN = 24  # the RFC 2133 sockaddr_in6, without sin6_scope_id


_ADDRFAMS = _table(
    "AF_UNSPEC AF_UNIX AF_INET AF_AX25 AF_IPX AF_APPLETALK AF_NETROM AF_BRIDGE AF_ATMPVC "
    "AF_X25 AF_INET6 AF_ROSE AF_DECnet AF_NETBEUI AF_SECURITY AF_KEY AF_NETLINK AF_PACKET "
    "AF_ASH AF_ECONET AF_ATMSVC AF_RDS AF_SNA AF_IRDA AF_PPPOX AF_WANPIPE AF_LLC AF_IB AF_MPLS "
    "AF_CAN AF_TIPC AF_BLUETOOTH AF_IUCV AF_RXRPC AF_ISDN AF_PHONET AF_IEEE802154 AF_CAIF "
    "AF_ALG AF_NFC AF_VSOCK AF_KCM AF_QIPCRTR AF_SMC AF_XDP AF_MCTP")
_SOCKTYPES = _table(
    "SOCK_STREAM SOCK_DGRAM SOCK_RAW SOCK_RDM SOCK_SEQPACKET SOCK_DCCP SOCK_PACKET")
_SOCK_TYPE_FLAGS = _flag_table("SOCK_CLOEXEC SOCK_NONBLOCK")
_INET_PROTOCOLS = _table(
    "IPPROTO_IP IPPROTO_ICMP IPPROTO_IGMP IPPROTO_IPIP IPPROTO_TCP IPPROTO_EGP IPPROTO_PUP "
    "IPPROTO_UDP IPPROTO_IDP IPPROTO_TP IPPROTO_DCCP IPPROTO_IPV6 IPPROTO_ROUTING "
    "IPPROTO_FRAGMENT IPPROTO_RSVP IPPROTO_GRE IPPROTO_ESP IPPROTO_AH IPPROTO_ICMPV6 "
    "IPPROTO_NONE IPPROTO_DSTOPTS IPPROTO_MTP IPPROTO_BEETPH IPPROTO_ENCAP IPPROTO_PIM "
    "IPPROTO_COMP IPPROTO_L2TP IPPROTO_SCTP IPPROTO_MH IPPROTO_UDPLITE IPPROTO_MPLS "
    "IPPROTO_ETHERNET IPPROTO_RAW IPPROTO_MPTCP")
_SOCKETLAYERS = _table(
    "SOL_IP SOL_SOCKET SOL_TCP SOL_UDP AF_VSOCK SOL_IPV6 SOL_ICMPV6 SOL_CAN_BASE SOL_CAN_RAW "
    "SOL_SCTP SOL_UDPLITE SOL_RAW SOL_IPX SOL_AX25 SOL_ATALK SOL_NETROM SOL_ROSE SOL_DECNET "
    "SOL_X25 SOL_PACKET SOL_ATM SOL_AAL SOL_IRDA SOL_NETBEUI SOL_LLC SOL_DCCP SOL_NETLINK "
    "SOL_TIPC SOL_RXRPC SOL_PPPOL2TP SOL_BLUETOOTH SOL_PNPIPE SOL_RDS SOL_IUCV SOL_CAIF "
    "SOL_ALG SOL_NFC SOL_KCM SOL_TLS SOL_XDP")
_SOCK_OPTIONS = _table(
    "SO_DEBUG SO_REUSEADDR SO_TYPE SO_ERROR SO_DONTROUTE SO_BROADCAST SO_SNDBUF SO_RCVBUF "
    "SO_KEEPALIVE SO_OOBINLINE SO_NO_CHECK SO_PRIORITY SO_LINGER SO_BSDCOMPAT SO_REUSEPORT "
    "SO_PASSCRED SO_PEERCRED SO_RCVLOWAT SO_SNDLOWAT SO_RCVTIMEO_OLD SO_SNDTIMEO_OLD "
    "SO_SECURITY_AUTHENTICATION SO_SECURITY_ENCRYPTION_TRANSPORT "
    "SO_SECURITY_ENCRYPTION_NETWORK SO_BINDTODEVICE SO_DETACH_FILTER SO_PEERNAME "
    "SO_TIMESTAMP_OLD SO_ACCEPTCONN SO_PEERSEC SO_SNDBUFFORCE SO_RCVBUFFORCE SO_PASSSEC "
    "SO_TIMESTAMPNS_OLD SO_MARK SO_TIMESTAMPING_OLD SO_PROTOCOL SO_DOMAIN SO_RXQ_OVFL "
    "SO_WIFI_STATUS SO_PEEK_OFF SO_NOFCS SO_LOCK_FILTER SO_SELECT_ERR_QUEUE SO_BUSY_POLL "
    "SO_MAX_PACING_RATE SO_BPF_EXTENSIONS SO_INCOMING_CPU SO_ATTACH_BPF "
    "SO_ATTACH_REUSEPORT_CBPF SO_ATTACH_REUSEPORT_EBPF SO_CNX_ADVICE SO_MEMINFO "
    "SO_INCOMING_NAPI_ID SO_COOKIE SO_PEERGROUPS SO_ZEROCOPY SO_TXTIME SO_BINDTOIFINDEX "
    "SO_TIMESTAMP_NEW SO_TIMESTAMPNS_NEW SO_TIMESTAMPING_NEW SO_RCVTIMEO_NEW SO_SNDTIMEO_NEW "
    "SO_DETACH_REUSEPORT_BPF SO_PREFER_BUSY_POLL SO_BUSY_POLL_BUDGET SO_NETNS_COOKIE "
    "SO_BUF_LOCK SO_RESERVE_MEM SO_TXREHASH SO_RCVMARK")
_SETSOCK_OPTIONS = _table("SO_ATTACH_FILTER")
_GETSOCK_OPTIONS = _table("SO_GET_FILTER")
_SOCK_IP_OPTIONS = _table(
    "IP_TOS IP_TTL IP_HDRINCL IP_OPTIONS IP_ROUTER_ALERT IP_RECVOPTS IP_RETOPTS IP_PKTINFO "
    "IP_PKTOPTIONS IP_MTU_DISCOVER IP_RECVERR IP_RECVTTL IP_RECVTOS IP_MTU IP_FREEBIND "
    "IP_IPSEC_POLICY IP_XFRM_POLICY IP_PASSSEC IP_TRANSPARENT IP_ORIGDSTADDR IP_MINTTL "
    "IP_NODEFRAG IP_CHECKSUM IP_BIND_ADDRESS_NO_PORT IP_RECVFRAGSIZE IP_RECVERR_RFC4884 "
    "IP_MULTICAST_IF IP_MULTICAST_TTL IP_MULTICAST_LOOP IP_ADD_MEMBERSHIP IP_DROP_MEMBERSHIP "
    "IP_UNBLOCK_SOURCE IP_BLOCK_SOURCE IP_ADD_SOURCE_MEMBERSHIP IP_DROP_SOURCE_MEMBERSHIP "
    "IP_MSFILTER MCAST_JOIN_GROUP MCAST_BLOCK_SOURCE MCAST_UNBLOCK_SOURCE MCAST_LEAVE_GROUP "
    "MCAST_JOIN_SOURCE_GROUP MCAST_LEAVE_SOURCE_GROUP MCAST_MSFILTER IP_MULTICAST_ALL "
    "IP_UNICAST_IF")
_SOCK_TCP_OPTIONS = _table(
    "TCP_NODELAY TCP_MAXSEG TCP_CORK TCP_KEEPIDLE TCP_KEEPINTVL TCP_KEEPCNT TCP_SYNCNT "
    "TCP_LINGER2 TCP_DEFER_ACCEPT TCP_WINDOW_CLAMP TCP_INFO TCP_QUICKACK TCP_CONGESTION "
    "TCP_MD5SIG TCP_COOKIE_TRANSACTIONS TCP_THIN_LINEAR_TIMEOUTS TCP_THIN_DUPACK "
    "TCP_USER_TIMEOUT TCP_REPAIR TCP_REPAIR_QUEUE TCP_QUEUE_SEQ TCP_REPAIR_OPTIONS "
    "TCP_FASTOPEN TCP_TIMESTAMP TCP_NOTSENT_LOWAT TCP_CC_INFO TCP_SAVE_SYN TCP_SAVED_SYN "
    "TCP_REPAIR_WINDOW TCP_FASTOPEN_CONNECT TCP_ULP TCP_MD5SIG_EXT TCP_FASTOPEN_KEY "
    "TCP_FASTOPEN_NO_COOKIE TCP_ZEROCOPY_RECEIVE TCP_INQ TCP_TX_DELAY")
_SOCK_UDP_OPTIONS = _table(
    "UDP_CORK UDP_ENCAP UDP_NO_CHECK6_TX UDP_NO_CHECK6_RX UDP_SEGMENT UDP_GRO")
_MSG_FLAGS = _flag_table(
    "MSG_OOB MSG_PEEK MSG_DONTROUTE MSG_CTRUNC MSG_PROBE MSG_TRUNC MSG_DONTWAIT MSG_EOR "
    "MSG_WAITALL MSG_FIN MSG_SYN MSG_CONFIRM MSG_RST MSG_ERRQUEUE MSG_NOSIGNAL MSG_MORE "
    "MSG_WAITFORONE MSG_SENDPAGE_NOTLAST MSG_BATCH MSG_NO_SHARED_FRAGS MSG_ZEROCOPY "
    "MSG_FASTOPEN MSG_CMSG_CLOEXEC MSG_CMSG_COMPAT")
_SHUTDOWN_MODES = _table("SHUT_RD SHUT_WR SHUT_RDWR")


_SOCKETCALLS = {call: "SYS_" + name.upper() for call, name in L.SOCKETCALL_NAMES.items()}

# SOL_SOCKET options whose value strace prints as one int (print_setsockopt and
# print_getsockopt in src/net.c, "All known int-like options").
_INT_SOCK_OPTIONS = frozenset(getattr(L, name) for name in (
    "SO_DEBUG SO_REUSEADDR SO_DONTROUTE SO_BROADCAST SO_SNDBUF SO_RCVBUF SO_KEEPALIVE "
    "SO_OOBINLINE SO_NO_CHECK SO_PRIORITY SO_BSDCOMPAT SO_REUSEPORT SO_PASSCRED SO_RCVLOWAT "
    "SO_SNDLOWAT SO_DETACH_FILTER SO_TIMESTAMP_OLD SO_ACCEPTCONN SO_SNDBUFFORCE "
    "SO_RCVBUFFORCE SO_PASSSEC SO_TIMESTAMPNS_OLD SO_MARK SO_TIMESTAMPING_OLD SO_RXQ_OVFL "
    "SO_WIFI_STATUS SO_PEEK_OFF SO_NOFCS SO_LOCK_FILTER SO_SELECT_ERR_QUEUE SO_BUSY_POLL "
    "SO_INCOMING_CPU SO_CNX_ADVICE SO_INCOMING_NAPI_ID SO_ZEROCOPY SO_TIMESTAMP_NEW "
    "SO_TIMESTAMPNS_NEW SO_TIMESTAMPING_NEW SO_DETACH_REUSEPORT_BPF SO_PREFER_BUSY_POLL "
    "SO_BUSY_POLL_BUDGET SO_RESERVE_MEM SO_RCVMARK").split())


# --- sockets (src/net.c, src/sockaddr.c) -------------------------------------------------------


def _sock_type(value: int) -> str:
    """tprint_sock_type: the type in the low 4 bits, then SOCK_CLOEXEC/SOCK_NONBLOCK."""
    name = _SOCKTYPES.get(value & L.SOCK_TYPE_MASK)
    if name is None:
        return _flags(_SOCK_TYPE_FLAGS, value, "SOCK_???")
    rest = value & ~L.SOCK_TYPE_MASK
    return name + ("|" + _flags(_SOCK_TYPE_FLAGS, rest, "SOCK_???") if rest else "")


def _sockaddr(mem: _Memory, address: int, length: int) -> str:
    """decode_sockaddr and print_sockaddr: ``{sa_family=AF_INET, sin_port=htons(8080),
    sin_addr=inet_addr("127.0.0.1")}``, or the address when fewer than 2 bytes or unreadable."""
    length = _s32(length)
    if length < 2:
        return _addr(address)
    length = min(length, _SOCKADDR_STORAGE)
    data = mem.fetch(address, length)
    if data is None:
        return _addr(address)
    buf = data + bytes(_SOCKADDR_STORAGE + 1 - length)
    family = struct.unpack_from("<H", buf)[0]
    text = "{sa_family=" + _xval(_ADDRFAMS, family, "AF_???")
    if length > 2:
        printer = _SOCKADDR_PRINTERS.get(family)
        if printer is not None and length >= printer[1]:
            text += ", " + printer[0](buf, length)
        else:
            text += ", sa_data=" + quote(buf[2:length])
    return text + "}"


def _sockaddr_un(buf: bytes, length: int) -> str:
    path_len = min(length, 110) - 2  # sizeof(struct sockaddr_un) is 110
    path = buf[2 : 2 + path_len + 1]
    if path[0]:
        return "sun_path=" + quote(path[:path_len], nul_terminated=True)
    return "sun_path=@" + quote(path[1:path_len])


def _sockaddr_in(buf: bytes, length: int) -> str:
    port = struct.unpack_from(">H", buf, 2)[0]
    return f'sin_port=htons({port}), sin_addr=inet_addr("{socket.inet_ntoa(buf[4:8])}")'


def _sockaddr_in6(buf: bytes, length: int) -> str:
    port, flowinfo = struct.unpack_from(">HI", buf, 2)
    address = socket.inet_ntop(socket.AF_INET6, buf[8:24])
    text = (f"sin6_port=htons({port}), sin6_flowinfo=htonl({flowinfo}), "
            f'inet_pton(AF_INET6, "{address}", &sin6_addr)')
    if length > _SIN6_MIN_LEN:
        text += f", sin6_scope_id={struct.unpack_from('<I', buf, 24)[0]}"
    return text


_SOCKADDR_PRINTERS: dict[int, tuple[Callable[[bytes, int], str], int]] = {
    L.AF_UNIX: (_sockaddr_un, 3),
    L.AF_INET: (_sockaddr_in, 16),
    L.AF_INET6: (_sockaddr_in6, _SIN6_MIN_LEN),
}


def _sockopt_head(fd: int, level: int, name: int, getter: bool) -> str:
    """print_sockopt_fd_level_name."""
    level &= _U32
    text = f"{_d(fd)}, {_xval(_SOCKETLAYERS, level, 'SOL_??')}, "
    if level == L.SOL_SOCKET:
        extra = _GETSOCK_OPTIONS if getter else _SETSOCK_OPTIONS
        option = _SOCK_OPTIONS.get(name) or extra.get(name)
        return text + (option if option is not None else f"{_x(name)} /* SO_??? */")
    table = {L.SOL_IP: (_SOCK_IP_OPTIONS, "IP_???"), L.SOL_TCP: (_SOCK_TCP_OPTIONS, "TCP_???"),
             L.SOL_UDP: (_SOCK_UDP_OPTIONS, "UDP_???")}.get(level)
    if table is None:
        return text + _u(name)
    return text + _xval(table[0], name, table[1])


def _setsockopt_value(mem: _Memory, level: int, name: int, address: int, length: int) -> str:
    """print_setsockopt."""
    length = _s32(length)
    if address and level == L.SOL_SOCKET:
        if name == L.SO_LINGER:
            if length < 8:
                return _addr(address)
            data = mem.fetch(address, 8)
            if data is None:
                return _addr(address)
            onoff, linger = struct.unpack("<ii", data)
            return f"{{l_onoff={onoff}, l_linger={linger}}}"
        if name in _INT_SOCK_OPTIONS:
            return _addr(address) if length < 4 else _int_at(mem, address)
    if address and level == L.SOL_NETLINK:
        return _addr(address) if length < 4 else _int_at(mem, address)
    if length == 4:
        return _int_at(mem, address)
    return _str(mem, address, length)


def _getsockopt_value(mem: _Memory, level: int, name: int, address: int, ulen: int,
                      rlen: int) -> str:
    """print_getsockopt."""
    if ulen <= 0 or rlen <= 0:
        return _addr(address)
    if address and level == L.SOL_SOCKET:
        if name == L.SO_LINGER:
            return _partial_struct(mem, address, min(rlen, 8), ("l_onoff", "l_linger"),
                                   (str, str))
        if name == L.SO_PEERCRED:
            return _partial_struct(mem, address, min(rlen, 12), ("pid", "uid", "gid"),
                                   (str, _id, _id))
        if name == L.SO_ERROR:
            if rlen < 4:
                return _hex_str(mem, address, rlen)
            data = mem.fetch(address, 4)
            if data is None:
                return _addr(address)
            err = struct.unpack("<I", data)[0]
            return f"[{L.ERRNO_NAMES.get(err) or err}]"
        if name in _INT_SOCK_OPTIONS:
            return _int_at(mem, address) if rlen >= 4 else _hex_str(mem, address, rlen)
    if address and level == L.SOL_NETLINK:
        return _int_at(mem, address)
    if rlen == 4:
        return _int_at(mem, address)
    return _str(mem, address, rlen)


def _partial_struct(mem: _Memory, address: int, length: int, fields: tuple[str, ...],
                    formats: tuple[Callable[[int], str], ...]) -> str:
    """MAYBE_PRINT_FIELD_LEN over a struct of 32-bit fields, ``length`` bytes of it."""
    data = mem.fetch(address, length)
    if data is None:
        return _addr(address)
    parts = []
    for i, (field, fmt) in enumerate(zip(fields, formats)):
        start = 4 * i
        if length <= start:
            break
        if length >= start + 4:
            parts.append(f"{field}={fmt(struct.unpack_from('<i', data, start)[0])}")
        else:
            parts.append(f"{field}=" + quote(data[start:length], force_hex=True))
    return "{" + ", ".join(parts) + "}"


def _socklen(ulen: int, rlen: int) -> str:
    return f"[{ulen} => {rlen}]" if ulen != rlen else f"[{rlen}]"


def _enter_socket(p: Pending, mem: _Memory) -> bool:
    a = p.args
    family = a[0]
    if family in (L.AF_INET, L.AF_INET6):
        protocol = _xval(_INET_PROTOCOLS, a[2], "IPPROTO_???")
    else:
        protocol = _u(a[2])
    p.text += f"{_xval(_ADDRFAMS, family, 'AF_???')}, {_sock_type(a[1])}, {protocol}"
    return True


def _enter_socketpair(p: Pending, mem: _Memory) -> bool:
    """SYS_FUNC(socketpair): the family, the type, the protocol as a number."""
    a = p.args
    p.text += f"{_xval(_ADDRFAMS, a[0], 'AF_???')}, {_sock_type(a[1])}, {_u(a[2])}, "
    return False


def _exit_socketpair(p: Pending, mem: _Memory, ret: int) -> None:
    """decode_pair_fd: ``[3, 4]``, or the address after a failure or when unreadable."""
    address = p.args[3]
    data = mem.fetch(address, 8)
    p.text += _addr(address) if data is None else "[{}, {}]".format(*struct.unpack("<ii", data))


def _enter_bind(p: Pending, mem: _Memory) -> bool:
    """bind and connect (src/bind.c; connect is sys_bind in src/syscall_dummy.h)."""
    a = p.args
    p.text += f"{_d(a[0])}, {_sockaddr(mem, a[1], a[2])}, {_d(a[2])}"
    return True


def _enter_listen(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, {_d(p.args[1])}"
    return True


def _enter_sockname(p: Pending, mem: _Memory) -> bool:
    """decode_sockname on entry: the length is read now, the address after the call."""
    a = p.args
    p.text += f"{_d(a[0])}, "
    if a[1] and a[2]:
        ulen = mem.int32(a[2])
        if ulen is not None:
            p.saved = ulen
            return False
    p.text += f"{_addr(a[1])}, {_addr(a[2])}"
    if p.name == "accept4":
        p.text += ", " + _flags(_SOCK_TYPE_FLAGS, a[3], "SOCK_???")
    return True


def _exit_sockname(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    ulen = p.saved or 0
    rlen = None if mem.failed else mem.int32(a[2])
    if rlen is None:
        p.text += f"{_addr(a[1])}, [{ulen}]"
    else:
        p.text += f"{_sockaddr(mem, a[1], min(ulen, rlen))}, {_socklen(ulen, rlen)}"
    if p.name == "accept4":
        p.text += ", " + _flags(_SOCK_TYPE_FLAGS, a[3], "SOCK_???")


def _enter_send(p: Pending, mem: _Memory) -> bool:
    """send and sendto: everything is known on entry."""
    a = p.args
    p.text += (f"{_d(a[0])}, {_str(mem, a[1], a[2])}, {_u(a[2])}, "
               f"{_flags(_MSG_FLAGS, a[3], 'MSG_???')}")
    if p.name == "sendto":
        p.text += f", {_sockaddr(mem, a[4], a[5])}, {_d(a[5])}"
    return True


def _enter_recv(p: Pending, mem: _Memory) -> bool:
    """recv and recvfrom; recvfrom reads the source address length now, as fetch_socklen does."""
    a = p.args
    p.text += f"{_d(a[0])}, "
    if p.name == "recvfrom" and a[4] and a[5]:
        p.saved = mem.int32(a[5])
    return False


def _exit_recv(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[1]) if mem.failed else _str(mem, a[1], min(ret & _U32, a[2]))
    p.text += f"{buf}, {_u(a[2])}, {_flags(_MSG_FLAGS, a[3], 'MSG_???')}"
    if p.name != "recvfrom":
        return
    ulen = p.saved or 0
    rlen = mem.int32(a[5]) if a[4] and a[5] else None
    if rlen is None:
        p.text += f", {_addr(a[4])}, {_addr(a[5])}"
    elif mem.failed:
        p.text += f", {_addr(a[4])}, [{ulen}]"
    else:
        p.text += f", {_sockaddr(mem, a[4], min(ulen, rlen))}, {_socklen(ulen, rlen)}"


def _enter_shutdown(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, {_xval(_SHUTDOWN_MODES, p.args[1], 'SHUT_???')}"
    return True


def _enter_setsockopt(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += (f"{_sockopt_head(a[0], a[1], a[2], False)}, "
               f"{_setsockopt_value(mem, a[1], a[2], a[3], a[4])}, {_d(a[4])}")
    return True


def _enter_getsockopt(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += _sockopt_head(a[0], a[1], a[2], True) + ", "
    ulen = mem.int32(a[4]) if a[4] else None
    if ulen is not None:
        p.saved = ulen
        return False
    p.text += f"{_addr(a[3])}, {_addr(a[4])}"
    return True


def _exit_getsockopt(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    ulen = p.saved or 0
    rlen = None if mem.failed else mem.int32(a[4])
    if rlen is None:
        p.text += f"{_addr(a[3])}, [{ulen}]"
    else:
        value = _getsockopt_value(mem, a[1], a[2], a[3], ulen, rlen)
        p.text += f"{value}, {_socklen(ulen, rlen)}"


def _enter_socketcall(p: Pending, mem: _Memory) -> bool:
    """socketcall that strace could not resolve (bad call number, unreadable arguments)."""
    call = _s32(p.args[0])
    name = _SOCKETCALLS.get(call)
    p.text += f"{name if name is not None else call}, {_addr(p.args[1])}"
    return True


#: The socket calls strace decodes: name -> (enter, exit, how the result prints).
DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "socket": (_enter_socket, None, _FD),
    "socketpair": (_enter_socketpair, _exit_socketpair, _UDECIMAL),
    "bind": (_enter_bind, None, _UDECIMAL),
    "connect": (_enter_bind, None, _UDECIMAL),
    "listen": (_enter_listen, None, _UDECIMAL),
    "accept": (_enter_sockname, _exit_sockname, _FD),
    "accept4": (_enter_sockname, _exit_sockname, _FD),
    "getsockname": (_enter_sockname, _exit_sockname, _UDECIMAL),
    "getpeername": (_enter_sockname, _exit_sockname, _UDECIMAL),
    "send": (_enter_send, None, _UDECIMAL),
    "sendto": (_enter_send, None, _UDECIMAL),
    "recv": (_enter_recv, _exit_recv, _UDECIMAL),
    "recvfrom": (_enter_recv, _exit_recv, _UDECIMAL),
    "shutdown": (_enter_shutdown, None, _UDECIMAL),
    "setsockopt": (_enter_setsockopt, None, _UDECIMAL),
    "getsockopt": (_enter_getsockopt, _exit_getsockopt, _UDECIMAL),
    "socketcall": (_enter_socketcall, None, _UDECIMAL),
}
