"""The event-loop server (generator/eventloop.py) on the real kernel and in the harness.

Natively (x86 Linux), for each architecture (the ``arch`` fixture: i386, and x86-64 on an
x86-64 kernel): keep-alive, pipelining, HTTP/1.0, the head deadline against a client that
trickles its head, a client that never reads a large page, --max-connections, and workers
(two serving processes under a supervisor, seen in /proc, a killed one replaced).
In the harness, the same behaviours on the virtual clock, for both architectures on any
host (the ``emu_arch`` fixture).  The expected bytes come from
generator.site's responses: a kept-alive answer is the stored one without its
``Connection: close`` line (RFC 9112 section 9.6: a server that closes says so; one that
keeps the connection open says nothing).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from generator import Page, ServerConfig, Site, build_server, default_site
from generator.site import CONNECTION_CLOSE
from generator.site import NOT_FOUND, Response
from support import LOOPBACK, free_port, wait_listening

TIMEOUT = 10.0
SITE = default_site()
PAGES = dict(SITE.routes)


def _response(path: str) -> Response:
    return Response.of(PAGES[path]) if path in PAGES else NOT_FOUND


def closing(path: str, head: bool = False) -> bytes:
    """The default site's response for ``path``, as a request that closes gets it."""
    return _response(path).sent(head=head)


def kept(path: str, head: bool = False) -> bytes:
    """The response as a kept-alive connection gets it: no Connection line."""
    assert CONNECTION_CLOSE + b"\r\n" in closing(path, head)
    return _response(path).sent(keep_alive=True, head=head)


def kept10(path: str, head: bool = False) -> bytes:
    """The response as an HTTP/1.0 connection that asked for keep-alive gets it: told
    ``Connection: keep-alive`` where the closing one says ``Connection: close``."""
    return _response(path).sent(keep_alive=True, head=head, http10=True)


