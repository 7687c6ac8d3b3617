"""``webelf serve``: the emulated guest on a real loopback port (harness/bridge.py).

Each test starts ``webelf serve`` as a user would, talks to it over real sockets on
127.0.0.1 (http.client, curl, raw sockets), and stops it with SIGTERM, which must end it
with status 0.  Where the same program can run natively, its bytes are the judge: a
response through ``serve`` must equal, byte for byte, what the native program sends for the
same request.  The tests that need no native execution (load, disconnects, exit statuses)
run on any OS.
"""

from __future__ import annotations

import http.client
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

from cprograms import build
from generator import ServerConfig, build_server, default_site
from generator.site import Response, Site, Page
from rundiff import natives  # noqa: F401 - a fixture
from test_cprograms import _native_fetch
from support import (
    FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, env_without_proxy, free_port, tool,
    wait_listening, webelf_lines,
)

TIMEOUT = 30.0
#: A Common Log Format line (Apache's "common"): client, ident, user, [time], "request",
#: status, bytes.
CLF = re.compile(r'^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                 r'"((?:[^"\\]|\\.)*)" (\d{3}|-) (\d+|-)$')
URL = re.compile(rb"^webelf: serving .* at http://127\.0\.0\.1:(\d+)/ \((.*)\)\n$")


