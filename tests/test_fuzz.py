"""webelf fuzz: the fuzzer's judging and mutations, and the bugs it finds (snapshots are
tests/test_snapshot.py's).

The server with planted bugs is fixtures/programs/c/buggy_server.c (glibc, gcc -m32 -static):
a stack overflow on long paths, a crash behind a header compared byte by byte, a hang for
DELETE and a Content-Length that lies for the query word "verbose".  One fuzzing run of the
CLI, from the project's request corpus as the only seeds and a fixed number of runs, must
find all four, and each reproducer it writes must do the same to the same ELF run natively
on 127.0.0.1.  Our own generated server, fuzzed for a fixed number of runs, must give
nothing.  fixtures/programs/c/magic_server.c hides a crash behind a header value compared as
one integer, which only the comparisons fed back to the fuzzer reveal.  Debian's busybox
httpd answers HEAD with a body, which the fuzzer finds and the real program confirms.
"""

from __future__ import annotations

import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cprograms import build
from generator import build_server, default_site
from harness import Guest
from harness.fuzz import Fuzzer, judge_http
from harness.mutate import MUTATORS, Context, mutate
from support import (
    FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port, missing, wait_listening,
)

REQUESTS = FIXTURES / "requests"
SEEDS = [p.read_bytes() for p in sorted(REQUESTS.glob("*.http"))]
#: The bounded search: the fuzzer must find every planted bug within this many runs.
RUNS = 1000
BUDGET = 300_000
BUGGY_PORT = "8080"  # the guest's; natively each run takes a free port


