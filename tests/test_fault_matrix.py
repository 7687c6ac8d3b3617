"""The fault matrix: the generated server of the default site, in the emulator, against every
error Linux documents for every call it makes, and against clients that misbehave.

What the server promises (README, "The program it writes"; issue 5) and what every case
here checks:

- it never crashes: no :class:`~harness.GuestFault` (a SIGPIPE from an injected or real
  EPIPE included), and it never exits once it listens;
- it never spins: every run of the guest (from one wait to the next) is held to
  ``MAX_SYSCALLS`` system calls and ``MAX_INSTRUCTIONS`` instructions (an exact budget: the
  harness counts them, and raises GuestTimeout past it), and a whole connection -- accept to
  close -- happens within one run and at most ``CALLS_PER_CONNECTION`` calls;
- a fault costs at most the connection it hits, and the **next well-formed request gets
  the exact response** (byte for byte what :mod:`generator.site` computed);
- a failed setup call is one line, ``<call>() failed: errno <n>``, and exit status 1.

The errnos are the ERRORS sections of the Linux man pages (man-pages 6.x), cited per call
below.  Faults are injected with :mod:`harness.faults` (``NAME=ERRNO@N``): the Nth call of
NAME returns -1 with that errno and does nothing else.  The calls the server makes once it
listens are exactly accept4, read, write, shutdown and close (its strace:
``accept4 read write shutdown read close``, the second read being the drain); the setup
calls are signal, socket, setsockopt (twice), bind and listen.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import build_server, default_site
from generator.site import BAD_REQUEST, HEADERS_TOO_LARGE, Response
from harness import DEFAULT_REQUEST, Guest
from harness import linux as L
from harness.net import Client

PROGRAM = build_server(default_site())
PAGES = dict(default_site().routes)
HOME = Response.of(PAGES["/"]).data
ABOUT = Response.of(PAGES["/about"]).data
#: Two well-formed requests and their exact responses; cases alternate between them.
ROUTES = (
    (DEFAULT_REQUEST, HOME),
    (b"GET /about HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n", ABOUT),
)
#: The server's idle timeout (ServerConfig.idle_timeout, SO_RCVTIMEO), in seconds.
IDLE = 5

#: Budgets per run of the guest, between two waits.  A clean connection is 6 calls and
#: about 200 instructions (a rep iteration counts as one), so these leave a wide margin and
#: still stop a loop at once.
MAX_SYSCALLS = 200
MAX_INSTRUCTIONS = 20_000
MAX_SECONDS = 2.0
#: accept4, read, write, shutdown, read (drain), close: 6; one retried EINTR and one failed
#: accept4 more.
CALLS_PER_CONNECTION = 8


# ---------------------------------------------------------------------- helpers

def boot(*faults: str, syscalls: int = MAX_SYSCALLS, instructions: int = MAX_INSTRUCTIONS,
         **kwargs) -> Guest:
    """The server under ``faults``, run until it first waits (or exits)."""
    guest = Guest(PROGRAM, faults=list(faults), record=True, max_syscalls=syscalls,
                  max_instructions=instructions, max_seconds=MAX_SECONDS, **kwargs)
    guest.start()
    return guest


def exchange(guest: Guest, request: bytes, *, calls: int = CALLS_PER_CONNECTION) -> Client:
    """One connection as ``nc -N`` makes it: connect, send ``request``, half-close, and
    close once the server's FIN arrives.  The whole connection must be over in one run of
    the guest, which must be back in accept4 having made at most ``calls`` calls.  A guest
    that sleeps after a failed accept4 is woken first (one back-off: one accept4 again)."""
    if guest.last_stop.syscall == "nanosleep":
        wake(guest)
    assert guest.waiting_in_accept, guest.last_stop
    client = guest.connect()
    client.close_on_eof = True
    client.send(request)
    client.shutdown_write()
    before = len(guest.calls)
    stop = guest.run()
    assert stop.reason == "blocked" and stop.syscall in ("accept4", "nanosleep"), \
        f"the connection is not over after one run: {stop}"  # nanosleep: the next accept4 failed
    made = guest.calls[before:]
    assert len(made) <= calls, f"{len(made)} calls for one connection: {made}"
    assert client.closed_by_peer
    return client


def wake(guest: Guest) -> None:
    """Let the back-off after a failed accept4 pass: the guest tries accept4 once more."""
    before = len(guest.calls)
    guest.network.advance(guest.kernel.timeout_at - guest.network.now)
    stop = guest.run()
    assert guest.calls[before] == ("nanosleep", 0)
    assert stop.syscall in ("accept4", "nanosleep")  # waiting, or failed once more


def assert_serves_next(guest: Guest) -> None:
    """The next well-formed requests, for both pages, get exactly their responses."""
    for request, expected in ROUTES:
        client = exchange(guest, request)
        assert client.recv_all() == expected
        assert not client.was_reset


def index_of(calls: list[tuple[str, int]], entry: tuple[str, int]) -> int:
    assert entry in calls, f"{entry} was never returned: {calls}"
    return calls.index(entry)


# ---------------------------------------------------------------------- the errno matrix

#: accept(2) ERRORS (accept4 shares them), then the "already-pending network errors" that
#: Linux passes on from the new socket ("In the case of TCP/IP, these are ENETDOWN, EPROTO,
#: ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, and ENETUNREACH"), then "other
#: errors such as ENOSR, ESOCKTNOSUPPORT, EPROTONOSUPPORT, ETIMEDOUT".
ACCEPT4_ERRNOS = (
    "EAGAIN", "EBADF", "ECONNABORTED", "EFAULT", "EINTR", "EINVAL", "EMFILE", "ENFILE",
    "ENOBUFS", "ENOMEM", "ENOTSOCK", "EOPNOTSUPP", "EPERM", "EPROTO",
    "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET", "EHOSTUNREACH", "ENETUNREACH",
    "ENOSR", "ESOCKTNOSUPPORT", "EPROTONOSUPPORT", "ETIMEDOUT",
)
#: read(2) ERRORS; recv(2)'s, since on a socket "The only difference between recv() and
#: read(2) is the presence of flags"; ETIMEDOUT from tcp(7) ("The other end didn't
#: acknowledge retransmitted data"); ECONNRESET, what a read returns after an RST
#: (tcp_reset in net/ipv4/tcp_input.c sets sk_err).
READ_ERRNOS = (
    "EAGAIN", "EBADF", "EFAULT", "EINTR", "EINVAL", "EIO", "EISDIR",
    "ECONNREFUSED", "ENOMEM", "ENOTCONN", "ENOTSOCK",
    "ETIMEDOUT", "ECONNRESET",
)
#: write(2) ERRORS, and send(2)'s ("The only difference between send() and write(2) is the
#: presence of flags").
WRITE_ERRNOS = (
    "EAGAIN", "EBADF", "EDESTADDRREQ", "EDQUOT", "EFAULT", "EFBIG", "EINTR", "EINVAL", "EIO",
    "ENOSPC", "EPERM", "EPIPE",
    "EACCES", "EALREADY", "ECONNRESET", "EISCONN", "EMSGSIZE", "ENOBUFS", "ENOMEM",
    "ENOTCONN", "ENOTSOCK", "EOPNOTSUPP",
)
#: shutdown(2) ERRORS.
SHUTDOWN_ERRNOS = ("EBADF", "EINVAL", "ENOTCONN", "ENOTSOCK")
#: close(2) ERRORS.
CLOSE_ERRNOS = ("EBADF", "EINTR", "EIO", "ENOSPC", "EDQUOT")

MATRIX = {"accept4": ACCEPT4_ERRNOS, "read": READ_ERRNOS, "write": WRITE_ERRNOS,
          "shutdown": SHUTDOWN_ERRNOS, "close": CLOSE_ERRNOS}
#: The Nth call: 1 and 2.  For read the 2nd call is the drain read (the request fits one
#: read), so "the drain read" is read@2; for write, shutdown and close the 2nd call is the
#: second connection's, for accept4 the one after the first connection.
WHEN = (1, 2)
ERRNO_CASES = [pytest.param(name, errno, n, id=f"{name}={errno}@{n}")
               for name, errnos in MATRIX.items() for errno in errnos for n in WHEN]


def loses_nothing(name: str, errno: str, n: int) -> bool:
    """Whether the connection a fault hits still gets its exact response: a failed accept4
    leaves the client queued, and it is accepted on the retry; EINTR on the request's read
    or on a write is retried; the drain read (read@2), shutdown and close come after the
    whole response was written."""
    return (name in ("accept4", "shutdown", "close") or (name == "read" and n == 2)
            or errno == "EINTR")


@pytest.mark.parametrize("name,errno_name,n", ERRNO_CASES)
def test_an_errno_costs_at_most_its_connection(name, errno_name, n):
    errno = getattr(L, errno_name)
    guest = boot(f"{name}={errno_name}@{n}")
    counts = guest.kernel.faults.counts
    assert guest.waiting_in_accept or guest.last_stop.syscall == "nanosleep", guest.last_stop
    hit = -1 if counts[name] >= n else None   # accept4@1 fails in setup's first wait
    for i in range(4):
        request, expected = ROUTES[i % 2]
        client = exchange(guest, request)
        response = client.recv_all()
        if hit is None and counts[name] >= n:
            hit = i
            if loses_nothing(name, errno_name, n):
                assert response == expected, f"the connection {name}@{n} failed on lost bytes"
                assert not client.was_reset
            else:
                assert response == b"", "no byte of a response after the call failed"
        else:
            when = "before" if hit is None else "after"
            assert response == expected, f"request {i + 1}, {when} the fault"
            assert not client.was_reset
        if hit is not None and i > hit:
            break
    else:
        pytest.fail(f"the fault {name}@{n} never fired in 4 connections")
    assert not guest.exited

    # What the server did right after the failed call, by the man pages.
    calls = guest.calls
    at = index_of(calls, (name, -errno))
    following = calls[at + 1][0]
    if name == "accept4":
        assert (following, calls[at + 2][0]) == ("nanosleep", "accept4"), \
            "a failed accept4 is retried after a back-off, never used as an fd"
    elif name == "read" and n == 2:
        assert calls[at - 1][0] == "shutdown", "read@2 is the drain read"
        assert following == "close", "the drain ends at an error"
    elif errno_name == "EINTR" and name in ("read", "write"):
        assert following == name, "EINTR is retried (read(2), write(2): interrupted by a signal)"
    elif name == "close":
        # close(2): "Retrying the close() after a failure return is the wrong thing to do,
        # since this may cause a reused file descriptor from another thread to be closed."
        assert following == "accept4", "a failed close is not retried"
    elif name in ("read", "write"):
        assert following == "close", f"after a failed {name} the client is dropped at once"


# ---------------------------------------------------------------------- short reads and writes

#: Each case: the specs it runs under (one read or write cut short, or every one).
SHORT_CASES = [
    ("read=short:1@*",),
    ("read=short:3@*",),
    ("read=short:1@1",),
    ("write=short:1@*",),
    ("write=short:7@1",),
    ("write=short:7@*",),
    ("write=short:1027@1",),
    ("read=short:1@*", "write=short:1@*"),
]


@pytest.mark.parametrize("specs", SHORT_CASES, ids=lambda s: "+".join(s))
def test_short_reads_and_writes_lose_no_byte(specs):
    """read(2), write(2): "It is not an error if this number is smaller than the number of
    bytes requested".  The server reads on until the head ends and writes on from where the
    last write stopped: both responses exact, and no byte written twice (the writes add up
    to the response exactly)."""
    guest = boot(*specs, syscalls=4000, instructions=400_000)
    for request, expected in ROUTES:
        before = len(guest.calls)
        client = exchange(guest, request, calls=len(request) + len(expected) + 8)
        assert client.recv_all() == expected
        assert not client.was_reset
        writes = [ret for call, ret in guest.calls[before:] if call == "write"]
        assert all(ret > 0 for ret in writes) and sum(writes) == len(expected)
    assert not guest.exited


@pytest.mark.parametrize("errno_name", ["EMFILE", "ENFILE", "ENOMEM"])
def test_a_lasting_accept4_failure_is_not_spun_on(errno_name):
    """accept(2) EMFILE/ENFILE last as long as the fd limit is reached, and a waiting client
    stays queued meanwhile, so every retry would fail at once: the server sleeps 100 ms
    between tries (nanosleep, on the virtual clock here), one accept4 per wake."""
    guest = boot(f"accept4={errno_name}@1-50")
    assert guest.last_stop.syscall == "nanosleep"
    for _ in range(49):
        before = len(guest.calls)
        guest.network.advance(0.1)
        assert guest.run().syscall == "nanosleep"
        assert [name for name, _ in guest.calls[before:]] == ["nanosleep", "accept4"]
    guest.network.advance(0.1)
    guest.run()
    assert guest.waiting_in_accept
    assert_serves_next(guest)


@pytest.mark.parametrize("spec", ["read=EINTR@1-20", "write=EINTR@1-20"])
def test_eintr_again_and_again_is_retried_each_time(spec):
    """A signal storm: every retry is interrupted too, twenty times; the response is still
    exact and the retries are one call each (no spin beyond them)."""
    guest = boot(spec)
    request, expected = ROUTES[0]
    client = exchange(guest, request, calls=CALLS_PER_CONNECTION + 20)
    assert client.recv_all() == expected
    assert_serves_next(guest)


# ---------------------------------------------------------------------- setup failures

#: socket(2), setsockopt(2) (getsockopt(2)'s ERRORS; the 1st call sets SO_REUSEADDR, the
#: 2nd SO_RCVTIMEO), bind(2) (its AF_UNIX-only errnos too: the line must print any number),
#: listen(2).
SETUP = {
    ("socket", 1): ("EACCES", "EAFNOSUPPORT", "EINVAL", "EMFILE", "ENFILE", "ENOBUFS",
                    "ENOMEM", "EPROTONOSUPPORT"),
    ("setsockopt", 1): ("EBADF", "EFAULT", "EINVAL", "ENOPROTOOPT", "ENOTSOCK"),
    ("setsockopt", 2): ("EBADF", "EFAULT", "EINVAL", "ENOPROTOOPT", "ENOTSOCK"),
    ("bind", 1): ("EACCES", "EADDRINUSE", "EBADF", "EINVAL", "ENOTSOCK", "EADDRNOTAVAIL",
                  "EFAULT", "ELOOP", "ENAMETOOLONG", "ENOENT", "ENOMEM", "ENOTDIR", "EROFS"),
    ("listen", 1): ("EADDRINUSE", "EBADF", "ENOTSOCK", "EOPNOTSUPP"),
}
SETUP_CASES = [pytest.param(call, n, errno, id=f"{call}={errno}@{n}")
               for (call, n), errnos in SETUP.items() for errno in errnos]


@pytest.mark.parametrize("call,n,errno_name", SETUP_CASES)
def test_a_failed_setup_call_is_one_line_and_status_1(call, n, errno_name):
    """The die routine: ``<call>() failed: errno <n>`` in one write to stderr, then exit(1),
    and nothing else after the failed call (no listen on a socket that failed to bind)."""
    errno = getattr(L, errno_name)
    guest = boot(f"{call}={errno_name}@{n}")
    line = f"{call}() failed: errno {errno}\n".encode()
    assert guest.last_stop.reason == "exited" and guest.exit_status == 1
    assert guest.stderr == line
    assert guest.stdout == b""
    assert guest.calls[-3:] == [(call, -errno), ("write", len(line)), ("exit", None)]
    assert guest.listening() == []


def test_a_failed_setup_call_exits_1_even_if_its_line_cannot_be_written():
    guest = boot("bind=EADDRINUSE@1", "write=EIO@1")
    assert guest.exit_status == 1
    assert guest.stderr == b""


def test_a_failed_signal_call_does_not_stop_the_server():
    """signal(2) EINVAL (its only ERRORS entry: an invalid signal, which SIGPIPE is not, so
    Linux never returns it here): the server does not check, and serves."""
    guest = boot("signal=EINVAL@1")
    assert guest.waiting_in_accept
    assert_serves_next(guest)


# ---------------------------------------------------------------------- fragmented requests

@pytest.mark.parametrize("request_,expected", ROUTES, ids=["/", "/about"])
def test_a_request_in_one_byte_pieces(request_, expected):
    """Every byte in its own segment: one read per byte, the head found after the last."""
    guest = boot()
    client = guest.connect()
    guest.fragment(client, request_, 1)
    assert client.recv_all() == expected
    reads = [ret for call, ret in guest.calls if call == "read"]
    assert reads == [1] * len(request_), "one read per byte, the response after the last"
    client.close()
    guest.run()
    assert_serves_next(guest)


SHORT_HEAD = b"GET /about HTTP/1.1\r\nHost: x\r\n\r\n"
BARE_LF_HEAD = b"GET /about HTTP/1.1\nHost: x\n\n"


@pytest.mark.parametrize("head,cut", [
    pytest.param(head, cut, id=f"{name}-{cut}")
    for name, head in (("crlf", SHORT_HEAD), ("bare-lf", BARE_LF_HEAD))
    for cut in range(1, len(head))])
def test_a_request_in_two_pieces_cut_anywhere(head, cut):
    """The head split at every byte, the end-of-head bytes included ("\\r\\n\\r" then
    "\\n"): the server must neither answer early nor wait for more than the head."""
    guest = boot()
    client = guest.connect()
    client.send(head[:cut])
    guest.run()
    assert client.received == b"", "answered before the head ended"
    client.send(head[cut:])
    guest.run()
    assert client.recv_all() == ABOUT
    client.close()
    guest.run()
    assert_serves_next(guest)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 24), min_size=1, max_size=40), route=st.sampled_from(ROUTES))
def test_a_request_in_random_pieces(sizes, route):
    request, expected = route
    guest = boot()
    client = guest.connect()
    guest.fragment(client, request, sizes)
    assert client.recv_all() == expected
    assert sum(ret for call, ret in guest.calls if call == "read") == len(request)
    client.close()
    guest.run()
    assert guest.waiting_in_accept
    client = exchange(guest, ROUTES[1][0])
    assert client.recv_all() == ABOUT


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=12))
def test_a_head_too_large_in_random_pieces_gets_431_and_no_reset(sizes):
    """A head that does not fit the 8 KiB buffer gets 431, however it arrives, and the
    rest of it is drained (at most 8 reads) so the close is no reset."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n"
    guest = boot(instructions=200_000)
    client = guest.connect()
    client.close_on_eof = True
    guest.fragment(client, head, sizes)
    if not client.closed_by_peer:
        client.shutdown_write()
        guest.run()
    assert guest.waiting_in_accept
    assert client.recv_all() == HEADERS_TOO_LARGE.data
    assert not client.was_reset
    assert_serves_next(guest)


