"""The read-only file tree's calls (fs/open.c, fs/namei.c, fs/read_write.c, fs/readdir.c,
fs/stat.c, fs/d_path.c): open, openat, lseek, _llseek, pread64, getdents64, access,
faccessat, chdir, fchdir, sendfile, sendfile64, and the file side of mmap.

The tree is ``k.tree`` (:class:`~.fs.Tree`, the ``--root`` directory) or None: without a
root every path is -ENOENT, as before files existed.  The tree is read-only, as a file
system mounted ``ro``: an open for writing, O_TRUNC or O_CREAT of a missing file is -EROFS
(sb_permission, mnt_want_write), in the order do_open checks them.  Only regular files and
directories are opened; a device node is -EACCES (as on a ``nodev`` mount), a fifo or a
socket file -ENXIO.  Permissions are the host's mode bits checked for the guest's uid
(root passes read and write checks; executing needs an x bit), owners being the host's.
"""

from __future__ import annotations

import os
import stat as st
import struct
from typing import TYPE_CHECKING

from .. import linux as L
from ..net import WOULD_BLOCK, Socket
from .abi import BLOCK, MAX_RW_COUNT, s32
from .fs import File, Resolved

if TYPE_CHECKING:
    from .process import Kernel

_OPEN_WRITE = L.O_WRONLY | L.O_RDWR


def start_dir(k: Kernel, dirfd: int, name: bytes) -> list[str] | int:
    """Where a relative ``name`` starts: the cwd for AT_FDCWD, a directory fd's path;
    -EBADF for a bad fd, -ENOTDIR for one that is no directory (path_init)."""
    if name.startswith(b"/"):
        return []
    dirfd = s32(dirfd)
    if dirfd == L.AT_FDCWD:
        return k.cwd_parts
    f = k.fds.get(dirfd)
    if f is None:
        return -L.EBADF
    if f.__class__ is not File or not f.is_dir:
        return -L.ENOTDIR
    return f.parts


def path_lookup(k: Kernel, dirfd: int, name: bytes, follow: bool = True,
                want_missing: bool = False) -> Resolved | int:
    start = start_dir(k, dirfd, name)
    if start.__class__ is int:
        return start
    if k.tree is None:
        return -L.ENOENT
    return k.tree.resolve(start, name, follow, want_missing)


def permitted(k: Kernel, info: os.stat_result, mask: int) -> bool:
    """generic_permission for the guest's uid: root may read and write anything and
    execute what has an x bit (or search a directory); others get the owner's, the
    group's or the others' bits."""
    if k.uid == 0:
        if mask & L.X_OK and not st.S_ISDIR(info.st_mode) and not info.st_mode & 0o111:
            return False
        return True
    mode = info.st_mode
    if info.st_uid == k.uid:
        bits = mode >> 6
    elif info.st_gid == k.gid:
        bits = mode >> 3
    else:
        bits = mode
    return (bits & 7 & mask) == mask


# --- open, openat (fs/open.c do_sys_openat2, fs/namei.c path_openat and do_open) ---------------


def sys_openat(k: Kernel, dirfd: int, path: int, flags: int, mode: int, *_: int) -> int:
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    if flags & L.O_TMPFILE == L.O_TMPFILE:
        return -L.EINVAL if not flags & _OPEN_WRITE else -L.EROFS
    fd = k.fds._lowest_free()  # get_unused_fd_flags comes before the lookup
    if fd < 0:
        return fd
    creat = flags & L.O_CREAT
    follow = not flags & L.O_NOFOLLOW and not (creat and flags & L.O_EXCL)
    r = path_lookup(k, dirfd, name, follow, want_missing=bool(creat))
    if r.__class__ is int:
        return r
    info = r.stat
    if info is None:  # O_CREAT of a missing name in an existing directory
        return -L.EROFS
    mode_ = info.st_mode
    if creat:
        if flags & L.O_EXCL:
            return -L.EEXIST
        if st.S_ISDIR(mode_):
            return -L.EISDIR
    if flags & L.O_DIRECTORY and not st.S_ISDIR(mode_):
        return -L.ENOTDIR
    if st.S_ISREG(mode_) and flags & L.O_TRUNC:
        return -L.EROFS  # mnt_want_write
    writing = flags & _OPEN_WRITE or flags & L.O_TRUNC
    # may_open
    if st.S_ISLNK(mode_):
        return -L.ELOOP
    if st.S_ISDIR(mode_) and writing:
        return -L.EISDIR
    if st.S_ISCHR(mode_) or st.S_ISBLK(mode_):
        return -L.EACCES
    if writing:
        return -L.EROFS  # sb_permission: IS_RDONLY
    if not permitted(k, info, L.R_OK):
        return -L.EACCES
    if st.S_ISFIFO(mode_) or st.S_ISSOCK(mode_):
        return -L.ENXIO
    try:
        host_fd = k.tree.open(r.parts, st.S_ISDIR(mode_))
    except OSError as exc:
        return -(exc.errno or L.EIO)
    f = File(host_fd, list(r.parts), (flags & ~(L.O_CREAT | L.O_EXCL | L.O_NOCTTY | L.O_TRUNC
                                                | L.O_CLOEXEC)) | L.O_LARGEFILE,
             st.S_ISDIR(mode_))
    return k.fds.install(f, bool(flags & L.O_CLOEXEC))


