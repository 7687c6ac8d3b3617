"""The read-only file tree (``--root DIR``, ``Guest(root=DIR)``): DIR is the guest's ``/``.

* A C server that serves files with open/fstat/sendfile (fixtures/programs/c/file_server.c)
  answers natively, from a real directory, and in the harness, from ``--root`` that same
  directory, with the same bytes: bodies, Content-Length, Last-Modified (the host's mtime),
  ETag (the host's inode), 404s.
* A probe (fixtures/programs/c/fs_probe.c) tries open, openat, stat, lstat, readlink,
  access, chdir/getcwd, getdents64, mmap, lseek, pread64 and sendfile on paths that stay in
  the tree and paths that try to leave it (``..`` chains, absolute and relative symlinks
  pointing out, /proc/self/root, openat from a directory fd): natively it runs chroot'ed
  into the tree (this machine's tests run as root), in the harness with the tree as root,
  and every line must be equal; a host file outside the tree never shows.
* Writes answer EROFS and leave the host untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cprograms import build
from harness import Guest
from harness.kernel.fs import Tree
from rundiff import TIMEOUT, natives, unmodelled  # noqa: F401 - a fixture
from support import FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port
from test_cprograms import _native_fetch

SITE = FIXTURES / "trees" / "files"  # not in sites/: those are replayed as built sites
SECRET = b"SECRET-OUTSIDE-THE-TREE"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """A tree ``root`` and, beside it, ``outside/secret.txt``, which no path may reach."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<h1>inside the tree</h1>\n" + bytes(range(200)))
    (root / "sub" / "inner.txt").write_bytes(b"inner file\n")
    (root / "sub" / "deeper" / "x").write_bytes(b"x\n")
    os.symlink(str(secret), root / "abs_out")  # the host's absolute path
    os.symlink("/../../outside/secret.txt", root / "abs_dotdot")
    os.symlink("../outside/secret.txt", root / "rel_out")
    os.symlink("../../outside/secret.txt", root / "sub" / "rel_out2")
    os.symlink("../..", root / "sub" / "up")
    os.symlink("sub/inner.txt", root / "rel_in")
    os.symlink("/sub/inner.txt", root / "abs_in")
    os.symlink("sub", root / "dirlink")
    os.symlink("loop", root / "loop")
    os.symlink("nowhere", root / "dangling")
    return root, secret


DOTS = "/".join([".."] * 40)
PROBES = [
    "r:/index.html", "r:index.html", "r:/sub/inner.txt", "r:/sub/../index.html",
    "r:/../outside/secret.txt", "r:../outside/secret.txt", "r:/" + DOTS + "/outside/secret.txt",
    "r:" + DOTS + "/../outside/secret.txt", "r:/sub/up/outside/secret.txt",
    "r:/sub/up/index.html", "r:/abs_out", "r:/abs_dotdot", "r:/rel_out", "r:/sub/rel_out2",
    "r:/rel_in", "r:/abs_in", "r:/dirlink/inner.txt", "r:/loop", "r:/dangling",
    "r:/proc/self/root/index.html", "r:/proc/self/cwd/index.html", "r:/proc/1/root",
    "r:/index.html/", "r:/index.html/x", "r:/nope", "r:", "r:/sub", "r:/" + "a" * 256,
    "r:/" + "a/" * 2100,
    "d:/sub", "d:/index.html", "d:/dirlink", "n:/rel_in", "n:/dirlink", "n:/index.html",
    "s:/", "s:/sub", "s:/index.html", "s:/rel_in", "s:/loop", "s:/abs_out", "s:/dangling",
    "l:/rel_in", "l:/dangling", "l:/sub/up",
    "k:/rel_in", "k:/abs_out", "k:/index.html", "k:/nope", "k:/sub/up",
    "R:/index.html", "R:/nope", "R:/abs_out",
    "a:/sub|inner.txt", "a:/sub|../index.html", "a:/sub|../../outside/secret.txt",
    "a:/sub|../../../../outside/secret.txt", "a:/sub|up/../outside/secret.txt",
    "a:/sub|/index.html", "a:/sub/deeper|../../rel_out",
    "g:/", "g:/sub", "g:/sub/up", "g:/index.html",
    "m:/index.html", "e:/index.html", "f:/sub/inner.txt",
    "C:/sub/deeper", "r:../inner.txt", "r:../../../../outside/secret.txt", "C:..", "C:../..",
    "C:/index.html", "C:/nope", "C:/sub/up", "r:index.html",
]
#: Writes: natively the tree is writable, so these are compared with Linux's answers on a
#: read-only mount, not run natively.
WRITES = {
    "w:/index.html": "E30", "w:/new.txt": "E30", "w:/nodir/new.txt": "E2",
    "w:/sub": "E21", "w:/../outside/secret.txt": "E2", "w:/abs_out": "E2", "w:/rel_in": "E30",
    "c:/new.txt": "E30", "c:/index.html": "fd ", "c:/sub": "E21",
    "t:/index.html": "E30", "t:/sub": "E21", "W:/index.html": "E30", "W:/sub": "E21",
    "x:/index.html": "30", "x:/sub": "30", "x:/nope": "2",
}