# ---------------------------------------------------------------------- stalls

def test_a_stall_mid_head_past_the_idle_timeout_drops_the_client():
    """SO_RCVTIMEO (socket(7)): the read gives up with EAGAIN after the idle timeout; the
    server closes without a word (nothing it read is left unread: FIN, not RST)."""
    guest = boot()
    client = guest.connect()
    client.send(DEFAULT_REQUEST[:20])
    assert guest.run().syscall == "read"
    assert guest.stall(IDLE - 0.1).syscall == "read", "dropped before the idle timeout"
    assert guest.stall(0.1).syscall == "accept4"
    assert client.closed_by_peer and not client.was_reset
    assert client.recv_all() == b""
    assert ("read", -L.EAGAIN) in guest.calls
    assert_serves_next(guest)


def test_a_stall_just_under_the_idle_timeout_is_still_served():
    guest = boot()
    client = guest.connect()
    client.send(DEFAULT_REQUEST[:20])
    guest.run()
    guest.stall(IDLE - 0.1)
    client.send(DEFAULT_REQUEST[20:])
    guest.run()
    assert client.recv_all() == HOME


def test_each_read_has_its_own_idle_timeout():
    """SO_RCVTIMEO bounds one read, not the request: a client that sends a byte every
    4.9 s is never dropped.  This is how the server is built (README: "drops a client that
    stays silent for the idle timeout"); it also means a trickling client holds the
    single-connection server for as long as it trickles, up to the 8 KiB head."""
    guest = boot()
    client = guest.connect()
    for byte in SHORT_HEAD:
        client.send(bytes([byte]))
        guest.run()
        guest.stall(IDLE - 0.1)
    assert client.recv_all() == ABOUT


