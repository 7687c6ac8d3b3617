"""``webelf run``, ``check`` and ``disasm``: what a user on any OS types, and the exit
statuses documented in webelf/cli.py."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import pytest

from generator.site import Response
from generator import Page, build_server, default_page, http_response
from support import FIXTURES, webelf_lines

PROGRAMS = FIXTURES / "programs"
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def webelf(*args: str, cwd=None, timeout: float = 60, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """``webelf ARGS`` with ``stdin`` on a pipe (the guest's fd 0 reads it), never the
    runner's own stdin."""
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          cwd=cwd, timeout=timeout, input=stdin)


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site.elf"
    path.write_bytes(build_server(http_response(default_page())))
    return path


def kept_page() -> bytes:
    """What ``webelf run`` gets for an HTTP/1.1 request that does not ask to close: the
    page on a kept-alive connection, which the server closes once it reads end of file."""
    raw = http_response(default_page())
    return Response(raw, raw.index(b"\r\n\r\n") + 4).sent(keep_alive=True)


def one_line(stderr: bytes) -> str:
    lines = webelf_lines(stderr)
    assert len(lines) == 1, stderr
    assert "Traceback" not in lines[0]
    return lines[0]


def test_run_prints_the_response_for_the_default_request(site):
    result = webelf("run", str(site))
    assert result.returncode == 0, result.stderr
    assert result.stdout == kept_page()