def sys_open(k: Kernel, path: int, flags: int, mode: int, *_: int) -> int:
    return sys_openat(k, L.AT_FDCWD & 0xFFFFFFFF, path, flags, mode)


# --- access, faccessat (fs/open.c do_faccessat) ------------------------------------------------


def sys_faccessat(k: Kernel, dirfd: int, path: int, mode: int, *_: int) -> int:
    if mode & ~(L.R_OK | L.W_OK | L.X_OK):
        return -L.EINVAL
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    r = path_lookup(k, dirfd, name)
    if r.__class__ is int:
        return r
    info = r.stat
    if mode & L.W_OK and (st.S_ISREG(info.st_mode) or st.S_ISDIR(info.st_mode)):
        return -L.EROFS
    # access(2) checks with the real uid: the same as the effective one here.
    if not permitted(k, info, mode & (L.R_OK | L.X_OK)):
        return -L.EACCES
    return 0


def sys_access(k: Kernel, path: int, mode: int, *_: int) -> int:
    return sys_faccessat(k, L.AT_FDCWD & 0xFFFFFFFF, path, mode)


# --- chdir, fchdir (fs/open.c) -----------------------------------------------------------------


def _set_cwd(k: Kernel, parts: list[str]) -> None:
    k.cwd_parts = list(parts)
    k.cwd = "/" + "/".join(parts)


def sys_chdir(k: Kernel, path: int, *_: int) -> int:
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    r = path_lookup(k, L.AT_FDCWD & 0xFFFFFFFF, name)
    if r.__class__ is int:
        return r
    if not st.S_ISDIR(r.stat.st_mode):
        return -L.ENOTDIR
    if not permitted(k, r.stat, L.X_OK):
        return -L.EACCES
    _set_cwd(k, r.parts)
    return 0


def sys_fchdir(k: Kernel, fd: int, *_: int) -> int:
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if f.__class__ is not File or not f.is_dir:
        return -L.ENOTDIR
    _set_cwd(k, f.parts)
    return 0


# --- lseek, _llseek, pread64 (fs/read_write.c) ------------------------------------------------


def _seek(k: Kernel, fd: int, offset: int, whence: int) -> int:
    """vfs_llseek of generic_file_llseek (a directory's position is an entry index)."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if f.__class__ is not File:
        return -L.ESPIPE  # pipes and sockets: no_llseek
    if whence > L.SEEK_HOLE:
        return -L.EINVAL
    size = len(f.listing()) if f.is_dir else f.stat().st_size
    if whence == L.SEEK_SET:
        new = offset
    elif whence == L.SEEK_CUR:
        new = f.pos + offset
    elif whence == L.SEEK_END:
        new = size + offset
    elif f.is_dir:
        return -L.EINVAL
    else:  # SEEK_DATA, SEEK_HOLE: no holes known; past the end -ENXIO
        if offset < 0 or offset >= size:
            return -L.ENXIO
        new = offset if whence == L.SEEK_DATA else size
    if new < 0:
        return -L.EINVAL
    f.pos = new
    return new


def sys_lseek(k: Kernel, fd: int, offset: int, whence: int, *_: int) -> int:
    """compat lseek: a signed 32-bit offset; a result past 2 GiB is -EOVERFLOW."""
    f = k.fds.get(fd)
    old = f.pos if f.__class__ is File else 0
    ret = _seek(k, fd, s32(offset), whence)
    if ret > 0x7FFFFFFF:
        f.pos = old
        return -L.EOVERFLOW
    return ret


def sys__llseek(k: Kernel, fd: int, high: int, low: int, result: int, whence: int,
                *_: int) -> int:
    offset = (high << 32 | low) & 0xFFFFFFFFFFFFFFFF
    if offset & 1 << 63:
        offset -= 1 << 64
    ret = _seek(k, fd, offset, whence)
    if ret < 0:
        return ret
    return k.copy_out(result, struct.pack("<q", ret))


def sys_lseek_64(k: Kernel, fd: int, offset: int, whence: int, *_: int) -> int:
    """lseek(2) of an x86-64 process (fs/read_write.c ``ksys_lseek``): a 64-bit signed
    offset in one register, no EOVERFLOW."""
    if offset & 1 << 63:
        offset -= 1 << 64
    return _seek(k, fd, offset, whence)


def sys_pread64_64(k: Kernel, fd: int, buf: int, count: int, pos: int, *_: int) -> int:
    """pread64(2) of an x86-64 process (``ksys_pread64``): the position in one register."""
    return sys_pread64(k, fd, buf, count, pos & 0xFFFFFFFF, pos >> 32)


def sys_pread64(k: Kernel, fd: int, buf: int, count: int, lo: int, hi: int, *_: int) -> int:
    """i386's pread64 (``ia32_pread64``, arch/x86/kernel/sys_ia32.c): the position in two
    registers, low word first."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    pos = hi << 32 | lo
    if pos & 1 << 63:
        return -L.EINVAL
    if f.__class__ is not File:
        return -L.ESPIPE
    data = f.pread(min(count, MAX_RW_COUNT), pos)
    if data.__class__ is int:
        return data
    return k.copy_out(buf, data) or len(data)