def test_an_idle_client_is_dropped_and_the_one_queued_behind_it_is_served():
    """The fake network, like the server, takes connections in order: the idle one first.
    After the idle timeout it is dropped and the queued client gets its exact response."""
    guest = boot()
    idle = guest.connect()
    waiting = guest.connect()
    waiting.close_on_eof = True
    waiting.send(ROUTES[1][0])
    waiting.shutdown_write()
    assert guest.run().syscall == "read"
    assert guest.stall(IDLE - 0.1).syscall == "read"
    assert waiting.received == b"", "served before the idle client was dropped"
    assert guest.stall(0.1).syscall == "accept4"
    assert idle.closed_by_peer and not idle.was_reset and idle.recv_all() == b""
    assert waiting.recv_all() == ABOUT and not waiting.was_reset
    assert_serves_next(guest)


def test_an_idle_server_wakes_once_per_timeout_and_waits_again():
    """accept4 waits under the listener's SO_RCVTIMEO too: with nobody connecting it returns
    EAGAIN every 5 s, the server backs off 100 ms and waits again -- two calls per
    wake-up, not a spin."""
    guest = boot()
    before = len(guest.calls)
    for _ in range(10):
        assert guest.stall(IDLE).syscall == "nanosleep"
        wake(guest)
    assert guest.calls[before:] == \
        [call for _ in range(10) for call in (("accept4", -L.EAGAIN), ("nanosleep", 0))]
    assert_serves_next(guest)