def webelf(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def site_program() -> bytes:
    return build_server(default_site())


# ---------------------------------------------------------------------- judging

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


@pytest.mark.parametrize("request_, response, bad", [
    (b"GET / HTTP/1.1\r\n\r\n", OK, None),
    (b"GET / HTTP/1.1\r\n\r\n", b"", None),  # closing without a word is allowed
    (b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", OK + OK, None),
    (b"HEAD / HTTP/1.1\r\n\r\n", OK[:-2], None),
    (b"GET / HTTP/1.1\r\n\r\n", OK + b"!", "1 byte after the response to GET begin no"),
    (b"GET / HTTP/1.1\r\n\r\n", OK[:-1], "Content-Length 2 but the body has 1 bytes"),
    (b"HEAD / HTTP/1.1\r\n\r\n", OK, "2 bytes after the response to HEAD begin no "
     "response: a body after a response to HEAD"),
    (b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", OK + b"hi",
     "2 bytes after the response to GET begin no response"),
    (b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", OK[:-2] + OK, None),
    (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi",
     "Content-Length 9 but the body has 2 bytes"),
    (b"GET / HTTP/1.1\r\n\r\n", b"hello", "HTTP"),
])
def test_responses_are_judged_by_h11(request_, response, bad):
    problem = judge_http(request_, response)
    if bad is None:
        assert problem is None
    else:
        assert problem is not None and bad in problem


def test_mutations_are_deterministic_and_bounded():
    ctx = Context(SEEDS, [b"X-Token", b"secret"])
    outs = []
    for _ in range(2):
        rng = random.Random(7)
        outs.append([mutate(rng, SEEDS[i % len(SEEDS)], ctx, max_size=4096)
                     for i in range(500)])
    assert outs[0] == outs[1]
    assert all(isinstance(o, bytes) and len(o) <= 4096 for o in outs[0])
    assert len(set(outs[0])) > 400
    for mutator in MUTATORS:  # none of them breaks on an empty input
        assert isinstance(mutator(random.Random(1), b"", ctx), bytes)


# ---------------------------------------------------------------------- the planted bugs

def _bug(kind: str, data: bytes) -> str | None:
    """Which planted bug a finding is."""
    if kind == "crash" and b"X-Webelf-Debug" in data and b"open-sesame" in data:
        return "header"
    if kind == "crash" and len(_path(data)) >= 64:
        return "long path"
    if kind == "hang" and data.startswith(b"DELETE"):
        return "DELETE"
    if kind == "invalid" and b"verbose" in data:
        return "verbose"
    return None


def _path(data: bytes) -> bytes:
    """What buggy_server.c's path_depth copies into its 64 bytes: the target, after the
    first space, up to a space, '?', CR or NUL."""
    target = data.split(b" ", 1)[1] if b" " in data else b""
    return re.match(rb"[^ ?\r\0]*", target).group()


def test_one_stack_overflow_is_one_crash_whatever_it_faults_on(tmp_path):
    """The long-path overflow faults where the bytes over the stack send it: a return to an
    address made of them, into the middle of a function, or strstr reading through a
    callee-saved register they overwrote, by the path's length.  Keyed by the faulting
    instruction, each was a finding of its own (seed 2 gave the bug twice in RUNS runs);
    keyed by the function whose saved values were overwritten, it is one finding per run,
    and the crash behind the header, a null pointer written through, another."""
    data = build("glibc", "buggy_server", tmp_path)
    guest = Guest(data, argv=["buggy_server", BUGGY_PORT])
    guest.start()
    fuzzer = Fuzzer(guest, [], budget=BUDGET)
    outcomes = [fuzzer.execute(b"GET /" + b"A" * n + b" HTTP/1.1\r\n\r\n")
                for n in range(60, 90)]
    crashes = [o for o in outcomes if o.kind == "crash"]
    assert len({o.detail.split(":")[0] for o in crashes}) >= 3, crashes  # where it faulted
    assert len({o.key for o in crashes}) == 1, crashes
    header = fuzzer.execute(b"GET / HTTP/1.1\r\nX-Webelf-Debug: open-sesame\r\n\r\n")
    assert header.kind == "crash" and header.key != crashes[0].key
    fuzzer.close()
    for seed in (1, 2, 3):
        guest = Guest(data, argv=["buggy_server", BUGGY_PORT])
        guest.start()
        fuzzer = Fuzzer(guest, SEEDS, seed=seed, budget=BUDGET)
        report = fuzzer.run(runs=RUNS)
        found = [(_bug(f.kind, f.data), f.detail) for f in report.findings
                 if f.kind == "crash"]
        assert sorted(bug for bug, _ in found) == ["header", "long path"], (seed, found)
        for bug, detail in found:
            assert ("a stack overflow in the function at 0x" in detail) == (bug == "long path")
        fuzzer.close()


def test_the_stack_watch_sees_no_overflow_where_there_is_none(tmp_path, site_program):
    """The diagnosis reads every pop and ret back against what was pushed: on the corpus,
    which overflows nothing, it must see nothing, in glibc's code as in our own server's
    hand-encoded one (its own calling convention, and push imm / pop reg for constants)."""
    for data, argv in ((site_program, None),
                       (build("glibc", "buggy_server", tmp_path), ["buggy_server", BUGGY_PORT])):
        guest = Guest(data, argv=argv) if argv else Guest(data)
        guest.start()
        fuzzer = Fuzzer(guest, [], budget=BUDGET)
        for seed in SEEDS:
            assert fuzzer._diagnose(("crash", "x", 0), seed, ()) == (("crash", "x", 0), ""), seed
        fuzzer.close()


def test_every_planted_bug_is_found_and_reproduces_in_webelf_run_and_natively(tmp_path):
    """One CLI run (the costly part, so one test): every planted bug is found from the
    request corpus within RUNS runs; each finding's line names its file and the command
    that reproduces it, which does; and on the real kernel each reproducer does the same."""
    build("glibc", "buggy_server", tmp_path)
    elf = tmp_path / "buggy_server"
    out = tmp_path / "findings"
    result = webelf("fuzz", str(elf), "--corpus", str(REQUESTS), "--runs", str(RUNS),
                    "--seed", "1", "--max-instructions", str(BUDGET), "--out", str(out),
                    "--", BUGGY_PORT)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    findings = {p.stem: p.read_bytes() for p in sorted(out.glob("*.http"))}
    found = {_bug(name.split("-")[0], data) for name, data in findings.items()}
    assert {"long path", "header", "DELETE", "verbose"} <= found, (sorted(findings), stderr)
    assert re.search(rf"^webelf fuzz: [0-9.]+ s, {RUNS:,} runs \([0-9,]+/s\), [0-9,]+ edges, "
                     r"corpus [0-9,]+, [0-9]+ findings in ", stderr, re.M), stderr

    expected = {"crash": 128 + signal.SIGSEGV, "hang": 124, "invalid": 0}
    for name, data in findings.items():
        kind = name.split("-")[0]
        line = next(line for line in stderr.splitlines() if f": {name}: " in line)
        command = (f"webelf run {elf} --max-instructions {BUDGET} --request {out / name}.http "
                   f"-- {BUGGY_PORT}")
        assert line.endswith(f"reproduce: {command}"), line
        rerun = webelf(*command.split()[1:], timeout=60)
        assert rerun.returncode == expected[kind], (name, data, rerun.stderr)
        if kind == "invalid":
            assert judge_http(data, rerun.stdout) is not None, (name, rerun.stdout)

    if not NATIVE:
        pytest.skip(f"the reproducers were not tried natively: {NATIVE_REASON}")
    for name, data in findings.items():
        kind = name.split("-")[0]
        got = _native_outcome(elf, data)
        if kind == "crash":
            assert got == ("crash", signal.SIGSEGV), (name, data, got)
        else:
            assert got[0] == kind, (name, data, got)


def _native_outcome(elf: Path, data: bytes, args=lambda port: [str(port)]) -> tuple:
    """Send ``data`` to ``elf`` running natively (its arguments ``args(port)``), as the
    fuzzer's client does (then a half-close), and say what happened: ("crash", signal),
    ("hang",) when nothing came back within 2 s and the server still runs, ("invalid",
    problem) or ("ok",)."""
    port = free_port()
    proc = subprocess.Popen([str(elf), *args(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(proc, port)
        timed_out = False
        chunks = []
        with socket.create_connection((LOOPBACK, port), timeout=5) as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(2.0)
            try:
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            except socket.timeout:
                timed_out = True
            except ConnectionResetError:
                pass
        try:
            status = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            status = None
        if status is not None and status < 0:
            return ("crash", -status)
        if timed_out and status is None:
            return ("hang",)
        problem = judge_http(data, b"".join(chunks))
        return ("invalid", problem) if problem else ("ok",)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()


def test_jobs_share_a_corpus_findings_and_their_keys(tmp_path):
    """--jobs 2: two processes, seeds S and S+1, new corpus entries through DIR/.corpus;
    each job alone would find every planted bug (seeds 1 and 2 do in RUNS runs; sharing
    makes the runs depend on timing, so each job has twice as many), but a finding is
    claimed by a file named by its key before it is written: the crashes and the hang,
    keyed by the bug, are written once each, by whichever job found them first, and no two
    invalid responses have one problem.  Findings take the first free number, so no file
    is overwritten (an earlier run's neither), and the claims go with the run."""
    build("glibc", "buggy_server", tmp_path)
    out = tmp_path / "findings"
    out.mkdir()
    (out / "crash-1.http").write_bytes(b"an earlier run's")
    runs = 2 * RUNS
    result = webelf("fuzz", str(tmp_path / "buggy_server"), "--corpus", str(REQUESTS),
                    "--runs", str(runs), "--seed", "1", "--max-instructions", str(BUDGET),
                    "--out", str(out), "--jobs", "2", "--", BUGGY_PORT)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert (out / "crash-1.http").read_bytes() == b"an earlier run's"
    named = re.findall(r"^webelf fuzz \[job ([01])\]: ((?:crash|hang|invalid)-[0-9]+): "
                       r"(.*) \(run ", stderr, re.M)
    names = [name for _, name, _ in named]
    assert len(names) == len(set(names)) and "crash-1" not in names
    assert {f"{name}.http" for name in names} | {"crash-1.http"} == {
        p.name for p in out.glob("*.http")}
    bugs = [_bug(name.split("-")[0], (out / f"{name}.http").read_bytes()) for name in names]
    for bug in ("long path", "header", "DELETE"):
        assert bugs.count(bug) == 1, (bug, sorted(zip(bugs, names)), stderr)
    assert "verbose" in bugs, (sorted(zip(bugs, names)), stderr)
    problems = [re.sub("[0-9]+", "N", detail) for _, name, detail in named
                if name.startswith("invalid-")]
    assert len(problems) == len(set(problems)), problems
    shared = [p.name for p in (out / ".corpus").iterdir()]
    assert any(n.startswith("job0-") for n in shared) and any(n.startswith("job1-")
                                                              for n in shared)
    assert not list(out.glob(".keys-*"))
    for job in "01":
        assert re.search(rf"^webelf fuzz \[job {job}\]: [0-9.]+ s, {runs:,} runs ", stderr,
                         re.M)


def test_differential_fuzzing_finds_where_two_builds_part(tmp_path):
    """--reference: the same site built twice, once with one more page: the fuzzer finds a
    request for that page (a word read from the reference's route table), and a build
    against itself gives nothing."""
    for name, pages in (("a", {"index.html": "<h1>home</h1>\n"}),
                        ("b", {"index.html": "<h1>home</h1>\n",
                               "hidden-page.txt": "secret\n"})):
        site = tmp_path / f"site-{name}"
        site.mkdir()
        for page, text in pages.items():
            (site / page).write_text(text)
        built = webelf("build", "--site", str(site), "-o", str(tmp_path / f"{name}.elf"))
        assert built.returncode == 0, built.stderr
    out = tmp_path / "differs"
    result = webelf("fuzz", str(tmp_path / "a.elf"), "--reference", str(tmp_path / "b.elf"),
                    "--corpus", str(REQUESTS), "--runs", "1500", "--out", str(out))
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    found = {p.name: p.read_bytes() for p in out.glob("*.http")}
    assert any(name.startswith("differs-") and b"/hidden-page.txt" in data
               for name, data in found.items()), (found, stderr)
    assert f"; compare: webelf run {tmp_path / 'b.elf'} --request {out}" in stderr
    same = webelf("fuzz", str(tmp_path / "a.elf"), "--reference", str(tmp_path / "a.elf"),
                  "--corpus", str(REQUESTS), "--runs", "300", "--out", str(tmp_path / "o"))
    assert same.returncode == 0, same.stderr


def test_a_server_that_forks_per_connection_is_fuzzed_with_its_childrens_edges(tmp_path):
    """fork_server.c answers each connection in a child: the children's blocks count (the
    hook follows fork), and each run's children go with the restore.  It answers HEAD with
    a body, which the fuzzer reports."""
    data = build("glibc", "fork_server", tmp_path)
    guest = Guest(data, argv=["fork_server", BUGGY_PORT, "1000000"])
    guest.start()
    fuzzer = Fuzzer(guest, SEEDS, seed=1)
    assert fuzzer.execute(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").kind == "ok"
    child_edges = fuzzer.edges
    report = fuzzer.run(runs=100)
    assert child_edges > 200, child_edges  # the parent alone takes about 80
    assert any(f.kind == "invalid" and f.data.startswith(b"HEAD ")
               for f in report.findings), report.findings
    assert len(fuzzer._hooks) <= 2  # the children's hooks went with them
    fuzzer.close()


def test_a_child_that_runs_away_is_a_hang_within_the_block_budget(tmp_path):
    """fork_server.c's child loops for ever on a SPIN request while its parent waits in
    accept: the scheduler runs the two in time slices, and the block budget counts both
    processes' blocks from the guest's last wait, so the run is a hang after 1,000,000
    blocks (counted per slice, as it was, the budget was never spent, and only the wall
    clock's limit ended the run); webelf run --max-instructions with the same number, more
    than one slice, reproduces it."""
    data = build("glibc", "fork_server", tmp_path)
    guest = Guest(data, argv=["fork_server", BUGGY_PORT, "1000000"], max_seconds=120)
    guest.start()
    fuzzer = Fuzzer(guest, SEEDS, seed=1, budget=1_000_000)
    assert fuzzer.snapshot.extras  # caught where the child waits for the request
    outcome = fuzzer.execute(b"SPIN / HTTP/1.1\r\n\r\n")
    assert outcome.kind == "hang", outcome
    assert "budget of 1,000,000 basic blocks" in outcome.detail, outcome.detail
    assert fuzzer.execute(b"GET / HTTP/1.1\r\n\r\n").kind == "ok"  # restored after it
    fuzzer.close()
    # The reproducer: webelf run's instruction budget spans the time slices too (counted
    # per slice, it was never spent, and the run went on until the wall clock's limit).
    elf, request = tmp_path / "fork_server", tmp_path / "spin.http"
    elf.write_bytes(data)
    request.write_bytes(b"SPIN / HTTP/1.1\r\n\r\n")
    rerun = webelf("run", str(elf), "--max-instructions", "1000000", "--max-seconds", "120",
                   "--request", str(request), "--", BUGGY_PORT, "1000000", timeout=100)
    assert rerun.returncode == 124, rerun.stderr
    assert b"budget of 1,000,000 instructions" in rerun.stderr, rerun.stderr


def test_debian_busybox_httpd_is_found_to_answer_head_with_a_body():
    """Debian's busybox httpd (1.35, a child per connection), fuzzed from the request corpus
    with the site's tree as its root: an invalid finding, a body after the response to a
    HEAD (RFC 9110 section 9.3.2), which the real program gives natively too."""
    from test_busybox import third_party
    from test_fs import SITE

    busybox = third_party("busybox", "busybox-static:i386")
    guest = Guest.load(busybox, argv=["busybox", "httpd", "-f", "-p", "8080", "-h", "/"],
                       root=SITE)
    guest.start()
    fuzzer = Fuzzer(guest, SEEDS, seed=1)
    report = fuzzer.run(runs=200)
    heads = [f for f in report.findings
             if f.kind == "invalid" and "a body after a response to HEAD" in f.detail]
    assert heads, report.findings
    fuzzer.close()
    if not NATIVE:
        pytest.skip(f"the finding was not tried natively: {NATIVE_REASON}")
    got = _native_outcome(busybox, heads[0].data, lambda port: [
        "httpd", "-f", "-p", f"{LOOPBACK}:{port}", "-h", str(SITE)])
    assert got[0] == "invalid" and "a body after a response to HEAD" in got[1], got


def test_an_x86_64_server_is_fuzzed_as_well(tmp_path):
    """The same planted bugs in an x86-64 build (glibc, static): the fuzzer's API finds
    every one within the same number of runs."""
    from cprograms64 import build64

    data = build64("glibc", "buggy_server", tmp_path)
    guest = Guest(data, argv=["buggy_server", BUGGY_PORT])
    guest.start()
    fuzzer = Fuzzer(guest, SEEDS, seed=1, budget=BUDGET)
    report = fuzzer.run(runs=RUNS)
    found = [_bug(f.kind, f.data) for f in report.findings]
    assert {"long path", "header", "DELETE", "verbose"} <= set(found), report.findings
    assert found.count("long path") == 1, report.findings
    fuzzer.close()


def test_a_constant_compared_as_an_integer_is_fed_back_as_a_word(tmp_path):
    """magic_server.c crashes for "X-Magic: MACK", the value compared as one 32-bit integer
    against an immediate: no string the guest reads holds it, only the cmp's operands do.
    With comparison feedback the fuzzer finds it within RUNS runs (for each seed); without
    it, in as many runs, it does not."""
    data = build("glibc", "magic_server", tmp_path)
    for seed in (1, 2):
        results = {}
        for compares in (True, False):
            guest = Guest(data, argv=["magic_server", BUGGY_PORT])
            guest.start()
            fuzzer = Fuzzer(guest, SEEDS, seed=seed, budget=BUDGET, compares=compares)
            report = fuzzer.run(runs=RUNS)
            results[compares] = ([f for f in report.findings if f.kind == "crash"],
                                 b"MACK" in fuzzer.tokens)
            fuzzer.close()
        crashes, word = results[True]
        assert word and len(crashes) == 1, (seed, crashes)
        assert re.search(rb"(?i)\r\nX-Magic: *MACK", crashes[0].data), crashes[0].data
        assert results[False] == ([], False), (seed, results[False])


def test_the_python_compare_hook_logs_what_the_compiled_one_does(tmp_path, monkeypatch):
    """Without a C compiler the comparisons are logged by a Python hook: the same words
    from the same run (the magic among them, and no single bytes)."""
    from harness import native

    data = build("glibc", "magic_server", tmp_path)
    request = b"GET / HTTP/1.1\r\nX-Magic: clos\r\n\r\n"
    seen = []
    compiled = native.library()
    for lib in (compiled, None):
        monkeypatch.setattr(native, "_LOADED", [lib])
        guest = Guest(data, argv=["magic_server", BUGGY_PORT])
        guest.start()
        fuzzer = Fuzzer(guest, [])
        fuzzer._harvest(request, ())
        seen.append(list(fuzzer.tokens))
        fuzzer.close()
    assert b"MACK" in seen[1] and all(len(word) >= 2 for word in seen[1]), seen[1]
    if compiled is None:
        missing("a C compiler (cc, gcc or $CC) for harness/native.py's hooks",
                "apt-get install gcc")
    assert seen[0] == seen[1]


# ---------------------------------------------------------------------- our own server

def test_our_server_gives_nothing_and_its_coverage_is_reported(tmp_path, site_program):
    elf = tmp_path / "site.elf"
    elf.write_bytes(site_program)
    result = webelf("fuzz", str(elf), "--corpus", str(REQUESTS), "--runs", "1500",
                    "--out", str(tmp_path / "findings"))
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert not list((tmp_path / "findings").glob("*"))
    final = stderr.splitlines()[-1]
    edges = int(re.search(r"([0-9,]+) edges", final).group(1).replace(",", ""))
    assert edges > 100, final
    print(final)  # the coverage reached, in the test's output (pytest -s or -rP)


def test_our_two_architectures_answer_alike_under_differential_fuzzing(tmp_path):
    """``webelf build`` and ``webelf build --arch x86_64``: the same program in two
    listings, so --reference finds no request they answer differently (1,500 runs from the
    corpus), and the x86-64 build alone gives nothing either."""
    for arch in ("i386", "x86_64"):
        built = webelf("build", "--arch", arch, "-o", str(tmp_path / f"{arch}.elf"))
        assert built.returncode == 0, built.stderr
    result = webelf("fuzz", str(tmp_path / "i386.elf"), "--reference",
                    str(tmp_path / "x86_64.elf"), "--corpus", str(REQUESTS), "--runs", "1500",
                    "--out", str(tmp_path / "findings"))
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "findings").glob("*"))


def test_the_same_seed_gives_the_same_run(site_program):
    reports = []
    for _ in range(2):
        guest = Guest(site_program)
        guest.start()
        fuzzer = Fuzzer(guest, SEEDS[:5], seed=3)
        report = fuzzer.run(runs=300)
        reports.append((report.edges, list(fuzzer.corpus), fuzzer.tokens))
        fuzzer.close()
    assert reports[0] == reports[1]


# ---------------------------------------------------------------------- bad input

def test_bad_input_is_one_line_and_status_2(tmp_path, site_program):
    elf = tmp_path / "site.elf"
    elf.write_bytes(site_program)
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["--corpus", str(tmp_path / "nowhere")], ["--corpus", str(empty)],
                 ["--runs", "0"], ["--runs", "5", "--seconds", "1"]):
        result = webelf("fuzz", str(elf), *args, timeout=60)
        lines = result.stderr.decode().splitlines()
        assert result.returncode == 2, (args, lines)
        assert len(lines) == 1 and lines[0].startswith("webelf: error: "), (args, lines)
    hello = FIXTURES / "programs" / "hello.elf"  # exits at once: it never waits
    result = webelf("fuzz", str(hello), "--runs", "5", "--out", str(tmp_path / "o"), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().splitlines()[-1].endswith(
        "never waits for a connection (it exited with status 0): nothing to fuzz")
    result = webelf("fuzz", str(REQUESTS / "curl.http"), "--runs", "5", timeout=60)
    assert result.returncode == 125, result.stderr