class Serving:
    """One ``webelf serve`` process: its port, and its stdout read line by line."""

    def __init__(self, elf: Path, *args: str, port: int | None = None, cwd=None) -> None:
        command = [sys.executable, "-m", "webelf", "serve", str(elf)]
        if port is not None:
            command += ["--port", str(port)]
        self.proc = subprocess.Popen([*command, *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self._buffer = b""
        first = self.line(TIMEOUT)
        match = URL.match(first)
        if match is None:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=TIMEOUT)
            raise AssertionError(f"webelf serve said {first!r}, stderr {err!r}")
        self.port = int(match.group(1))
        self.note = match.group(2).decode()

    def line(self, timeout: float) -> bytes:
        """The next line of stdout, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"no line from webelf serve in {timeout}s "
                                         f"(so far {self._buffer!r})")
                chunk = self.proc.stdout.read1(65536)
                if not chunk:
                    raise AssertionError(f"webelf serve ended: {self._buffer!r}, "
                                         f"{self.proc.stderr.read()!r}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def stop(self, signum: int | None = signal.SIGTERM) -> tuple[int, list[str], bytes]:
        """Send ``signum`` (None: none, it ends by itself) and wait: (exit status, the
        access-log lines, stderr)."""
        if signum is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=TIMEOUT)
        lines = (self._buffer + out).decode().splitlines()
        return self.proc.returncode, lines, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)


@pytest.fixture
def serving():
    """Starts ``webelf serve`` processes; any still running at the end is killed."""
    started: list[Serving] = []

    def start(*args, **kwargs) -> Serving:
        s = Serving(*args, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def default_elf(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "site.elf"
    path.write_bytes(build_server(default_site(), ServerConfig(port=port, bind=LOOPBACK)))
    path.chmod(0o755)
    return path


def exchange(port: int, request: bytes, *, half_close: bool = True) -> bytes:
    """Send ``request`` on a new connection, half-close (as ``nc -N`` does, so a server
    that waits for more reads end of file), and read to the server's close."""
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(request)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def curl(port: int, *args: str) -> bytes:
    out = subprocess.run([tool("curl"), "--silent", "--show-error", "--include",
                          "--max-time", "20", *args], capture_output=True, check=True,
                         env=env_without_proxy(), timeout=TIMEOUT)
    return out.stdout


def get(port: int, path: str, method: str = "GET") -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def corpus() -> list[tuple[str, bytes]]:
    return sorted((p.stem, p.read_bytes()) for p in (FIXTURES / "requests").glob("*.http"))


# --- the default site, against the same ELF run natively ----------------------------------------

@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_every_page_and_request_through_serve_equals_the_native_bytes(servers, serving,
                                                                      tmp_path):
    """The native ELF holds the guest's port, so serve falls back to a port the OS picks
    (and says so); then every page, fetched with http.client, with curl and raw, and every
    request of the corpus, gets the native program's bytes."""
    port = free_port()
    elf = default_elf(tmp_path, port)
    native = servers.spawn(elf)
    wait_listening(native, port)
    served = serving(elf)
    assert served.port != port and f"127.0.0.1:{port}" in served.note
    paths = [path for path, _ in default_site().routes]
    assert len(paths) >= 2
    for path in paths:
        assert get(served.port, path) == get(port, path)
        assert get(served.port, path, "HEAD") == get(port, path, "HEAD")
        assert curl(served.port, f"http://{LOOPBACK}:{served.port}{path}") == \
            curl(port, f"http://{LOOPBACK}:{port}{path}")
        raw = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        assert exchange(served.port, raw) == exchange(port, raw) == \
            Response.of(dict(default_site().routes)[path]).sent(keep_alive=True)
    for name, request in corpus():
        assert exchange(served.port, request) == exchange(port, request), name
    status, log, err = served.stop()
    assert status == 0, err
    assert webelf_lines(err) == [], "serve says nothing but the guest's banner"
    entries = [CLF.match(line) for line in log]
    assert all(entries), [line for line, m in zip(log, entries) if m is None]
    assert ("127.0.0.1", '"GET /about HTTP/1.1"', "200") in {
        (m.group(1), f'"{m.group(3)}"', m.group(4)) for m in entries}


# --- a forking server and busybox httpd -------------------------------------------------------

FORK_REQUESTS = [b"GET /a HTTP/1.0\r\n\r\n", b"GET /bb HTTP/1.0\r\nHost: x\r\n\r\n",
                 b"GET /ccc HTTP/1.0\r\n\r\n"]


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_a_forking_server_through_serve_answers_as_natively(natives, serving, tmp_path):
    """fork_server forks a child per connection; after COUNT connections it waits for its
    children and exits 0, so serve ends by itself with the guest's status, 0."""
    build("glibc", "fork_server", tmp_path)
    elf = tmp_path / "fork_server"
    port = free_port()
    count = str(len(FORK_REQUESTS))
    proc = natives.start(elf, ["fork_server", str(port), count], {}, stdin=subprocess.DEVNULL)
    native = [_native_fetch(proc, port, r) for r in FORK_REQUESTS]
    assert proc.wait(timeout=TIMEOUT) == 0
    served = serving(elf, "--", str(free_port()), count)
    emulated = [exchange(served.port, r, half_close=False) for r in FORK_REQUESTS]
    assert emulated == native
    assert native[1].endswith(b"child served: GET /bb HTTP/1.0\n")
    status, log, err = served.stop(None)
    assert status == 0, err  # it exited by itself, with its own status
    assert [CLF.match(line).group(3, 4) for line in log] == [
        ("GET /a HTTP/1.0", "200"), ("GET /bb HTTP/1.0", "200"), ("GET /ccc HTTP/1.0", "200")]


def _undated(response: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: #", response)


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_busybox_httpd_with_root_through_serve(natives, serving):
    """Debian's busybox httpd serving a tree natively and through serve --root: the same
    bytes but for the Date header, whose value through serve is the wall clock's (the
    guest's CLOCK_REALTIME follows it)."""
    from test_busybox import third_party
    from test_fs import BUSYBOX_REQUESTS, SITE

    busybox = third_party("busybox", "busybox-static:i386")
    port = free_port()
    argv = ["httpd", "-f", "-p", f"{LOOPBACK}:{port}"]
    proc = natives.start(busybox, ["busybox", *argv, "-h", str(SITE)], {},
                         stdin=subprocess.DEVNULL)
    native = [_undated(_native_fetch(proc, port, r)) for r in BUSYBOX_REQUESTS]
    served = serving(busybox, "--root", str(SITE), "--", *argv, "-h", "/")
    assert served.port != port  # the native one holds the guest's port
    before = time.time()
    emulated = [exchange(served.port, r, half_close=False) for r in BUSYBOX_REQUESTS]
    after = time.time()
    assert [_undated(r) for r in emulated] == native
    assert native[0].startswith(b"HTTP/1.1 200 OK\r\n")
    date = re.search(rb"\r\nDate: ([^\r]*)", emulated[0]).group(1).decode()
    from email.utils import parsedate_to_datetime

    stamp = parsedate_to_datetime(date).timestamp()
    assert before - 2 <= stamp <= after + 2, (date, before, after)
    status, log, err = served.stop()
    assert status == 0, err
    # busybox sends the page after its answer to HEAD (RFC 9110 section 9.3.2 says a HEAD
    # response has no content): bytes that answer no request, logged as such.
    blob = (SITE / "blob.bin").stat().st_size
    index = (SITE / "index.html").stat().st_size
    assert [CLF.match(line).group(3, 4, 5) for line in log] == [
        ("GET / HTTP/1.0", "200", str(index)),
        ("GET /css/style.css HTTP/1.0", "200", str((SITE / "css" / "style.css").stat().st_size)),
        ("GET /blob.bin HTTP/1.0", "200", str(blob)),
        ("GET /missing HTTP/1.0", "404", mock.ANY),
        ("HEAD /index.html HTTP/1.0", "200", "-"),
        ("-", "-", str(index))]


# --- load, disconnects, slow clients: no native execution needed ------------------------------

def test_300_sequential_and_400_concurrent_requests_without_an_error(serving, tmp_path):
    """300 requests one after another, each on its own connection that asks to close, then
    20 http.client clients sending 20 each at once (kept-alive requests, each client
    closing its connection after its response): every one gets the page, whole."""
    served = serving(default_elf(tmp_path, free_port()))
    page = Response.of(dict(default_site().routes)["/about"]).data
    request = b"GET /about HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for _ in range(300):
        assert exchange(served.port, request, half_close=False) == page
    failures: list[str] = []

    def client() -> None:
        for _ in range(20):
            try:
                status, _, body = get(served.port, "/about")
                if status != 200 or not page.endswith(body):
                    failures.append(f"{status} {len(body)}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 4)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    status, log, err = served.stop()
    assert status == 0, err
    assert len(log) == 700
    assert all(CLF.match(line).group(3, 4) == ("GET /about HTTP/1.1", "200") for line in log)


def test_clients_that_leave_mid_request_or_mid_response_do_not_stop_it(serving, tmp_path):
    """Half a request then a close, half a request then a reset, a reset before reading a
    large page, a close after the first bytes of it: serve goes on, and the next client
    gets the page."""
    big = Page.make(b"<!DOCTYPE html><title>big</title>" + b"x" * (2 << 20), "text/html")
    elf = tmp_path / "big.elf"
    elf.write_bytes(build_server(Site.single(big), ServerConfig(port=free_port())))
    served = serving(elf)
    whole = Response.of(big).sent(keep_alive=True)
    for linger in (False, True):
        s = socket.create_connection((LOOPBACK, served.port), timeout=TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHo")
        if linger:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for read_first in (0, 1000):
        s = socket.create_connection((LOOPBACK, served.port), timeout=TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < read_first:
            got += s.recv(read_first - len(got))
        assert whole.startswith(got)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert exchange(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == whole
    assert served.proc.poll() is None
    status, log, err = served.stop(signal.SIGINT)  # Ctrl-C ends it cleanly too
    assert status == 0, err
    assert webelf_lines(err) == [], "serve says nothing but the guest's banner"
    assert CLF.match(log[-1]).group(3, 4, 5) == ("GET / HTTP/1.1", "200", str(len(big.body)))


def test_a_reader_that_stops_reading_stops_the_guest_not_the_memory(tmp_path):
    """In-process, with the bridge stepped by hand: a real client that reads nothing of a
    large response leaves the guest asleep in write once its socket's buffers and the
    bridge's OUT_LIMIT are full; another client is still accepted; and once the first reads,
    it gets every byte."""
    from harness import Guest
    from harness.bridge import OUT_LIMIT, Bridge, listen

    big = Page.make(b"y" * (16 << 20), "application/octet-stream")
    guest = Guest(build_server(Site.single(big), ServerConfig(port=8080)))
    started = time.monotonic()
    guest.start()
    bridge = Bridge(guest, [(listen(LOOPBACK, 0), (0, 8080))], started=started)
    port = bridge.listeners[0][0].getsockname()[1]
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
        s.settimeout(TIMEOUT)
        s.connect((LOOPBACK, port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(200):
            bridge.step(0.01)
        stop = guest.last_stop  # its writev took what fitted; it waits for EPOLLOUT
        assert (stop.reason, stop.syscall) == ("blocked", "epoll_wait")
        (link,) = bridge.links.values()
        assert len(link.out) <= OUT_LIMIT
        # The guest's socket buffers (harness.net's model: its send buffer and the
        # client's window) and the bridge's share hold part of the 16 MiB; the host's
        # socket buffers hold some more; and nothing more is taken from the guest.
        client = link.client
        held = client.available() + len(link.out)
        for _ in range(20):
            bridge.step(0.01)
        assert client.available() + len(link.out) == held
        assert held <= client.peer.sndbuf + client.rcvbuf // 2 + OUT_LIMIT
        got = bytearray()
        s.setblocking(False)
        expected = Response.of(big).sent(keep_alive=True)
        deadline = time.monotonic() + TIMEOUT
        while len(got) < len(expected) and time.monotonic() < deadline:
            bridge.step(0.001)
            try:
                while chunk := s.recv(1 << 20):
                    got += chunk
            except BlockingIOError:
                pass
        assert bytes(got) == expected
        s.close()
    finally:
        bridge.close()
        guest.close()


# --- exits, faults and bad input: as webelf run ------------------------------------------------

def test_a_guest_that_exits_ends_serve_with_its_status_and_run_s_message(tmp_path):
    exit42 = FIXTURES / "programs" / "exit42.elf"
    served = subprocess.run([sys.executable, "-m", "webelf", "serve", str(exit42)],
                            capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    ran = subprocess.run([sys.executable, "-m", "webelf", "run", str(exit42)],
                         capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert served.returncode == ran.returncode == 42
    assert served.stderr == ran.stderr == b"webelf: the guest exited with status 42\n"


def test_a_guest_that_crashes_mid_service_ends_serve_as_run_reports_it(serving, tmp_path):
    """crash_server answers /, then dies of SIGSEGV on /crash: serve exits 139 with the
    line webelf run prints for the same crash."""
    build("glibc", "crash_server", tmp_path)
    elf = tmp_path / "crash_server"
    served = serving(elf, "--", "8080")
    assert exchange(served.port, b"GET / HTTP/1.0\r\n\r\n").endswith(b"\r\n\r\nok\n")
    with socket.create_connection((LOOPBACK, served.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /crash HTTP/1.0\r\n\r\n")
        try:
            assert s.recv(100) == b""  # the guest died: its sockets close
        except ConnectionResetError:
            pass
    status, log, err = served.stop(None)  # it ends by itself
    request = tmp_path / "crash.http"
    request.write_bytes(b"GET /crash HTTP/1.0\r\n\r\n")
    ran = subprocess.run([sys.executable, "-m", "webelf", "run", str(elf), "--request",
                          str(request), "--", "8080"], capture_output=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert status == ran.returncode == 128 + signal.SIGSEGV
    assert err.splitlines()[0] == ran.stderr.splitlines()[0]
    assert err.startswith(b"webelf: guest killed by SIGSEGV")
    assert CLF.match(log[0]).group(3, 4) == ("GET / HTTP/1.0", "200")


def test_an_explicit_port_that_is_taken_is_one_line_and_status_1(tmp_path):
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "webelf", "serve",
                              str(default_elf(tmp_path, 8080)), "--port", str(port)],
                             capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert webelf_lines(out.stderr) == [
        f"webelf: cannot listen on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize("host, why", [("localhost", "is not a dotted IPv4 address"),
                                       ("::1", "is not a dotted IPv4 address")])
def test_a_bad_host_is_a_usage_error(tmp_path, host, why):
    out = subprocess.run([sys.executable, "-m", "webelf", "serve",
                          str(default_elf(tmp_path, 8080)), "--host", host],
                         capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    (line,) = out.stderr.decode().splitlines()
    assert why in line


def test_another_host_is_allowed_only_when_given_and_warned_about(serving, tmp_path):
    served = serving(default_elf(tmp_path, free_port()), "--host", "0.0.0.0")
    assert exchange(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 200 OK\r\n")
    status, log, err = served.stop()
    assert status == 0
    assert webelf_lines(err) == [
        "webelf: warning: listening on 0.0.0.0: other machines can reach the guest (the "
        "default, 127.0.0.1, is this machine only)"]


def test_a_guest_that_exits_without_listening_ends_serve_as_it_ends_run(tmp_path):
    """hello writes to stdout and exits 0: serve passes its output and status on, as run."""
    hello = FIXTURES / "programs" / "hello.elf"
    out = subprocess.run([sys.executable, "-m", "webelf", "serve", str(hello)],
                         capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    ran = subprocess.run([sys.executable, "-m", "webelf", "run", str(hello)],
                         capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert (out.returncode, out.stdout, out.stderr) == (ran.returncode, ran.stdout, ran.stderr)
    assert out.stdout and out.returncode == 0


# --- many clients: the backlog, a forking guest, and the wall clock ----------------------------

def test_a_silent_client_holds_nobody_up_and_meets_its_deadline_on_the_wall_clock(serving,
                                                                                 tmp_path):
    """While a client that sends nothing is connected, the next is answered at once; the
    silent one is dropped once its head deadline (1 s here) has passed, measured on the
    wall clock, which the guest's clock follows."""
    elf = tmp_path / "site.elf"
    elf.write_bytes(build_server(default_site(), ServerConfig(port=free_port(),
                                                              header_timeout=1)))
    served = serving(elf)
    with socket.create_connection((LOOPBACK, served.port), timeout=TIMEOUT) as silent:
        time.sleep(0.1)  # the guest accepts it, and waits for its request
        started = time.monotonic()
        response = exchange(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert time.monotonic() - started < 0.5
        assert response == Response.of(dict(default_site().routes)["/"]).sent(keep_alive=True)
        assert silent.recv(1) == b""  # it was dropped without an answer
        waited = time.monotonic() - started
        assert 0.8 <= waited < 3.5, waited
    status, _, err = served.stop()
    assert status == 0, err


def test_a_forking_guest_serves_two_clients_at_once(serving, tmp_path):
    """fork_server's child for the first client waits for the rest of its request while
    the parent accepts the second client and another child answers it at once."""
    build("glibc", "fork_server", tmp_path)
    served = serving(tmp_path / "fork_server", "--", str(free_port()), "2")
    with socket.create_connection((LOOPBACK, served.port), timeout=TIMEOUT) as slow:
        slow.sendall(b"GET /slow HTTP/1.0\r\n")
        fast = exchange(served.port, b"GET /fast HTTP/1.0\r\n\r\n", half_close=False)
        assert fast.endswith(b"child served: GET /fast HTTP/1.0\n")
        slow.sendall(b"\r\n")
        rest = b""
        while chunk := slow.recv(65536):
            rest += chunk
        assert rest.endswith(b"child served: GET /slow HTTP/1.0\n")
    status, log, err = served.stop(None)
    assert status == 0, err
    assert [CLF.match(line).group(3) for line in log] == ["GET /fast HTTP/1.0",
                                                          "GET /slow HTTP/1.0"]


def _read_until_reset(port: int, request: bytes) -> tuple[bytes, str]:
    """What a client that sent ``request`` reads, and how the connection ended."""
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(request)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            return got, "reset"
        return got, "end of file"


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_a_guest_that_closes_with_unread_bytes_resets_the_real_client_as_natively(
        natives, serving, tmp_path):
    """crash_server reads the head only: closing with a 10 KB body unread sends RST
    (tcp_close, RFC 2525 section 2.17).  The real client reads the response, then gets
    ECONNRESET, natively and through serve alike; a request without a body ends with a FIN
    both ways."""
    build("glibc", "crash_server", tmp_path)
    elf = tmp_path / "crash_server"
    port = free_port()
    proc = natives.start(elf, ["crash_server", str(port)], {}, stdin=subprocess.DEVNULL)
    _native_fetch(proc, port, b"GET / HTTP/1.0\r\n\r\n")
    with_body = b"POST / HTTP/1.0\r\nContent-Length: 10240\r\n\r\n" + b"b" * 10240
    plain = b"GET / HTTP/1.0\r\n\r\n"
    native = [_read_until_reset(port, r) for r in (with_body, plain)]
    served = serving(elf, "--", str(port))
    emulated = [_read_until_reset(served.port, r) for r in (with_body, plain)]
    assert emulated == native
    assert [how for _, how in native] == ["reset", "end of file"]
    assert native[0][0].endswith(b"\r\n\r\nok\n")


def test_strace_shows_the_guest_s_calls_on_stderr(serving, tmp_path):
    served = serving(default_elf(tmp_path, free_port()), "--strace")
    assert exchange(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 200 OK\r\n")
    status, log, err = served.stop()
    assert status == 0
    lines = err.decode().splitlines()
    assert any(re.match(r"bind\(3, \{sa_family=AF_INET, sin_port=htons\(\d+\)", line)
               for line in lines), lines[:10]
    assert any(re.match(r"accept4\(3, .*\) +\= 5$", line) for line in lines), lines
    assert any(re.match(r'writev\(5, \[\{iov_base="HTTP/1.1 200 OK\\r\\n', line)
               for line in lines), lines
    assert len(log) == 1