def test_a_client_that_trickles_during_the_drain_is_cut_off_after_8_reads():
    """The drain is bounded (issue 5: "bounded in bytes and time"): 8 reads, each within the
    idle timeout, then close, whatever the client keeps sending."""
    guest = boot()
    client = guest.connect()
    client.send(ROUTES[0][0])
    guest.run()
    assert client.recv_all() == HOME
    for i in range(20):
        if guest.waiting_in_accept:
            break
        guest.stall(IDLE - 0.1)
        client.send(b"x")
        guest.run()
    assert guest.waiting_in_accept
    drain = [ret for call, ret in guest.calls if call == "read"][1:]
    assert drain == [1] * 8
    assert_serves_next(guest)


def test_a_client_that_floods_after_its_request_is_drained_at_most_8_reads():
    guest = boot()
    client = guest.connect()
    client.send(ROUTES[0][0] + b"x" * (16 * 8192))
    assert guest.run().syscall == "accept4"
    assert client.recv_all() == HOME
    drain = [ret for call, ret in guest.calls if call == "read"][1:]
    assert drain == [8192] * 8
    assert_serves_next(guest)


# ---------------------------------------------------------------------- half-close

def test_a_half_close_before_any_byte_gets_nothing():
    """End of file before anything was sent: nothing to answer, close (FIN)."""
    guest = boot()
    client = guest.connect()
    client.shutdown_write()
    assert guest.run().syscall == "accept4"
    assert client.closed_by_peer and not client.was_reset and client.recv_all() == b""
    assert_serves_next(guest)