def _probe(root: Path, tmp_path: Path) -> Path:
    build("glibc", "fs_probe", tmp_path)
    shutil.copy(tmp_path / "fs_probe", root / "fs_probe")
    return root / "fs_probe"


def _harness(root: Path, probes: list[str]) -> tuple[bytes, Guest]:
    data = (root / "fs_probe").read_bytes()
    guest = Guest(data, argv=["/fs_probe", *probes], root=root, exe_path="/fs_probe")
    stop = guest.start()
    assert stop.reason == "exited", (stop, unmodelled(guest))
    return guest.stdout, guest


def _chrooted(root: Path, probes: list[str]) -> bytes:
    def enter():
        os.chroot(root)
        os.chdir("/")

    result = subprocess.run(["/fs_probe", *probes], preexec_fn=enter, env={},
                            input=b"", capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_paths_resolve_as_in_a_chroot(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root, secret = _tree(tmp_path)
    _probe(root, tmp_path)
    emulated, guest = _harness(root, PROBES)
    native = _chrooted(root, PROBES)
    for mine, theirs in zip(emulated.splitlines(), native.splitlines()):
        assert mine == theirs
    assert emulated == native
    assert b"SECRET" not in emulated


def test_no_path_leaves_the_tree(tmp_path):
    root, secret = _tree(tmp_path)
    _probe(root, tmp_path)
    out, _guest = _harness(root, PROBES)
    assert b"SECRET" not in out
    lines = dict(line.split(" = ", 1) for line in out.decode().splitlines() if " = " in line)
    for probe in ("r:/../outside/secret.txt", "r:/abs_out", "r:/rel_out", "r:/sub/rel_out2",
                  "r:/proc/self/root/index.html", "a:/sub|../../outside/secret.txt"):
        assert lines[probe] == "E2", probe
    assert lines["r:/loop"] == "E40"
    assert lines["r:/sub/up/index.html"].startswith('"<h1>inside')


def test_writes_are_erofs_and_touch_nothing(tmp_path):
    root, secret = _tree(tmp_path)
    _probe(root, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if not p.is_symlink()}
    out, _guest = _harness(root, list(WRITES))
    lines = dict(line.split(" = ", 1) for line in out.decode().splitlines() if " = " in line)
    assert lines == WRITES
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if not p.is_symlink()}
    assert after == before
    assert secret.read_bytes() == SECRET


def test_without_root_every_path_is_enoent(tmp_path):
    root, _ = _tree(tmp_path)
    _probe(root, tmp_path)
    guest = Guest((root / "fs_probe").read_bytes(),
                  argv=["/fs_probe", "r:/index.html", "s:/", "C:/sub", "k:/x"])
    guest.start()
    assert guest.stdout.decode().splitlines() == [
        "r:/index.html = E2", "s:/ = E2", "C:/sub = E2", "k:/x = E2"]


def test_tree_resolution_unit(tmp_path):
    root, _ = _tree(tmp_path)
    tree = Tree(root)
    assert tree.resolve([], b"/sub/up/sub/up/sub").path == "/sub"
    assert tree.resolve([], b"/dirlink/../index.html").path == "/index.html"
    assert tree.resolve(["sub"], b"../../../..").path == "/"
    assert tree.resolve([], b"/loop") == -40
    assert tree.resolve([], b"/index.html/") == -20
    assert tree.resolve([], b"/nope/x") == -2
    assert tree.resolve([], b"/" + b"a" * 256) == -36
    assert tree.resolve([], b"/x" * 2048) == -36
    assert tree.resolve([], b"/rel_in", follow=False).path == "/rel_in"
    missing = tree.resolve([], b"/sub/new", want_missing=True)
    assert (missing.path, missing.stat, missing.missing) == ("/sub", None, "new")


# --- the file server, natively and in the harness ----------------------------------------------

REQUESTS = [b"GET / HTTP/1.0\r\n\r\n", b"GET /css/style.css HTTP/1.0\r\n\r\n",
            b"GET /blob.bin HTTP/1.0\r\n\r\n", b"GET /missing.html HTTP/1.0\r\n\r\n",
            b"GET /css HTTP/1.0\r\n\r\n", b"GET /../README.md HTTP/1.0\r\n\r\n"]


def _half_closing_fetch(proc: subprocess.Popen, port: int, request: bytes) -> bytes:
    """As ``nc -N``: the request, the sending side shut at once, then every byte back."""
    import socket
    import time

    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            conn = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
    with conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_sendfile_to_a_socket_whose_peer_half_closed_sends_as_on_linux(natives, tmp_path):
    """sendfile(2) to a connection whose client has shut its sending side (its FIN has
    arrived, so the socket polls readable) still sends: the harness once took that
    readiness for a read-only file and answered EBADF, so file_server's bodies were lost
    for any client that half-closes, as nc -N does."""
    data = build("glibc", "file_server", tmp_path)
    port = free_port()
    requests = REQUESTS[:3]
    proc = natives.start(tmp_path / "file_server", ["file_server", str(port),
                                                    str(len(requests)), str(SITE)],
                         {}, stdin=subprocess.DEVNULL)
    native = [_half_closing_fetch(proc, port, request) for request in requests]
    proc.communicate(timeout=TIMEOUT)
    assert native[2].endswith((SITE / "blob.bin").read_bytes())
    guest = Guest(data, argv=["file_server", str(port), str(len(requests)), "/"], root=SITE,
                  record=True)
    guest.start()
    emulated = []
    for request in requests:
        client = guest.connect()
        client.send(request)
        client.shutdown_write()
        guest.run()
        emulated.append(client.recv_all())
    assert emulated == native
    assert not any(name == "sendfile" and ret < 0 for name, ret in guest.calls)


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_file_server_answers_as_on_linux(natives, tmp_path):
    data = build("glibc", "file_server", tmp_path)
    port = free_port()
    count = str(len(REQUESTS))
    proc = natives.start(tmp_path / "file_server", ["file_server", str(port), count, str(SITE)],
                         {}, stdin=subprocess.DEVNULL)
    native = [_native_fetch(proc, port, request) for request in REQUESTS]
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert native[0].startswith(b"HTTP/1.0 200 OK\r\n")
    assert native[2].endswith((SITE / "blob.bin").read_bytes())
    assert native[3].startswith(b"HTTP/1.0 404")

    guest = Guest(data, argv=["file_server", str(port), count, "/"], root=SITE)
    stop = guest.start()
    assert guest.waiting_in_accept, (stop, unmodelled(guest), guest.stderr)
    assert guest.listening() == [(LOOPBACK, port)]
    emulated = [guest.request(request) for request in REQUESTS]
    assert emulated == native
    assert guest.exited and guest.exit_status == 0


# --- strace lines of the file calls, natively and in the harness -------------------------------

FS_CALLS = {"open", "openat", "lseek", "_llseek", "pread64", "getdents64", "access",
            "faccessat", "chdir", "fchdir", "sendfile", "sendfile64", "readlink"}
#: Relative paths only: natively the probe runs from the tree's directory, not chroot'ed
#: (strace and the probe would need the tree to hold their libraries), so nothing may name
#: the host's "/".  getcwd is left out for the same reason.
TRACED = ["r:index.html", "r:sub/inner.txt", "r:nope", "r:sub/../index.html", "d:index.html",
          "n:rel_in", "e:index.html", "g:sub", "g:index.html", "k:rel_in", "k:index.html",
          "R:index.html", "R:nope", "a:sub|inner.txt", "m:index.html", "f:sub/inner.txt",
          "c:index.html", "C:sub", "r:inner.txt", "C:deeper", "r:x", "C:nope", "r:../../loop"]


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_file_calls_print_as_strace_prints_them(tmp_path):
    from support import i386_strace
    from test_calls import _preexec

    root, _ = _tree(tmp_path)
    probe = _probe(root, tmp_path)
    log = tmp_path / "native.log"
    subprocess.run([i386_strace(), "-o", str(log), str(probe), *TRACED], cwd=root, input=b"",
                   capture_output=True, timeout=TIMEOUT, preexec_fn=_preexec, check=True)
    native = [line for line in log.read_text().splitlines()
              if line.split("(", 1)[0] in FS_CALLS]
    lines: list[str] = []
    guest = Guest(probe.read_bytes(), argv=[str(probe), *TRACED], root=root,
                  strace=lines.append, exe_path=str(probe))
    guest.start()
    emulated = [line for line in lines if line.split("(", 1)[0] in FS_CALLS]
    # Buffers' addresses differ (the stack holds the environment; the heap starts after
    # what start-up allocated): they are masked, everything else must be equal.
    found = [f"kernel:  {want}\nharness: {got}" for want, got in zip(native, emulated)
             if re.sub(r"0x[0-9a-f]+", "0x#", want) != re.sub(r"0x[0-9a-f]+", "0x#", got)]
    assert not found, "\n\n".join(found)
    assert len(native) == len(emulated)


# --- Debian's busybox httpd ---------------------------------------------------------------------

BUSYBOX_REQUESTS = [b"GET / HTTP/1.0\r\n\r\n", b"GET /css/style.css HTTP/1.0\r\n\r\n",
                    b"GET /blob.bin HTTP/1.0\r\n\r\n", b"GET /missing HTTP/1.0\r\n\r\n",
                    b"HEAD /index.html HTTP/1.0\r\n\r\n"]


def _undated(response: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: #", response)


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_busybox_httpd_serves_the_tree_as_on_linux(natives):
    """Debian's busybox httpd (``-f`` keeps it in the foreground; it still forks a child per
    connection) serves the tree natively and under ``--root``: the index page, a
    stylesheet, a 100 KB binary file, a 404 and a HEAD, byte for byte (Date normalised)."""
    from test_busybox import third_party

    busybox = third_party("busybox", "busybox-static:i386")
    port = free_port()
    argv = ["busybox", "httpd", "-f", "-p", f"{LOOPBACK}:{port}"]
    proc = natives.start(busybox, [*argv, "-h", str(SITE)], {}, stdin=subprocess.DEVNULL)
    native = [_undated(_native_fetch(proc, port, request)) for request in BUSYBOX_REQUESTS]
    assert native[0].startswith(b"HTTP/1.1 200 OK\r\n")
    guest = Guest.load(busybox, argv=[*argv, "-h", "/"], root=SITE)
    guest.start()
    emulated = [_undated(guest.request(request)) for request in BUSYBOX_REQUESTS]
    assert emulated == native



@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_a_register_read_as_int_twice_is_the_same_int(value):
    """statx's dirfd went through s32 twice (the lookup, then path_init): AT_FDCWD became
    -100 - 2**32 and every relative statx failed with EBADF, busybox httpd's included."""
    from harness.kernel.abi import s32

    assert s32(s32(value)) == s32(value)
    assert -0x80000000 <= s32(value) <= 0x7FFFFFFF
