"""A pre-forked, edge-triggered epoll server (fixtures/programs/c/epoll_workers.c, glibc),
natively and in the harness: what the generated server's event loop and workers will ask of
the kernel.

The same clients, in the same order, against the program on the real kernel (the referee)
and in the harness; every client must get the same bytes.  Between them they use:
accept4(SOCK_NONBLOCK) on a non-blocking listener until EAGAIN; epoll_create1, epoll_ctl ADD
(EPOLLIN | EPOLLRDHUP | EPOLLET), MOD (to EPOLLOUT | EPOLLET when a write meets EAGAIN) and
DEL; epoll_wait with a timeout computed from CLOCK_MONOTONIC deadlines; read until EAGAIN;
setsockopt and getsockopt(SO_REUSEPORT); and workers made by fork that share the listening
socket (each with its own epoll set, or one set inherited from the supervisor) or each bind
their own with SO_REUSEPORT, a supervisor that forks a new worker when one exits.

Natively the idle deadline is real time (IDLE_MS); in the harness the virtual clock jumps
there (Guest.stall), so no harness test waits.
"""

from __future__ import annotations

import socket
import time

import pytest

from cprograms import build
from harness import Guest
from rundiff import Natives
from support import NATIVE, NATIVE_REASON, free_port

IDLE_MS = 300
BIG = 8 << 20
#: (mode, workers): a set inherited by two workers would mix their connections' events.
MODES = [("own", 2), ("shared", 1), ("reuseport", 2)]


@pytest.fixture
def natives():
    """Native processes, each in its own session, killed (with their groups) at the end."""
    procs = Natives()
    try:
        yield procs
    finally:
        procs.stop_all()


def requests(n: int) -> list[bytes]:
    return [b"GET /client%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n)]


def answer(path: bytes, size: int, rdhup: int = 0, extra: int = 0) -> bytes:
    text = b"you asked for %s in %d bytes, rdhup=%d\n" % (path, size, rdhup)
    return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (len(text) + extra) + text)