@pytest.mark.parametrize("cut", [1, 14, 16, len(SHORT_HEAD) - 1], ids=lambda c: f"after-{c}-bytes")
def test_a_half_close_mid_head_gets_400(cut):
    """End of file before the head ended, after some of it: 400 (RFC 9112 section 8, an
    incomplete message), exactly the precomputed bytes."""
    guest = boot()
    client = exchange(guest, SHORT_HEAD[:cut])
    assert client.recv_all() == BAD_REQUEST.data
    assert not client.was_reset
    assert_serves_next(guest)


def test_a_half_close_after_the_head_gets_the_page():
    guest = boot()
    client = exchange(guest, SHORT_HEAD)
    assert client.recv_all() == ABOUT and not client.was_reset
    assert_serves_next(guest)


# ---------------------------------------------------------------------- resets

@pytest.mark.parametrize("sent", [b"", SHORT_HEAD], ids=["nothing-sent", "head-sent"])
def test_a_reset_before_the_server_accepts(sent):
    """The connection is reset while it waits in the accept queue, with or without its
    request: whatever accept4 then returns, the server moves on."""
    guest = boot()
    client = guest.connect()
    if sent:
        client.send(sent)
    client.reset()
    assert guest.run().syscall == "accept4"
    assert_serves_next(guest)


