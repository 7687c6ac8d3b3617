"""Decoders of the file tree's calls as strace 6.1 prints them (src/open.c, src/lseek.c,
src/dirent64.c, src/access.c, src/sendfile.c, src/io.c, src/chdir.c):

``openat(AT_FDCWD, "/index.html", O_RDONLY|O_LARGEFILE) = 3``, ``open("x", O_RDONLY|O_CREAT,
0644)``, ``lseek(3, -1, SEEK_SET)``, ``_llseek(3, 0, [6], SEEK_END) = 0``, ``pread64(3,
"llo\\n", 8, 2) = 4``, ``getdents64(3, 0x899ce4c /* 30 entries */, 32768) = 808``,
``access("index.html", W_OK)``, ``faccessat(AT_FDCWD, "x", R_OK|X_OK)``, ``chdir("sub")``,
``fchdir(3)``, ``sendfile64(1, 3, [1] => [11], 10) = 10``.
"""

from __future__ import annotations

import struct

from .. import linux as L
from .decode_file import _o03, _open_modes, _path, _printfd_or_at
from .format import (
    _FD, _UDECIMAL, Pending, _addr, _d, _flags, _flag_table, _Memory, _s32, _str, _table, _u,
    _xval,
)

_WHENCE = _table("SEEK_SET SEEK_CUR SEEK_END SEEK_DATA SEEK_HOLE")
_ACCESS = _flag_table("R_OK W_OK X_OK")


def _open_tail(flags: int, mode: int) -> str:
    """tprint_open_modes, and the mode when O_CREAT or O_TMPFILE asks for one."""
    text = _open_modes(flags)
    if flags & L.O_CREAT or flags & L.O_TMPFILE == L.O_TMPFILE:
        text += ", " + _o03(mode)
    return text


def _enter_open(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_path(mem, a[0])}, {_open_tail(a[1], a[2])}"
    p.rval = _FD
    return True


def _enter_openat(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_printfd_or_at(a[0])}, {_path(mem, a[1])}, {_open_tail(a[2], a[3])}"
    p.rval = _FD
    return True


def _enter_lseek(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_d(a[0])}, {_s32(a[1])}, {_xval(_WHENCE, a[2], 'SEEK_???')}"
    return True


def _enter_llseek(p: Pending, mem: _Memory) -> bool:
    a = p.args
    offset = struct.unpack("<q", struct.pack("<Q", (a[1] << 32 | a[2]) & (1 << 64) - 1))[0]
    p.text += f"{_d(a[0])}, {offset}, "
    return False


def _exit_llseek(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    data = None if mem.failed else mem.fetch(a[3], 8)
    result = _addr(a[3]) if data is None else f"[{struct.unpack('<q', data)[0]}]"
    p.text += f"{result}, {_xval(_WHENCE, a[4], 'SEEK_???')}"


def _exit_pread64(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[1]) if mem.failed else _str(mem, a[1], ret)
    pos = (a[4] << 32 | a[3]) & (1 << 64) - 1
    pos = pos - (1 << 64) if pos >> 63 else pos
    p.text += f"{buf}, {_u(a[2])}, {pos}"


def _enter_fd_comma(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_getdents64(p: Pending, mem: _Memory, ret: int) -> None:
    """Abbreviated, as strace prints it by default: the address and how many entries."""
    a = p.args
    if mem.failed:
        p.text += f"{_addr(a[1])}, {_u(a[2])}"
        return
    count = 0
    data = mem.fetch(a[1], ret) if ret else b""
    if data is None:
        p.text += f"{_addr(a[1])}, {_u(a[2])}"
        return
    offset = 0
    while offset + 19 <= len(data):
        reclen = struct.unpack_from("<H", data, offset + 16)[0]
        if not reclen:
            break
        count += 1
        offset += reclen
    p.text += f"{_addr(a[1])} /* {count} entries */, {_u(a[2])}"


def _access_mode(mode: int) -> str:
    return "F_OK" if not mode else _flags(_ACCESS, mode, "?_OK")


def _enter_access(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_path(mem, a[0])}, {_access_mode(a[1])}"
    return True


def _enter_faccessat(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_printfd_or_at(a[0])}, {_path(mem, a[1])}, {_access_mode(a[2])}"
    return True


def _enter_path(p: Pending, mem: _Memory) -> bool:
    p.text += _path(mem, p.args[0])
    return True


def _enter_fd(p: Pending, mem: _Memory) -> bool:
    p.text += _d(p.args[0])
    return True


def _offset(mem: _Memory, address: int, wide: bool) -> str | None:
    data = mem.fetch(address, 8 if wide else 4)
    if data is None:
        return None
    return f"[{struct.unpack('<q' if wide else '<i', data)[0]}]"


def _enter_sendfile(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_d(a[0])}, {_d(a[1])}, "
    if not a[2]:
        p.text += f"NULL, {_u(a[3])}"
        return True
    before = _offset(mem, a[2], p.name == "sendfile64")
    p.text += before if before is not None else _addr(a[2])
    p.saved = 1 if before is not None else 0
    return False


def _exit_sendfile(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    if not mem.failed and p.saved:
        after = _offset(mem, a[2], p.name == "sendfile64")
        if after is not None:
            p.text += " => " + after
    p.text += f", {_u(a[3])}"


#: The file tree's calls: name -> (enter, exit, how the result prints).
DECODERS = {
    "open": (_enter_open, None, _FD),
    "openat": (_enter_openat, None, _FD),
    "lseek": (_enter_lseek, None, _UDECIMAL),
    "_llseek": (_enter_llseek, _exit_llseek, _UDECIMAL),
    "pread64": (_enter_fd_comma, _exit_pread64, _UDECIMAL),
    "getdents64": (_enter_fd_comma, _exit_getdents64, _UDECIMAL),
    "access": (_enter_access, None, _UDECIMAL),
    "faccessat": (_enter_faccessat, None, _UDECIMAL),
    "chdir": (_enter_path, None, _UDECIMAL),
    "fchdir": (_enter_fd, None, _UDECIMAL),
    "sendfile": (_enter_sendfile, _exit_sendfile, _UDECIMAL),
    "sendfile64": (_enter_sendfile, _exit_sendfile, _UDECIMAL),
}