def get(path: str, *extra: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: x", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"closed after {len(data)} of {n} bytes: {data[-80:]!r}")
        data += chunk
    return data


def recv_to_close(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def build(tmp_path: Path, site: Site = SITE, **config) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "loop.elf"
    path.write_bytes(build_server(site, ServerConfig(port=port, bind=LOOPBACK, **config)))
    path.chmod(0o755)
    return path, port



# --- natively --------------------------------------------------------------------------------

def test_keep_alive_then_connection_close_is_honoured(servers, tmp_path, arch):
    path, port = build(tmp_path, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/"))
        assert recv_exactly(s, len(kept("/"))) == kept("/")
        s.sendall(get("/about", method="HEAD"))
        assert recv_exactly(s, len(kept("/about", head=True))) == kept("/about", head=True)
        s.sendall(get("/nowhere"))
        assert recv_exactly(s, len(kept("/nowhere"))) == kept("/nowhere")
        s.sendall(get("/about", "Connection: Close"))
        assert recv_to_close(s) == closing("/about")


def test_three_pipelined_requests_get_three_responses_in_order(servers, tmp_path, arch):
    path, port = build(tmp_path, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/about") + get("/", method="HEAD") + get("/", "connection: close"))
        assert recv_to_close(s) == kept("/about") + kept("/", head=True) + closing("/")


def test_http_1_0_and_other_methods_close(servers, tmp_path, arch):
    path, port = build(tmp_path, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/", version="1.0"))
        assert recv_to_close(s) == closing("/")
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/", method="POST") + get("/"))
        assert recv_to_close(s).startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")


def test_http_1_0_keep_alive_stays_open_until_a_request_without_it(servers, tmp_path, arch):
    path, port = build(tmp_path, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/", "Connection: keep-alive", version="1.0"))
        assert recv_exactly(s, len(kept10("/"))) == kept10("/")
        s.sendall(get("/about", "Connection: Keep-Alive", version="1.0", method="HEAD")
                  + get("/nowhere", "Connection: keep-alive", version="1.0"))
        want = kept10("/about", head=True) + kept10("/nowhere")
        assert recv_exactly(s, len(want)) == want
        s.sendall(get("/about", version="1.0"))
        assert recv_to_close(s) == closing("/about")


def test_the_head_deadline_drops_a_trickling_client_while_others_are_served(servers,
                                                                            tmp_path, arch):
    """A client that sends one byte of its head every 0.3 s is dropped once the head
    deadline (2 s) has passed, however it trickles; meanwhile every other request is
    answered at once."""
    path, port = build(tmp_path, header_timeout=2, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    slow = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)
    started = time.monotonic()
    request = get("/")
    dropped = None
    answered = []
    for i in range(len(request)):
        try:
            slow.sendall(request[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            dropped = time.monotonic() - started
            break
        t = time.monotonic()
        with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as other:
            other.sendall(get("/about", "Connection: close"))
            assert recv_to_close(other) == closing("/about")
        answered.append(time.monotonic() - t)
        slow.settimeout(0.3)
        try:
            if slow.recv(1) == b"":
                dropped = time.monotonic() - started
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            dropped = time.monotonic() - started
            break
    slow.close()
    assert dropped is not None and 2.0 <= dropped < 4.0, dropped
    assert max(answered) < 0.5, answered


def test_a_client_that_never_reads_a_large_page_blocks_nobody(servers, tmp_path, arch):
    big = Page.make(b"z" * (8 << 20), "application/octet-stream")
    site = Site((("/", big), ("/small", PAGES["/about"])))
    path, port = build(tmp_path, site, send_timeout=2, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((LOOPBACK, port))
    stuck.sendall(get("/"))
    time.sleep(0.2)
    for _ in range(5):
        t = time.monotonic()
        with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as other:
            other.sendall(get("/small", "Connection: close"))
            assert recv_to_close(other).endswith(PAGES["/about"].body)
        assert time.monotonic() - t < 0.5
    time.sleep(3.2)  # past the send deadline: the reader that never read was dropped
    # What the kernel had queued before the close still arrives, then the end: less than
    # the page, since the server gave up on the rest.
    got = 0
    try:
        while chunk := stuck.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        pass
    stuck.close()
    assert 0 < got < 8 << 20


def test_max_connections_closes_the_next_one_at_once(servers, tmp_path, arch):
    path, port = build(tmp_path, max_connections=2, arch=arch)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    time.sleep(0.1)  # wait_listening's own connection is gone
    held = [socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) for _ in range(2)]
    third = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)
    try:
        third.sendall(get("/"))
        assert recv_to_close(third) == b""
    except ConnectionResetError:
        pass
    third.close()
    held[0].sendall(get("/"))
    assert recv_exactly(held[0], len(kept("/"))) == kept("/")
    for s in held:
        s.close()


def _workers(supervisor: int) -> list[int]:
    """The pids whose parent is ``supervisor``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == supervisor:
                found.append(int(entry))
    return sorted(found)


def stop_group(proc) -> None:
    """SIGKILL to the supervisor's whole process group (its workers inherit it), so that
    no worker outlives the test and no replacement is forked in between."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=TIMEOUT)


def test_two_workers_serve_and_a_killed_one_is_replaced(servers, tmp_path, arch):
    path, port = build(tmp_path, workers=2, arch=arch)
    proc = servers.spawn(path, start_new_session=True)
    wait_listening(proc, port)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    for pid in workers:
        assert os.readlink(f"/proc/{pid}/exe") == str(path)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = _workers(proc.pid)
        if len(now) == 2 and workers[0] not in now:
            break
        time.sleep(0.05)
    assert len(now) == 2 and workers[0] not in now and workers[1] in now
    for _ in range(20):
        with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
            s.sendall(get("/", "Connection: close"))
            assert recv_to_close(s) == closing("/")
    stop_group(proc)
    assert _workers(proc.pid) == []


# --- in the harness, on the virtual clock ----------------------------------------------------

@pytest.fixture(params=["i386", "x86_64"])
def emu_arch(request) -> str:
    """Both architectures, in the harness on any host (unlike ``arch``, which runs the
    program natively and skips what the host cannot run)."""
    return request.param


def guest(site: Site = SITE, **config):
    from harness import Guest

    g = Guest(build_server(site, ServerConfig(**config)))
    g.start()
    return g


def test_emulated_keep_alive_and_pipelining(emu_arch):
    g = guest(arch=emu_arch)
    c = g.connect()
    c.send(get("/"))
    g.run()
    assert c.recv() == kept("/")
    c.send(get("/about") + get("/", method="HEAD") + get("/nowhere", "Connection: close"))
    g.run()
    assert c.recv() == kept("/about") + kept("/", head=True) + closing("/nowhere")
    assert c.closed_by_peer
    c.close()
    d = g.connect()
    d.send(get("/", version="1.0"))
    g.run()
    assert d.recv() == closing("/") and d.closed_by_peer


def test_emulated_head_deadline_drops_a_trickler_and_serves_the_rest(emu_arch):
    g = guest(header_timeout=3, arch=emu_arch)
    slow = g.connect()
    slow.send(b"GET / HT")
    g.run()
    for _ in range(5):
        g.stall(1)                 # one second passes...
        slow.send(b"T")            # ...and another byte trickles in
        g.run()
        other = g.connect()
        other.send(get("/about", "Connection: close"))
        g.run()
        assert other.recv() == closing("/about")
        other.close()
        if slow.closed_by_peer:
            break
    assert slow.closed_by_peer and slow.received == b""


def test_emulated_non_reader_blocks_nobody_and_meets_the_send_deadline(emu_arch):
    big = Page.make(b"z" * (8 << 20), "application/octet-stream")
    g = guest(Site((("/", big), ("/small", PAGES["/about"]))), send_timeout=2, arch=emu_arch)
    stuck = g.connect()
    stuck.rcvbuf = 4096
    stuck.send(get("/"))
    g.run()
    assert not stuck.closed_by_peer
    other = g.connect()
    other.send(get("/small", "Connection: close"))
    g.run()
    assert other.recv().endswith(PAGES["/about"].body)
    g.stall(3)
    g.run()
    assert stuck.closed_by_peer
    assert len(stuck.received) < 8 << 20


def test_emulated_two_workers_under_a_supervisor(emu_arch):
    g = guest(workers=2, arch=emu_arch)
    tasks = g.kernel.tasks
    assert tasks is not None and len([p for p in tasks.procs.values() if p.status is None]) == 3
    for _ in range(4):
        assert g.request(get("/", "Connection: close")) == closing("/")


# --- the program itself ----------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2, "auto"])
def test_capstone_decodes_every_instruction_the_encoder_wrote(workers):
    """capstone, an independent decoder, reads the whole program from its entry point to
    the end of its code as instructions: no byte it cannot decode, and exactly as many
    instructions as the encoder emitted (so none was mis-sized)."""
    from generator.eventloop import assemble
    from harness.elf import load
    from harness.trace.listing import listing_lines

    config = ServerConfig(workers=workers)
    a, _ = assemble(SITE, config)
    lines = [line for line in listing_lines(load(build_server(SITE, config)))
             if line.address is not None]
    assert all(line.decoded for line in lines), [str(x) for x in lines if not x.decoded]
    assert sum(len(line.code) for line in lines) == a.text_size
    assert len(lines) == len(a.text.items)


def test_the_overhead_stays_within_2048_bytes():
    """Issue 12's budget: the file minus its distinct responses, for the default site,
    with every feature (workers auto) built in."""
    from generator.server import response_bytes

    data = build_server(SITE, ServerConfig(workers="auto"))
    overhead = len(data) - sum(map(len, response_bytes(SITE)))
    assert overhead <= 2048, overhead


def test_workers_auto_starts_one_per_cpu_the_process_may_use(servers, tmp_path, arch):
    """--workers auto counts the bits of sched_getaffinity's mask (sched_getaffinity(2));
    run under taskset-like affinity of one CPU, it serves alone, without a supervisor."""
    path, port = build(tmp_path, workers="auto", arch=arch)
    cpus = sorted(os.sched_getaffinity(0))
    proc = servers.spawn(path, start_new_session=True)
    wait_listening(proc, port)
    expected = len(cpus) if len(cpus) > 1 else 0
    assert len(_workers(proc.pid)) == expected
    stop_group(proc)
    solo = servers.spawn(path, preexec_fn=lambda: os.sched_setaffinity(0, cpus[:1]))
    wait_listening(solo, port)
    assert _workers(solo.pid) == []
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(get("/", "Connection: close"))
        assert recv_to_close(s) == closing("/")


@pytest.mark.parametrize("header, closes", [
    ("Connection: close", True), ("connection:\tCLOSE", True),
    ("Connection: keep-alive, close", True), ("Connection: TE, close", True),
    ("Connection: keep-alive", False), ("X-Connection: close", False),
])
def test_emulated_connection_options_are_a_list(header, closes, emu_arch):
    """RFC 9112 section 9.6: "close" among the Connection options, in any case, wherever
    it stands in the list, closes the connection after the response."""
    g = guest(arch=emu_arch)
    c = g.connect()
    c.send(get("/", header))
    g.run()
    assert c.recv() == (closing("/") if closes else kept("/"))
    assert c.closed_by_peer == closes


@pytest.mark.parametrize("header, closes", [
    ("Connection: keep-alive", False), ("connection:\tKEEP-ALIVE", False),
    ("Connection: TE, Keep-Alive", False), ("Connection: keep-alive, close", True),
    ("Connection: close, keep-alive", True), ("Keep-Alive: timeout=5", True),
    ("X-Connection: keep-alive", True), ("Connection: keeps", True),
])
def test_emulated_http_1_0_stays_open_only_when_it_asks(header, closes, emu_arch):
    """RFC 9112 section 9.3: an HTTP/1.0 connection persists when its request carries the
    keep-alive connection option (and not close, which wins); the response then says
    ``Connection: keep-alive`` (appendix C.2.2), or an HTTP/1.0 client would wait for the
    close.  Then the next request on the same connection is answered."""
    g = guest(arch=emu_arch)
    c = g.connect()
    c.send(get("/", header, version="1.0"))
    g.run()
    assert c.recv() == (closing("/") if closes else kept10("/"))
    assert c.closed_by_peer == closes
    if not closes:
        c.send(get("/about", header, version="1.0", method="HEAD"))
        g.run()
        assert c.recv() == kept10("/about", head=True)
        assert not c.closed_by_peer


def test_emulated_a_bare_cr_does_not_end_the_request_line(emu_arch):
    """RFC 9112 section 2.2: a CR not followed by LF is not a line ending: 400."""
    g = guest(arch=emu_arch)
    c = g.connect()
    c.send(b"GET / HTTP/1.1\rX\r\nHost: x\r\n\r\n")
    g.run()
    assert c.recv().startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_emulated_send_deadline_runs_from_the_last_write_that_moved_bytes(emu_arch):
    """A client that keeps reading, slowly, is not cut off: the send deadline (2 s) runs
    between two writes that moved bytes, as nginx's send_timeout does."""
    big = Page.make(b"z" * (8 << 20), "application/octet-stream")
    g = guest(Site((("/", big),)), send_timeout=2, arch=emu_arch)
    c = g.connect()
    c.rcvbuf = 65536
    c.send(get("/"))
    g.run()
    got = len(c.recv())
    for _ in range(400):
        if c.closed_by_peer:
            break
        g.stall(1)
        got += len(c.recv())
    assert got == len(Response.of(big).sent(keep_alive=True))