def big_body() -> bytes:
    return b"0123456789abcdef" * (BIG // 16)


# --- the harness -------------------------------------------------------------------------------

class HarnessClients:
    """The scenario's clients on the harness's network (Client objects, the guest run after
    each step, as the real kernel would run it while the clients wait)."""

    def __init__(self, mode: str, workers: int) -> None:
        self.guest = Guest(build("glibc", "epoll_workers"),
                           argv=["epoll_workers", "8080", str(workers), mode, str(IDLE_MS)],
                           record=True)
        self.guest.start()

    def interleaved(self, n: int) -> list[bytes]:
        guest = self.guest
        clients = [guest.connect() for _ in range(n)]
        reqs = requests(n)
        for client, req in zip(clients, reqs):
            client.send(req[:len(req) // 2])
            guest.run()
        for client, req in reversed(list(zip(clients, reqs))):
            client.send(req[len(req) // 2:])
            guest.run()
        assert all(client.closed_by_peer for client in clients)
        return [client.recv_all() for client in clients]

    def half_closed(self) -> bytes:
        client = self.guest.connect()
        client.send(b"GET /half")
        self.guest.run()
        assert not client.closed_by_peer
        client.shutdown_write()
        self.guest.run()
        assert client.closed_by_peer
        return client.recv_all()

    def request(self, data: bytes) -> bytes:
        client = self.guest.connect()
        client.send(data)
        self.guest.run()
        assert client.closed_by_peer
        return client.recv_all()

    def big_while_others_are_served(self) -> tuple[bytes, bytes]:
        guest = self.guest
        slow = guest.connect()
        slow.send(b"GET /big HTTP/1.1\r\n\r\n")
        guest.run()
        assert not slow.closed_by_peer  # the worker waits for EPOLLOUT
        other = self.request(b"GET /meanwhile HTTP/1.1\r\n\r\n")
        data = b""
        while not (slow.closed_by_peer and not slow.available()):
            data += slow.recv_all()
            guest.run()
        return data, other

    def idle_is_dropped(self) -> tuple[bytes, bytes]:
        guest = self.guest
        idle = guest.connect()
        idle.send(b"GET /slow")
        guest.run()
        other = self.request(b"GET /meanwhile HTTP/1.1\r\n\r\n")
        assert not idle.closed_by_peer
        guest.stall(IDLE_MS / 1000)
        assert idle.closed_by_peer
        return idle.recv_all(), other


# --- the real kernel ------------------------------------------------------------------------

class NativeClients:
    """The same clients over 127.0.0.1 against the program running natively."""

    def __init__(self, natives, path, mode: str, workers: int) -> None:
        self.port = free_port()
        self.proc = natives.start(path, ["epoll_workers", str(self.port), str(workers), mode,
                                         str(IDLE_MS)], {})
        deadline = time.monotonic() + 5
        while True:  # connect until it listens: a probe would count as nothing here
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                break
            except ConnectionRefusedError:
                assert self.proc.poll() is None, self.proc.stderr.read()
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.01)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    @staticmethod
    def read_all(sock: socket.socket) -> bytes:
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
        sock.close()
        return data

    def interleaved(self, n: int) -> list[bytes]:
        socks = [self.connect() for _ in range(n)]
        reqs = requests(n)
        for sock, req in zip(socks, reqs):
            sock.sendall(req[:len(req) // 2])
        for sock, req in reversed(list(zip(socks, reqs))):
            sock.sendall(req[len(req) // 2:])
        return [self.read_all(sock) for sock in socks]

    def half_closed(self) -> bytes:
        sock = self.connect()
        sock.sendall(b"GET /half")
        time.sleep(0.05)
        sock.shutdown(socket.SHUT_WR)
        return self.read_all(sock)

    def request(self, data: bytes) -> bytes:
        sock = self.connect()
        sock.sendall(data)
        return self.read_all(sock)

    def big_while_others_are_served(self) -> tuple[bytes, bytes]:
        slow = self.connect()
        slow.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        time.sleep(0.1)  # the worker fills the connection and waits for EPOLLOUT
        other = self.request(b"GET /meanwhile HTTP/1.1\r\n\r\n")
        return self.read_all(slow), other

    def idle_is_dropped(self) -> tuple[bytes, bytes]:
        idle = self.connect()
        idle.sendall(b"GET /slow")
        started = time.monotonic()
        other = self.request(b"GET /meanwhile HTTP/1.1\r\n\r\n")
        assert time.monotonic() - started < IDLE_MS / 1000, "served only after the deadline"
        data = self.read_all(idle)
        assert time.monotonic() - started >= IDLE_MS / 1000 * 0.9
        return data, other


def scenario(clients) -> dict[str, object]:
    """Every step, in order, and what the clients received."""
    out: dict[str, object] = {}
    out["interleaved"] = clients.interleaved(6)
    out["half"] = clients.half_closed()
    out["big"] = clients.big_while_others_are_served()
    out["idle"] = clients.idle_is_dropped()
    out["die"] = clients.request(b"GET /die HTTP/1.1\r\n\r\n")
    out["after"] = [clients.request(b"GET /after%d HTTP/1.1\r\n\r\n" % i) for i in range(3)]
    return out


def expected() -> dict[str, object]:
    def to(request: bytes, rdhup: int = 0, extra: int = 0) -> bytes:
        return answer(request.split()[1], len(request), rdhup, extra)

    meanwhile = to(b"GET /meanwhile HTTP/1.1\r\n\r\n")
    return {
        "interleaved": [to(req) for req in requests(6)],
        "half": to(b"GET /half", rdhup=1),
        "big": (to(b"GET /big HTTP/1.1\r\n\r\n", extra=BIG) + big_body(), meanwhile),
        "idle": (b"", meanwhile),
        "die": to(b"GET /die HTTP/1.1\r\n\r\n"),
        "after": [to(b"GET /after%d HTTP/1.1\r\n\r\n" % i) for i in range(3)],
    }


@pytest.mark.parametrize("mode, workers", MODES)
def test_the_harness_serves_as_the_program_means(mode, workers):
    clients = HarnessClients(mode, workers)
    got = scenario(clients)
    assert got == expected()
    calls = clients.guest.calls
    assert ("write", -11) in calls  # EAGAIN: the big answer filled the connection
    assert ("exit_group", None) in calls or ("exit", None) in calls  # /die
    assert not clients.guest.exited  # the supervisor forked another worker


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("mode, workers", MODES)
def test_the_same_bytes_as_on_the_kernel(natives, tmp_path, mode, workers):
    build("glibc", "epoll_workers", tmp_path)
    native = scenario(NativeClients(natives, tmp_path / "epoll_workers", mode, workers))
    assert native == expected()  # the referee ran the program as meant
    assert scenario(HarnessClients(mode, workers)) == native


@pytest.mark.parametrize("mode, workers", MODES)
def test_request_serves_through_the_workers(mode, workers):
    """Guest.request follows the connection to whichever process holds it: a worker holds
    it while the supervisor waits in wait4 and another worker in epoll_wait; it half-closes
    when the request is not complete, and reads while the worker waits for EPOLLOUT."""
    guest = Guest(build("glibc", "epoll_workers"),
                  argv=["epoll_workers", "8080", str(workers), mode, str(IDLE_MS)])
    guest.start()
    want = expected()
    assert guest.request(b"GET /half") == want["half"]
    assert guest.request(b"GET /big HTTP/1.1\r\n\r\n") == want["big"][0]
    assert guest.request(b"GET /die HTTP/1.1\r\n\r\n") == want["die"]
    assert guest.request(b"GET /after0 HTTP/1.1\r\n\r\n") == want["after"][0]


def test_a_file_leaves_an_epoll_set_when_its_last_fd_in_any_process_closes():
    """eventpoll_release runs from __fput: an item goes when the open file is released, not
    when the process that added it closes its fd while another (a forked one, or a dup)
    still holds the file; and it stays however many processes share the set."""
    from harness import Network
    from harness import linux as L
    from harness.kernel.sys_poll import Epoll, _Item

    net = Network()
    parent = net.fdtable()
    ep = Epoll(parent)
    epfd = parent.install(ep)
    sock = parent.socket(L.AF_INET, L.SOCK_STREAM, 0)
    ep.add((id(parent.get(sock)), sock), _Item(parent.get(sock), sock, L.POLLIN, 7))
    child = parent.fork()
    late = child.socket(L.AF_INET, L.SOCK_STREAM, 0)  # only the child has it
    ep.add((id(child.get(late)), late), _Item(child.get(late), late, L.POLLIN, 8))
    assert parent.close(sock) == 0  # the child still holds the file
    assert [item.data for item in ep.items.values()] == [7, 8]
    assert child.close(sock) == 0  # released: out of the set
    assert [item.data for item in ep.items.values()] == [8]
    copy = child.dup(late)
    assert child.close(late) == 0 and [item.data for item in ep.items.values()] == [8]
    assert child.close(copy) == 0 and ep.items == {}
    assert net.watchers == {}
    other = child.socket(L.AF_INET, L.SOCK_STREAM, 0)
    ep.add((id(child.get(other)), other), _Item(child.get(other), other, L.POLLIN, 9))
    parent.close(epfd)
    child.close(epfd)  # the set itself is released: its files forget it
    assert net.watchers == {}


# --- edge-triggered readiness, one small read at a time ------------------------------------

EDGE_TIMEOUT_MS = 200
#: (pause, the client's step before it waits for the program's next line: bytes to send, a
#: shutdown, or nothing, when the program's epoll_wait times out unless an event is due).
#: With a pause the program sleeps after each line, so the client's bytes arrive while it
#: is not in epoll_wait.
EDGE_STEPS = [b"abcdefgh", b"ij", None, "shutdown", None]
EDGE_LINES = [
    b"IN read 4 'abcd'\n",
    b"IN read 4 'efgh'\n",  # new bytes are an edge, though older ones wait unread
    b"timeout\n",  # bytes left unread are not
    b"IN|RDHUP read 2 'ij'\n",  # the FIN
    b"timeout\n",
]


def _edge_argv(port: int, pause_ms: int) -> list[str]:
    return ["epoll_edge", str(port), "4", str(EDGE_TIMEOUT_MS), str(pause_ms)]


def _edge_harness(pause_ms: int) -> list[bytes]:
    guest = Guest(build("glibc", "epoll_edge"), argv=_edge_argv(8080, pause_ms))
    guest.start()
    client = guest.connect()
    guest.run()
    lines = []
    for step in EDGE_STEPS:
        if step == "shutdown":
            client.shutdown_write()
        elif step is not None:
            client.send(step)
        guest.run()
        while not client.available():  # it sleeps or waits: the virtual clock moves on
            guest.stall(guest.next_deadline() - guest.network.now)
        lines.append(client.recv_all())
    return lines


@pytest.mark.parametrize("pause_ms", [0, 100])
def test_edge_triggered_events_as_the_program_means(pause_ms):
    assert _edge_harness(pause_ms) == EDGE_LINES


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("pause_ms", [0, 100])
def test_edge_triggered_events_as_on_the_kernel(natives, tmp_path, pause_ms):
    build("glibc", "epoll_edge", tmp_path)
    port = free_port()
    proc = natives.start(tmp_path / "epoll_edge", _edge_argv(port, pause_ms), {})
    deadline = time.monotonic() + 5
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except ConnectionRefusedError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    lines = []
    with sock, sock.makefile("rb") as replies:
        for step in EDGE_STEPS:
            if step == "shutdown":
                sock.shutdown(socket.SHUT_WR)
            elif step is not None:
                sock.sendall(step)
            lines.append(replies.readline())
    assert lines == EDGE_LINES  # the referee
    assert _edge_harness(pause_ms) == lines
