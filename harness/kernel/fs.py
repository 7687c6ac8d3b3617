"""The guest's read-only file tree: a host directory shown as ``/`` (fs/namei.c's path walk).

A :class:`Tree` resolves guest paths component by component, with ``os.lstat`` on the host
under its root, as ``link_path_walk`` does: ``..`` at the root stays at the root
(``follow_dotdot``: the root is the process's root, which it cannot climb out of); a
symbolic link is read with ``os.readlink`` and its target walked *inside* the tree (an
absolute target from the tree's root, a relative one from the link's directory), at most
MAXSYMLINKS (40) links per lookup, then -ELOOP; a component under something that is no
directory is -ENOTDIR, a missing one -ENOENT, a name longer than NAME_MAX (255) or a path
of PATH_MAX (4096) bytes or more -ENAMETOOLONG.  There is no /proc in the tree (only what
the kernel answers itself, /proc/self/exe), so /proc/self/root and /proc/self/fd tricks
name nothing.

Nothing outside the root is ever opened: a resolved path is a list of components that
were each lstat'ed as a directory or a regular file under the root, and the final open is
done walking ``dir_fd`` by ``dir_fd`` from the root with O_NOFOLLOW on every component, so
a symlink swapped in on the host between the walk and the open fails (ELOOP) instead of
leading out.

This module does not know about unicorn or guest memory: it is plain host-side code.
"""

from __future__ import annotations

import os
import stat as st

from .. import linux as L

MAXSYMLINKS = 40
NAME_MAX = 255


class Resolved:
    """What a lookup found: the components from the root, and the lstat of the last
    (``stat`` None when only the last component is missing: ``missing`` is then its
    name, and the parent exists and is a directory, as O_CREAT needs to know)."""

    __slots__ = ("parts", "stat", "missing")

    def __init__(self, parts: list[str], stat: os.stat_result | None, missing: str = "") -> None:
        self.parts, self.stat, self.missing = parts, stat, missing

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)


class Tree:
    """A host directory the guest sees as ``/``; read-only."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.path.realpath(os.fspath(root))
        if not os.path.isdir(self.root):
            raise NotADirectoryError(self.root)

    def host(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def lstat(self, parts: list[str]) -> os.stat_result:
        return os.lstat(self.host(parts))

    # ------------------------------------------------------------------ the walk

    def resolve(self, start: list[str], path: bytes, follow: bool = True,
                want_missing: bool = False) -> Resolved | int:
        """``path`` (bytes, no NUL) from the directory ``start`` (components from the
        root): a :class:`Resolved`, or -errno.  ``follow``: a symlink as the last component
        is followed (not with O_NOFOLLOW, lstat, readlink).  ``want_missing``: a missing
        last component in an existing directory is returned as ``Resolved.missing``."""
        if len(path) >= L.PATH_MAX:
            return -L.ENAMETOOLONG
        if not path:
            return -L.ENOENT
        try:
            text = path.decode("utf-8", "surrogateescape")
        except UnicodeDecodeError:  # pragma: no cover - surrogateescape never fails
            return -L.ENOENT
        self._links = 0
        return self._walk([] if text.startswith("/") else list(start), text, follow,
                          want_missing)

    def _walk(self, parts: list[str], text: str, follow: bool,
              want_missing: bool) -> Resolved | int:
        names = [n for n in text.split("/") if n]
        trailing = text.endswith("/")
        cur = parts
        info = self.lstat(cur) if cur else os.lstat(self.root)
        if not names:
            return Resolved(cur, info)
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
                return -L.ENAMETOOLONG
            if not st.S_ISDIR(info.st_mode):
                return -L.ENOTDIR
            if name == ".":
                continue
            if name == "..":
                cur = cur[:-1]
                info = self.lstat(cur) if cur else os.lstat(self.root)
                continue
            nxt = cur + [name]
            try:
                info = self.lstat(nxt)
            except FileNotFoundError:
                if last and want_missing:
                    return Resolved(cur, None, name)
                return -L.ENOENT
            except NotADirectoryError:  # pragma: no cover - checked above
                return -L.ENOTDIR
            except OSError as exc:
                return -(exc.errno or L.EIO)
            if st.S_ISLNK(info.st_mode) and (not last or follow or trailing):
                self._links += 1
                if self._links > MAXSYMLINKS:
                    return -L.ELOOP
                try:
                    target = os.readlink(self.host(nxt))
                except OSError as exc:
                    return -(exc.errno or L.EIO)
                if not target:
                    return -L.ENOENT
                rest = "/".join(names[i + 1:]) + ("/" if trailing else "")
                sub = self._walk([] if target.startswith("/") else cur, target, True,
                                 want_missing and not rest)
                if sub.__class__ is int or not rest:
                    return sub
                if sub.stat is None:
                    return -L.ENOENT
                return self._walk(sub.parts, rest, follow, want_missing)
            cur = nxt
        if trailing and not st.S_ISDIR(info.st_mode) and not st.S_ISLNK(info.st_mode):
            return -L.ENOTDIR
        return Resolved(cur, info)

    # ------------------------------------------------------------------ host access

    def open(self, parts: list[str], directory: bool = False) -> int:
        """A host fd for the resolved ``parts``, opened read-only walking from the root one
        component at a time with O_NOFOLLOW (raises OSError, ELOOP if a component was
        swapped for a symlink)."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.root, flags | os.O_DIRECTORY)
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                extra = os.O_DIRECTORY if not last or directory else os.O_NONBLOCK
                new = os.open(name, flags | extra, dir_fd=fd)
                os.close(fd)
                fd = new
        except BaseException:
            os.close(fd)
            raise
        return fd