# --- getdents64 (fs/readdir.c) ------------------------------------------------------------------


def sys_getdents64(k: Kernel, fd: int, dirp: int, count: int, *_: int) -> int:
    """struct linux_dirent64 {u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]}
    each padded to 8 bytes; d_off is the index of the next entry (the host file system's
    cookies are not shown).  Entries: ".", "..", then the host directory's order."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    if f.__class__ is not File or not f.is_dir:
        return -L.ENOTDIR
    entries = f.listing()
    out = bytearray()
    pos = f.pos
    while pos < len(entries):
        ino, off, dtype, name = entries[pos]
        reclen = (19 + len(name) + 1 + 7) & ~7
        if len(out) + reclen > count:
            if not out:
                return -L.EINVAL
            break
        out += struct.pack("<QqHB", ino, off, reclen, dtype) + name
        out += bytes(reclen - 19 - len(name))
        pos += 1
    if out:
        err = k.copy_out(dirp, bytes(out))
        if err:
            return err
    f.pos = pos
    return len(out)


# --- sendfile, sendfile64 (fs/read_write.c do_sendfile) ----------------------------------------


def _sendfile(k: Kernel, out_fd: int, in_fd: int, offp: int, count: int, wide: bool) -> object:
    from .sys_file import wrote

    src = k.fds.get(in_fd)
    if src is None:
        return -L.EBADF
    if src.__class__ is not File:
        # a socket has no splice_read (-EINVAL); stdout and stderr are not open for reading
        # (a socket's ``readable`` says whether a read would return now, not a direction)
        if src.__class__ is Socket:
            return -L.EINVAL
        return -L.EBADF if getattr(src, "readable", True) is False else -L.EINVAL
    pos = src.pos
    if offp:
        raw = k.copy_in(offp, 8 if wide else 4)
        if raw.__class__ is int:
            return raw
        pos = struct.unpack("<q" if wide else "<i", raw)[0]
        if pos < 0:
            return -L.EINVAL
    dst = k.fds.get(out_fd)
    if dst is None or dst.__class__ is File:
        return -L.EBADF
    if dst.__class__ is not Socket and getattr(dst, "readable", False) is True:
        return -L.EBADF  # stdin, a pipe's read end: not open for writing
    if src.is_dir:
        return -L.EINVAL
    count = min(count, MAX_RW_COUNT)
    if not count:
        return 0
    data = src.pread(count, pos)
    if data.__class__ is int:
        return data
    if not data:
        ret: object = 0
    else:
        ret = wrote(k, out_fd, k.fds.write(out_fd, data))
        if ret is BLOCK or ret is WOULD_BLOCK:
            return ret
    if ret.__class__ is int and ret >= 0:
        if offp:
            err = k.copy_out(offp, struct.pack("<q" if wide else "<i", pos + ret))
            if err:
                return err
        else:
            src.pos = pos + ret
    return ret


def sys_sendfile(k: Kernel, out_fd: int, in_fd: int, offp: int, count: int, *_: int) -> object:
    return _sendfile(k, out_fd, in_fd, offp, count, False)


def sys_sendfile64(k: Kernel, out_fd: int, in_fd: int, offp: int, count: int,
                   *_: int) -> object:
    return _sendfile(k, out_fd, in_fd, offp, count, True)


# --- mmap of a file (mm/mmap.c do_mmap, mm/filemap.c) ---------------------------------------


def file_mmap_check(f: File, prot: int, flags: int) -> int:
    """do_mmap's checks for a tree file: 0, or the errno.  The file is open read-only, so
    a shared writable mapping is -EACCES; a directory has no ->mmap (-ENODEV)."""
    kind = flags & L.MAP_TYPE
    if kind in (L.MAP_SHARED, L.MAP_SHARED_VALIDATE):
        if kind == L.MAP_SHARED_VALIDATE and flags & ~L.LEGACY_MAP_MASK:
            return -L.EOPNOTSUPP
        if prot & 2:  # PROT_WRITE
            return -L.EACCES
    elif kind != L.MAP_PRIVATE:
        return -L.EINVAL
    if f.is_dir:
        return -L.ENODEV
    return 0


def file_bytes(f: File, length: int, pgoff: int) -> bytes:
    """The file's bytes a mapping of ``length`` at page ``pgoff`` starts with (the rest of
    the mapping is zero, as the tail of the last page is; pages wholly past the end would
    raise SIGBUS on Linux and read zero here)."""
    data = f.pread(length, pgoff * 4096)
    return b"" if data.__class__ is int else data