def test_run_replays_request_files_into_a_directory(site, tmp_path):
    requests = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.http"
        path.write_bytes(REQUEST)
        requests += ["--request", str(path)]
    out = tmp_path / "out"
    result = webelf("run", str(site), *requests, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    for name in ("first", "second"):
        assert (out / f"{name}.http").read_bytes() == kept_page()


def test_run_passes_the_guests_stdout_to_stdout():
    result = webelf("run", str(PROGRAMS / "hello.elf"))
    assert result.returncode == 0
    assert result.stdout == b"hello, world\n"
    assert result.stderr == b""


ECHO_ARGS = PROGRAMS / "echo_args.elf"  # prints argv and envp one per line, then stdin


def test_run_passes_args_after_the_elf_as_given():
    result = webelf("run", str(ECHO_ARGS), "one", "two words", "")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\none\ntwo words\n\n".encode()
    assert result.stderr == b"done\n"


def test_run_options_end_at_the_first_arg_or_at_double_dash():
    # --strace before the first ARG is webelf's; every word after it is the guest's.
    result = webelf("run", str(ECHO_ARGS), "--strace", "x", "--strace", "-n", "--env", "A=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\nx\n--strace\n-n\n--env\nA=1\n".encode()
    assert b"write(1, " in result.stderr  # the strace lines, on stderr
    result = webelf("run", "--env", "A=1", str(ECHO_ARGS), "--", "--request", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\n--request\n-\nA=1\n".encode()


def test_run_gives_an_empty_environment_but_for_env_options(monkeypatch):
    monkeypatch.setenv("WEBELF_LEAK", "should not reach the guest")
    assert webelf("run", str(ECHO_ARGS)).stdout == f"{ECHO_ARGS}\n".encode()
    result = webelf("run", str(ECHO_ARGS), "--env", "A=1", "--env", "EMPTY=",
                    "--env", "EQ=a=b", "arg")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\narg\nA=1\nEMPTY=\nEQ=a=b\n".encode()


def test_run_pipes_its_stdin_to_the_guest():
    data = bytes(range(256)) * 300  # 76,800 bytes: many reads of the guest's 4 KiB buffer
    result = webelf("run", str(ECHO_ARGS), stdin=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\n".encode() + data
    assert result.stderr == b"done\n"


def test_run_reads_stdin_from_a_file(tmp_path):
    source = tmp_path / "input.bin"
    source.write_bytes(b"from a file\n")
    with source.open("rb") as f:
        result = subprocess.run([sys.executable, "-m", "webelf", "run", str(ECHO_ARGS)],
                                stdin=f, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ECHO_ARGS}\nfrom a file\n".encode()


@pytest.mark.parametrize("env", ["NOEQUALS", "=value"])
def test_run_env_must_be_name_equals_value(env):
    result = webelf("run", str(ECHO_ARGS), "--env", env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "--env" in line and "NAME=VALUE" in line
    assert result.stdout == b""


def test_run_names_unmodelled_calls_once_when_the_guest_fails():
    """unmodelled.elf calls acct twice and swapoff once, then exits 1."""
    result = webelf("run", str(PROGRAMS / "unmodelled.elf"))
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "webelf: the guest exited with status 1",
        "webelf: unmodelled system calls: acct x2, swapoff",
    ]


def test_run_names_no_unmodelled_calls_for_a_guest_that_made_none():
    result = webelf("run", str(PROGRAMS / "exit42.elf"))
    assert b"unmodelled" not in result.stderr


def test_run_exits_with_the_guests_status():
    result = webelf("run", str(PROGRAMS / "exit42.elf"))
    assert result.returncode == 42
    assert one_line(result.stderr) == "webelf: the guest exited with status 42"


def test_run_a_segfault_is_139_with_one_line():
    result = webelf("run", str(PROGRAMS / "segfault.elf"))
    assert result.returncode == 128 + 11
    line = one_line(result.stderr)
    assert "SIGSEGV" in line and "0x00000000" in line


def test_run_a_runaway_guest_is_stopped_by_the_time_budget():
    result = webelf("run", str(PROGRAMS / "spin.elf"), "--max-seconds", "0.3")
    assert result.returncode == 124
    assert "time budget of 0.3 s" in one_line(result.stderr)


def test_run_a_runaway_guest_is_124():
    result = webelf("run", str(PROGRAMS / "spin.elf"), "--max-instructions", "100000")
    assert result.returncode == 124
    assert "jmp" in one_line(result.stderr)


def test_run_a_nasm_server_that_uses_socketcall():
    result = webelf("run", str(PROGRAMS / "socketcall_server.elf"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n")


def test_run_strace_prints_the_calls(site):
    result = webelf("run", str(site), "--strace")
    assert result.returncode == 0
    text = re.sub(r"\) +=", ") =", result.stderr.decode())  # strace pads to column 40
    assert "socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_IP) = 3" in text
    assert "accept4(3, NULL, NULL, SOCK_NONBLOCK) = 5" in text
    assert 'read(5, "GET / HTTP/1.1\\r\\nHost: localhost\\r"...' in text


def test_run_trace_prints_instructions(site):
    result = webelf("run", str(site), "--trace")
    assert result.returncode == 0
    assert b"int 0x80" in result.stderr


def test_run_port_must_be_one_the_guest_listens_on(site):
    result = webelf("run", str(site), "--port", "9999")
    assert result.returncode == 1
    assert "8080" in one_line(result.stderr)


@pytest.mark.parametrize("args,fragment", [
    (["run"], "required"),
    (["run", "/nonexistent.elf"], "cannot read"),
    (["run", "X", "--max-instructions", "0"], "not a positive number"),
    (["run", "X", "--max-seconds", "-1"], "not a positive number of seconds"),
    (["run", "X", "--port", "70000"], "outside 1..65535"),
    (["check", "X"], "required"),
    (["disasm"], "required"),
])
def test_usage_errors_are_2(args, fragment, tmp_path):
    result = webelf(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in one_line(result.stderr)


def test_check_identical_is_0(site, tmp_path):
    (tmp_path / "req").write_bytes(REQUEST)
    (tmp_path / "exp").write_bytes(kept_page())
    result = webelf("check", str(site), "--request", str(tmp_path / "req"),
                    "--expect", str(tmp_path / "exp"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""


def test_check_shows_where_the_response_differs(site, tmp_path):
    expected = http_response(Page.make(b"<p>another page</p>"))
    (tmp_path / "req").write_bytes(REQUEST)
    (tmp_path / "exp").write_bytes(expected)
    result = webelf("check", str(site), "--request", str(tmp_path / "req"),
                    "--expect", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert b"Content-Length" in result.stderr  # the first difference is in that header


def test_check_reports_a_content_length_that_lies(tmp_path):
    """The seed's first C server: Content-Length 138 for a longer body.  An ELF that sends
    exactly that is written here with the generator's encoder and a hand-made response."""
    body = b"x" * 155
    lying = b"HTTP/1.1 200 OK\r\nContent-Length: 138\r\n\r\n" + body
    path = tmp_path / "liar.elf"
    path.write_bytes(build_server(lying))
    (tmp_path / "req").write_bytes(REQUEST)
    (tmp_path / "exp").write_bytes(lying)
    result = webelf("check", str(path), "--request", str(tmp_path / "req"),
                    "--expect", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert b"Content-Length 138 but the body has 155 bytes" in result.stderr


def test_disasm_lists_the_code(site):
    result = webelf("disasm", str(site))
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "int 0x80" in text and "080480" in text
    assert webelf("disasm", str(site)).stdout == result.stdout, "the listing is stable"


def _elf_variants() -> dict[str, bytes]:
    good = (PROGRAMS / "hello.elf").read_bytes()
    phoff = struct.unpack_from("<I", good, 28)[0]
    variants = {
        "empty": b"",
        "text": b"#!/bin/sh\necho hi\n",
        "truncated header": good[:30],
        "truncated program headers": good[:phoff + 10],
        "64-bit class": good[:4] + b"\x02" + good[5:],
        "big endian": good[:5] + b"\x02" + good[6:],
        "x86-64 machine": good[:18] + struct.pack("<H", 62) + good[20:],
        "relocatable": good[:16] + struct.pack("<H", 1) + good[18:],
        "entry outside": good[:24] + struct.pack("<I", 0x10) + good[28:],
    }
    return variants


@pytest.mark.parametrize("name", list(_elf_variants()))
def test_malformed_elfs_are_125_with_one_line(name, tmp_path):
    path = tmp_path / "bad.elf"
    path.write_bytes(_elf_variants()[name])
    for command, verb in (("run", "run"), ("disasm", "disassemble")):
        result = webelf(command, str(path))
        assert result.returncode == 125, (command, result.stderr)
        assert one_line(result.stderr).startswith(f"webelf: cannot {verb} {path}: ")


def test_run_strace_shows_a_fatal_signal_as_strace_does():
    result = webelf("run", str(PROGRAMS / "segfault.elf"), "--strace")
    lines = result.stderr.decode().splitlines()
    assert lines[-3:-1] == [
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---",
        "+++ killed by SIGSEGV +++",
    ]
    assert result.returncode == 139
