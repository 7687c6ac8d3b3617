"""Guest coverage: harness/coverage.py, ``webelf run --coverage``, the pytest plugin's
summary, and the rule they exist for: every instruction of the generated server -- the
event loop of generator/eventloop.py, ``build_server(default_site())``, and the same site
built with ``workers=2`` (the supervisor too) -- runs in some scenario below, so code that
no test reaches fails the suite.

The scenarios are what a client or the kernel can make the server do: each setup call
failing (the one-line error report), bursts of connections and every accept4 failure the
loop handles (EAGAIN ends a burst, ECONNABORTED retries, EMFILE, EINTR and the others stop
watching the listener until the next second), a connection beyond ``max_connections``,
epoll_ctl refusing a client or a change of what a client waits for, the clock failing,
reads interrupted, empty, failing or ending in the middle of a head, heads in pieces, a
head that fills the buffer, pipelined requests, writes that would block, are cut short,
interrupted or fail, kept-alive and closing answers, the draining after a closing answer,
and each deadline of the sweep.  Faults come from the harness's fault injection
(harness/faults.py); time from the virtual clock (``Guest.stall``).  Each scenario asserts
what the server did, so a scenario that stops provoking its path fails by itself rather
than leaving coverage to chance.

Coverage counts instructions, not branch directions: several scenarios (ECONNABORTED
retried, EINTR pausing as EMFILE does, a Connection header that is not ``close``, a failed
clock, a failed epoll_ctl MOD) add no instruction of their own; they stay for the branch
each takes and the behaviour each asserts.

Every scenario runs against both programs (``workers`` 1 and 2): the instructions of the
worker are the same, at other addresses, and coverage is per program.  With two workers
the harness runs three processes (harness/kernel/task.py); a forked process records its
blocks in its parent's set (:meth:`harness.machine.Machine.fork`), so
``Coverage.of(guest)`` is every process's.

One instruction needs a kernel the harness does not model: ``mov [vsys], eax`` at
``_start``, which keeps the vDSO's ``__kernel_vsyscall`` when the kernel passes AT_SYSINFO;
the harness maps no vDSO and passes no AT_SYSINFO (harness/elf.py ``build_initial_stack``:
``arch_auxv`` is empty).  :func:`a_kernel_that_passes_at_sysinfo` lays a stand-in vDSO
page and passes its address, until the harness has one of its own.

After the scenarios: tests of what they found wrong and is fixed now; what is still wrong,
marked xfail(strict) (each passes once generator/eventloop.py is fixed, and then must
lose its mark); then harness/coverage.py itself, the CLI and the pytest plugin.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache, partial

import pytest

from generator import ServerConfig, build_server, default_site
from generator.elf import link
from generator.eventloop import CONNECTION_CLOSE
from generator.linux import SYS_exit, SYS_fork, SYS_wait4
from generator.site import BAD_REQUEST, HEADERS_TOO_LARGE, NOT_FOUND, Response
from generator.x86 import EAX, EBX, ECX, EDX, ESI, ESP, Assembler
from harness import Coverage, CoverageMap, Guest
from harness import linux as HL
from harness.elf import load
from harness.trace import listing
from harness.trace.listing import listing_lines
from support import FIXTURES

SITE = default_site()
PAGES = dict(SITE.routes)
#: ServerConfig's defaults, which the default build has.
DEFAULTS = ServerConfig()
BUFSIZE = DEFAULTS.buffer_size
MAX_CONNECTIONS = DEFAULTS.max_connections
#: The fds below the first client's: 0, 1, 2, the listening socket, the epoll instance.
FIRST_CLIENT_FD = 5
WORKERS = (1, 2)


#: Which program the scenarios build: i386, or x86-64 while a test sets it (monkeypatch).
ARCH = "i386"


def server(workers: int = 1) -> bytes:
    return _server(workers, ARCH)


@lru_cache(maxsize=None)
def _server(workers: int, arch: str) -> bytes:
    return build_server(SITE, ServerConfig(workers=workers, arch=arch))


#: What the server writes to stderr once it listens.
BANNER = f"{ServerConfig().url}\n".encode()


# ---------------------------------------------------------------------- the answers

def closing(path: str = "/", head: bool = False) -> bytes:
    """The stored response for ``path``, as a closing connection gets it."""
    r = Response.of(PAGES[path]) if path in PAGES else NOT_FOUND
    return r.data[:r.head_length] if head else r.data


def kept(path: str = "/", head: bool = False) -> bytes:
    """The response as a kept-alive connection gets it: without its Connection line."""
    data = closing(path, head)
    assert CONNECTION_CLOSE + b"\r\n" in data
    return data.replace(CONNECTION_CLOSE + b"\r\n", b"\r\n", 1)


def get(path: str = "/", *extra: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: x", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status(response: bytes) -> bytes:
    return response.split(b"\r\n", 1)[0]


GET = get("/")


# ---------------------------------------------------------------------- guests

def guest(workers: int, *faults: str, start: bool = True) -> Guest:
    g = Guest(server(workers), coverage=True, faults=faults, record=True)
    if start:
        g.start()
    return g


def calls(g: Guest, *names: str) -> list[tuple[str, int]]:
    """The completed calls named, in order, with their results (every process's)."""
    return [(name, ret) for name, ret in g.calls if name in names]


def workers_of(g: Guest) -> list[int]:
    """The pids of the live processes other than the first (the supervisor's workers)."""
    tasks = g.kernel.tasks
    if tasks is None:
        return []
    return sorted(pid for pid, p in tasks.procs.items()
                  if pid != tasks.first and p.status is None)


def exchange(g: Guest, data: bytes) -> bytes:
    """``data`` on a new connection; everything the guest sends back before the client
    closes (after a closing answer, the server's FIN has arrived by then)."""
    client = g.connect()
    client.send(data)
    g.run()
    response = client.recv_all()
    client.close()
    g.run()
    return response


def serves_next(g: Guest) -> None:
    """The loop goes on: the next client gets the page, kept alive, and the next after."""
    client = g.connect()
    client.send(GET)
    g.run()
    assert client.recv_all() == kept("/")
    assert not client.closed_by_peer
    client.send(get("/about", "Connection: close"))
    g.run()
    assert client.recv_all() == closing("/about")
    assert client.closed_by_peer
    client.close()
    g.run()
    assert g.exit_status is None


# ---------------------------------------------------------------------- the scenarios

Scenario = Callable[[int], list[Guest]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def _setup_failure(workers: int, fault: str, line: bytes) -> list[Guest]:
    g = guest(workers, fault)
    assert g.exit_status == 1
    assert g.stderr == line
    return [g]


@scenario
def socket_fails(workers: int) -> list[Guest]:
    return _setup_failure(workers, "socket=EACCES@1", b"socket() failed: errno 13\n")


@scenario
def setsockopt_fails(workers: int) -> list[Guest]:
    return _setup_failure(workers, "setsockopt=ENOMEM@1", b"setsockopt() failed: errno 12\n")


@scenario
def bind_fails(workers: int) -> list[Guest]:
    return _setup_failure(workers, "bind=EADDRINUSE@1", b"bind() failed: errno 98\n")


@scenario
def listen_fails(workers: int) -> list[Guest]:
    return _setup_failure(workers, "listen=EADDRINUSE@1", b"listen() failed: errno 98\n")


def _worker_setup_failure(workers: int, fault: str, line: bytes) -> list[Guest]:
    """A worker's own setup (epoll_create1, epoll_ctl) fails: a lone worker is the
    process, which exits 1; under a supervisor the worker exits 1, the other serves, and
    the supervisor forks a new one 100 ms later, which starts (the fault hit once)."""
    g = guest(workers, fault)
    assert g.stderr == BANNER + line   # it listened (and said where) before the worker failed
    if workers == 1:
        assert g.exit_status == 1
        return [g]
    assert g.exit_status is None
    assert calls(g, "fork", "exit", "wait4") == [("fork", 1001), ("fork", 1002),
                                                 ("exit", None), ("wait4", 1001)]
    assert g.last_stop.syscall == "nanosleep" and workers_of(g) == [1002]
    g.stall(0.1)
    assert calls(g, "fork")[-1] == ("fork", 1003) and workers_of(g) == [1002, 1003]
    serves_next(g)
    return [g]


@scenario
def epoll_create1_fails(workers: int) -> list[Guest]:
    return _worker_setup_failure(workers, "epoll_create1=EMFILE@1",
                                 b"epoll_create1() failed: errno 24\n")


@scenario
def epoll_ctl_fails(workers: int) -> list[Guest]:
    return _worker_setup_failure(workers, "epoll_ctl=ENOMEM@1",
                                 b"epoll_ctl() failed: errno 12\n")


@scenario
def listener_registered_exclusively(workers: int) -> list[Guest]:
    """EPOLLEXCLUSIVE (epoll_ctl(2)): of the workers waiting on the listening socket, one
    is woken per connection."""
    lines: list[str] = []
    g = Guest(server(workers), coverage=True, strace=lines.append)
    g.start()
    registered = [line for line in lines if "EPOLL_CTL_ADD, 3," in line]
    assert len(registered) == workers
    assert all("{events=EPOLLIN|EPOLLEXCLUSIVE, data={u32=3, u64=3}}) = 0" in line
               for line in registered), registered
    serves_next(g)
    return [g]


@scenario
def a_burst_of_connections(workers: int) -> list[Guest]:
    """Three connections wait when the loop wakes: accept4 takes them all, until EAGAIN,
    and each is answered on its own."""
    g = guest(workers)
    clients = [g.connect() for _ in range(3)]
    g.run()
    accepted = calls(g, "accept4")
    assert accepted[:4] == [("accept4", FIRST_CLIENT_FD + i) for i in range(3)] + [
        ("accept4", -HL.EAGAIN)], accepted
    for i, c in enumerate(clients):
        c.send(get("/about" if i % 2 else "/"))
    g.run()
    for i, c in enumerate(clients):
        assert c.recv_all() == kept("/about" if i % 2 else "/")
        c.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def accept_aborted(workers: int) -> list[Guest]:
    """ECONNABORTED (a connection reset while queued: accept(2)): accept4 again at once,
    for the next."""
    g = guest(workers, "accept4=ECONNABORTED@1-2")
    client = g.connect()
    client.send(GET)
    g.run()
    assert calls(g, "accept4")[:3] == [("accept4", -HL.ECONNABORTED),
                                       ("accept4", -HL.ECONNABORTED),
                                       ("accept4", FIRST_CLIENT_FD)]
    assert not calls(g, "nanosleep")
    assert client.recv_all() == kept("/")
    client.close()
    g.run()
    return [g]


def _strace_guest(workers: int, *faults: str) -> tuple[Guest, list[str]]:
    lines: list[str] = []
    g = Guest(server(workers), coverage=True, faults=faults, record=True,
              strace=lines.append)
    g.start()
    return g, lines


def _listener_ctl(lines: list[str]) -> list[str]:
    """The epoll_ctl calls on the listening socket (fd 3), ADD or DEL, in order."""
    return ["DEL" if "EPOLL_CTL_DEL, 3" in line else "ADD" for line in lines
            if "EPOLL_CTL_DEL, 3" in line or "EPOLL_CTL_ADD, 3," in line]


@scenario
def accept_failures_pause_the_listener(workers: int) -> list[Guest]:
    """EMFILE (or ENFILE, ENOMEM...: a failure that lasts), or EINTR: the worker stops
    watching the listening socket (epoll_ctl DEL) rather than spin on a listener that
    stays readable, and without sleeping, so the connections it has are served meanwhile;
    the next second's sweep watches the listener again (ADD) and the waiting connection
    is accepted.  With two workers the other one, woken too (EPOLLEXCLUSIVE wakes one or
    more), takes the connection at once."""
    return [_accept_pauses(workers, errno) for errno in ("EMFILE", "EINTR")]


def _accept_pauses(workers: int, errno: str) -> Guest:
    g, lines = _strace_guest(workers, f"accept4={errno}@3")  # after 5, EAGAIN
    old = g.connect()
    old.send(GET)
    g.run()
    assert old.recv_all() == kept("/")
    client = g.connect()
    client.send(GET)
    g.run()
    assert _listener_ctl(lines) == ["ADD"] * workers + ["DEL"]
    assert calls(g, "accept4")[2] == ("accept4", -getattr(HL, errno))
    old.send(get("/about"))  # served meanwhile, with no back-off: nobody sleeps
    g.run()
    assert old.recv_all() == kept("/about")
    assert not calls(g, "nanosleep")
    if workers == 1:
        assert calls(g, "accept4")[3:] == [] and client.recv_all() == b""
        g.stall(0.5)  # the same second: still unwatched
        assert calls(g, "accept4")[3:] == [] and client.recv_all() == b""
    else:
        assert client.recv_all() == kept("/")
    g.stall(1)
    assert _listener_ctl(lines) == ["ADD"] * workers + ["DEL", "ADD"]
    if workers == 1:
        assert calls(g, "accept4")[3:] == [("accept4", FIRST_CLIENT_FD + 1),
                                           ("accept4", -HL.EAGAIN)]
        assert client.recv_all() == kept("/")
    assert not calls(g, "nanosleep")
    client.close()
    old.close()
    g.run()
    serves_next(g)
    return g


@scenario
def one_connection_too_many(workers: int) -> list[Guest]:
    """The connection past ``max_connections`` (1024 by default) is closed as soon as it
    is accepted; the others are served.  Clients take fds 5 to 1028, so the 1025th gets
    fd 1029: a process needs RLIMIT_NOFILE above 1029 for that, more than the soft limit
    of 1024 a process starts with (below it, accept4 fails with EMFILE first, the path of
    :func:`accept_out_of_fds_backs_off`).  The program raises its soft limit to the hard
    one at start; here both are set as ``prlimit --nofile=4096`` would, through the
    harness's prlimit (do_prlimit, kernel/sys.c)."""
    from harness.kernel.sys_rlimit import do_prlimit

    g = guest(workers, start=False)
    assert do_prlimit(g.kernel, HL.RLIMIT_NOFILE, (4096, 4096)) == (1024, 4096)
    g.start()
    backlog = DEFAULTS.backlog
    held = []
    while len(held) < MAX_CONNECTIONS:
        held += [g.connect() for _ in range(min(backlog, MAX_CONNECTIONS - len(held)))]
        g.run()
    assert not any(c.closed_by_peer for c in held)
    extra = g.connect()
    g.run()
    assert extra.closed_by_peer and extra.recv_all() == b""
    assert calls(g, "accept4", "close")[-3:] == [
        ("accept4", FIRST_CLIENT_FD + MAX_CONNECTIONS), ("close", 0), ("accept4", -HL.EAGAIN)]
    held[0].send(GET)
    held[-1].send(get("/about"))
    g.run()
    assert held[0].recv_all() == kept("/") and held[-1].recv_all() == kept("/about")
    extra.close()
    for c in held:
        c.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def epoll_ctl_refuses_a_client(workers: int) -> list[Guest]:
    """epoll_ctl(ADD) fails for a new client (ENOMEM, ENOSPC: epoll_ctl(2)): it cannot be
    watched, so it is closed unanswered, and the loop goes on."""
    g = guest(workers, f"epoll_ctl=ENOMEM@{workers + 1}")  # after each worker's listener
    client = g.connect()
    client.send(GET)
    g.run()
    assert client.closed_by_peer
    assert client.recv_all() == b""
    client.close()
    serves_next(g)
    return [g]


@scenario
def reads_interrupted_or_empty(workers: int) -> list[Guest]:
    """read fails with EINTR, or EAGAIN (a readiness that went away): the loop waits
    again, and the request, still queued, is answered on the next turn."""
    g = guest(workers, "read=EINTR@1", "read=EAGAIN@2")
    client = g.connect()
    client.send(GET)
    g.run()
    assert calls(g, "read") == [("read", -HL.EINTR), ("read", -HL.EAGAIN),
                                ("read", len(GET))]
    assert client.recv_all() == kept("/")
    client.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def read_fails(workers: int) -> list[Guest]:
    """read fails with ECONNRESET (the client reset the connection): nobody to answer,
    the connection is closed."""
    g = guest(workers)
    client = g.connect()
    client.send(b"GET / HT")
    g.run()
    client.reset()
    g.run()
    assert calls(g, "read") == [("read", 8), ("read", -HL.ECONNRESET)]
    assert calls(g, "close")[-1] == ("close", 0)
    assert client.received == b""
    serves_next(g)
    return [g]


@scenario
def end_of_file(workers: int) -> list[Guest]:
    """The client ends its side: before any request the connection just closes; in the
    middle of a head, the answer is 400 (then the connection closes)."""
    g = guest(workers)
    silent = g.connect()
    silent.shutdown_write()
    g.run()
    assert silent.closed_by_peer and silent.recv_all() == b""
    silent.close()
    half = g.connect()
    half.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    g.run()
    assert half.recv_all() == b""
    half.shutdown_write()
    g.run()
    assert half.recv_all() == BAD_REQUEST.data
    assert half.closed_by_peer
    half.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def heads_in_pieces(workers: int) -> list[Guest]:
    """The end of the head found across reads, each byte alone: a line feed is the last
    byte read, or a CR after it is; the head so far waits in the connection's own buffer
    and the next read appends there."""
    g = guest(workers)
    for request in (GET, GET.replace(b"\r\n", b"\n")):
        client = g.connect()
        g.fragment(client, request, 1)
        assert client.recv_all() == kept("/"), request
        assert not client.closed_by_peer
        client.close()
        g.run()
    serves_next(g)
    return [g]


@scenario
def head_too_large(workers: int) -> list[Guest]:
    """A head that fills the buffer (8,192 bytes) without ending: 431, whether it came in
    one read or in two, then the rest is drained until the client closes."""
    g = guest(workers)
    head = b"GET / HTTP/1.1\r\nCookie: " + b"x" * 9000 + b"\r\n\r\n"
    assert exchange(g, head) == HEADERS_TOO_LARGE.data
    client = g.connect()
    g.fragment(client, head, [5000, 4000])
    assert client.recv_all() == HEADERS_TOO_LARGE.data
    assert client.closed_by_peer
    client.close()
    g.run()
    reads = [n for name, n in calls(g, "read")]
    assert BUFSIZE - 5000 in reads  # the second read: the rest of the slot's buffer
    serves_next(g)
    return [g]


@scenario
def pipelined_requests(workers: int) -> list[Guest]:
    """Requests in one write are answered in order (RFC 9112 section 9.3.2); a request
    whose head is cut at the end of a read waits for the rest, under the head deadline."""
    g = guest(workers)
    client = g.connect()
    client.send(get("/about") + get("/", method="HEAD") + get("/nowhere"))
    g.run()
    assert client.recv_all() == kept("/about") + kept("/", head=True) + kept("/nowhere")
    client.send(GET + b"GET /about HT")
    g.run()
    assert client.recv_all() == kept("/")
    client.send(b"TP/1.1\r\nConnection: close\r\n\r\n")
    g.run()
    assert client.recv_all() == closing("/about")
    assert client.closed_by_peer
    client.close()
    g.run()
    serves_next(g)
    return [g]


#: Requests whose answer the parser decides, each to a path of it: the answer's status,
#: and whether the connection stays open after it.
ROUTED: dict[bytes, tuple[bytes, bool]] = {
    b"GET / HTTP/1.1\r\n\r\n": (b"200 OK", True),
    b"GET /about HTTP/1.1\r\n\r\n": (b"200 OK", True),
    b"GET /about.html?x=1 HTTP/1.0\r\n\r\n": (b"200 OK", False),   # HTTP/1.0 closes
    b"GET /index.html HTTP/1.1\n\n": (b"200 OK", True),           # bare line feeds
    b"HEAD / HTTP/1.1\r\n\r\n": (b"200 OK", True),
    b"HEAD /nothing HTTP/1.0\r\n\r\n": (b"404 Not Found", False),
    b"GET /nothing HTTP/1.1\r\n\r\n": (b"404 Not Found", True),
    b"GET /abcde HTTP/1.1\r\n\r\n": (b"404 Not Found", True),     # the length of /about
    b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi": (b"405 Method Not Allowed", False),
    b"HEAL / HTTP/1.1\r\n\r\n": (b"405 Method Not Allowed", False),
    b"HEADX / HTTP/1.1\r\n\r\n": (b"405 Method Not Allowed", False),
    b"get / HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),       # not an upper-case method
    b"GET http://x/about HTTP/1.1\r\n\r\n": (b"200 OK", True),    # absolute-form
    b"GET http://x HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),  # ... with no path
    b"GET https://x/ HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),  # not http://
    b"GET http://x\x01/ HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),  # a control byte
    b"GET x HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),       # neither form
    b"GET /a\x01b HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),  # a control byte in the path
    b"GET /?a\x01b HTTP/1.1\r\n\r\n": (b"400 Bad Request", False),  # ... in the query
    b"GET /?a=b HTTP/1.1\r\n\r\n": (b"200 OK", True),
    b"GET / HTTP/2.0\r\n\r\n": (b"400 Bad Request", False),
    b"GET / HTTP/1.x\r\n\r\n": (b"400 Bad Request", False),
    b"GET / HTTP/1.1 \r\n\r\n": (b"400 Bad Request", False),     # more after the version
    b"GET / HTTP/1.1\rX\r\n\r\n": (b"400 Bad Request", False),   # a bare CR after it
    b"GET / HTTP/1.1\r\r\n\r\n": (b"400 Bad Request", False),
    b"GET / HTTP/1.0\r\n\r\n": (b"200 OK", False),
}


@scenario
def routing(workers: int) -> list[Guest]:
    g = guest(workers)
    for request, (expected, keeps) in ROUTED.items():
        client = g.connect()
        client.send(request)
        g.run()
        response = client.recv_all()
        assert status(response) == b"HTTP/1.1 " + expected, request
        assert (CONNECTION_CLOSE not in response) == keeps, request
        assert client.closed_by_peer != keeps, request
        client.close()
        g.run()
    serves_next(g)
    return [g]


#: Connection headers, and whether the server closes after answering: "close" among the
#: header's options, whatever its case and wherever it comes in the list (RFC 9110
#: section 7.6.1, RFC 9112 section 9.6).
CONNECTION_HEADERS: dict[str, bool] = {
    "Connection: close": True,
    "connection: CLOSE": True,
    "CONNECTION:close": True,
    "Connection: \t close": True,
    "Connection:\tClose": True,
    "Connection: keep-alive, close": True,
    "Connection: TE, close": True,   # what Perl's LWP sends
    "Connection: Upgrade,CLOSE": True,
    "Connection: keep-alive": False,
    "Connection: clean": False,     # begins with the c of close
    "Connection: cl": False,
    "Connect: close": False,        # not the header's name
    "Connection-X: close": False,
    "X-Connection: close": False,
    "Upgrade: close": False,
}


@scenario
def connection_headers(workers: int) -> list[Guest]:
    g = guest(workers)
    for header, closes in CONNECTION_HEADERS.items():
        client = g.connect()
        client.send(get("/", "Accept: */*", header))
        g.run()
        assert client.recv_all() == (closing if closes else kept)("/"), header
        assert client.closed_by_peer == closes, header
        client.close()
        g.run()
    serves_next(g)
    return [g]


@scenario
def writes_that_would_block(workers: int) -> list[Guest]:
    """writev fails with EAGAIN (the socket's buffer is full): the connection waits for
    EPOLLOUT, writes the answer then, and waits for EPOLLIN again; EINTR writes again at
    once."""
    g = guest(workers, "writev=EAGAIN@1", "writev=EINTR@2")
    client = g.connect()
    client.send(GET)
    g.run()
    assert client.recv_all() == kept("/")
    assert calls(g, "writev") == [("writev", -HL.EAGAIN), ("writev", -HL.EINTR),
                                  ("writev", len(kept("/")))]
    assert calls(g, "epoll_ctl")[-2:] == [("epoll_ctl", 0), ("epoll_ctl", 0)]  # OUT, IN
    client.send(get("/about"))
    g.run()
    assert client.recv_all() == kept("/about")
    client.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def writes_to_a_client_gone(workers: int) -> list[Guest]:
    """writev fails with EPIPE (SIGPIPE is ignored): the connection is closed."""
    g = guest(workers, "writev=EPIPE@1")
    client = g.connect()
    client.send(GET)
    g.run()
    assert client.closed_by_peer and client.recv_all() == b""
    assert g.exit_status is None
    client.close()
    serves_next(g)
    return [g]


@scenario
def epoll_ctl_refuses_a_change(workers: int) -> list[Guest]:
    """epoll_ctl(MOD) fails (ENOMEM: epoll_ctl(2)) when a connection that must wait for
    EPOLLOUT asks for it, or when, its answer written, it asks for EPOLLIN again: it could
    not be served, so it is closed at once (rather than tried again on every turn, or
    left unwatched until its deadline)."""
    guests = []
    for mod, sent in ((1, b""), (2, kept("/"))):
        # epoll_ctl: each worker's listener, the client (ADD), then MOD to EPOLLOUT, to EPOLLIN
        g = guest(workers, "writev=EAGAIN@1", f"epoll_ctl=ENOMEM@{workers + 1 + mod}")
        client = g.connect()
        client.send(GET)
        g.run()
        assert calls(g, "epoll_ctl")[-1] == ("epoll_ctl", -HL.ENOMEM)
        assert g.calls[-1] == ("close", 0)
        assert client.closed_by_peer and client.recv_all() == sent
        assert not calls(g, "shutdown")
        client.close()
        serves_next(g)
        guests.append(g)
    return guests


@scenario
def the_clock_fails(workers: int) -> list[Guest]:
    """clock_gettime fails (EINVAL, as clock_gettime(2) allows): the loop keeps the last
    second it read and sweeps nothing, so no connection is closed on a wrong time; it
    serves on; with the clock back, the first sweep closes what outlived its deadline.
    Here a kept-alive connection idle for 11 s, 10 of them without a clock (ten failed
    reads a worker)."""
    g = guest(workers, f"clock_gettime=EINVAL@4-{3 + 10 * workers}")
    client = g.connect()
    client.send(GET)
    g.run()
    assert client.recv_all() == kept("/")
    closed_at = None
    for second in range(13):
        g.stall(1)
        if second == 5:  # long past the idle deadline: no sweep closed it
            assert not client.closed_by_peer
            client.send(get("/about"))
            g.run()
            assert client.recv_all() == kept("/about")
        if client.closed_by_peer and closed_at is None:
            closed_at = second
    assert calls(g, "clock_gettime").count(("clock_gettime", -HL.EINVAL)) == 10 * workers
    assert closed_at == 10
    client.close()
    serves_next(g)
    return [g]


#: The send buffer of the server's end of a slow reader's connection: net.ipv4.tcp_wmem's
#: default, as on a host whose tcp_wmem maximum is that too (no autotuning past it).
SNDBUF = 16384


def _slow_reader(g: Guest, cut: int) -> tuple[object, list[bytes]]:
    """A client that sends pipelined requests for / and reads nothing, with a receive
    buffer such that the server's writes stop ``cut`` bytes into a kept-alive answer.

    The harness lets a write queue ``sndbuf + rcvbuf // 2 - unread`` bytes
    (:meth:`harness.net.Socket.room`): the server socket's send buffer, half the client's
    receive buffer, less what the client has not read.  It gives a loopback connection
    the 3,939,840-byte send buffer autotuning reaches, which would take some 3,800 answers
    (and seconds of emulation) to fill; the server's end gets :data:`SNDBUF` instead."""
    answer = kept("/")
    client = g.connect()
    g.run()
    server_end = client.peer
    server_end.sndbuf = SNDBUF
    whole = SNDBUF // len(answer) + 1
    client.rcvbuf = 2 * (whole * len(answer) + cut - SNDBUF)
    requests = whole + 3
    client.send(GET * requests)
    g.run()
    assert not client.closed_by_peer
    assert client.available() == whole * len(answer) + cut
    assert server_end.room() == 0
    return client, [answer] * requests


@scenario
def slow_readers(workers: int) -> list[Guest]:
    """The client's window fills in the middle of an answer: in its first piece (the head
    before the Connection line) or its second; the connection waits for EPOLLOUT, and the
    rest goes as the client reads, then the pipelined requests left are answered."""
    guests = []
    head = kept("/").index(b"\r\n\r\n")
    for cut in (head // 2, head + 100):
        g = guest(workers)
        client, answers = _slow_reader(g, cut)
        writes = [n for _, n in calls(g, "writev")]
        assert writes[-1] == cut, writes
        received = b""
        for _ in range(20):
            received += client.recv_all()
            g.run()
            if len(received) + client.available() == sum(map(len, answers)):
                break
        received += client.recv_all()
        assert received == b"".join(answers)
        assert not client.closed_by_peer
        client.close()
        g.run()
        serves_next(g)
        guests.append(g)
    return guests


@scenario
def the_send_deadline(workers: int) -> list[Guest]:
    """A client that stops reading: after ``send_timeout`` (10 s) waiting for EPOLLOUT
    the sweep closes the connection; nobody else waited meanwhile.  The deadline runs
    from the last write that moved bytes (as nginx's send_timeout: "between two successive
    write operations"): a client that reads a little 6 s in has 10 s more from then."""
    g = guest(workers)
    client, _ = _slow_reader(g, 10)
    serves_next(g)
    g.stall(DEFAULTS.send_timeout - 4)
    assert not client.closed_by_peer
    assert len(client.recv(len(kept("/")))) == len(kept("/"))
    writes = len(calls(g, "writev"))
    g.run()  # room again: the server writes as much, and waits for EPOLLOUT again
    assert sum(n for _, n in calls(g, "writev")[writes:]) == len(kept("/"))
    assert g.last_stop.syscall == "epoll_wait" and client.peer.room() == 0
    g.stall(DEFAULTS.send_timeout - 1)
    assert not client.closed_by_peer
    g.stall(2)
    assert client.closed_by_peer
    client.close()
    serves_next(g)
    return [g]


@scenario
def the_idle_deadline(workers: int) -> list[Guest]:
    """A kept-alive connection silent for ``idle_timeout`` (5 s) after its answer is
    closed by the sweep; one still in the middle of a head is closed at ``header_timeout``
    (10 s) from its first byte, however it trickles."""
    g = guest(workers)
    idle = g.connect()
    idle.send(GET)
    g.run()
    assert idle.recv_all() == kept("/")
    g.stall(DEFAULTS.idle_timeout - 1)
    assert not idle.closed_by_peer
    slow = g.connect()
    slow.send(b"G")
    g.run()
    g.stall(2)
    assert idle.closed_by_peer and idle.recv_all() == b""
    for _ in range(DEFAULTS.header_timeout - 2):
        slow.send(b"E")
        g.stall(1)
    assert not slow.closed_by_peer
    g.stall(2)
    assert slow.closed_by_peer and slow.recv_all() == b""
    idle.close()
    slow.close()
    serves_next(g)
    return [g]


@scenario
def draining_after_a_closing_answer(workers: int) -> list[Guest]:
    """After a closing answer the server shuts down its sending side and reads until the
    client's end of file (so its close is no reset that could cost the client the
    answer): what the client still sends is read and dropped, EAGAIN waits, end of file
    closes; a client that never ends is closed after ``idle_timeout``."""
    g = guest(workers, "read=EAGAIN@3")
    client = g.connect()
    client.send(get("/", "Connection: close"))
    g.run()
    assert client.recv_all() == closing("/") and client.closed_by_peer
    client.send(b"more")  # read 2: dropped
    g.run()
    client.send(b"and more")  # read 3: EAGAIN, read 4: dropped
    g.run()
    client.shutdown_write()
    g.run()
    assert calls(g, "shutdown") == [("shutdown", 0)]
    assert calls(g, "read") == [("read", len(get("/", "Connection: close"))), ("read", 4),
                                ("read", -HL.EAGAIN), ("read", 8), ("read", 0)]
    assert calls(g, "close")[-1] == ("close", 0)
    client.close()
    lingering = g.connect()
    lingering.send(get("/about", version="1.0"))
    g.run()
    assert lingering.recv_all() == closing("/about")
    g.stall(DEFAULTS.idle_timeout - 1)
    closes = len(calls(g, "close"))
    g.stall(2)
    assert len(calls(g, "close")) == closes + 1
    lingering.close()
    serves_next(g)
    return [g]


@scenario
def a_worker_dies(workers: int) -> list[Guest]:
    """Under a supervisor, a worker killed (SIGKILL, as kill(2) from outside) is reaped by
    wait4 and replaced 100 ms later; a fork that fails (EAGAIN: RLIMIT_NPROC) is tried
    again after 100 ms.  A lone worker has no supervisor: it is the process."""
    if workers == 1:
        g = guest(workers, "fork=EAGAIN@*")
        assert g.kernel.tasks is None and not calls(g, "fork")
        serves_next(g)
        return [g]
    from harness.kernel.sys_signal import sys_kill

    g = guest(workers, "fork=EAGAIN@2")
    assert calls(g, "fork") == [("fork", 1001), ("fork", -HL.EAGAIN)]
    assert g.last_stop.syscall == "nanosleep"
    g.stall(0.1)
    assert calls(g, "fork")[-1] == ("fork", 1002) and workers_of(g) == [1001, 1002]
    serves_next(g)
    supervisor = g.kernel
    assert sys_kill(supervisor, 1001, HL.SIGKILL) == 0
    g.run()
    assert ("wait4", 1001) in calls(g, "wait4") and workers_of(g) == [1002]
    g.stall(0.1)
    assert workers_of(g) == [1002, 1003]
    serves_next(g)
    return [g]


#: Where the stand-in vDSO goes: a free page, where a 64-bit kernel maps an i386 process's.
VDSO = 0xF7FC1000
#: Its __kernel_vsyscall: ``int 0x80; ret``, the same entry as the program's own stub (a
#: real vDSO's uses sysenter or syscall, which the harness does not model: harness/cpu.py).
KERNEL_VSYSCALL = b"\xcd\x80\xc3"


def _vsys(workers: int) -> int:
    """The address of the program's ``vsys``: what ``_start`` stores (``mov [m32], edx``,
    the one such store) and every ``call [ebp+disp8]`` reads, ebp being the variables."""
    lines = [line for line in listing_lines(load(server(workers))) if line.address is not None]
    stored = {line.code[2:6] for line in lines if line.code[:2] == b"\x89\x15"}
    assert len(stored) == 1, stored
    called = {line.code[2] for line in lines if line.code[:2] == b"\xff\x55"}
    ebps = {int.from_bytes(line.code[1:5], "little") for line in lines
            if line.code[:1] == b"\xbd" and len(line.code) == 5}        # mov ebp, imm32
    assert len(called) == 1, called
    vsys = int.from_bytes(stored.pop(), "little")
    assert vsys - called.pop() in ebps, "the calls read what _start stored"
    return vsys


@scenario
def a_kernel_that_passes_at_sysinfo(workers: int) -> list[Guest]:
    """A kernel with a vDSO passes AT_SYSINFO, its __kernel_vsyscall, in the auxiliary
    vector; the program keeps it and enters the kernel through it on its hot path.  The
    harness maps no vDSO and passes no AT_SYSINFO (harness/elf.py build_initial_stack:
    ``arch_auxv`` is empty), so this scenario lays a page of ``int 0x80; ret`` where a
    64-bit kernel would map the vDSO and passes its address, as ARCH_DLINFO does."""
    from harness import elf as elfmod

    build = elfmod.build_initial_stack
    elfmod.build_initial_stack = partial(build, arch_auxv=((elfmod.AT_SYSINFO, VDSO),))
    try:
        g = guest(workers, start=False)
    finally:
        elfmod.build_initial_stack = build
    g.machine.mem.map(VDSO, elfmod.PAGE_SIZE, elfmod.PROT_READ | elfmod.PROT_EXEC,
                      KERNEL_VSYSCALL)
    g.start()
    serves_next(g)
    assert g.machine.mem.read(_vsys(workers), 4) == VDSO.to_bytes(4, "little")
    assert any(at == VDSO for at, _ in g.machine.covered)  # the worker's calls went through it
    return [g]


# ---------------------------------------------------------------------- coverage

def coverage_of(workers: int, names: list[str]) -> Coverage:
    which = "the event-loop server" if ARCH == "i386" else f"the {ARCH} event-loop server"
    total = Coverage(load(server(workers)), name=f"{which}, workers={workers}")
    for name in names:
        for g in SCENARIOS[name](workers):
            total.merge(Coverage.of(g))
    return total


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str, workers: int):
    """Each scenario alone, so one that no longer does what it claims names itself."""
    assert SCENARIOS[name](workers)


@pytest.mark.parametrize("workers", WORKERS)
def test_every_instruction_of_the_server_runs(workers: int, elf_coverage):
    """The rule: 100%.  The total also goes to the plugin's summary at the end of the run."""
    total = coverage_of(workers, list(SCENARIOS))
    elf_coverage.add(total)
    if not total.complete:
        pytest.fail("instructions of the event-loop server that no scenario in "
                    "tests/test_coverage.py runs; add a scenario that reaches them (or "
                    "remove the code):\n" + total.report(), pytrace=False)


#: The scenarios of the i386 program alone: its vDSO entry (x86-64's is ``syscall``).
I386_ONLY = ("a_kernel_that_passes_at_sysinfo",)


@pytest.mark.parametrize("workers", WORKERS)
def test_every_instruction_of_the_x86_64_server_runs(workers: int, elf_coverage, monkeypatch):
    """The same rule for generator/eventloop64.py, from the same scenarios."""
    monkeypatch.setattr(sys.modules[__name__], "ARCH", "x86_64")
    total = coverage_of(workers, [name for name in SCENARIOS if name not in I386_ONLY])
    elf_coverage.add(total)
    if not total.complete:
        pytest.fail("instructions of the x86-64 event-loop server that no scenario "
                    "runs:\n" + total.report(), pytrace=False)


# ---------------------------------------------------------------------- found wrong, fixed

def test_a_slow_but_steady_reader_is_not_cut_off():
    """The send deadline is for a client that stops reading (generator/eventloop.py: "a
    client that never reads is dropped"); nginx's send_timeout is likewise "set only
    between two successive write operations, not for the transmission of the whole
    response".  Here a client reads 300 kB every second, and each second the server
    writes more; 8 MiB at that pace takes some 14 s (the socket buffers hold what was
    written ahead), more than send_timeout, and all of it arrives.  (Found when the
    deadline was set at the first wait for EPOLLOUT only; now every wait sets it anew.)"""
    from generator import Page, Site

    big = Page.make(b"z" * (8 << 20), "application/octet-stream")
    g = Guest(build_server(Site((("/", big),)), ServerConfig()))
    g.start()
    client = g.connect()
    client.keep = False
    client.send(GET)
    g.run()
    length = len(Response.of(big).data) - len(CONNECTION_CLOSE)
    got = seconds = 0
    for seconds in range(60):
        got += len(client.recv(300_000))
        g.stall(1)
        if client.closed_by_peer or got + client.available() >= length:
            break
    got += len(client.recv_all())
    assert got == length and not client.closed_by_peer
    assert seconds > DEFAULTS.send_timeout


def test_close_among_the_connection_options_closes():
    """RFC 9112 section 9.6: "A server that receives a "close" connection option MUST
    initiate closure of the connection after it sends the final response"; the option
    may come after others (``Connection: TE, close`` is what Perl's LWP sends).  (Found
    when only the first option was compared.)"""
    g = Guest(server())
    g.start()
    for header in ("Connection: keep-alive, close", "Connection: TE, close"):
        client = g.connect()
        client.send(get("/", header))
        g.run()
        assert client.recv_all() == closing("/"), header
        assert client.closed_by_peer, header
        client.close()
        g.run()


def test_a_bare_cr_after_the_version_is_a_bad_request():
    """RFC 9112 section 2.2: "A recipient of such a bare CR element MUST either replace
    each bare CR with SP or reject the message"; either way ``GET / HTTP/1.1\\rX`` is no
    request line (with SP, "HTTP/1.1 X" has more after the version, which this server
    answers 400).  (Found when a CR ended the line whatever followed it.)"""
    g = Guest(server())
    g.start()
    for request in (b"GET / HTTP/1.1\rX\r\n\r\n", b"GET / HTTP/1.1 X\r\n\r\n"):
        client = g.connect()
        client.send(request)
        g.run()
        assert client.recv_all() == BAD_REQUEST.data, request
        assert client.closed_by_peer, request
        client.close()
        g.run()


def _at_the_default_fd_limit() -> tuple[Guest, list, object]:
    """The default build where RLIMIT_NOFILE is 1024, soft and hard, so that the program's
    raising of its soft limit gains nothing: fds 5 to 1023 hold 1019 clients, and a 1020th
    connects."""
    from harness.kernel.sys_rlimit import do_prlimit

    g = Guest(server(), record=True)
    assert do_prlimit(g.kernel, HL.RLIMIT_NOFILE, (1024, 1024)) == (1024, 4096)
    g.start()
    held: list = []
    while len(held) < 1024 - FIRST_CLIENT_FD:
        held += [g.connect() for _ in range(min(DEFAULTS.backlog,
                                                1024 - FIRST_CLIENT_FD - len(held)))]
        g.run()
    extra = g.connect()
    extra.send(GET)
    g.run()
    return g, held, extra


def test_at_the_default_fd_limit_the_others_are_served_without_delay():
    """accept4 fails with EMFILE for the 1020th connection: the worker stops watching the
    listener until the next second instead of sleeping 100 ms on every turn (as it did
    when found) -- the clients it holds are answered at once, accept4 is tried once a
    second (not in a spin), and when a client leaves the waiting one is taken and served.
    """
    g, held, extra = _at_the_default_fd_limit()
    assert g.calls[-2:] == [("accept4", -HL.EMFILE), ("epoll_ctl", 0)]  # DEL
    assert g.last_stop.syscall == "epoll_wait"
    before = len(g.calls)
    held[0].send(GET)
    g.run()
    assert held[0].recv_all() == kept("/")
    assert [name for name, _ in g.calls[before:]] == [
        "epoll_wait", "clock_gettime", "read", "writev"]
    for _ in range(3):  # a second: the sweep watches the listener again, accept4 fails
        before = len(g.calls)
        g.stall(1)
        assert calls(g, "accept4")[-1] == ("accept4", -HL.EMFILE)
        assert [n for n, _ in g.calls[before:]].count("accept4") == 1
    assert not calls(g, "nanosleep") and extra.recv_all() == b""
    held[1].close()
    g.run()
    g.stall(1)
    # fd 6 again, and the table is full again: the listener pauses again
    assert calls(g, "accept4")[-2:] == [("accept4", FIRST_CLIENT_FD + 1), ("accept4", -HL.EMFILE)]
    g.run()
    assert extra.recv_all() == kept("/")


# ---------------------------------------------------------------------- found wrong

def test_the_connection_beyond_max_connections_is_closed_politely():
    """Issue 12: "up to a configured number of connections (--max-connections, default
    1024; the next gets closed politely)".  The program raises its soft RLIMIT_NOFILE to
    the hard limit at start (ugetrlimit, setrlimit: 1024 -> 4096 here, INR_OPEN_MAX), so
    fds 5 to 1028 hold 1024 clients and the 1025th is accepted and closed at once,
    instead of waiting in the backlog (as it did when the soft limit of 1024 ran out
    first)."""
    g = Guest(server(), record=True)
    g.start()
    assert calls(g, "setrlimit") == [("setrlimit", 0)]
    held: list = []
    while len(held) < DEFAULTS.max_connections:
        held += [g.connect() for _ in range(min(DEFAULTS.backlog,
                                                DEFAULTS.max_connections - len(held)))]
        g.run()
    extra = g.connect()
    extra.send(GET)
    g.run()
    assert extra.closed_by_peer and extra.recv_all() == b""
    assert ("close", 0) in g.calls[-3:]
    held[0].send(GET)
    g.run()
    assert held[0].recv_all() == kept("/")


@pytest.mark.parametrize("workers", WORKERS)
def test_a_failed_listener_re_add_is_tried_again(workers: int):
    """epoll_ctl(ADD) may fail for want of memory (ENOMEM, or ENOSPC at
    max_user_watches: epoll_ctl(2)), a condition that passes.  After an accept4 failure
    paused the listener, the sweep's ADD failing once must not stop the worker accepting
    for good (it did once: a lone worker stayed up and never answered a new connection
    again): the sweep keeps the pause and tries the ADD again the next second."""
    lines: list[str] = []
    # epoll_ctl: each worker's listener (ADD), the listener's DEL; with two workers the
    # other worker's ADD of the client; then the paused worker's ADD of the listener again
    g = Guest(server(workers), record=True, strace=lines.append,
              faults=["accept4=EMFILE@1", f"epoll_ctl=ENOMEM@{2 * workers + 1}"])
    g.start()
    first = g.connect()
    first.send(GET)
    g.run()
    g.stall(1)
    (deleted,) = [line for line in lines if "EPOLL_CTL_DEL, 3," in line]
    paused = deleted[:deleted.index("epoll_ctl")]  # "[pid  1001] ", or "" for a lone one
    readd = [i for i, line in enumerate(lines)
             if line.startswith(paused + "epoll_ctl(4, EPOLL_CTL_ADD, 3,")][1:]
    assert len(readd) == 1 and lines[readd[0]].endswith("= -1 ENOMEM (Cannot allocate memory)")
    g.stall(30)
    late = g.connect()
    late.send(GET)
    g.run()
    g.stall(2)
    if workers == 1:
        assert late.recv_all() == kept("/")
    again = [line for line in lines[readd[0] + 1:]
             if line.startswith(paused + "epoll_ctl(4, EPOLL_CTL_ADD, 3,")]
    assert again and again[0].endswith(" = 0")


# ---------------------------------------------------------------------- coverage.py itself

@lru_cache(maxsize=None)
def branchy() -> bytes:
    """exit(0) if it has no arguments, else exit(7): a ``jz`` over a ``mov ebx, 7`` that
    runs only when argc is not 1."""
    a = Assembler()
    start, over = a.label("_start"), a.label("over")
    a.bind(start)
    a.pop(EBX)
    a.dec(EBX)
    a.j("z", over)
    a.mov(EBX, 7)
    a.bind(over)
    a.mov(EAX, 1)
    a.int_(0x80)
    return link(a, start)


def run(*args: str) -> Guest:
    """branchy() run to its exit with ``args``."""
    g = Guest(branchy(), argv=("branchy", *args), coverage=True)
    g.start()
    assert g.exit_status == (7 if args else 0)
    return g


def test_a_branch_not_taken_leaves_exactly_its_instruction_uncovered():
    cov = Coverage.of(run())
    lines = listing(load(branchy())).splitlines()
    skipped = [line for line in lines if line.endswith("mov ebx, 7")]
    assert len(skipped) == 1
    assert cov.total == 6 and cov.covered == 5
    assert [str(line) for line in cov.uncovered()] == skipped
    assert cov.report() == "coverage: 5/6 instructions (83.3%)\n" + skipped[0]


def test_runs_of_one_program_merge_and_other_programs_do_not():
    taken, fallthrough = run(), run("x")
    merged = Coverage.of(taken).merge(Coverage.of(fallthrough))
    assert merged.complete and merged.report() == "coverage: 6/6 instructions (100.0%)"
    other = Coverage.of(guest(1))
    with pytest.raises(ValueError, match="different programs"):
        merged.merge(other)
    both = CoverageMap()
    both.add(taken, "branchy")
    both.add(fallthrough, "ignored: the first name stays")
    both.add(other)
    assert len(both) == 2
    assert [c.name for c in both] == ["branchy", f"program {other.key}"]
    assert both[merged.key].complete


def test_the_same_bytes_are_the_same_program_however_loaded(tmp_path):
    path = tmp_path / "site.elf"
    path.write_bytes(server())
    loaded = Guest.load(path, coverage=True)
    loaded.start()
    loaded.request(b"GET /about HTTP/1.1\r\n\r\n")
    a = guest(1, "bind=EADDRINUSE@1")
    both = CoverageMap()
    both.add(a, "from bytes")
    both.add(loaded, "from a file")
    (cov,) = both
    assert cov.name == "from bytes"
    assert cov.covered > max(Coverage.of(a).covered, Coverage.of(loaded).covered)
    assert cov.key != Coverage.of(run()).key


def test_coverage_survives_plain_data():
    """What an xdist worker sends: plain lists that rebuild the same coverage."""
    import json

    cov = CoverageMap()
    cov.add(guest(1), "site")
    cov.add(run())
    data = json.loads(json.dumps(cov.to_data()))
    again = CoverageMap.from_data(data)
    assert again.report() == cov.report()
    assert [c.blocks for c in again] == [c.blocks for c in cov]


def test_x86_64_coverage_survives_plain_data(monkeypatch):
    """An xdist worker's x86-64 coverage, rebuilt in the controller, is still decoded as
    x86-64 (read as i386 its blocks fell outside the listing, and the listing itself was
    the ELF header's bytes decoded as code)."""
    import json

    import harness.coverage

    monkeypatch.setattr(sys.modules[__name__], "ARCH", "x86_64")
    cov = CoverageMap()
    g = guest(1)
    g.request(GET)
    cov.add(g, "site64")
    data = json.loads(json.dumps(cov.to_data()))
    monkeypatch.setattr(harness.coverage, "_PROGRAMS", {})   # as in another process
    again = CoverageMap.from_data(data)
    assert again.report() == cov.report()
    (one,) = again
    assert one.program.image.arch == "x86_64" and one.outside == 0
    assert one.key != Coverage(load(_server(1, "i386"))).key


def test_the_report_lists_what_never_ran_as_the_listing_does():
    g = guest(1)
    g.request(GET)
    cov = Coverage.of(g)
    head, *missing = cov.report().splitlines()
    assert head == f"coverage: {cov.covered}/{cov.total} instructions " \
                   f"({100 * cov.covered / cov.total:.1f}%)"
    listed = set(listing(load(server())).splitlines())
    assert missing and set(missing) <= listed
    assert len(missing) == cov.total - cov.covered
    assert any(line.endswith("neg eax") for line in missing)  # the error report: no error


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_blocks_are_decoded_in_the_mode_the_cpu_ran_them(arch):
    """A block of x86-64 code read as i386 splits into other instructions at other
    addresses, which fall outside the listing: every instruction a served request ran is
    one of the listing's, for either architecture, and the two servers run about as many
    (they are the same program)."""
    g = Guest(build_server(SITE, ServerConfig(arch=arch)), coverage=True)
    g.start()
    assert g.request(GET) == kept("/")
    cov = Coverage.of(g)
    assert cov.outside == 0
    assert 350 < cov.covered < cov.total


def test_percentages_never_round_to_complete_or_to_nothing():
    from harness.coverage import _percent

    assert _percent(391, 402) == "97.3%"
    assert _percent(9999, 10000) == "99.9%"
    assert _percent(1, 10000) == "0.1%"
    assert _percent(0, 5) == "0.0%" and _percent(5, 5) == "100.0%"


def test_a_guest_without_coverage_has_none_to_report():
    from harness import HarnessError

    g = Guest(server())
    assert g.machine.covered is None
    with pytest.raises(HarnessError, match="coverage=True"):
        Coverage.of(g)


@lru_cache(maxsize=None)
def forking() -> bytes:
    """fork(); the child exits 3, the parent waits for it (wait4) and exits with the
    child's status: the child's three instructions run only in the child."""
    a = Assembler()
    start, parent = a.label("_start"), a.label("parent")
    a.bind(start)
    a.mov(EAX, SYS_fork)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("nz", parent)
    a.mov(EBX, 3)           # the child: exit(3)
    a.mov(EAX, SYS_exit)
    a.int_(0x80)
    a.bind(parent)
    a.push(0)               # wait4(-1, &status, 0, NULL)
    a.mov(ECX, ESP)
    a.or_(EBX, -1)
    a.xor(EDX, EDX)
    a.xor(ESI, ESI)
    a.mov(EAX, SYS_wait4)
    a.int_(0x80)
    a.pop(EBX)              # exit(WEXITSTATUS(status))
    a.shr(EBX, 8)
    a.mov(EAX, SYS_exit)
    a.int_(0x80)
    return link(a, start)


def test_a_forked_process_adds_to_its_parents_coverage():
    """A guest's coverage is its every process's: a forked child records its blocks in its
    parent's set (harness/machine.py Machine.fork), so ``Coverage.of(guest)`` and the
    pytest plugin see what a server's workers ran."""
    g = Guest(forking(), coverage=True)
    g.start()
    assert g.exit_status == 3  # the child ran, and exited 3
    cov = Coverage.of(g)
    assert cov.complete, cov.report()
    alone = Guest(forking(), coverage=True, faults=["fork=EAGAIN@1"])
    alone.start()  # no child: fork fails, wait4 fails with ECHILD, status 0
    assert alone.exit_status == 0
    lines = listing(load(forking())).splitlines()
    child = next(i for i, line in enumerate(lines) if line.endswith("mov ebx, 3"))
    assert [str(line) for line in Coverage.of(alone).uncovered()] == lines[child:child + 3]


def test_the_cli_prints_the_report_after_the_responses(tmp_path):
    elf = tmp_path / "site.elf"
    elf.write_bytes(server())
    request = tmp_path / "get.http"
    request.write_bytes(GET)
    plain = subprocess.run([sys.executable, "-m", "webelf", "run", str(elf),
                            "--request", str(request)], capture_output=True,
                           stdin=subprocess.DEVNULL)
    covered = subprocess.run([sys.executable, "-m", "webelf", "run", str(elf),
                              "--request", str(request), "--coverage"], capture_output=True,
                             stdin=subprocess.DEVNULL)
    assert covered.returncode == plain.returncode == 0
    assert covered.stdout == plain.stdout
    banner, head, *missing = covered.stderr.decode().splitlines()
    assert banner == BANNER.decode().strip()
    assert head.startswith("coverage: ") and head.endswith("%)")
    assert missing and all(line[:8].isalnum() and line[8:10] == ": " for line in missing)


@pytest.mark.parametrize("program,status,covered", [("exit42", 42, "3/9"),
                                                    ("segfault", 139, "2/8")])
def test_the_cli_keeps_the_exit_status(program, status, covered, tmp_path):
    """A guest that exits, or dies: its status stands, and the report still comes.  The
    segfaulting one shows the limits: nasm's padding before the entry point is in the
    listing, so in the universe, and the hlt after the faulting store counts as run
    because the block it ends began to run."""
    result = subprocess.run([sys.executable, "-m", "webelf", "run",
                             str(FIXTURES / "programs" / f"{program}.elf"), "--coverage"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == status
    assert f"coverage: {covered} instructions" in result.stderr


# ---------------------------------------------------------------------- the pytest plugin

USERS_TESTS = """
    import os
    from pathlib import Path

    def ran_on(test):
        Path(test + ".worker").write_text(os.environ.get("PYTEST_XDIST_WORKER", "-"))

    def test_front_page(elf_guest):
        ran_on("front")
        guest = elf_guest("site.elf", coverage=True)
        assert guest.request(b"GET / HTTP/1.1\\r\\n\\r\\n").startswith(b"HTTP/1.1 200")

    def test_about_page(elf_guest):
        ran_on("about")
        guest = elf_guest("site.elf", coverage=True)
        assert guest.request(b"GET /about HTTP/1.1\\r\\n\\r\\n").startswith(b"HTTP/1.1 200")

    def test_without_coverage(elf_guest):
        elf_guest("site.elf").request(b"GET /missing HTTP/1.1\\r\\n\\r\\n")
"""


def expected_summary(requests: list[bytes]) -> str:
    total = CoverageMap()
    for request in requests:
        g = guest(1)
        g.request(request)
        total.add(g, "site.elf")
    (cov,) = total
    return cov.summary()


@pytest.mark.parametrize("args", [(), ("-p", "xdist", "-n", "2")], ids=["plain", "xdist"])
def test_the_plugin_sums_up_coverage_per_program(pytester, args):
    """Two tests cover different routes; the summary is their union, also when they ran
    in two xdist workers (xdist deals three tests to two workers round-robin)."""
    from harness.pytest_plugin import SUMMARY_LINES

    (pytester.path / "site.elf").write_bytes(server())
    pytester.makepyfile(test_users_site=USERS_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=3)
    if args:
        workers = {(pytester.path / f"{t}.worker").read_text() for t in ("front", "about")}
        assert len(workers) == 2, "both tests ran in one worker: nothing was merged"
    summary = expected_summary([b"GET / HTTP/1.1\r\n\r\n", b"GET /about HTTP/1.1\r\n\r\n"])
    alone = expected_summary([b"GET / HTTP/1.1\r\n\r\n"])
    assert summary != alone
    covered, total = map(int, summary.split()[1].split("/"))
    result.stdout.fnmatch_lines([
        "*webelf guest coverage*", f"site.elf: {summary}", "    0804????:  f7d8 * neg eax",
        f"    ... and {total - covered - SUMMARY_LINES} more instructions never ran"])


def test_the_plugin_runs_and_covers_an_x86_64_elf(pytester):
    """The same user tests against the x86-64 build: they pass, and the summary lists the
    instructions no test reached at x86-64's addresses, as ``webelf disasm`` does."""
    (pytester.path / "site.elf").write_bytes(build_server(SITE, ServerConfig(arch="x86_64")))
    pytester.makepyfile(test_users_site=USERS_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*webelf guest coverage*", "site.elf: coverage: *",
                                 "    0040????:  * neg eax"])
    assert "outside the listing" not in result.stdout.str()


def test_the_ini_option_turns_coverage_on_for_every_guest(pytester):
    (pytester.path / "site.elf").write_bytes(server())
    pytester.makeini("[pytest]\nwebelf_coverage = true\n")
    pytester.makepyfile(test_users_site=USERS_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    summary = expected_summary([b"GET / HTTP/1.1\r\n\r\n", b"GET /about HTTP/1.1\r\n\r\n",
                                b"GET /missing HTTP/1.1\r\n\r\n"])
    result.stdout.fnmatch_lines([f"site.elf: {summary}"])


def test_no_summary_without_coverage(pytester):
    (pytester.path / "site.elf").write_bytes(server())
    pytester.makepyfile(test_users_site="""
        def test_front_page(elf_guest):
            elf_guest("site.elf").request(b"GET / HTTP/1.1\\r\\n\\r\\n")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "webelf guest coverage" not in result.stdout.str()


def test_guests_made_without_the_fixture_join_through_elf_coverage(pytester):
    (pytester.path / "site.elf").write_bytes(server())
    pytester.makepyfile(test_users_site="""
        from harness import Guest

        def test_direct(elf_coverage):
            guest = Guest.load("site.elf", coverage=True)
            guest.start()
            guest.request(b"GET / HTTP/1.1\\r\\n\\r\\n")
            elf_coverage.add(guest, "my server")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    summary = expected_summary([b"GET / HTTP/1.1\r\n\r\n"])
    result.stdout.fnmatch_lines([f"my server: {summary}"])
