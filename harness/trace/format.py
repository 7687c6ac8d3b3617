"""strace's printers that every decoder shares (src/print_fields.h, src/util.c): numbers,
flags and xlat lookups, :func:`quote`, guest memory as strace reads it (:class:`_Memory`), the
line a decoder builds (:class:`Pending`), and the result column (``-a 40``, the errors).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from .. import linux as L

Read = Callable[[int, int], "bytes | None"]

STRING_LIMIT = 32
"""strace's ``-s`` default: at most this many bytes of a buffer are shown, then ``...``."""
COLUMN = 40
"""strace's ``-a`` default: the `` = `` of the result starts at this column when it can."""

_U32 = 0xFFFFFFFF
#: An x86-64 process's registers and pointers (harness/trace/x86_64.py).
_U64 = (1 << 64) - 1


# --- xlat tables: each decoder builds strace's (src/xlat/*.in) from linux.py's values --------


def _table(names: str) -> dict[int, str]:
    """Value -> name for the first entry with that value, as xlookup() finds it."""
    table: dict[int, str] = {}
    for name in names.split():
        table.setdefault(getattr(L, name), name)
    return table


def _flag_table(names: str) -> tuple[tuple[int, str], ...]:
    return tuple((getattr(L, name), name) for name in names.split())


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
    """printaddr: NULL, or the address in hex (an argument is already cut to its
    architecture's width)."""
    return f"{value & _U64:#x}" if value & _U64 else "NULL"


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
    """Guest memory as strace's umoven/tfetch_mem see it; ``mask`` is the width of the
    process's pointers (32 bits for i386, 64 for x86-64)."""

    __slots__ = ("read", "exiting", "failed", "mask")

    def __init__(self, read: Read, exiting: bool = False, failed: bool = False,
                 mask: int = _U32) -> None:
        self.read = read
        self.exiting = exiting
        self.failed = failed
        self.mask = mask

    def umoven(self, address: int, size: int) -> bytes | None:
        """All ``size`` bytes, or None: umoven fails as a whole, never returns a prefix."""
        if size <= 0:
            return b""
        data = self.read(address & self.mask, size)
        if data is None or len(data) < size:
            return None
        return bytes(data[:size])

    def fetch(self, address: int, size: int) -> bytes | None:
        """tfetch_mem: no bytes from NULL, nor after a failed call (its outputs are junk)."""
        if not address & self.mask or (self.exiting and self.failed):
            return None
        return self.umoven(address, size)

    def int32(self, address: int) -> int | None:
        """``umove(tcp, addr, &int)``: unlike fetch, it reads even after a failed call."""
        data = self.umoven(address, 4) if address & self.mask else None
        return None if data is None else struct.unpack("<i", data)[0]


def _str(mem: _Memory, address: int, length: int) -> str:
    """printstrn (printstr_ex, style 0): at most STRING_LIMIT bytes of a buffer, then ``...``.

    strace fetches one byte more than it shows, min(len, 33), and prints the bare address
    when that fetch fails.
    """
    if not address & mem.mask:
        return "NULL"
    length &= mem.mask
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


# --- what a decoder builds: the line so far, printed at entry and again at exit ------------

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
    mask: int = _U32  # the width of the process's registers: _U64 for x86-64
    #: the decoder, when it is not the i386 table's of the same name (x86-64's)
    decoder: tuple | None = None


# A decoder prints at entry (returning True when it is done, RVAL_DECODED) and, unless
# done, again at exit; strace's SYS_FUNC(name) runs once in each phase the same way.
_Enter = Callable[[Pending, _Memory], bool]
_Exit = Callable[[Pending, _Memory, int], "str | None"]  # may return the auxstr


# --- the result column (src/syscall.c) -------------------------------------------------------

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
