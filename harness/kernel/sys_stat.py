"""fstat64, stat64, lstat64, fstatat64, statx (fs/stat.c, arch/x86/kernel/sys_ia32.c).

The harness has no file tree: every path names nothing (-ENOENT), which start-up code
copes with (it stats the standard streams, not paths).  What can be stat'ed are the open
files, by fd (fstat64, or fstatat64/statx with AT_EMPTY_PATH and an empty path):

* the standard streams are pipes, as when a shell pipes a program: S_IFIFO|0600, one link,
  size 0, st_blksize 4096 (PAGE_SIZE), on pipefs (device 0:13), inodes 1000 + fd;
* sockets are S_IFSOCK|0777 on sockfs (device 0:8), inodes from 2000 in the order they are
  first stat'ed (Linux numbers sockfs inodes from a counter, get_next_ino);

owned by the guest's uid and gid, all three times the moment the process started on the
virtual realtime clock (pipefs and sockfs inodes are stamped when created).
"""

from __future__ import annotations

import os
import posixpath
import stat
import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .pipe import PipeEnd
from .files import StdStream
from .abi import s32
from .fs import File, Resolved
from .sys_fs import path_lookup, start_dir
from .sys_time import REALTIME_EPOCH

if TYPE_CHECKING:
    from .process import Kernel

PIPEFS_DEV = (0, 13)
SOCKFS_DEV = (0, 8)
BLKSIZE = 4096
_STD_INO = 1000
_SOCK_INO = 2000
#: What statx reports for a pipe or socket (vfs_getattr_nosec, vfs_statx): the basic
#: stats and the mount id; attributes_mask AUTOMOUNT|MOUNT_ROOT|DAX.
STATX_RESULT_MASK = L.STATX_BASIC_STATS | L.STATX_MNT_ID
STATX_ATTRIBUTES_MASK = L.STATX_ATTR_AUTOMOUNT | L.STATX_ATTR_MOUNT_ROOT | L.STATX_ATTR_DAX
PIPEFS_MNT_ID = 13
SOCKFS_MNT_ID = 8
_STATX_FLAGS = (L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH
                | L.AT_STATX_SYNC_TYPE)


class Attr:
    """struct kstat, the fields the harness fills."""

    __slots__ = ("dev", "ino", "mode", "nlink", "uid", "gid", "size", "blocks", "time", "mnt",
                 "times", "blksize", "rdev")

    def __init__(self, dev, ino, mode, uid, gid, mnt) -> None:
        self.dev, self.ino, self.mode, self.uid, self.gid, self.mnt = dev, ino, mode, uid, gid, mnt
        self.nlink, self.size, self.blocks, self.time = 1, 0, 0, REALTIME_EPOCH
        #: (atime, nsec, mtime, nsec, ctime, nsec); None: all ``time``, nsec 0.
        self.times: tuple[int, ...] | None = None
        self.blksize = BLKSIZE
        self.rdev = (0, 0)


def host_attr(s: os.stat_result) -> Attr:
    """A file of the tree as the host's kernel describes it (so Last-Modified and ETag
    headers match): device, inode, mode, links, owner, size, blocks, block size, times."""
    a = Attr((os.major(s.st_dev), os.minor(s.st_dev)), s.st_ino, s.st_mode, s.st_uid,
             s.st_gid, 0)
    a.nlink, a.size, a.blocks, a.blksize = s.st_nlink, s.st_size, s.st_blocks, s.st_blksize
    a.rdev = (os.major(s.st_rdev), os.minor(s.st_rdev))
    a.times = tuple(v for ns in (s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)
                    for v in divmod(ns, 1_000_000_000))
    return a


def getattr_fd(k: Kernel, f: object) -> Attr:
    if f.__class__ is StdStream:
        return Attr(PIPEFS_DEV, _STD_INO + f.fd, L.S_IFIFO | 0o600, k.uid, k.gid, PIPEFS_MNT_ID)
    if f.__class__ is File:
        return host_attr(f.stat())
    if f.__class__ is Resolved:
        return host_attr(f.stat)
    if getattr(f, "anon_inode", False):  # epoll, eventfd: anon_inode_getfile
        return Attr(L.ANON_INODE_DEV, L.ANON_INODE_INO, 0o600, k.uid, k.gid, 0)
    inodes = k.sock_inodes
    if f.__class__ is PipeEnd:  # both ends of one pipe are one inode
        ino = inodes.get(f.pipe)
        if ino is None:
            ino = inodes[f.pipe] = _STD_INO + 3 + len(inodes)
        return Attr(PIPEFS_DEV, ino, L.S_IFIFO | 0o600, k.uid, k.gid, PIPEFS_MNT_ID)
    ino = inodes.get(f)
    if ino is None:
        ino = inodes[f] = _SOCK_INO + len(inodes)
    return Attr(SOCKFS_DEV, ino, L.S_IFSOCK | 0o777, k.uid, k.gid, SOCKFS_MNT_ID)