def test_a_reset_after_accept_before_sending():
    guest = boot()
    client = guest.connect()
    assert guest.run().syscall == "read"
    client.reset()
    assert guest.run().syscall == "accept4"
    assert ("read", -L.ECONNRESET) in guest.calls
    assert_serves_next(guest)


def test_a_reset_mid_head():
    guest = boot()
    client = guest.connect()
    client.send(SHORT_HEAD[:10])
    assert guest.run().syscall == "read"
    client.reset()
    assert guest.run().syscall == "accept4"
    assert ("read", -L.ECONNRESET) in guest.calls
    assert_serves_next(guest)


def test_a_reset_mid_response():
    """The fake network never blocks a write, so the response is cut into 100-byte writes
    (``write=short:100@1-3``: the first connection's) and the client resets after the second, from the strace hook,
    between two calls of one run.  The third write fails (ECONNRESET, or EPIPE with
    SIGPIPE, which the server ignores); the server writes no more and closes."""
    state = {"client": None, "writes": 0}

    def after_call(line: str) -> None:
        if line.startswith("write(4,"):
            state["writes"] += 1
            if state["writes"] == 2:
                state["client"].reset()

    guest = boot("write=short:100@1-3", strace=after_call)
    client = state["client"] = guest.connect()
    client.send(ROUTES[0][0])
    assert guest.run().syscall == "accept4"
    assert client.recv_all() == HOME[:200]
    writes = [ret for call, ret in guest.calls if call == "write"]
    assert writes[:2] == [100, 100] and writes[2] in (-L.ECONNRESET, -L.EPIPE)
    assert len(writes) == 3, "no write after the failed one"
    assert_serves_next(guest)


def test_a_reset_during_the_drain():
    guest = boot()
    client = guest.connect()
    client.send(ROUTES[1][0])
    assert guest.run().syscall == "read", "draining"
    assert client.recv_all() == ABOUT
    client.reset()
    assert guest.run().syscall == "accept4"
    assert guest.calls[-2:] == [("read", -L.ECONNRESET), ("close", 0)]
    assert_serves_next(guest)
