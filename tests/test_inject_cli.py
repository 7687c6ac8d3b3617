"""``webelf run --inject SPEC``: the harness's fault injection (:mod:`harness.faults`) from
the command line, so a user can see what their own ELF does when accept4(2) hits the fd
limit or write(2) meets a client that has gone, without a Python line.

The specs reach ``Guest(..., faults=[...])`` unchanged; a bad one is a usage error (exit
status 2, one line on stderr, the guest never runs), as every bad option is.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from generator import build_server, default_site
from generator.site import Response
from support import FIXTURES, webelf_lines

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
ABOUT = b"GET /about HTTP/1.1\r\nHost: localhost\r\n\r\n"


def webelf(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def page(path: str) -> bytes:
    """The exact response the default site gives ``path`` on a connection it keeps open
    (``webelf run`` sends HTTP/1.1 requests without Connection: close)."""
    return Response.of(dict(default_site().routes)[path]).sent(keep_alive=True)


def one_line(stderr: bytes) -> str:
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in lines[0]
    return lines[0]


def strace_text(stderr: bytes) -> str:
    return re.sub(r"\) +=", ") =", stderr.decode())  # strace pads results to column 40


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("inject") / "site.elf"
    path.write_bytes(build_server(default_site()))
    return path


@pytest.fixture
def requests(tmp_path):
    """Two request files, a.http (GET /) and b.http (GET /about), as --request arguments."""
    (tmp_path / "a.http").write_bytes(REQUEST)
    (tmp_path / "b.http").write_bytes(ABOUT)
    return ["--request", str(tmp_path / "a.http"), "--request", str(tmp_path / "b.http")]


def test_accept4_at_the_fd_limit_once_still_gets_the_response(site):
    """accept4(2) EMFILE on the first call: the server must not use -24 as an fd, and
    accepts again; the client, still queued, gets the page."""
    result = webelf("run", str(site), "--inject", "accept4=EMFILE@1", "--strace")
    assert result.returncode == 0, result.stderr
    assert result.stdout == page("/")
    text = strace_text(result.stderr)
    assert "accept4(3, NULL, NULL, SOCK_NONBLOCK) = -1 EMFILE (Too many open files)" in text
    assert "accept4(3, NULL, NULL, SOCK_NONBLOCK) = 5" in text, "the retry accepted the client"


def test_a_write_epipe_loses_the_first_response_and_the_second_is_exact(site, requests, tmp_path):
    """writev(2) EPIPE on the first call: that client is gone (its response is lost, and the
    SIGPIPE it raises is ignored by this server), the next is served exactly.  The lost one
    is a failure: one line names it, and the status is 3."""
    out = tmp_path / "out"
    result = webelf("run", str(site), "--inject", "writev=EPIPE@1", *requests, "--out", str(out))
    assert result.returncode == 3, result.stderr
    assert webelf_lines(result.stderr) == [
        f"webelf: no response to {tmp_path / 'a.http'}: the guest waits in epoll_wait()"]
    assert (out / "a.http").read_bytes() == b""
    assert (out / "b.http").read_bytes() == page("/about")


def test_the_same_on_stdout_is_exactly_the_second_response(site, requests):
    result = webelf("run", str(site), "--inject", "writev=EPIPE@1", *requests)
    assert result.returncode == 3, result.stderr
    assert result.stdout == page("/about")


def test_inject_is_repeatable_and_short_reads_and_writes_lose_nothing(site, requests):
    """read(2) and writev(2) may move fewer bytes than asked ("It is not an error if this
    number is smaller than the number of bytes requested"): one byte per read and seven per
    writev must still give both exact responses."""
    result = webelf("run", str(site), "--inject", "read=short:1@*",
                    "--inject", "writev=short:7@*", *requests, "--strace")
    assert result.returncode == 0, result.stderr
    assert result.stdout == page("/") + page("/about")
    text = strace_text(result.stderr)
    assert 'read(5, "G", 8192) = 1' in text, "strace shows the count asked for, and 1"
    assert 'writev(5, [{iov_base="HTTP/1.1 200 OK\\r\\nContent-Type: t"..., iov_len=78}' in text
    assert re.search(r"writev\(5, .*\], 3\) = 7\n", text)


def test_an_injected_epipe_kills_a_guest_that_does_not_ignore_sigpipe():
    """The nasm server writes without ignoring SIGPIPE: an EPIPE from write(2) comes with
    SIGPIPE (write(2), signal(7): default action Term), so it dies, status 128+13."""
    result = webelf("run", str(FIXTURES / "programs" / "socketcall_server.elf"),
                    "--inject", "write=EPIPE@1")
    assert result.returncode == 128 + 13
    assert "SIGPIPE" in one_line(result.stderr)


def test_injected_setup_failure_gives_the_guests_own_exit_status(site):
    """bind(2) EADDRINUSE: the server says so in one line and exits 1; run passes that on."""
    result = webelf("run", str(site), "--inject", "bind=EADDRINUSE@1")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr == b"bind() failed: errno 98\nwebelf: the guest exited with status 1\n"


@pytest.mark.parametrize("spec,words", [
    ("write", "expected NAME=ACTION@WHEN"),
    ("write=EPOPE@1", "unknown errno 'EPOPE'"),
    ("frobnicate=EIO@1", "unknown system call 'frobnicate'"),
    ("exit=EIO@1", "never returns"),
    ("close=short:1@1", "short applies to"),
    ("read=short:0@1", "at least 1"),
    ("read=EIO@0", "calls count from 1"),
    ("read=EIO@3-2", "ends before it starts"),
])
def test_a_bad_spec_is_a_usage_error_in_one_line(site, spec, words):
    result = webelf("run", str(site), "--inject", "accept4=EMFILE@1", "--inject", spec)
    assert result.returncode == 2
    assert result.stdout == b"", "the guest must not run"
    line = one_line(result.stderr)
    assert line.startswith("webelf: error: argument --inject: bad fault spec")
    assert words in line


def test_help_documents_the_syntax():
    result = webelf("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.decode().split())
    assert "--inject SPEC" in text
    assert "NAME=ACTION@WHEN" in text and "write=EPIPE@1" in text and "short:N" in text