def _huge_dev(dev: tuple[int, int]) -> int:
    """new_encode_dev / huge_encode_dev: minor's low 8 bits, major, minor's high bits."""
    major, minor = dev
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def stat64_bytes(a: Attr) -> bytes:
    """i386 struct stat64 (arch/x86/include/uapi/asm/stat.h, 96 bytes), filled as
    ``cp_stat64`` does: __st_ino and st_ino both carry the inode."""
    t = a.time
    times = a.times or (t, 0, t, 0, t, 0)
    return struct.pack("<Q4xIIIIIQ4xqIQIIIIIIQ", _huge_dev(a.dev), a.ino & 0xFFFFFFFF, a.mode,
                       a.nlink, a.uid, a.gid, _huge_dev(a.rdev), a.size, a.blksize, a.blocks,
                       *times, a.ino)


def statx_bytes(a: Attr) -> bytes:
    """struct statx (include/uapi/linux/stat.h, 256 bytes), as ``cp_statx`` fills it."""
    times = a.times or (a.time, 0, a.time, 0, a.time, 0)
    at, ct, mt = (struct.pack("<qIi", times[i], times[i + 1], 0) for i in (0, 4, 2))
    head = struct.pack("<IIQIIIHHQQQQ", STATX_RESULT_MASK, a.blksize, 0, a.nlink, a.uid, a.gid,
                       a.mode & 0xFFFF, 0, a.ino, a.size, a.blocks, STATX_ATTRIBUTES_MASK)
    tail = struct.pack("<IIIIQII", a.rdev[0], a.rdev[1], a.dev[0], a.dev[1], a.mnt, 0, 0)
    return (head + at + bytes(16) + ct + mt + tail).ljust(256, b"\0")


def _lookup(k: Kernel, dirfd: int, path: int, flags: int) -> object | int:
    """The file an (dirfd, path) pair names: the fd itself for an empty path with
    AT_EMPTY_PATH; -EFAULT, -ENOENT (empty path without it, or any path: no file tree),
    -EBADF for a relative path from a bad dirfd, -ENOTDIR from one that is no directory."""
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    dirfd = s32(dirfd)
    if not name:
        if not flags & L.AT_EMPTY_PATH:
            return -L.ENOENT
        if dirfd == L.AT_FDCWD:  # the cwd: no file without a tree
            return -L.ENOENT if k.tree is None else k.tree.resolve(k.cwd_parts, b".")
        f = k.fds.get(dirfd)
        return f if f is not None else -L.EBADF
    return path_lookup(k, dirfd, name, not flags & L.AT_SYMLINK_NOFOLLOW)


def sys_fstat64(k: Kernel, fd: int, buf: int, *_: int) -> int:
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    return k.copy_out(buf, stat64_bytes(getattr_fd(k, f)))


def sys_stat64(k: Kernel, path: int, buf: int, *_: int) -> int:
    """stat64: -EFAULT for an unreadable path, the lookup's errno (-ENOENT without a
    tree), or the host's stat of the file the path names in the tree."""
    return sys_fstatat64(k, L.AT_FDCWD & 0xFFFFFFFF, path, buf, 0)


def sys_lstat64(k: Kernel, path: int, buf: int, *_: int) -> int:
    return sys_fstatat64(k, L.AT_FDCWD & 0xFFFFFFFF, path, buf, L.AT_SYMLINK_NOFOLLOW)


