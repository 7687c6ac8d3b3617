"""Guest coverage: harness/coverage.py, ``webelf run --coverage``, the pytest plugin's
summary, and the rule it exists for: every instruction of the generated server runs in
some scenario the tests know, so code that no test reaches fails the suite.

The scenarios below are the server's whole repertoire as a client or the kernel can
provoke it: the request corpus (fixtures/requests, sent as its manifest says), a failure
of each setup call (the one-line error report), every fault the request path handles
(EINTR, EPIPE, short writes, EMFILE), and the clients that misbehave (silent, gone before
sending, too long a head, still sending after the response, not speaking HTTP).  Each
scenario checks what the server did, so a scenario that stops provoking its path fails
by itself rather than leaving coverage to chance.

Coverage counts instructions, not branch directions: a retried EINTR or EMFILE jumps back
to code that has run anyway, so those scenarios add no instruction of their own today.
They stay, for the branch each takes and the behaviour each asserts.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache

import pytest

from generator import build_server, default_site
from generator.elf import link
from generator.x86 import EAX, EBX, Assembler
from harness import Coverage, CoverageMap, Guest, NetError
from harness.elf import load
from harness.trace import listing
from support import FIXTURES, request_manifest


REQUESTS = FIXTURES / "requests"
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#: The server's idle timeout (ServerConfig's default): a client silent longer is dropped.
IDLE_TIMEOUT = 5
#: How many reads the server drains a connection with, at most, before it closes.
DRAIN_READS = 8


@lru_cache(maxsize=None)
def server() -> bytes:
    return build_server(default_site())


def guest(*faults: str) -> Guest:
    g = Guest(server(), coverage=True, faults=faults)
    g.start()
    return g


def status(response: bytes) -> bytes:
    return response.split(b"\r\n", 1)[0]


def serves_next(g: Guest) -> None:
    """The accept loop goes on (after its back-off, if accept4 failed): the next
    well-formed request gets the page."""
    assert g.waiting_in_accept or g.last_stop.syscall == "nanosleep", g.last_stop
    assert status(g.request(GET)) == b"HTTP/1.1 200 OK"


# ---------------------------------------------------------------------- the scenarios

SCENARIOS: dict[str, Callable[[], list[Guest]]] = {}


def scenario(fn: Callable[[], list[Guest]]) -> Callable[[], list[Guest]]:
    SCENARIOS[fn.__name__] = fn
    return fn


def _corpus() -> list[tuple[str, bytes, str]]:
    manifest = request_manifest()
    return [(e["name"], (REQUESTS / f"{e['name']}.http").read_bytes(), e["send"])
            for e in manifest]


def replay(g: Guest, data: bytes, send: str) -> bytes:
    """One request sent as the corpus manifest says (as tests/test_replay.py sends it)."""
    if send == "whole":
        return g.request(data)
    client = g.connect()
    if send == "bytewise":
        for i in range(len(data)):
            try:
                client.send(data[i:i + 1])
            except NetError:
                break  # answered and closed before the request was over
            g.run()
    if not client.closed_by_peer:
        client.shutdown_write()
        g.run()
    response = client.recv_all()
    client.close()  # as test_replay's guests never need to: this one serves on
    g.run()
    return response


@scenario
def request_corpus() -> list[Guest]:
    guests = []
    for name, data, send in _corpus():
        g = guest()
        response = replay(g, data, send)
        assert (response == b"") == (send == "none"), name
        assert response == b"" or response.startswith(b"HTTP/1.1 "), (name, response[:40])
        serves_next(g)
        guests.append(g)
    return guests


def _setup_failure(fault: str, line: bytes) -> list[Guest]:
    g = guest(fault)
    assert g.exit_status == 1
    assert g.stderr == line
    return [g]


@scenario
def socket_fails() -> list[Guest]:
    return _setup_failure("socket=EACCES@1", b"socket() failed: errno 13\n")


@scenario
def setsockopt_reuseaddr_fails() -> list[Guest]:
    return _setup_failure("setsockopt=EINVAL@1", b"setsockopt() failed: errno 22\n")


@scenario
def setsockopt_rcvtimeo_fails() -> list[Guest]:
    return _setup_failure("setsockopt=ENOMEM@2", b"setsockopt() failed: errno 12\n")


@scenario
def bind_fails() -> list[Guest]:
    return _setup_failure("bind=EADDRINUSE@1", b"bind() failed: errno 98\n")


@scenario
def listen_fails() -> list[Guest]:
    return _setup_failure("listen=EADDRINUSE@1", b"listen() failed: errno 98\n")


@scenario
def accept_fails() -> list[Guest]:
    g = guest("accept4=EMFILE@1")
    serves_next(g)
    return [g]


@scenario
def read_interrupted() -> list[Guest]:
    g = guest("read=EINTR@1")
    assert status(g.request(GET)) == b"HTTP/1.1 200 OK"
    serves_next(g)
    return [g]


@scenario
def write_interrupted() -> list[Guest]:
    g = guest("write=EINTR@1")
    assert status(g.request(GET)) == b"HTTP/1.1 200 OK"
    serves_next(g)
    return [g]


@scenario
def write_to_a_client_gone() -> list[Guest]:
    g = guest("write=EPIPE@1")
    assert g.request(GET) == b""
    serves_next(g)
    return [g]


@scenario
def short_writes() -> list[Guest]:
    g = guest("write=short:1@*")
    response = g.request(GET)
    assert status(response) == b"HTTP/1.1 200 OK"
    assert response == guest().request(GET)
    return [g]


@scenario
def idle_client() -> list[Guest]:
    g = guest()
    silent = g.connect()
    g.run()
    g.stall(IDLE_TIMEOUT + 1)
    assert silent.closed_by_peer and silent.recv_all() == b""
    serves_next(g)
    return [g]


@scenario
def client_gone_before_sending() -> list[Guest]:
    g = guest()
    client = g.connect()
    client.close()
    g.run()
    serves_next(g)
    return [g]


@scenario
def head_too_large() -> list[Guest]:
    g = guest()
    response = g.request(b"GET / HTTP/1.1\r\nCookie: " + b"x" * 9000 + b"\r\n\r\n")
    assert status(response) == b"HTTP/1.1 431 Request Header Fields Too Large"
    serves_next(g)
    return [g]


@scenario
def data_after_the_response() -> list[Guest]:
    """A client that goes on sending once answered (a body, pipelined requests): the
    server drains it, a bounded number of reads, before it closes."""
    g = guest()
    client = g.connect()
    client.send(GET)
    g.run()
    assert status(client.recv_all()) == b"HTTP/1.1 200 OK"
    for sends in range(1, 100):
        client.send(b"more")
        g.run()
        if g.waiting_in_accept:
            break
    assert sends == DRAIN_READS
    client.close()
    serves_next(g)
    return [g]


#: Requests whose answer the server decides by routing, each to a path of the parser.
ROUTED = {
    b"GET / HTTP/1.1\r\n\r\n": b"200 OK",
    b"GET /about HTTP/1.1\r\n\r\n": b"200 OK",
    b"GET /about.html?x=1 HTTP/1.0\r\n\r\n": b"200 OK",
    b"GET /index.html HTTP/1.1\n\n": b"200 OK",
    b"HEAD / HTTP/1.1\r\n\r\n": b"200 OK",
    b"GET /nothing HTTP/1.1\r\n\r\n": b"404 Not Found",
    b"GET /abcde HTTP/1.1\r\n\r\n": b"404 Not Found",           # the length of /about
    b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi": b"405 Method Not Allowed",
    b"HEAL / HTTP/1.1\r\n\r\n": b"405 Method Not Allowed",
    b"HEADX / HTTP/1.1\r\n\r\n": b"405 Method Not Allowed",
    b"get / HTTP/1.1\r\n\r\n": b"400 Bad Request",              # not an upper-case method
    b"GET http://x/about HTTP/1.1\r\n\r\n": b"200 OK",          # absolute-form
    b"GET http://x HTTP/1.1\r\n\r\n": b"400 Bad Request",       # ... with no path
    b"GET https://x/ HTTP/1.1\r\n\r\n": b"400 Bad Request",     # not http://
    b"GET http://x\x01/ HTTP/1.1\r\n\r\n": b"400 Bad Request",  # a control byte in it
    b"GET x HTTP/1.1\r\n\r\n": b"400 Bad Request",              # neither form
    b"GET /a\x01b HTTP/1.1\r\n\r\n": b"400 Bad Request",        # a control byte in the path
    b"GET /?a\x01b HTTP/1.1\r\n\r\n": b"400 Bad Request",       # ... in the query
    b"GET / HTTP/2.0\r\n\r\n": b"400 Bad Request",
    b"GET / HTTP/1.x\r\n\r\n": b"400 Bad Request",
    b"GET / HTTP/1.1 \r\n\r\n": b"400 Bad Request",             # more after the version
    b"GET / HTTP/1.1\r\nHost: x\r\n": b"400 Bad Request",       # the head never ends
}


@scenario
def routing() -> list[Guest]:
    g = guest()
    for request, expected in ROUTED.items():
        assert status(g.request(request)) == b"HTTP/1.1 " + expected, request
    serves_next(g)
    return [g]


@scenario
def head_in_pieces() -> list[Guest]:
    """The end of the head found across reads: each byte alone, so a line feed is the
    last byte read, or a CR after it is."""
    g = guest()
    for request in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\nHost: x\n\n"):
        client = g.connect()
        g.fragment(client, request, 1)
        assert status(client.recv_all()) == b"HTTP/1.1 200 OK"
        client.close()
        g.run()
    serves_next(g)
    return [g]


def coverage_of(guests: list[Guest]) -> Coverage:
    total = Coverage(load(server()), name="the default site's server")
    for g in guests:
        total.merge(Coverage.of(g))
    return total


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str):
    """Each scenario alone, so one that no longer does what it claims names itself."""
    assert SCENARIOS[name]()


def test_every_instruction_of_the_server_runs(elf_coverage):
    """The rule: 100%.  The total also goes to the plugin's summary at the end of the run."""
    guests = [g for run in SCENARIOS.values() for g in run()]
    total = coverage_of(guests)
    elf_coverage.add(total)
    if not total.complete:
        pytest.fail("instructions of the generated server that no scenario in "
                    "tests/test_coverage.py runs; add a scenario that reaches them (or remove "
                    "the code):\n" + total.report(), pytrace=False)


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
    other = Coverage.of(guest())
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
    a = guest("bind=EADDRINUSE@1")
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
    cov.add(guest(), "site")
    cov.add(run())
    data = json.loads(json.dumps(cov.to_data()))
    again = CoverageMap.from_data(data)
    assert again.report() == cov.report()
    assert [c.blocks for c in again] == [c.blocks for c in cov]


def test_the_report_lists_what_never_ran_as_the_listing_does():
    g = guest()
    g.request(GET)
    cov = Coverage.of(g)
    head, *missing = cov.report().splitlines()
    assert head == f"coverage: {cov.covered}/{cov.total} instructions " \
                   f"({100 * cov.covered / cov.total:.1f}%)"
    listed = set(listing(load(server())).splitlines())
    assert missing and set(missing) <= listed
    assert len(missing) == cov.total - cov.covered
    assert any(line.endswith("neg eax") for line in missing)  # the error report: no error


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
    head, *missing = covered.stderr.decode().splitlines()
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
        g = guest()
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
