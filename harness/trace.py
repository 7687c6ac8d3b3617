"""strace-format syscall lines, and capstone listings of guest code.

Why strace's own format, byte for byte: a user can run the same ELF natively under
``strace -o native.txt ./prog``, run it here with ``--strace``, and ``diff`` the two.  Every
rule below is a port of strace 6.1 (the version the differential tests run against) with its
default options: ``-s 32`` (DEFAULT_STRLEN, src/defs.h), ``-a 40`` (acolumn), no ``-y``, no
``-X``.  The source files each rule comes from are named where it is implemented; the tests
in tests/test_trace.py run the real ``/usr/bin/strace`` twice (once raw, once default) and
check that these functions turn the raw numbers into the default text.

Two-phase, like strace itself.  strace prints some arguments when a syscall enters and the
rest when it returns (``read``'s buffer only exists afterwards; ``accept``'s address length is
read before the call and again after, and printed as ``[16 => 8]`` when the kernel changed it).
:func:`syscall_enter` renders the entry part from guest memory as it is *before* the handler
runs and :func:`syscall_exit` finishes the line from memory *after* it.  :func:`strace_line`
does both at once from memory after the call, which is exact for every syscall except the
few whose input memory the kernel overwrites (set_thread_area's entry_number, the value-result
length of accept, getsockname, getpeername, getsockopt and recvfrom): call the two phases
separately when those must match too.

What is decoded as strace decodes it: read, write, close, exit, exit_group, brk, signal,
rt_sigaction, rt_sigprocmask, set_thread_area, socket, bind, connect, listen, accept,
accept4, getsockname, getpeername, send, sendto, recv, recvfrom, shutdown, setsockopt,
getsockopt, the start-up and stdio calls (writev, readv, ioctl, fcntl, fcntl64, fstat64,
stat64, lstat64, fstatat64, statx, getcwd, readlink, readlinkat, uname, getresuid(32),
getresgid(32), getgroups(32), getrlimit, ugetrlimit, setrlimit, prlimit64, getrandom,
set_robust_list, clock_gettime(64), clock_getres(_time64), gettimeofday, time), and socketcall (102), which strace shows as the call it stands for
(src/syscall.c ``decode_socket_subcall``).  Other known syscalls are printed as
``strace -e raw=NAME`` prints them (hex arguments, strace's argument count); numbers with no
syscall as strace's ``syscall_0x1f3(...)`` stub with six arguments.  Known gaps, each printed
as strace's raw fallback for the same value rather than strace's decoding: socket protocol
names outside AF_INET/AF_INET6, option names of levels other than SOL_SOCKET, SOL_IP, SOL_TCP
and SOL_UDP, socket filters, multicast requests, and addresses of families other than
AF_UNIX, AF_INET and AF_INET6.

Guest memory is reached only through ``read(address, size) -> bytes | None`` (None, or fewer
bytes, for an address the guest could not read either), so this module has no unicorn import.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from . import linux as L

if TYPE_CHECKING:  # capstone is imported on first use, so importing trace stays cheap
    import capstone

    from .elf import Image

Read = Callable[[int, int], "bytes | None"]

STRING_LIMIT = 32
"""strace's ``-s`` default: at most this many bytes of a buffer are shown, then ``...``."""
COLUMN = 40
"""strace's ``-a`` default: the `` = `` of the result starts at this column when it can."""

_U32 = 0xFFFFFFFF
_SOCKADDR_STORAGE = 128  # sizeof(struct sockaddr_storage): decode_sockaddr reads no more
_SIN6_MIN_LEN = 24  # the RFC 2133 sockaddr_in6, without sin6_scope_id

# --- strace's xlat tables, in its order (src/xlat/*.in); the values come from linux.py ------


def _table(names: str) -> dict[int, str]:
    """Value -> name for the first entry with that value, as xlookup() finds it."""
    table: dict[int, str] = {}
    for name in names.split():
        table.setdefault(getattr(L, name), name)
    return table


def _flag_table(names: str) -> tuple[tuple[int, str], ...]:
    return tuple((getattr(L, name), name) for name in names.split())


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
# SIG_ERR is in strace's table as a 64-bit (unsigned long) -1, which a 32-bit handler never
# equals, so a 32-bit SIG_ERR prints as the address 0xffffffff there too.
_SA_HANDLERS = _table("SIG_DFL SIG_IGN")
_SIGACT_FLAGS = _flag_table(
    "SA_RESTORER SA_ONSTACK SA_RESTART SA_INTERRUPT SA_NODEFER SA_RESETHAND SA_SIGINFO "
    "SA_NOCLDSTOP SA_NOCLDWAIT")
_SIGPROCMASK_CMDS = _table("SIG_BLOCK SIG_UNBLOCK SIG_SETMASK")
_SI_CODES = _table(
    "SI_USER SI_KERNEL SI_QUEUE SI_TIMER SI_MESGQ SI_ASYNCIO SI_SIGIO SI_TKILL SI_DETHREAD "
    "SI_ASYNCNL")
_SIGNAL_SI_CODES = {
    L.SIGSEGV: _table("SEGV_MAPERR SEGV_ACCERR SEGV_BNDERR SEGV_PKUERR SEGV_ACCADI "
                      "SEGV_ADIDERR SEGV_ADIPERR SEGV_MTEAERR SEGV_MTESERR"),
    L.SIGILL: _table("ILL_ILLOPC ILL_ILLOPN ILL_ILLADR ILL_ILLTRP ILL_PRVOPC ILL_PRVREG "
                     "ILL_COPROC ILL_BADSTK"),
    L.SIGFPE: _table("FPE_INTDIV FPE_INTOVF FPE_FLTDIV FPE_FLTOVF FPE_FLTUND FPE_FLTRES "
                     "FPE_FLTINV FPE_FLTSUB FPE_FLTUNK FPE_CONDTRAP"),
    L.SIGBUS: _table("BUS_ADRALN BUS_ADRERR BUS_OBJERR BUS_MCEERR_AR BUS_MCEERR_AO"),
    L.SIGTRAP: _table("TRAP_BRKPT TRAP_TRACE TRAP_BRANCH TRAP_HWBKPT TRAP_UNK TRAP_PERF"),
}
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

# How many arguments strace prints for each i386 syscall number (the nargs column of
# src/linux/i386/syscallent.h and the common tables it includes); '-' marks a number with no
# syscall, which strace prints as syscall_0xNN with all six argument registers.
_NARGS = (
    "01033313221311323023051101412022221002221111011020012033022111220003012231222222"
    "22122312431222232342232332222110014116105213133232141123151153523331112210223101"
    "12253355333350442432553222245502633222300002222333333111123333--0455544433322224"
    "63311215335-141445134211222433326565341552345-5453203244345343453433651236644636"
    "4321642421321554552645321426653345332353433245533636321336664215264------3433312"
    "453222242424465-65554462426435253322343456543421254"
)
_MAX_ARGS = 6

# --- strace's number and string printers (src/print_fields.h, src/util.c) --------------------


def _s32(value: int) -> int:
    value &= _U32
    return value - (1 << 32) if value & 0x80000000 else value


def _d(value: int) -> str:
    """PRINT_VAL_D of an int argument."""
    return str(_s32(value))


def _u(value: int) -> str:
    """PRINT_VAL_U of a 32-bit argument."""
    return str(value & _U32)


def _x(value: int) -> str:
    """C's ``%#x``, which prints zero without the 0x."""
    return f"{value:#x}" if value else "0"


def _x08(value: int) -> str:
    """PRINT_VAL_0X of a 32-bit field: C's ``%#0*x`` with width 8, which counts the 0x
    (``0x0fffff``) and, as ``#`` adds no prefix to zero, prints zero as ``00000000``."""
    return f"{value:#08x}" if value else "0" * 8


def _addr(value: int) -> str:
    """printaddr: NULL, or the address in hex."""
    return f"{value & _U32:#x}" if value & _U32 else "NULL"


def _id(value: int) -> str:
    """PRINT_VAL_ID: uid-like numbers print -1 as -1 and the rest unsigned."""
    return "-1" if value & _U32 == _U32 else _u(value)


def _xval(table: dict[int, str], value: int, default: str) -> str:
    """printxval: the name, or the number in hex with strace's ``/* X_??? */`` comment."""
    name = table.get(value)
    return name if name is not None else f"{_x(value)} /* {default} */"


def _flags(table: tuple[tuple[int, str], ...], value: int, default: str) -> str:
    """printflags_ex in the default (abbreviated) style."""
    names = []
    for bit, name in table:
        if value == bit or (bit and value & bit == bit):
            names.append(name)
            value &= ~bit
        if not value:
            break
    if names:
        if value:
            names.append(_x(value))
        return "|".join(names)
    return f"{_x(value)} /* {default} */" if value else "0"


