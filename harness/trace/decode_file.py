"""Decoders of the file and descriptor calls (src/io.c, src/fcntl.c, src/stat*.c, src/term.c):
read, write, readv, writev, close, ioctl, fcntl, fcntl64, stat64, lstat64, fstat64,
fstatat64, statx, getcwd, readlink, readlinkat; and the path printer.
"""

from __future__ import annotations

import struct

from .. import linux as L
from .decode_signal import _signal
from .format import (
    _FD, _HEX, _U32, _U64, _UDECIMAL, STRING_LIMIT, Pending, _addr, _d, _Enter, _Exit, _flag_table,
    _flags, _int_at, _Memory, _s32, _str, _table, _u, _x, _xval, quote,
)


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


def _enter_nothing(p: Pending, mem: _Memory) -> bool:
    return False


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


def _printfd_or_at(fd: int) -> str:
    """print_dirfd: AT_FDCWD by name, any other fd as a number."""
    return "AT_FDCWD" if _s32(fd) == L.AT_FDCWD else _d(fd)


def _path(mem: _Memory, address: int, limit: int = L.PATH_MAX - 1) -> str:
    """printpathn: the NUL-terminated string, at most ``limit`` bytes then ``...``; the
    address when unreadable (umovestr reads up to the NUL, page by page)."""
    if not address & mem.mask:
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
    as addresses (a failed readv).  An iovec is two of the process's words: 8 bytes for
    i386, 16 for x86-64 (``mem.mask``)."""
    wide = mem.mask == _U64
    size, layout = (16, "<QQ") if wide else (8, "<II")
    if not address & mem.mask:
        return "NULL"
    if not count:
        return "[]"
    parts = []
    cur = address
    for index in range(count):
        raw = mem.umoven(cur, size)
        if raw is None:
            if index == 0:
                return _addr(address)
            parts.append(f"... /* {_addr(cur)} */")
            break
        if index >= STRING_LIMIT:
            parts.append("...")
            break
        base, length = struct.unpack(layout, raw)
        shown = length if data_size is None else min(length, data_size)
        if data_size is not None:
            data_size -= shown
        text = _addr(base) if as_addr else _str(mem, base, shown)
        parts.append(f"{{iov_base={text}, iov_len={length}}}")
        cur += size
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


def _exit_pipe(p: Pending, mem: _Memory, ret: int) -> None:
    """src/pipe.c: the two fds after the call (the address if it failed), then pipe2's
    flags as open flags."""
    pair = None if mem.failed else mem.umoven(p.args[0], 8)
    if pair is None:
        p.text += _addr(p.args[0])
    else:
        r, w = struct.unpack("<ii", pair)
        p.text += f"[{r}, {w}]"
    if p.name == "pipe2":
        p.text += ", " + _flags(_OPEN_MODE_FLAGS, p.args[1], "O_???")


def _enter_dup2(p: Pending, mem: _Memory) -> bool:
    """dup2(fd, fd) and dup3(fd, fd, O_ flags), printed as fds (src/dup.c)."""
    a = p.args
    p.text += f"{_d(a[0])}, {_d(a[1])}"
    if p.name == "dup3":
        p.text += ", " + _flags(_OPEN_MODE_FLAGS, a[2], "O_???")
    return True


#: The file calls strace decodes: name -> (enter, exit, how the result prints).
DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "read": (_enter_read, _exit_read, _UDECIMAL),
    "write": (_enter_write, None, _UDECIMAL),
    "close": (_enter_int, None, _UDECIMAL),
    "pipe": (_enter_nothing, _exit_pipe, _UDECIMAL),
    "pipe2": (_enter_nothing, _exit_pipe, _UDECIMAL),
    "dup": (_enter_int, None, _FD),
    "dup2": (_enter_dup2, None, _FD),
    "dup3": (_enter_dup2, None, _FD),
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
}