def sys_fstatat64(k: Kernel, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
    if flags & ~(L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH):
        return -L.EINVAL
    f = _lookup(k, dirfd, path, flags)
    if f.__class__ is int:
        return f
    return k.copy_out(buf, stat64_bytes(getattr_fd(k, f)))


def stat_bytes_64(a: Attr) -> bytes:
    """x86-64 struct stat (arch/x86/include/uapi/asm/stat.h, 144 bytes: longs for dev, ino,
    nlink, rdev, size, blksize, blocks and the six time fields), filled as ``cp_new_stat``
    does."""
    t = a.time
    times = a.times or (t, 0, t, 0, t, 0)
    return struct.pack("<QQQIII4xQqqq6q24x", _huge_dev(a.dev), a.ino, a.nlink, a.mode, a.uid,
                       a.gid, _huge_dev(a.rdev), a.size, a.blksize, a.blocks, *times)


def sys_newfstat(k: Kernel, fd: int, buf: int, *_: int) -> int:
    """fstat(2) of an x86-64 process (``SYSCALL_DEFINE2(newfstat)``): struct stat."""
    f = k.fds.get(fd)
    if f is None:
        return -L.EBADF
    return k.copy_out(buf, stat_bytes_64(getattr_fd(k, f)))


def sys_newstat(k: Kernel, path: int, buf: int, *_: int) -> int:
    return sys_newfstatat(k, L.AT_FDCWD & 0xFFFFFFFF, path, buf, 0)


def sys_newlstat(k: Kernel, path: int, buf: int, *_: int) -> int:
    return sys_newfstatat(k, L.AT_FDCWD & 0xFFFFFFFF, path, buf, L.AT_SYMLINK_NOFOLLOW)


def sys_newfstatat(k: Kernel, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
    """newfstatat(2) (x86-64's fstatat): as fstatat64, with struct stat."""
    if flags & ~(L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH):
        return -L.EINVAL
    f = _lookup(k, dirfd, path, flags)
    if f.__class__ is int:
        return f
    return k.copy_out(buf, stat_bytes_64(getattr_fd(k, f)))


def sys_statx(k: Kernel, dirfd: int, path: int, flags: int, mask: int, buf: int,
              *_: int) -> int:
    """statx(2): -EINVAL for unknown flags, both sync types at once or a reserved mask bit
    (``do_statx``, ``vfs_statx``), then the lookup, then the copy (-EFAULT)."""
    if flags & ~_STATX_FLAGS or flags & L.AT_STATX_SYNC_TYPE == L.AT_STATX_SYNC_TYPE:
        return -L.EINVAL
    if mask & L.STATX__RESERVED:
        return -L.EINVAL
    f = _lookup(k, dirfd, path, flags)
    if f.__class__ is int:
        return f
    return k.copy_out(buf, statx_bytes(getattr_fd(k, f)))


# --- getcwd, readlink (fs/d_path.c, fs/stat.c) ------------------------------------------------


def sys_getcwd(k: Kernel, buf: int, size: int, *_: int) -> int:
    """getcwd(2): the virtual cwd and its NUL; -ERANGE when ``size`` cannot hold them,
    -EFAULT; the result is the length with the NUL."""
    path = k.cwd.encode() + b"\0"
    if len(path) > size:
        return -L.ERANGE
    return k.copy_out(buf, path) or len(path)


def _resolve(k: Kernel, dirfd: int, name: bytes) -> bytes | int:
    if not name.startswith(b"/"):
        start = start_dir(k, dirfd, name)
        if start.__class__ is int:
            return start
        name = ("/" + "/".join(start)).encode("utf-8", "surrogateescape") + b"/" + name
    return posixpath.normpath(name.decode("latin-1")).encode("latin-1")


def sys_readlinkat(k: Kernel, dirfd: int, path: int, buf: int, bufsiz: int, *_: int) -> int:
    """readlinkat(2) of the one symbolic link the harness has, /proc/self/exe (also
    /proc/PID/exe), whose target is ``k.exe_path``: at most ``bufsiz`` bytes, no NUL.
    -EINVAL for bufsiz <= 0 (checked first), -EFAULT, -ENOENT for an empty path or any
    other name, -EINVAL for the directories the harness knows ("/"), which are no links."""
    if s32(bufsiz) <= 0:
        return -L.EINVAL
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    if not name:
        if s32(dirfd) != L.AT_FDCWD and k.fds.get(s32(dirfd)) is None:
            return -L.EBADF
        return -L.ENOENT
    full = _resolve(k, dirfd, name)
    if full.__class__ is int:
        return full
    pid = str(k.pid).encode()
    if full in (b"/proc/self/exe", b"/proc/" + pid + b"/exe", b"/proc/thread-self/exe"):
        target = k.exe_path.encode()[:bufsiz]
        return k.copy_out(buf, target) or len(target)
    if k.tree is None:
        return -L.EINVAL if full == b"/" else -L.ENOENT
    r = path_lookup(k, dirfd, name, follow=False)
    if r.__class__ is int:
        return r
    if not stat.S_ISLNK(r.stat.st_mode):
        return -L.EINVAL
    try:
        target = os.readlink(k.tree.host(r.parts).encode("utf-8", "surrogateescape"))
    except OSError as exc:
        return -(exc.errno or L.EIO)
    target = target[:bufsiz]
    return k.copy_out(buf, target) or len(target)


def sys_readlink(k: Kernel, path: int, buf: int, bufsiz: int, *_: int) -> int:
    return sys_readlinkat(k, L.AT_FDCWD & 0xFFFFFFFF, path, buf, bufsiz)