def quote(data: bytes, *, nul_terminated: bool = False, force_hex: bool = False) -> str:
    """strace's string_quote (src/util.c) in the default ``-x`` setting, quotes included.

    \\t \\n \\v \\f \\r and \\" \\\\ are named; other bytes outside 0x20..0x7e are octal with
    as few digits as possible (``\\0``, ``\\33``, ``\\377``) unless the next byte is an
    octal digit, then always three (``\\0007``) so the escape cannot swallow it.  Nothing
    switches a whole string to hex by default (that is ``-x``/``-xx``).  ``nul_terminated``
    stops at the first NUL, as QUOTE_0_TERMINATED does; ``force_hex`` is QUOTE_FORCE_HEX.
    """
    if nul_terminated:
        end = data.find(b"\0")
        if end >= 0:
            data = data[:end]
    if force_hex:
        return '"' + "".join(f"\\x{byte:02x}" for byte in data) + '"'
    out = ['"']
    size = len(data)
    for i, byte in enumerate(data):
        named = _NAMED_ESCAPES.get(byte)
        if named is not None:
            out.append(named)
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif i + 1 < size and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{byte:03o}")
        else:
            out.append(f"\\{byte:o}")
    out.append('"')
    return "".join(out)


_NAMED_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
                  0x09: "\\t", 0x0B: "\\v"}


class _Memory:
    """Guest memory as strace's umoven/tfetch_mem see it."""

    __slots__ = ("read", "exiting", "failed")

    def __init__(self, read: Read, exiting: bool = False, failed: bool = False) -> None:
        self.read = read
        self.exiting = exiting
        self.failed = failed

    def umoven(self, address: int, size: int) -> bytes | None:
        """All ``size`` bytes, or None: umoven fails as a whole, never returns a prefix."""
        if size <= 0:
            return b""
        data = self.read(address & _U32, size)
        if data is None or len(data) < size:
            return None
        return bytes(data[:size])

    def fetch(self, address: int, size: int) -> bytes | None:
        """tfetch_mem: no bytes from NULL, nor after a failed call (its outputs are junk)."""
        if not address & _U32 or (self.exiting and self.failed):
            return None
        return self.umoven(address, size)

    def int32(self, address: int) -> int | None:
        """``umove(tcp, addr, &int)``: unlike fetch, it reads even after a failed call."""
        data = self.umoven(address, 4) if address & _U32 else None
        return None if data is None else struct.unpack("<i", data)[0]


def _str(mem: _Memory, address: int, length: int) -> str:
    """printstrn (printstr_ex, style 0): at most STRING_LIMIT bytes of a buffer, then ``...``.

    strace fetches one byte more than it shows, min(len, 33), and prints the bare address
    when that fetch fails.
    """
    if not address & _U32:
        return "NULL"
    length &= _U32
    size = min(length, STRING_LIMIT + 1)
    data = mem.umoven(address, size)
    if data is None:
        return _addr(address)
    text = quote(data[:STRING_LIMIT])
    return text + "..." if length > STRING_LIMIT else text


def _hex_str(mem: _Memory, address: int, length: int) -> str:
    """printstr_ex with QUOTE_FORCE_HEX."""
    if not address & _U32:
        return "NULL"
    size = min(length, STRING_LIMIT + 1)
    data = mem.umoven(address, size)
    if data is None:
        return _addr(address)
    text = quote(data[:STRING_LIMIT], force_hex=True)
    return text + "..." if length > STRING_LIMIT else text


def _int_at(mem: _Memory, address: int) -> str:
    """printnum_int: ``[value]``, or the address when it cannot be read."""
    data = mem.fetch(address, 4)
    return f"[{struct.unpack('<i', data)[0]}]" if data is not None else _addr(address)


# --- signals (src/signal.c, src/printsiginfo.c) -----------------------------------------------


def _signame(signo: int) -> str | None:
    """strace's signame: SIGRTMIN for 32 and SIGRT_n above it (the kernel's numbering)."""
    if 0 < signo < L.SIGRTMIN:
        return L.SIGNAL_NAMES.get(signo)
    if signo == L.SIGRTMIN:
        return "SIGRTMIN"
    if L.SIGRTMIN < signo <= L.NSIG:
        return f"SIGRT_{signo - L.SIGRTMIN}"
    return None


def _signal(signo: int) -> str:
    """printsignal: the name, or the number."""
    signo = _s32(signo)
    return _signame(signo) or str(signo)


def _sigmask(data: bytes) -> str:
    """sprintsigmask_n: ``[INT TERM]``; a mask with 2/3 of its bits set prints inverted,
    ``~[KILL STOP]``, listing the signals it leaves out."""
    words = (min(len(data), L.NSIG_BYTES) + 3) // 4
    data = data[: words * 4].ljust(words * 4, b"\0")
    bits = words * 32
    mask = int.from_bytes(data, "little")
    prefix = ""
    if bin(mask).count("1") >= bits * 2 // 3:
        mask = ~mask & ((1 << bits) - 1)
        prefix = "~"
    names = []
    for bit in range(bits):
        if mask >> bit & 1:
            name = _signame(bit + 1)
            names.append(name[3:] if name is not None else str(bit + 1))
    return prefix + "[" + " ".join(names) + "]"


def _sigset(mem: _Memory, address: int, length: int) -> str:
    """print_sigset_addr_len: a sigset of 4 to NSIG_BYTES bytes, else just its address."""
    length &= _U32
    if length < 4 or length > L.NSIG_BYTES:
        return _addr(address)
    data = mem.fetch(address, length)
    return _sigmask(data) if data is not None else _addr(address)


def _sa_handler(handler: int) -> str:
    name = _SA_HANDLERS.get(handler & _U32)
    return name if name is not None else _addr(handler)


def _sigaction(mem: _Memory, address: int) -> str:
    """decode_new_sigaction for a 32-bit process: struct new_sigaction32 {handler, flags,
    restorer, mask[2]} (the kernel's i386 ``struct sigaction``, arch/x86/include/asm/signal.h)."""
    data = mem.fetch(address, 20)
    if data is None:
        return _addr(address)
    handler, flags, restorer = struct.unpack_from("<III", data)
    text = (f"{{sa_handler={_sa_handler(handler)}, sa_mask={_sigmask(data[12:20])}, "
            f"sa_flags={_flags(_SIGACT_FLAGS, flags, 'SA_???')}")
    if flags & L.SA_RESTORER:
        text += f", sa_restorer={_addr(restorer)}"
    return text + "}"


def _user_desc(mem: _Memory, address: int) -> str:
    """print_user_desc (src/ldt.c) for i386's struct user_desc (asm/ldt.h); no ``lm`` field,
    which strace shows only for 64-bit processes."""
    data = mem.fetch(address, 16)
    if data is None:
        return _addr(address)
    entry, base, limit, bits = struct.unpack("<IIII", data)
    return (f"{{entry_number={_id(entry)}, base_addr={_x08(base)}, limit={_x08(limit)}, "
            f"seg_32bit={bits & 1}, contents={bits >> 1 & 3}, read_exec_only={bits >> 3 & 1}, "
            f"limit_in_pages={bits >> 4 & 1}, seg_not_present={bits >> 5 & 1}, "
            f"useable={bits >> 6 & 1}}}")


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


# --- the decoders -----------------------------------------------------------------------------

_UDECIMAL, _HEX, _FD, _NONE = "udecimal", "hex", "fd", "none"


@dataclass
class Pending:
    """A syscall strace has printed up to its return: what :func:`syscall_enter` returns."""

    nr: int
    name: str  # as strace prints it: a socketcall shows as the call it stands for
    args: tuple[int, ...]  # that call's arguments, 32-bit unsigned
    text: str  # the line so far, ``accept(3, `` and so on
    decoded: bool  # RVAL_DECODED: nothing is left to print on return
    rval: str  # how a successful result prints: _UDECIMAL, _HEX, _FD or _NONE
    saved: int | None = None  # a value-result length read on entry (strace's tcb priv)


# A decoder prints at entry (returning True when it is done, RVAL_DECODED) and, unless
# done, again at exit; strace's SYS_FUNC(name) runs once in each phase the same way.
_Enter = Callable[[Pending, _Memory], bool]
_Exit = Callable[[Pending, _Memory, int], "str | None"]  # may return the auxstr