class File:
    """An open file of the tree: a host fd, the guest path, the file position, the lstat
    taken at open (for fstat, refreshed on each fstat), and for a directory the entries
    getdents64 hands out.  Always ready (DEFAULT_POLLMASK)."""

    __slots__ = ("host_fd", "parts", "pos", "flags", "is_dir", "entries", "nonblock", "wdone",
                 "closed")

    def __init__(self, host_fd: int, parts: list[str], flags: int, is_dir: bool) -> None:
        self.host_fd = host_fd
        self.parts = parts
        self.flags = flags
        self.is_dir = is_dir
        self.pos = 0
        self.entries: list[tuple[int, int, int, bytes]] | None = None
        self.nonblock = False
        self.wdone = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"<File /{'/'.join(self.parts)} pos={self.pos}>"

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)

    def stat(self) -> os.stat_result:
        return os.fstat(self.host_fd)

    def poll(self) -> int:
        return L.POLLIN | L.POLLRDNORM | L.POLLOUT | L.POLLWRNORM

    def pread(self, count: int, offset: int) -> bytes | int:
        if self.is_dir:
            return -L.EISDIR
        try:
            return os.pread(self.host_fd, count, offset)
        except OSError as exc:
            return -(exc.errno or L.EIO)

    def read(self, count: int) -> bytes | int:
        data = self.pread(count, self.pos)
        if data.__class__ is not int:
            self.pos += len(data)
        return data

    def write(self, data: bytes) -> int:
        return -L.EBADF  # opened O_RDONLY: no FMODE_WRITE

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.host_fd)

    def listing(self) -> list[tuple[int, int, int, bytes]]:
        """(d_ino, d_off, d_type, name) of each entry, "." and ".." first, then in the
        order os.scandir gives (the host directory's own order, as readdir gives it)."""
        if self.entries is None:
            here = os.fstat(self.host_fd)
            out = [(here.st_ino, L.DT_DIR, b".")]
            parent = os.stat(os.path.join(f"/proc/self/fd/{self.host_fd}", "..")) \
                if self.parts else here
            out.append((parent.st_ino, L.DT_DIR, b".."))
            with os.scandir(self.host_fd) as it:
                for entry in it:
                    out.append((entry.inode(), _dtype(entry), os.fsencode(entry.name)))
            self.entries = [(ino, i + 1, t, name) for i, (ino, t, name) in enumerate(out)]
        return self.entries


def _dtype(entry: os.DirEntry) -> int:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return L.DT_UNKNOWN
    return st.S_IFMT(mode) >> 12