def _enter_read(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_read(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[1]) if mem.failed else _str(mem, a[1], ret)
    p.text += f"{buf}, {_u(a[2])}"


def _enter_write(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_d(a[0])}, {_str(mem, a[1], a[2])}, {_u(a[2])}"
    return True


def _enter_int(p: Pending, mem: _Memory) -> bool:
    """close(fd), exit(status), exit_group(status): printfd / printargs_d."""
    p.text += _d(p.args[0])
    return True


def _enter_brk(p: Pending, mem: _Memory) -> bool:
    p.text += _addr(p.args[0])
    return True


def _timespec(mem: _Memory, address: int) -> str:
    """print_timespec32: ``{tv_sec=0, tv_nsec=100000000}``, NULL, or the address."""
    if not address & _U32:
        return "NULL"
    data = mem.fetch(address, 8)
    if data is None:
        return _addr(address)
    sec, nsec = struct.unpack("<ii", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _enter_nanosleep(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_timespec(mem, p.args[0])}, {_addr(p.args[1])}"
    return True


def _enter_signal(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_signal(p.args[0])}, {_sa_handler(p.args[1])}"
    return False


def _exit_signal(p: Pending, mem: _Memory, ret: int) -> str | None:
    """The old handler comes back as the result, named when it is SIG_DFL or SIG_IGN."""
    return None if mem.failed else _SA_HANDLERS.get(ret & _U32)


def _enter_rt_sigaction(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_signal(p.args[0])}, {_sigaction(mem, p.args[1])}, "
    return False


def _exit_rt_sigaction(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += f"{_sigaction(mem, p.args[2])}, {_u(p.args[3])}"


def _enter_rt_sigprocmask(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += (f"{_xval(_SIGPROCMASK_CMDS, a[0], 'SIG_???')}, "
               f"{_sigset(mem, a[1], a[3])}, ")
    return False


def _exit_rt_sigprocmask(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += f"{_sigset(mem, p.args[2], p.args[3])}, {_u(p.args[3])}"


def _enter_set_thread_area(p: Pending, mem: _Memory) -> bool:
    p.text += _user_desc(mem, p.args[0])
    return False


def _exit_set_thread_area(p: Pending, mem: _Memory, ret: int) -> str | None:
    """The kernel writes the GDT slot it chose into entry_number; strace shows it after."""
    if mem.failed:
        return None
    entry = mem.int32(p.args[0])
    return None if entry is None else f"entry_number={entry & _U32}"


def _enter_socket(p: Pending, mem: _Memory) -> bool:
    a = p.args
    family = a[0]
    if family in (L.AF_INET, L.AF_INET6):
        protocol = _xval(_INET_PROTOCOLS, a[2], "IPPROTO_???")
    else:
        protocol = _u(a[2])
    p.text += f"{_xval(_ADDRFAMS, family, 'AF_???')}, {_sock_type(a[1])}, {protocol}"
    return True


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


# --- decoders of the memory calls (mmap2, munmap, mprotect, mremap, ...) ---------------------

from .elf import PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE  # noqa: E402 - kept with its users

# strace 6.1's src/xlat/mmap_prot.in, mmap_flags.in, mremap_flags.in and madvise_cmds.in as
# they stand for i386, in their order (6.1 knows neither MAP_ABOVE4G nor MAP_DROPPABLE).
_MMAP_PROT = ((PROT_NONE, "PROT_NONE"), (PROT_READ, "PROT_READ"), (PROT_WRITE, "PROT_WRITE"),
              (PROT_EXEC, "PROT_EXEC"), *_flag_table("PROT_SEM PROT_GROWSDOWN PROT_GROWSUP"))
_MMAP_FLAGS = _flag_table(
    "MAP_SHARED MAP_PRIVATE MAP_SHARED_VALIDATE MAP_FIXED MAP_ANONYMOUS MAP_32BIT "
    "MAP_NORESERVE MAP_POPULATE MAP_NONBLOCK MAP_GROWSDOWN MAP_DENYWRITE MAP_EXECUTABLE "
    "MAP_FILE MAP_LOCKED MAP_STACK MAP_HUGETLB MAP_SYNC MAP_UNINITIALIZED MAP_FIXED_NOREPLACE")
_MMAP_TYPES = {value: name for value, name in reversed(_MMAP_FLAGS)}
_MREMAP_FLAGS = _flag_table("MREMAP_MAYMOVE MREMAP_FIXED MREMAP_DONTUNMAP")
_MADVISE_CMDS = _table(
    "MADV_NORMAL MADV_RANDOM MADV_SEQUENTIAL MADV_WILLNEED MADV_DONTNEED MADV_FREE "
    "MADV_REMOVE MADV_DONTFORK MADV_DOFORK MADV_MERGEABLE MADV_UNMERGEABLE MADV_HUGEPAGE "
    "MADV_NOHUGEPAGE MADV_DONTDUMP MADV_DODUMP MADV_WIPEONFORK MADV_KEEPONFORK MADV_COLD "
    "MADV_PAGEOUT MADV_POPULATE_READ MADV_POPULATE_WRITE MADV_DONTNEED_LOCKED MADV_COLLAPSE "
    "MADV_HWPOISON MADV_SOFT_OFFLINE")


def _mmap_flags(flags: int) -> str:
    """print_mmap_flags (src/mem.c): the MAP_TYPE value by name, then the other bits as
    flags (their unknown rest in hex, no comment), then the huge page size field."""
    text = _xval(_MMAP_TYPES, flags & L.MAP_TYPE, "MAP_???")
    flags &= ~L.MAP_TYPE
    huge_mask = L.MAP_HUGE_MASK << L.MAP_HUGE_SHIFT
    huge = flags & huge_mask
    flags &= ~huge_mask
    if flags:
        names = []
        for bit, name in _MMAP_FLAGS:
            if bit and flags & bit == bit:
                names.append(name)
                flags &= ~bit
        if flags:
            names.append(_x(flags))
        text += "|" + "|".join(names)
    if huge:
        text += f"|{huge >> L.MAP_HUGE_SHIFT}<<MAP_HUGE_SHIFT"
    return text


def _mmap_args(args: tuple[int, ...], offset: int) -> str:
    """print_mmap: addr, length, prot, flags, fd, offset (PRINT_VAL_X of 64 bits)."""
    return (f"{_addr(args[0])}, {_u(args[1])}, {_flags(_MMAP_PROT, args[2], 'PROT_???')}, "
            f"{_mmap_flags(args[3])}, {_d(args[4])}, {_x(offset)}")


def _enter_mmap2(p: Pending, mem: _Memory) -> bool:
    """mmap2 (SYS_FUNC(mmap_pgoff)): the offset argument counts pages, shown in bytes."""
    p.text += _mmap_args(p.args, (p.args[5] & _U32) * 4096)
    return True


def _enter_old_mmap(p: Pending, mem: _Memory) -> bool:
    """The old mmap (SYS_FUNC(old_mmap)): its six words read from the pointer, or the
    pointer when they cannot be read."""
    words = mem.fetch(p.args[0], 24)
    if words is None:
        p.text += _addr(p.args[0])
    else:
        args = struct.unpack("<6I", words)
        p.text += _mmap_args(args, args[5])
    return True


def _enter_munmap(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_addr(p.args[0])}, {_u(p.args[1])}"
    return True


def _enter_mprotect(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_addr(a[0])}, {_u(a[1])}, {_flags(_MMAP_PROT, a[2], 'PROT_???')}"
    return True


def _enter_mremap(p: Pending, mem: _Memory) -> bool:
    """The new address only with both MREMAP_MAYMOVE and MREMAP_FIXED."""
    a = p.args
    p.text += (f"{_addr(a[0])}, {_u(a[1])}, {_u(a[2])}, "
               f"{_flags(_MREMAP_FLAGS, a[3], 'MREMAP_???')}")
    both = L.MREMAP_MAYMOVE | L.MREMAP_FIXED
    if a[3] & both == both:
        p.text += f", {_addr(a[4])}"
    return True


def _enter_madvise(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_addr(a[0])}, {_u(a[1])}, {_xval(_MADVISE_CMDS, a[2], 'MADV_???')}"
    return True



# --- decoders of the signal calls (kill, tgkill, sigreturn, ...) -----------------------------

_SIGALTSTACK_FLAGS = _flag_table("SS_ONSTACK SS_DISABLE SS_AUTODISARM")
#: Where strace finds the mask a sigreturn restores, from esp at the call (src/linux/i386/
#: arch_sigreturn.c: sigcontext's oldmask, then extramask after the 624-byte fpstate;
#: src/rt_sigreturn.c: the rt frame's uc_sigmask, 4 + 128 + 20 + 88 + 8 bytes above esp).
_SC_OLDMASK = 80
_SC_EXTRAMASK = 88 + 624
_RT_SIGMASK = 3 * 4 + 128 + 20 + 88


def _enter_none(p: Pending, mem: _Memory) -> bool:
    """getpid(), gettid(), getppid(): no arguments."""
    return True


def _enter_kill(p: Pending, mem: _Memory) -> bool:
    """kill(pid, sig) and tkill(tid, sig): printpid, printsignal."""
    p.text += f"{_d(p.args[0])}, {_signal(p.args[1])}"
    return True


def _enter_tgkill(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, {_d(p.args[1])}, {_signal(p.args[2])}"
    return True


def _enter_sigreturn(p: Pending, mem: _Memory) -> bool:
    """sigreturn({mask=[...]}): the low word from sc.oldmask, the high from extramask; the
    process's esp comes as a seventh argument (the harness passes it)."""
    esp = p.args[6] if len(p.args) > 6 else 0
    frame = mem.umoven(esp, _SC_EXTRAMASK + 4)
    if frame is None:
        p.text += f"{{mask={_x(esp)}}}"
    else:
        p.text += "{mask=" + _sigmask(frame[_SC_OLDMASK:_SC_OLDMASK + 4]
                                      + frame[_SC_EXTRAMASK:_SC_EXTRAMASK + 4]) + "}"
    return True


def _enter_rt_sigreturn(p: Pending, mem: _Memory) -> bool:
    """rt_sigreturn({mask=[...]}): print_sigset_addr of the frame's uc_sigmask."""
    esp = p.args[6] if len(p.args) > 6 else 0
    p.text += "{mask=" + _sigset(mem, esp + _RT_SIGMASK, L.NSIG_BYTES) + "}"
    return True


def _old_sigaction(mem: _Memory, address: int) -> str:
    """decode_old_sigaction: struct old_sigaction32 {handler, mask (one word), flags,
    restorer}, printed as the new one is."""
    data = mem.fetch(address, 16)
    if data is None:
        return _addr(address)
    handler, _mask, flags, restorer = struct.unpack("<IIII", data)
    text = (f"{{sa_handler={_sa_handler(handler)}, sa_mask={_sigmask(data[4:8])}, "
            f"sa_flags={_flags(_SIGACT_FLAGS, flags, 'SA_???')}")
    if flags & L.SA_RESTORER:
        text += f", sa_restorer={_addr(restorer)}"
    return text + "}"


def _enter_sigaction(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_signal(p.args[0])}, {_old_sigaction(mem, p.args[1])}, "
    return False


def _exit_sigaction(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _old_sigaction(mem, p.args[2])


def _enter_sigprocmask(p: Pending, mem: _Memory) -> bool:
    """The old sigprocmask: sets of current_wordsize (4) bytes, no size argument."""
    p.text += (f"{_xval(_SIGPROCMASK_CMDS, p.args[0], 'SIG_???')}, "
               f"{_sigset(mem, p.args[1], 4)}, ")
    return False


def _exit_sigprocmask(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _sigset(mem, p.args[2], 4)


def _enter_rt_sigpending(p: Pending, mem: _Memory) -> bool:
    return False


def _exit_rt_sigpending(p: Pending, mem: _Memory, ret: int) -> None:
    """rt_sigpending: everything at exit; the set is an address after a failure."""
    a = p.args
    text = _addr(a[0]) if mem.failed else _sigset(mem, a[0], a[1])
    p.text += f"{text}, {_u(a[1])}"


def _stack_t(mem: _Memory, address: int) -> str:
    """print_stack_t: {ss_sp=..., ss_flags=..., ss_size=...}."""
    data = mem.fetch(address, 12)
    if data is None:
        return _addr(address)
    sp, flags, size = struct.unpack("<III", data)
    return (f"{{ss_sp={_addr(sp)}, ss_flags={_flags(_SIGALTSTACK_FLAGS, flags, 'SS_???')}, "
            f"ss_size={size}}}")


def _enter_sigaltstack(p: Pending, mem: _Memory) -> bool:
    p.text += _stack_t(mem, p.args[0]) + ", "
    return False


def _exit_sigaltstack(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _stack_t(mem, p.args[1])



# --- decoders of the process, identity, time and file calls (uname, writev, fstat64, ...) ---


_RESOURCES = _table(
    "RLIMIT_CPU RLIMIT_FSIZE RLIMIT_DATA RLIMIT_STACK RLIMIT_CORE RLIMIT_RSS RLIMIT_NPROC "
    "RLIMIT_NOFILE RLIMIT_MEMLOCK RLIMIT_AS RLIMIT_LOCKS RLIMIT_SIGPENDING RLIMIT_MSGQUEUE "
    "RLIMIT_NICE RLIMIT_RTPRIO RLIMIT_RTTIME")
_GETRANDOM_FLAGS = _flag_table("GRND_NONBLOCK GRND_RANDOM GRND_INSECURE")
_CLOCKNAMES = _table(
    "CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_PROCESS_CPUTIME_ID CLOCK_THREAD_CPUTIME_ID "
    "CLOCK_MONOTONIC_RAW CLOCK_REALTIME_COARSE CLOCK_MONOTONIC_COARSE CLOCK_BOOTTIME "
    "CLOCK_REALTIME_ALARM CLOCK_BOOTTIME_ALARM CLOCK_SGI_CYCLE CLOCK_TAI")
_CPUCLOCKNAMES = _table("CPUCLOCK_PROF CPUCLOCK_VIRT CPUCLOCK_SCHED")
_FCNTLCMDS = _table(
    "F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_GETLK F_SETLK F_SETLKW F_SETOWN F_GETOWN "
    "F_SETSIG F_GETSIG F_GETLK64 F_SETLK64 F_SETLKW64 F_SETOWN_EX F_GETOWN_EX "
    "F_GETOWNER_UIDS F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW F_SETLEASE F_GETLEASE F_NOTIFY "
    "F_CANCELLK F_DUPFD_CLOEXEC F_SETPIPE_SZ F_GETPIPE_SZ F_ADD_SEALS F_GET_SEALS")
_FDFLAGS = _flag_table("FD_CLOEXEC")
_OPEN_ACCESS_MODES = _table("O_RDONLY O_WRONLY O_RDWR O_ACCMODE")
_OPEN_MODE_FLAGS = _flag_table(
    "O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK O_SYNC __O_SYNC O_DSYNC O_DIRECT "
    "O_LARGEFILE O_NOFOLLOW O_NOATIME O_CLOEXEC O_PATH O_TMPFILE __O_TMPFILE O_DIRECTORY "
    "FASYNC")
_AT_FLAGS = _flag_table(
    "AT_SYMLINK_NOFOLLOW AT_REMOVEDIR AT_SYMLINK_FOLLOW AT_NO_AUTOMOUNT AT_EMPTY_PATH "
    "AT_RECURSIVE")
_STATX_SYNC_TYPES = _flag_table(
    "AT_STATX_SYNC_AS_STAT AT_STATX_FORCE_SYNC AT_STATX_DONT_SYNC AT_STATX_SYNC_TYPE")
_STATX_MASKS = _flag_table(
    "STATX_ALL STATX_BASIC_STATS STATX_TYPE STATX_MODE STATX_NLINK STATX_UID STATX_GID "
    "STATX_ATIME STATX_MTIME STATX_CTIME STATX_INO STATX_SIZE STATX_BLOCKS STATX_BTIME "
    "STATX_MNT_ID STATX_DIOALIGN")
_STATX_ATTRS = _flag_table(
    "STATX_ATTR_COMPRESSED STATX_ATTR_IMMUTABLE STATX_ATTR_APPEND STATX_ATTR_NODUMP "
    "STATX_ATTR_ENCRYPTED STATX_ATTR_AUTOMOUNT STATX_ATTR_MOUNT_ROOT STATX_ATTR_VERITY "
    "STATX_ATTR_DAX")
_MODETYPES = _table("S_IFREG S_IFSOCK S_IFIFO S_IFLNK S_IFDIR S_IFBLK S_IFCHR")
# ioctl requests strace names (src/linux/i386/ioctls_inc0.h) and how their argument prints
# (term_ioctl, src/term.c): "get" ones after the call, "int" ones as printnum_int, "none"
# ones with no argument; any other known request prints its argument in hex.
_IOCTL_NAMES = _table(
    "TCGETS TCSETS TCSETSW TCSETSF TCGETA TCSETA TCSETAW TCSETAF TIOCGPGRP TIOCSPGRP "
    "TIOCGWINSZ TIOCSWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX FIOASYNC TIOCGPTN")
_IOCTL_GET_ADDR = frozenset((L.TCGETS, L.TCGETA, L.TIOCGWINSZ))
_IOCTL_SET_ADDR = frozenset((L.TCSETS, L.TCSETSW, L.TCSETSF, L.TCSETA, L.TCSETAW, L.TCSETAF,
                             L.TIOCSWINSZ))
_IOCTL_GET_INT = frozenset((L.TIOCGPGRP, L.FIONREAD, L.TIOCGPTN))
_IOCTL_SET_INT = frozenset((L.TIOCSPGRP, L.FIONBIO, L.FIOASYNC))
_IOCTL_NO_ARG = frozenset((L.FIOCLEX, L.FIONCLEX))
_IOC_DIRS = {1: "_IOC_WRITE", 2: "_IOC_READ", 3: "_IOC_READ|_IOC_WRITE"}
_NGROUPS_MAX = 65536


def _printfd_or_at(fd: int) -> str:
    """print_dirfd: AT_FDCWD by name, any other fd as a number."""
    return "AT_FDCWD" if _s32(fd) == L.AT_FDCWD else _d(fd)


def _path(mem: _Memory, address: int, limit: int = L.PATH_MAX - 1) -> str:
    """printpathn: the NUL-terminated string, at most ``limit`` bytes then ``...``; the
    address when unreadable (umovestr reads up to the NUL, page by page)."""
    if not address & _U32:
        return "NULL"
    limit = min(limit, L.PATH_MAX - 1)
    data = b""
    while len(data) <= limit:
        step = min(4096 - (address + len(data)) % 4096, limit + 1 - len(data))
        chunk = mem.umoven(address + len(data), step)
        if chunk is None:
            if not data:
                return _addr(address)
            break
        data += chunk
        if b"\0" in chunk:
            break
    end = data.find(b"\0")
    if end >= 0 and end <= limit:
        return quote(data[:end])
    if end < 0 and len(data) < limit + 1:
        return _addr(address)
    return quote(data[:limit]) + "..."


def _iov_array(mem: _Memory, address: int, count: int, data_size: int | None,
               as_addr: bool) -> str:
    """tprint_iov_upto: ``[{iov_base="..", iov_len=3}, ...]``; at most 32 entries, the
    bytes shown in all cut at ``data_size`` (readv's result); ``as_addr`` prints the bases
    as addresses (a failed readv)."""
    if not address & _U32:
        return "NULL"
    if not count:
        return "[]"
    parts = []
    cur = address
    for index in range(count):
        raw = mem.umoven(cur, 8)
        if raw is None:
            if index == 0:
                return _addr(address)
            parts.append(f"... /* {_addr(cur)} */")
            break
        if index >= STRING_LIMIT:
            parts.append("...")
            break
        base, length = struct.unpack("<II", raw)
        shown = length if data_size is None else min(length, data_size)
        if data_size is not None:
            data_size -= shown
        text = _addr(base) if as_addr else _str(mem, base, shown)
        parts.append(f"{{iov_base={text}, iov_len={length}}}")
        cur += 8
    return "[" + ", ".join(parts) + "]"


def _enter_writev(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_d(a[0])}, {_iov_array(mem, a[1], a[2], None, False)}, {_u(a[2])}"
    return True


def _exit_readv(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    p.text += (f"{_iov_array(mem, a[1], a[2], None if mem.failed else ret, mem.failed)}, "
               f"{_u(a[2])}")


def _ioctl_code(code: int) -> str:
    """ioctl_print_code: ``_IOC(dir, type, nr, size)``, or the number when dir and size
    are both 0."""
    direction, size = code >> 30, code >> 16 & 0x3FFF
    if not direction and not size:
        return _x(code)
    dirs = _IOC_DIRS.get(direction, "_IOC_NONE")
    return f"_IOC({dirs}, {code >> 8 & 0xFF:#x}, {code & 0xFF:#x}, {size:#x})"


def _enter_ioctl(p: Pending, mem: _Memory) -> bool:
    a = p.args
    code = a[1]
    name = _IOCTL_NAMES.get(code)
    p.text += f"{_d(a[0])}, {name if name is not None else _ioctl_code(code)}"
    if code in _IOCTL_GET_ADDR or code in _IOCTL_GET_INT:
        return False
    if code in _IOCTL_NO_ARG:
        return True
    if code in _IOCTL_SET_INT:
        p.text += ", " + _int_at(mem, a[2])
    elif code in _IOCTL_SET_ADDR:
        p.text += ", " + _addr(a[2])  # termios and winsize contents are not decoded here
    else:
        p.text += ", " + _x(a[2])
    return True


def _exit_ioctl(p: Pending, mem: _Memory, ret: int) -> None:
    address = p.args[2]
    if p.args[1] in _IOCTL_GET_INT:
        p.text += ", " + _int_at(mem, address)
    else:
        p.text += ", " + _addr(address)  # a successful TCGETS/TIOCGWINSZ never happens here


def _open_modes(flags: int) -> str:
    """sprint_open_modes without its ``flags `` prefix."""
    flags &= _U32
    names = []
    access = _OPEN_ACCESS_MODES.get(flags & 3)
    if access is not None:
        names.append(access)
        flags &= ~3
        if not flags:
            return access
    rest = _flags(_OPEN_MODE_FLAGS, flags, "O_???")
    if names:
        return names[0] + "|" + rest.split(" /* ")[0]
    return rest


def _enter_fcntl(p: Pending, mem: _Memory) -> bool:
    a = p.args
    cmd = a[1]
    p.text += f"{_d(a[0])}, {_xval(_FCNTLCMDS, cmd, 'F_???')}"
    if cmd == L.F_SETFD:
        p.text += ", " + _flags(_FDFLAGS, a[2], "FD_???")
    elif cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC, L.F_SETOWN, L.F_SETPIPE_SZ):
        p.text += ", " + _d(a[2])
        if cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC):
            p.rval = _FD
    elif cmd == L.F_SETFL:
        p.text += ", " + _open_modes(a[2])
    elif cmd == L.F_SETSIG:
        p.text += ", " + _signal(a[2])
    elif cmd in (L.F_GETFD, L.F_GETFL, L.F_GETOWN, L.F_GETSIG, L.F_GETPIPE_SZ, L.F_GETLEASE,
                 L.F_GET_SEALS):
        if cmd in (L.F_GETFD, L.F_GETFL):
            return False
    else:
        p.text += ", " + _x(a[2])
    return True


def _exit_fcntl(p: Pending, mem: _Memory, ret: int) -> str | None:
    """F_GETFD and F_GETFL name their result: ``= 0x1 (flags FD_CLOEXEC)``."""
    if mem.failed:
        return None
    if p.args[1] == L.F_GETFD:
        if not ret:
            return None
        p.rval = _HEX
        return "flags " + _flags(_FDFLAGS, ret, "FD_???").split(" /* ")[0]
    p.rval = _HEX
    return "flags " + _open_modes(ret)


def _mode(mode: int) -> str:
    """print_symbolic_mode_t: ``S_IFIFO|0600``."""
    ifmt = _MODETYPES.get(mode & L.S_IFMT) if mode & L.S_IFMT else ""
    if ifmt is None:
        return _o03(mode)
    text = ifmt + ("|" if ifmt else "")
    for bit, name in ((L.S_ISUID, "S_ISUID|"), (L.S_ISGID, "S_ISGID|"), (L.S_ISVTX, "S_ISVTX|")):
        if mode & bit:
            text += name
    return text + _o03(mode & ~(L.S_IFMT | L.S_ISUID | L.S_ISGID | L.S_ISVTX))


def _o03(value: int) -> str:
    """C's ``%#03o``: a leading 0 (none for zero), at least three digits."""
    return (f"0{value:o}" if value else "0").rjust(3, "0")


def _stat64(mem: _Memory, address: int) -> str:
    """print_struct_stat in the default abbreviated form, from an i386 struct stat64."""
    data = mem.fetch(address, 96)
    if data is None:
        return _addr(address)
    mode = struct.unpack_from("<I", data, 16)[0]
    if mode & L.S_IFMT in (L.S_IFCHR, L.S_IFBLK):
        rdev = struct.unpack_from("<Q", data, 32)[0]
        major = (rdev >> 8 & 0xFFF) | (rdev >> 32 & ~0xFFF)
        minor = (rdev & 0xFF) | (rdev >> 12 & ~0xFF)
        last = f"st_rdev=makedev({major:#x}, {minor:#x})"
    else:
        last = f"st_size={struct.unpack_from('<q', data, 44)[0] & 0xFFFFFFFFFFFFFFFF}"
    return f"{{st_mode={_mode(mode)}, {last}, ...}}"


def _enter_fd_comma(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_fstat64(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _stat64(mem, p.args[1])


def _enter_path_comma(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_path(mem, p.args[0])}, "
    return False


def _enter_fstatat64(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_printfd_or_at(p.args[0])}, {_path(mem, p.args[1])}, "
    return False


def _exit_fstatat64(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += f"{_stat64(mem, p.args[2])}, {_flags(_AT_FLAGS, p.args[3], 'AT_???')}"


def _flags_no_default(table: tuple[tuple[int, str], ...], value: int) -> str:
    """printflags with a NULL default: unknown bits in hex, no comment."""
    return _flags(table, value, "").split(" /* ")[0]


def _enter_statx(p: Pending, mem: _Memory) -> bool:
    a = p.args
    flags = a[2]
    text = _flags_no_default(_STATX_SYNC_TYPES, flags & L.AT_STATX_SYNC_TYPE)
    flags &= ~L.AT_STATX_SYNC_TYPE & _U32
    if flags:
        text += "|" + _flags_no_default(_AT_FLAGS, flags)
    p.text += (f"{_printfd_or_at(a[0])}, {_path(mem, a[1])}, {text}, "
               f"{_flags(_STATX_MASKS, a[3], 'STATX_???')}, ")
    return False


def _exit_statx(p: Pending, mem: _Memory, ret: int) -> None:
    address = p.args[4]
    data = mem.fetch(address, 256)
    if data is None:
        p.text += _addr(address)
        return
    mask = struct.unpack_from("<I", data)[0]
    attributes = struct.unpack_from("<Q", data, 8)[0]
    fields = [f"stx_mask={_flags(_STATX_MASKS, mask, 'STATX_???')}",
              f"stx_attributes={_flags(_STATX_ATTRS, attributes, 'STATX_ATTR_???')}"]
    if mask & (L.STATX_TYPE | L.STATX_MODE):
        fields.append(f"stx_mode={_mode(struct.unpack_from('<H', data, 28)[0])}")
    if mask & L.STATX_SIZE:
        fields.append(f"stx_size={struct.unpack_from('<Q', data, 40)[0]}")
    p.text += "{" + ", ".join(fields) + ", ...}"


def _exit_getcwd(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[0]) if mem.failed else _path(mem, a[0], (ret - 1) & _U32)
    p.text += f"{buf}, {_u(a[1])}"


def _exit_readlink(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args[-4:] if p.name == "readlinkat" else p.args
    offset = 1 if p.name == "readlinkat" else 0
    buf, size = p.args[offset + 1], p.args[offset + 2]
    text = _addr(buf) if mem.failed else _str(mem, buf, ret)
    p.text += f"{text}, {_u(size)}"
    del a


def _enter_readlinkat(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_printfd_or_at(p.args[0])}, {_path(mem, p.args[1])}, "
    return False


def _exit_uname(p: Pending, mem: _Memory, ret: int) -> None:
    """sys_uname: sysname and nodename, then ``...`` (the default abbreviation)."""
    address = p.args[0]
    data = mem.fetch(address, 6 * (L.NEW_UTS_LEN + 1))
    if data is None:
        p.text += _addr(address)
        return
    field = L.NEW_UTS_LEN + 1
    names = []
    for index in range(2):
        raw = data[index * field:(index + 1) * field]
        text = quote(raw, nul_terminated=True)
        names.append(text if b"\0" in raw else text + "...")
    p.text += f"{{sysname={names[0]}, nodename={names[1]}, ...}}"


def _ids_at(mem: _Memory, pointers: tuple[int, ...], size: int) -> str:
    out = []
    for pointer in pointers:
        data = mem.fetch(pointer, size)
        if data is None:
            out.append(_addr(pointer))
        else:
            value = int.from_bytes(data, "little")
            out.append("[-1]" if value == (1 << 8 * size) - 1 else f"[{value}]")
    return ", ".join(out)


def _exit_getresuid32(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _ids_at(mem, p.args[:3], 4)


def _exit_getresuid16(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _ids_at(mem, p.args[:3], 2)


def _enter_getgroups(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_getgroups(p: Pending, mem: _Memory, ret: int) -> None:
    size = 2 if p.name == "getgroups" else 4
    address, count = p.args[1], ret & _U32
    if count > _NGROUPS_MAX or mem.failed and address:
        p.text += _addr(address)
        return
    if not address:
        p.text += "NULL"
        return
    if not count:
        p.text += "[]"
        return
    items = []
    for index in range(min(count, STRING_LIMIT + 1)):
        data = mem.fetch(address + size * index, size)
        if data is None:
            if index == 0:
                p.text += _addr(address)
                return
            items.append(f"... /* {_addr(address + size * index)} */")
            break
        if index == STRING_LIMIT:
            items.append("...")
            break
        value = int.from_bytes(data, "little")
        items.append("-1" if value == (1 << 8 * size) - 1 else str(value))
    p.text += "[" + ", ".join(items) + "]"


def _rlim(value: int, wide: bool) -> str:
    """print_rlim64_t / print_rlim32_t: the infinity by name, multiples of 1024 as N*1024."""
    if value == (L.RLIM64_INFINITY if wide else L.RLIM_INFINITY):
        return "RLIM64_INFINITY" if wide else "RLIM_INFINITY"
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def _rlimit(mem: _Memory, address: int, wide: bool) -> str:
    data = mem.fetch(address, 16 if wide else 8)
    if data is None:
        return _addr(address)
    cur, high = struct.unpack("<QQ" if wide else "<II", data)
    return f"{{rlim_cur={_rlim(cur, wide)}, rlim_max={_rlim(high, wide)}}}"


def _enter_getrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_RESOURCES, p.args[0], 'RLIMIT_???')}, "
    return False


def _exit_getrlimit(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _rlimit(mem, p.args[1], False)


def _enter_setrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_RESOURCES, p.args[0], 'RLIMIT_???')}, {_rlimit(mem, p.args[1], False)}"
    return True


def _enter_prlimit64(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += (f"{_d(a[0])}, {_xval(_RESOURCES, a[1], 'RLIMIT_???')}, "
               f"{_rlimit(mem, a[2], True)}, ")
    return False


def _exit_prlimit64(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _rlimit(mem, p.args[3], True)


def _exit_getrandom(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[0]) if mem.failed else _hex_str(mem, a[0], ret)
    p.text += f"{buf}, {_u(a[1])}, {_flags(_GETRANDOM_FLAGS, a[2], 'GRND_???')}"


def _enter_set_robust_list(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_addr(p.args[0])}, {_u(p.args[1])}"
    return True


_PR_OPTIONS = _table("PR_SET_PDEATHSIG PR_GET_PDEATHSIG PR_GET_DUMPABLE PR_SET_DUMPABLE "
                     "PR_SET_NAME PR_GET_NAME")
_PR_DUMPABLE = _table("SUID_DUMP_DISABLE SUID_DUMP_USER")


def _enter_prctl(p: Pending, mem: _Memory) -> bool:
    """src/prctl.c: the option by name; PR_SET_NAME's string, PR_GET_NAME's after the call,
    PR_SET_DUMPABLE's value by name; other options' four arguments in hex."""
    a = p.args
    p.text += _xval(_PR_OPTIONS, a[0], "PR_???")
    if a[0] == L.PR_GET_NAME:
        p.text += ", "
        return False
    if a[0] == L.PR_GET_DUMPABLE:
        return False  # the result is named after the call
    if a[0] == L.PR_SET_NAME:
        p.text += ", " + _path(mem, a[1], L.TASK_COMM_LEN - 1)
    elif a[0] == L.PR_SET_DUMPABLE:
        p.text += ", " + _xval(_PR_DUMPABLE, a[1], "SUID_DUMP_???")
    else:
        p.text += ", " + ", ".join(_x(v) for v in a[1:5])
    return True


def _exit_prctl(p: Pending, mem: _Memory, ret: int) -> str | None:
    if p.args[0] == L.PR_GET_DUMPABLE:
        return None if mem.failed else _PR_DUMPABLE.get(ret)
    p.text += _addr(p.args[1]) if mem.failed else _path(mem, p.args[1], L.TASK_COMM_LEN - 1)
    return None


def _clockname(clock: int) -> str:
    """printclockname: a CPU clock as MAKE_PROCESS_CPUCLOCK(pid, kind), an fd clock as
    FD_TO_CLOCKID(fd), else the CLOCK_ name."""
    clock = _s32(clock)
    if clock < 0:
        if clock & L.CLOCKFD_MASK == L.CLOCKFD:
            return f"FD_TO_CLOCKID({~(clock >> 3)})"
        maker = ("MAKE_THREAD_CPUCLOCK" if clock & L.CPUCLOCK_PERTHREAD_MASK
                 else "MAKE_PROCESS_CPUCLOCK")
        kind = _xval(_CPUCLOCKNAMES, clock & L.CLOCKFD_MASK, "CPUCLOCK_???")
        return f"{maker}({~(clock >> 3)}, {kind})"
    return _xval(_CLOCKNAMES, clock, "CLOCK_???")


def _timespec_at(mem: _Memory, address: int, wide: bool) -> str:
    data = mem.fetch(address, 16 if wide else 8)
    if data is None:
        return _addr(address)
    sec, nsec = struct.unpack("<qQ" if wide else "<iI", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _enter_clock(p: Pending, mem: _Memory) -> bool:
    p.text += _clockname(p.args[0]) + ", "
    return False


def _exit_clock(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _timespec_at(mem, p.args[1], p.name.endswith("64"))


def _enter_nothing(p: Pending, mem: _Memory) -> bool:
    return False


def _exit_gettimeofday(p: Pending, mem: _Memory, ret: int) -> None:
    tv, tz = p.args[0], p.args[1]
    data = mem.fetch(tv, 8)
    text = _addr(tv) if data is None else "{tv_sec=%d, tv_usec=%d}" % struct.unpack("<ii", data)
    data = mem.fetch(tz, 8)
    text += ", " + (_addr(tz) if data is None
                    else "{tz_minuteswest=%d, tz_dsttime=%d}" % struct.unpack("<ii", data))
    p.text += text


def sprinttime(seconds: int) -> str | None:
    """strace's sprinttime: local time as ``%FT%T%z``; None for 0 (strace prints nothing)."""
    import time as _time

    if seconds == 0:
        return None
    try:
        tm = _time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return None
    return _time.strftime("%Y-%m-%dT%H:%M:%S%z", tm)


def _exit_time(p: Pending, mem: _Memory, ret: int) -> str | None:
    address = p.args[0]
    data = mem.fetch(address, 4)
    if data is None:
        p.text += _addr(address)
    else:
        value = struct.unpack("<i", data)[0]
        stamp = sprinttime(value)
        p.text += f"[{value}{f' /* {stamp} */' if stamp else ''}]"
    if mem.failed:
        return None
    return sprinttime(_s32(ret))


_DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "read": (_enter_read, _exit_read, _UDECIMAL),
    "write": (_enter_write, None, _UDECIMAL),
    "close": (_enter_int, None, _UDECIMAL),
    "exit": (_enter_int, None, _NONE),
    "exit_group": (_enter_int, None, _NONE),
    "brk": (_enter_brk, None, _HEX),
    "nanosleep": (_enter_nanosleep, None, _UDECIMAL),
    "signal": (_enter_signal, _exit_signal, _HEX),
    "rt_sigaction": (_enter_rt_sigaction, _exit_rt_sigaction, _UDECIMAL),
    "rt_sigprocmask": (_enter_rt_sigprocmask, _exit_rt_sigprocmask, _UDECIMAL),
    "set_thread_area": (_enter_set_thread_area, _exit_set_thread_area, _UDECIMAL),
    "socket": (_enter_socket, None, _FD),
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
    # memory calls
    "mmap2": (_enter_mmap2, None, _HEX),
    "mmap": (_enter_old_mmap, None, _HEX),
    "munmap": (_enter_munmap, None, _UDECIMAL),
    "mprotect": (_enter_mprotect, None, _UDECIMAL),
    "mremap": (_enter_mremap, None, _HEX),
    "madvise": (_enter_madvise, None, _UDECIMAL),

    # signal calls
    "kill": (_enter_kill, None, _UDECIMAL),
    "tkill": (_enter_kill, None, _UDECIMAL),
    "tgkill": (_enter_tgkill, None, _UDECIMAL),
    "getpid": (_enter_none, None, _UDECIMAL),
    "getppid": (_enter_none, None, _UDECIMAL),
    "gettid": (_enter_none, None, _UDECIMAL),
    "sigreturn": (_enter_sigreturn, None, _UDECIMAL),
    "rt_sigreturn": (_enter_rt_sigreturn, None, _UDECIMAL),
    "sigaction": (_enter_sigaction, _exit_sigaction, _UDECIMAL),
    "sigprocmask": (_enter_sigprocmask, _exit_sigprocmask, _UDECIMAL),
    "rt_sigpending": (_enter_rt_sigpending, _exit_rt_sigpending, _UDECIMAL),
    "sigaltstack": (_enter_sigaltstack, _exit_sigaltstack, _UDECIMAL),

    # process, identity, time and file calls
    "writev": (_enter_writev, None, _UDECIMAL),
    "readv": (_enter_fd_comma, _exit_readv, _UDECIMAL),
    "ioctl": (_enter_ioctl, _exit_ioctl, _UDECIMAL),
    "fcntl": (_enter_fcntl, _exit_fcntl, _UDECIMAL),
    "fcntl64": (_enter_fcntl, _exit_fcntl, _UDECIMAL),
    "fstat64": (_enter_fd_comma, _exit_fstat64, _UDECIMAL),
    "stat64": (_enter_path_comma, _exit_fstat64, _UDECIMAL),
    "lstat64": (_enter_path_comma, _exit_fstat64, _UDECIMAL),
    "fstatat64": (_enter_fstatat64, _exit_fstatat64, _UDECIMAL),
    "statx": (_enter_statx, _exit_statx, _UDECIMAL),
    "getcwd": (_enter_nothing, _exit_getcwd, _UDECIMAL),
    "readlink": (_enter_path_comma, _exit_readlink, _UDECIMAL),
    "readlinkat": (_enter_readlinkat, _exit_readlink, _UDECIMAL),
    "uname": (_enter_nothing, _exit_uname, _UDECIMAL),
    "getresuid32": (_enter_nothing, _exit_getresuid32, _UDECIMAL),
    "getresgid32": (_enter_nothing, _exit_getresuid32, _UDECIMAL),
    "getresuid": (_enter_nothing, _exit_getresuid16, _UDECIMAL),
    "getresgid": (_enter_nothing, _exit_getresuid16, _UDECIMAL),
    "getgroups32": (_enter_getgroups, _exit_getgroups, _UDECIMAL),
    "getgroups": (_enter_getgroups, _exit_getgroups, _UDECIMAL),
    "getrlimit": (_enter_getrlimit, _exit_getrlimit, _UDECIMAL),
    "ugetrlimit": (_enter_getrlimit, _exit_getrlimit, _UDECIMAL),
    "setrlimit": (_enter_setrlimit, None, _UDECIMAL),
    "prlimit64": (_enter_prlimit64, _exit_prlimit64, _UDECIMAL),
    "getrandom": (_enter_nothing, _exit_getrandom, _UDECIMAL),
    "set_robust_list": (_enter_set_robust_list, None, _UDECIMAL),
    "prctl": (_enter_prctl, _exit_prctl, _UDECIMAL),
    "clock_gettime": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_gettime64": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_getres": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_getres_time64": (_enter_clock, _exit_clock, _UDECIMAL),
    "gettimeofday": (_enter_nothing, _exit_gettimeofday, _UDECIMAL),
    "time": (_enter_nothing, _exit_time, _UDECIMAL),

}


def _raw_args(args: tuple[int, ...], count: int) -> str:
    """printargs: each argument in hex, as ``strace -e raw=`` prints any syscall."""
    return ", ".join(_x(value & _U32) for value in (tuple(args) + (0,) * count)[:count])


# --- the public line builders -----------------------------------------------------------------


def syscall_enter(nr: int, args: tuple[int, ...], read: Read) -> Pending:
    """What strace prints when syscall ``nr`` enters, from guest memory as it is now.

    A socketcall (102) is resolved into the call it multiplexes, its arguments read from the
    array ``args[1]`` points at, exactly as strace's decode_socket_subcall does; if the call
    number is out of range or the array unreadable, it stays a socketcall.
    """
    args = tuple(value & _U32 for value in args)
    mem = _Memory(read)
    name = L.SYSCALL_NAMES.get(nr) if 0 <= nr < len(_NARGS) and _NARGS[nr] != "-" else None
    if nr == L.SYS_socketcall and len(args) >= 2:
        call = _s32(args[0])
        if 1 <= call < len(L.SOCKETCALL_NARGS):
            count = L.SOCKETCALL_NARGS[call]
            words = mem.umoven(args[1], 4 * count)
            if words is not None:
                name = L.SOCKETCALL_NAMES[call]
                args = struct.unpack(f"<{count}I", words)
    if name is None:
        return Pending(nr, f"syscall_{nr & _U32:#x}", args,
                       f"syscall_{nr & _U32:#x}({_raw_args(args, _MAX_ARGS)}",
                       True, _UDECIMAL)
    decoder = _DECODERS.get(name)
    pending = Pending(nr, name, args, name + "(", True, _UDECIMAL)
    if decoder is None:
        resolved = nr == L.SYS_socketcall and name != "socketcall"
        pending.text += _raw_args(args, len(args) if resolved else int(_NARGS[nr]))
        return pending
    enter, _exit, pending.rval = decoder
    pending.args = args + (0,) * (_MAX_ARGS - len(args))
    pending.decoded = enter(pending, mem)
    return pending


def syscall_exit(pending: Pending, ret: int | None, read: Read) -> str:
    """Finish the line ``pending`` started, for result ``ret`` and memory as it is after.

    ``ret`` is eax as the guest sees it (a negative errno on failure) or None when the call
    never returned: exit and exit_group always, anything else when the process died inside
    it, which strace shows as ``<unfinished ...>``.
    """
    text = pending.text
    if ret is None or pending.rval == _NONE:
        if not pending.decoded:
            text += " <unfinished ...>"
        return _align(text + ")") + "= ?"
    ret &= _U32
    failed = ret > _U32 - L.MAX_ERRNO
    aux = None
    if not pending.decoded:
        decoder = _DECODERS[pending.name]
        mem = _Memory(read, exiting=True, failed=failed)
        assert decoder[1] is not None
        aux = decoder[1](pending, mem, ret)
        text = pending.text
    line = _align(text + ")")
    if failed:
        line += _error(_U32 + 1 - ret)
    elif pending.rval == _HEX:
        line += "= " + _x(ret)
    elif pending.rval == _FD:
        line += "= " + _d(ret)
    else:
        line += "= " + str(ret)
    return line + (f" ({aux})" if aux else "")


def strace_line(nr: int, args: tuple[int, ...], ret: int | None, read: Read) -> str:
    """One line as ``strace -o FILE`` prints syscall ``nr`` with ``args`` returning ``ret``.

    ``read`` reads guest memory after the call (see the module docstring for the few
    syscalls where memory before the call matters).  No trailing newline.
    """
    return syscall_exit(syscall_enter(nr, args, read), ret, read)


_RESTARTS = {
    L.ERESTARTSYS: "ERESTARTSYS (To be restarted if SA_RESTART is set)",
    L.ERESTARTNOINTR: "ERESTARTNOINTR (To be restarted)",
    L.ERESTARTNOHAND: "ERESTARTNOHAND (To be restarted if no handler)",
    L.ERESTART_RESTARTBLOCK: "ERESTART_RESTARTBLOCK (Interrupted by signal)",
}


def _error(errno: int) -> str:
    """syscall_exiting_trace's error branch (src/syscall.c): the four restart codes a
    signal produces print as ``? NAME (...)``; any other errno as ``-1 NAME (strerror)``."""
    restart = _RESTARTS.get(errno)
    if restart is not None:
        return "= ? " + restart
    name = L.ERRNO_NAMES.get(errno) or L.KERNEL_ERRNO_NAMES.get(errno)
    if name is None:
        return f"= -1 (errno {errno})"
    return f"= -1 {name} ({L.strerror(errno)})"


def _align(text: str) -> str:
    """tprint_space() then tabto(): one space, then spaces up to column COLUMN."""
    text += " "
    return text + " " * (COLUMN - len(text)) if len(text) < COLUMN else text


def exit_line(status: int) -> str:
    """``+++ exited with 1 +++``: the process called exit or exit_group (print_exited)."""
    return f"+++ exited with {status & 0xFF} +++"


def killed_line(signo: int, core_dumped: bool = False) -> str:
    """``+++ killed by SIGSEGV +++``: a signal ended the process (print_signalled)."""
    name = _signame(signo) or str(signo)
    return f"+++ killed by {name} {'(core dumped) ' if core_dumped else ''}+++"


def signal_line(signo: int, code: int, addr: int | None = None, *, pid: int = 0,
                uid: int = 0) -> str:
    """``--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---``: a signal
    delivered to the process (print_stopped and printsiginfo, src/printsiginfo.c).

    ``code`` is si_code (SEGV_MAPERR, SI_KERNEL, ...); fault signals (SIGSEGV, SIGBUS, SIGILL,
    SIGFPE, SIGTRAP) show si_addr; a signal sent by a process (si_code <= 0) shows the
    sender's ``pid`` and ``uid``.
    """
    name = _signame(signo) or str(signo)
    code_name = _SI_CODES.get(code) or _SIGNAL_SI_CODES.get(signo, {}).get(code)
    fields = [f"si_signo={name}", f"si_code={code_name or _x(code & _U32)}"]
    if code <= 0:
        fields += [f"si_pid={pid}", f"si_uid={uid}"]
    elif signo in (L.SIGSEGV, L.SIGBUS, L.SIGILL, L.SIGFPE, L.SIGTRAP):
        fields.append(f"si_addr={_addr(addr or 0)}")
    return f"--- {name} {{{', '.join(fields)}}} ---"


# --- capstone ---------------------------------------------------------------------------------

_BYTES_COLUMN = 21  # ten bytes of hex fit before the mnemonic; longer ones push it right


@lru_cache(maxsize=1)
def _capstone() -> capstone.Cs:
    """One Cs for the process: building it costs more than decoding an instruction."""
    import capstone

    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)


def _decode_one(code: bytes, address: int) -> tuple[int, str] | None:
    for _addr_, size, mnemonic, op_str in _capstone().disasm_lite(code[:15], address, 1):
        return size, f"{mnemonic} {op_str}".rstrip()
    return None


def insn_text(code: bytes, address: int) -> str:
    """Capstone's ``mnemonic op_str`` for the instruction at the start of ``code``, or
    ``(bad)`` (objdump's word) when those bytes do not decode."""
    decoded = _decode_one(bytes(code), address)
    return decoded[1] if decoded is not None else "(bad)"


def _line(address: int, code: bytes, text: str) -> str:
    return f"{address:08x}:  {code.hex().ljust(_BYTES_COLUMN)} {text}"


def trace_insn(address: int, code: bytes) -> str:
    """One ``--trace`` line for the instruction at ``address`` (``code`` holds its bytes and
    possibly more), in the same shape as a :func:`listing` line."""
    decoded = _decode_one(bytes(code), address)
    if decoded is None:
        return _line(address, bytes(code[:1]), "(bad)")
    return _line(address, bytes(code[: decoded[0]]), decoded[1])


class ListingLine(NamedTuple):
    """One line of :func:`listing`, kept structured so that coverage can count the same
    instructions the listing shows: an instruction (``decoded``), a ``.byte`` the sweep
    could not decode, or a comment or blank line (``address`` None, ``text`` the line)."""

    address: int | None
    code: bytes
    text: str
    decoded: bool = False

    def __str__(self) -> str:
        return self.text if self.address is None else _line(self.address, self.code, self.text)


def _disassemble(data: bytes, address: int) -> Iterator[ListingLine]:
    """Linear sweep: each undecodable byte becomes ``.byte 0x..`` and decoding resumes at
    the next byte, so the output depends on nothing but the bytes."""
    cs = _capstone()
    view = memoryview(data)  # restarting after a bad byte must not copy the rest each time
    pos = 0
    while pos < len(data):
        for insn_address, size, mnemonic, op_str in cs.disasm_lite(view[pos:], address + pos):
            yield ListingLine(insn_address, data[pos : pos + size],
                              f"{mnemonic} {op_str}".rstrip(), True)
            pos += size
        if pos < len(data):
            yield ListingLine(address + pos, data[pos : pos + 1], f".byte {data[pos]:#04x}")
            pos += 1


def listing(image: Image) -> str:
    """``webelf disasm``: every executable segment's file bytes, one instruction a line.

    Stable by construction, for golden files: a header line per segment
    (``; segment 0: 0x08048000-0x080480ad r-x``, the number being its program header index
    and the range its file bytes), then ``address:  bytes  mnemonic operands``.

    Choices: a segment that maps the start of the file holds the ELF header and usually the
    program header table, which are data; those ranges are named in a comment line and not
    decoded.  Decoding is a linear sweep from the segment's start (data between code is
    decoded too, as objdump -D would), restarted at the entry point, which gets a comment
    line, so the instructions a reader cares most about are never misaligned by bytes before
    them.  An instruction that would run past the entry point or a header range is cut into
    ``.byte`` lines.
    """
    return "\n".join(map(str, listing_lines(image)))


def listing_lines(image: Image) -> list[ListingLine]:
    """:func:`listing`, line by line, before formatting."""
    from .elf import EHDR_SIZE, ELFMAG, PF_R, PF_W, PF_X

    out: list[ListingLine] = []

    def comment(text: str) -> None:
        out.append(ListingLine(None, b"", text))

    for seg in image.segments:
        if not seg.executable:
            continue
        start, data = seg.vaddr, seg.data
        rwx = "".join(c if seg.flags & bit else "-" for c, bit in zip("rwx", (PF_R, PF_W, PF_X)))
        comment(f"; segment {seg.index}: 0x{start:08x}-0x{start + len(data):08x} {rwx}")
        skips: list[tuple[int, int, str]] = []
        if seg.offset == 0 and data.startswith(ELFMAG) and len(data) >= EHDR_SIZE:
            skips.append((start, start + EHDR_SIZE, "ELF header"))
        table = image.phnum * image.phent
        if image.phdr and start <= image.phdr and image.phdr + table <= start + len(data):
            skips.append((image.phdr, image.phdr + table,
                          f"program headers ({image.phnum} x {image.phent} bytes)"))
        cuts = sorted({start, start + len(data)} | {a for s in skips for a in s[:2]}
                      | ({image.entry} if start < image.entry < start + len(data) else set()))
        for begin, end in zip(cuts, cuts[1:]):
            skip = next((s for s in skips if s[0] == begin), None)
            if skip is not None:
                comment(f"; 0x{begin:08x}-0x{skip[1]:08x}: {skip[2]}, not code")
                continue
            if any(s[0] < begin < s[1] for s in skips):
                continue
            if begin == image.entry:
                comment("; entry point")
            out.extend(_disassemble(data[begin - start : end - start], begin))
        comment("")
    return out
