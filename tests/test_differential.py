"""The harness against the real kernel, as the real ``strace`` sees it (x86 Linux only).

Each program runs twice: natively under ``strace``, and in the harness with ``record=True``.
The two runs must agree on everything a user can observe: the sequence of (system call,
return value) pairs, the response bytes a client receives, stdout, stderr, and the exit
status or the killing signal.  ``strace`` is the referee because it is what a user diffs
``webelf run --strace`` against, and because it reads the kernel's own answers: nothing in
this file decides what a call should return.

How strace's output becomes a comparable list (:func:`parse_strace`):

* ``execve`` is dropped: the harness loads the ELF itself and models no exec.
* Errors are ``-1 ENAME (text)`` in strace and ``-errno`` in the harness; ENAME is turned
  into its number with Python's :mod:`errno`, a table independent of ``harness.linux``.
* ``exit``/``exit_group`` print ``= ?`` (they never return); the harness records ``None``.
* The call a server is killed in (``accept4(3, NULL, NULL, 0) = ?`` followed by ``+++ killed
  by SIGKILL +++``, or ``<unfinished ...>``) never completed, so it is kept apart and compared
  with where the harness is parked instead.
* ``--- SIGxxx ---`` and ``+++ ... +++`` lines are kept apart and checked against the
  harness's exit status or :class:`GuestFault` signal.
* Any other line is an error: a form this parser does not know must be looked at, not skipped.

strace runs with ``-q``, not ``-qq``: ``-qq`` also hides ``+++ exited with N +++``, which is
checked here.  Every process is started in its own session and killed (tracee first, then the
group) when its test ends, pass or fail; every wait has a timeout; only 127.0.0.1 is used.
"""

from __future__ import annotations

import errno
import os
import platform
import re
import resource
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator import Page, ServerConfig, build_server, default_page, http_response
from harness import Guest, GuestFault, GuestTimeout
from support import (FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port, i386_setarch,
                     i386_strace, socketcall_server)

pytestmark = [pytest.mark.native, pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)]

PROGRAMS = FIXTURES / "programs"
#: Where a 64-bit x86 kernel ends the stack of a 32-bit process with randomisation off.
IA32_STACK_END = 0xFFFFE000
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: webelf-differential\r\n\r\n"
#: A request head that never ends: a server that reads to the blank line reads end of file.
PARTIAL_REQUEST = b"GET / HTTP/1.0\r\n"
WAIT = 5.0


# ---------------------------------------------------------------------------- strace output

_CALL = re.compile(
    r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>.*)\)\s+= "
    r"(?P<ret>-?\d+|0x[0-9a-f]+|\?)"
    r"(?: (?P<err>E[A-Z0-9]+) \([^)]*\))?"     # -1 EADDRINUSE (Address already in use)
    r"(?: \([^)]*\))?"                          # = 0 (SIG_DFL): the decoded old value
)
_UNFINISHED = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>.*) <unfinished \.\.\.>")
_SIGNAL = re.compile(r"--- (?P<sig>SIG[A-Z0-9]+) .*---")
_EXITED = re.compile(r"\+\+\+ exited with (?P<status>\d+) \+\+\+")
_KILLED = re.compile(r"\+\+\+ killed by (?P<sig>SIG[A-Z0-9]+)(?: \(core dumped\))? \+\+\+")
_NO_RETURN = {"exit", "exit_group"}


@dataclass
class StraceRun:
    """strace's account of one process, split into what the harness records and the rest."""

    calls: list[tuple[str, int | None]] = field(default_factory=list)
    #: (name, first argument) of the call the process was killed in, if any.
    pending: tuple[str, str] | None = None
    signals: list[int] = field(default_factory=list)
    #: ("exited", status) or ("killed", signal number), from the ``+++`` line.
    end: tuple[str, int] | None = None


def _errno_number(name: str, line: str) -> int:
    number = getattr(errno, name, None)
    if not isinstance(number, int):
        raise AssertionError(f"strace reports an errno Python does not know: {line!r}")
    return number


def parse_strace(text: str) -> StraceRun:
    """strace's lines as (name, return value) pairs; see the module docstring for the rules."""
    run = StraceRun()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    assert lines and lines[0].startswith("execve(") and lines[0].endswith(" = 0"), \
        f"strace's first line is not a successful execve: {lines[:1]!r}"
    answered: list[tuple[str, str, str | None, str | None]] = []
    for line in lines[1:]:
        if m := _SIGNAL.fullmatch(line):
            run.signals.append(signal.Signals[m["sig"]].value)
        elif m := _EXITED.fullmatch(line):
            run.end = ("exited", int(m["status"]))
        elif m := _KILLED.fullmatch(line):
            run.end = ("killed", signal.Signals[m["sig"]].value)
        elif m := _UNFINISHED.fullmatch(line):
            answered.append((m["name"], m["args"], None, None))
        elif m := _CALL.fullmatch(line):
            answered.append((m["name"], m["args"], m["ret"], m["err"]))
        else:
            raise AssertionError(f"a strace line of a form this test does not know: {line!r}")
    assert run.end is not None, f"strace's output has no +++ line:\n{text}"
    for i, (name, args, ret, err) in enumerate(answered):
        last = i == len(answered) - 1
        if ret is None or (ret == "?" and name not in _NO_RETURN):
            # Only the very last call may be cut short, and only by the process's death.
            assert last and run.end[0] == "killed", f"{name}({args}) never returned:\n{text}"
            run.pending = (name, args.split(",")[0])
        elif ret == "?":
            run.calls.append((name, None))
        elif err is not None:
            assert ret == "-1", f"an error with a return value other than -1 in {name}: {ret}"
            run.calls.append((name, -_errno_number(err, f"{name}(...) = {ret} {err}")))
        else:
            run.calls.append((name, int(ret, 0)))
    return run


def test_the_parser_reads_each_form_strace_prints():
    """The parser on lines strace 6.1 printed here, one of each form it handles, and a
    refusal of a form it does not: the tests below are only as good as this reading."""
    text = (
        'execve("./s.elf", ["./s.elf"], 0x7ffd55374b38 /* 35 vars */) = 0\n'
        "signal(SIGPIPE, SIG_IGN)                = 0 (SIG_DFL)\n"
        'bind(3, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("127.0.0.1")}, 16)'
        " = -1 EADDRINUSE (Address already in use)\n"
        'read(4, "a) = 5\\r\\n", 8192) = 7\n'
        "brk(NULL)                               = 0x8049000\n"
        "accept4(3, NULL, NULL, 0)               = ?\n"
        "+++ killed by SIGKILL +++\n"
    )
    run = parse_strace(text)
    assert run.calls == [("signal", 0), ("bind", -errno.EADDRINUSE), ("read", 7),
                         ("brk", 0x8049000)]
    assert run.pending == ("accept4", "3")
    assert run.end == ("killed", signal.SIGKILL)
    exited = parse_strace('execve("x", ["x"], 0x1 /* 0 vars */) = 0\n'
                          "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---\n"
                          "exit_group(3)                           = ?\n+++ exited with 3 +++\n")
    assert (exited.calls, exited.signals, exited.end) == \
        ([("exit_group", None)], [signal.SIGSEGV], ("exited", 3))
    with pytest.raises(AssertionError, match="does not know"):
        parse_strace('execve("x", ["x"], 0x1 /* 0 vars */) = 0\n'
                     "[ Process PID=1 runs in 32 bit mode. ]\n")
    with pytest.raises(AssertionError, match="never returned"):
        parse_strace('execve("x", ["x"], 0x1 /* 0 vars */) = 0\nread(0, "", 1) = ?\n'
                     "+++ exited with 0 +++\n")


# ---------------------------------------------------------------------------- native runs


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (/proc/PID/task/*/children needs CONFIG_PROC_CHILDREN)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


class Traced:
    """One program running natively under ``strace -q -o FILE``, in its own session."""

    def __init__(self, strace: str, argv: list[str], log: Path, *, prefix: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [*prefix, strace, "-q", "-o", str(log), *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, preexec_fn=_no_core_dumps, env=env)
        self.stdout = self.stderr = b""

    def text(self) -> str:
        try:
            return self.log.read_text()
        except FileNotFoundError:
            return ""

    def wait_for(self, what: str, ready, timeout: float = WAIT) -> str:
        """Poll strace's file until ``ready(text)``; fail if strace ends first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if ready(text):
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"the program ended before {what}:\n{self.text()}"
                                     f"stderr: {self.proc.stderr.read()!r}")
            time.sleep(0.005)
        raise AssertionError(f"no {what} after {timeout}s; strace wrote:\n{self.text()}")

    def tracee(self) -> int:
        kids = _children(self.proc.pid)
        assert len(kids) == 1, f"strace (pid {self.proc.pid}) has children {kids}"
        return kids[0]

    def kill_tracee(self) -> None:
        """SIGKILL the traced program itself, so strace logs its death and exits."""
        os.kill(self.tracee(), signal.SIGKILL)

    def finish(self, timeout: float = WAIT) -> StraceRun:
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        return parse_strace(self.text())

    def stop(self) -> None:
        """Kill whatever is left, tracee first (a tracer's death would let it run on)."""
        if self.proc.poll() is None:
            for pid in _children(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.communicate(timeout=WAIT)
        except (ValueError, subprocess.TimeoutExpired):
            pass


@pytest.fixture
def native(tmp_path):
    """Start programs under strace; every one is killed when the test ends."""
    strace = i386_strace()
    started: list[Traced] = []

    def start(path: Path, *args: str, **kwargs) -> Traced:
        run = Traced(strace, [str(path), *args], tmp_path / f"strace{len(started)}.txt", **kwargs)
        started.append(run)
        return run

    try:
        yield start
    finally:
        for run in started:
            run.stop()


def _executable(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def _native_status(run: StraceRun, returncode: int) -> tuple[str, int]:
    """The end strace printed, checked against strace's own exit status (it mirrors the
    tracee's: the same status, or death by the same signal)."""
    assert run.end is not None
    kind, value = run.end
    assert returncode == (value if kind == "exited" else -value), (run.end, returncode)
    return run.end


def _emulated_status(guest: Guest) -> tuple[str, int]:
    try:
        stop = guest.start()
    except GuestFault as fault:
        return "killed", fault.signal
    assert stop.reason == "exited", f"the guest did not exit: {stop}"
    return "exited", stop.status


# ---------------------------------------------------------------------------- programs


#: What each program must do, so that two sides that both go wrong alike cannot agree.
ENDINGS = {
    "hello": ("exited", 0),
    "exit42": ("exited", 42),
    "hello_c": ("exited", 0),
    "segfault": ("killed", signal.SIGSEGV),
}


@pytest.mark.parametrize("name", list(ENDINGS))
def test_program_runs_as_on_the_kernel(name, native, tmp_path):
    """Programs that run to their end on their own: hand-written NASM (exit, exit_group, a
    store to page 0) and gcc's layout.  Same calls and returns, same output, same ending."""
    data = (PROGRAMS / f"{name}.elf").read_bytes()
    run = native(_executable(tmp_path, f"{name}.elf", data))
    trace = run.finish()
    native_end = _native_status(trace, run.proc.returncode)

    guest = Guest(data, record=True)
    emulated_end = _emulated_status(guest)

    assert trace.pending is None
    assert guest.calls == trace.calls
    assert emulated_end == native_end == ENDINGS[name]
    assert guest.stdout == run.stdout
    assert guest.stderr == run.stderr
    # A fatal signal shows as one --- line before the +++ line; an exit shows none.
    assert trace.signals == ([native_end[1]] if native_end[0] == "killed" else [])


def test_spin_makes_no_call_and_only_a_budget_stops_it(native, tmp_path):
    """``jmp $``: the kernel lets it run (no call, still alive after 0.3 s, until we kill
    it); the harness makes no call either and stops it with GuestTimeout."""
    data = (PROGRAMS / "spin.elf").read_bytes()
    run = native(_executable(tmp_path, "spin.elf", data))
    run.wait_for("execve line", lambda text: text.startswith("execve(") and "\n" in text)
    time.sleep(0.3)
    assert run.proc.poll() is None, "spin.elf ended on its own"
    run.kill_tracee()
    trace = run.finish()
    assert trace.calls == [] and trace.pending is None
    assert trace.end == ("killed", signal.SIGKILL)
    assert (run.stdout, run.stderr) == (b"", b"")

    guest = Guest(data, record=True, max_instructions=100_000)
    with pytest.raises(GuestTimeout):
        guest.start()
    assert guest.calls == trace.calls
    assert (guest.stdout, guest.stderr) == (b"", b"")


def _stack_strings(dump: bytes) -> tuple[list[bytes], list[bytes]]:
    """argv and envp from a dump of the initial stack that ends at IA32_STACK_END."""
    base = IA32_STACK_END - len(dump)

    def string(address: int) -> bytes:
        at = address - base
        return dump[at:dump.index(b"\0", at)]

    argc = struct.unpack_from("<I", dump)[0]
    words = struct.unpack_from(f"<{len(dump) // 4}I", dump)
    argv = [string(p) for p in words[1:1 + argc]]
    assert words[1 + argc] == 0
    envp = []
    for p in words[2 + argc:]:
        if p == 0:
            break
        envp.append(string(p))
    return argv, envp


@pytest.mark.skipif(platform.machine() != "x86_64",
                    reason="the i386 stack ends at 0xFFFFE000 only under a 64-bit x86 kernel")
def test_stackdump_writes_the_same_arguments(native, tmp_path):
    """stackdump.elf writes its whole initial stack and exits 0 only if the stack ends where
    Linux ends it.  The auxiliary vectors legitimately differ (vDSO, hardware caps, random
    bytes; test_elf_loader compares those), so the lengths do: compare the call names, that
    each write wrote everything, the exit status, and argv/envp as the program sees them."""
    setarch = i386_setarch()  # turns address randomisation off
    data = (PROGRAMS / "stackdump.elf").read_bytes()
    path = _executable(tmp_path, "stackdump.elf", data)
    run = native(path, "one", "two", prefix=(setarch, "-R"), env={})
    trace = run.finish()
    native_end = _native_status(trace, run.proc.returncode)

    guest = Guest(data, record=True, argv=(str(path), "one", "two"), envp=())
    emulated_end = _emulated_status(guest)

    assert native_end == emulated_end == ("exited", 0)
    assert [n for n, _ in guest.calls] == [n for n, _ in trace.calls] == ["write", "exit"]
    assert trace.calls[0][1] == len(run.stdout)
    assert guest.calls[0][1] == len(guest.stdout)
    assert _stack_strings(guest.stdout) == _stack_strings(run.stdout) \
        == ([str(path).encode(), b"one", b"two"], [])
    assert guest.stderr == run.stderr == b""


# ---------------------------------------------------------------------------- servers


def generated_server(page: Page, port: int) -> bytes:
    return build_server(http_response(page), ServerConfig(port=port, bind=LOOPBACK))


SERVERS = {
    "generated": lambda port: generated_server(default_page(), port),
    "generated-utf8": lambda port: generated_server(
        Page.from_file(FIXTURES / "sites" / "utf8" / "index.html"), port),
    "socketcall": socketcall_server,
}

_LISTENED = re.compile(r"^listen\(.*\)\s+= 0$", re.M)


def _entered(call_lines: int):
    """A wait predicate: the program has entered its ``call_lines``-th accept."""
    return lambda text: len(re.findall(r"^accept4?\(", text, re.M)) >= call_lines \
        and not text.endswith("\n")


def _in_epoll_wait_after_close(text: str) -> bool:
    """A wait predicate: the generated server closed the connection and sleeps in
    epoll_wait again."""
    return "\nclose(5)" in text and not text.endswith("\n") \
        and text.rsplit("\n", 1)[-1].startswith("epoll_wait(")


def _without_idle_turns(calls: list) -> list:
    """The calls less the event loop's idle turns: an epoll_wait that timed out (= 0) and
    the clock_gettime after it.  How many a run makes depends on how long the client took,
    in wall-clock seconds natively and on the virtual clock in the harness."""
    out, skip = [], False
    for name, result in calls:
        if skip and name == "clock_gettime":
            skip = False
            continue
        skip = name == "epoll_wait" and result == 0
        if not skip:
            out.append((name, result))
    return out


def _fetch(port: int, request: bytes) -> bytes:
    """One request on a new connection, sent in one piece; the sending side is then shut
    (as the harness does when the guest wants more, ``nc -N``); read to end of file."""
    with socket.create_connection((LOOPBACK, port), timeout=WAIT) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("request_bytes", [REQUEST, PARTIAL_REQUEST], ids=["request", "partial"])
@pytest.mark.parametrize("server", list(SERVERS))
def test_server_serves_as_on_the_kernel(server, request_bytes, native, tmp_path):
    """A server's whole life for one connection: setup calls, accept, reads (with a head
    that never ends the server reads end of file: the half-close path), the response,
    the generated server's shutdown and drain, close, and waiting in accept again.  The
    bytes a client gets must be equal."""
    port = free_port()
    data = SERVERS[server](port)
    loop = server != "socketcall"  # the generated server waits in epoll_wait, not accept
    run = native(_executable(tmp_path, "server.elf", data))
    run.wait_for("listen(...) = 0", _LISTENED.search)
    if loop:
        run.wait_for("the first epoll_wait", lambda text: "\nepoll_wait(" in text
                     and not text.endswith("\n"))
    else:
        run.wait_for("the first accept", _entered(1))
    native_response = _fetch(port, request_bytes)
    if loop:
        run.wait_for("epoll_wait after the close", _in_epoll_wait_after_close)
    else:
        run.wait_for("the second accept", _entered(2))
    run.kill_tracee()
    trace = run.finish()
    assert trace.end == ("killed", signal.SIGKILL)

    guest = Guest(data, record=True)
    first = guest.start()
    assert guest.listening() == [(LOOPBACK, port)]
    assert (first.reason, first.fd) == (("blocked", -1) if loop else ("blocked", 3))
    emulated_response = guest.request(request_bytes)

    assert emulated_response == native_response
    if server != "socketcall" and request_bytes == PARTIAL_REQUEST:
        # The generated server routes only a complete head; end of file before it ends
        # gets 400 (RFC 9112 section 8 allows an answer to an incomplete request).
        assert native_response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    else:
        assert native_response.startswith(b"HTTP/1.1 200 OK\r\n")
    if loop:
        assert _without_idle_turns(guest.calls) == _without_idle_turns(trace.calls)
    else:
        assert guest.calls == trace.calls
    # Both wait in the same call: epoll_wait on the epoll fd 4 for the generated server,
    # accept (strace's name: accept4, or accept for socketcall) on the listening socket,
    # fd 3, for the other.
    name, fd = trace.pending
    assert name == guest.last_stop.syscall == first.syscall
    assert int(fd) == (4 if loop else 3)
    assert guest.last_stop.fd == (-1 if loop else 3)
    assert guest.stdout == run.stdout == b""
    # The generated server says where to point a browser once it listens.
    banner = f"http://{LOOPBACK}:{port}/\n".encode() if loop else b""
    assert guest.stderr == run.stderr == banner
    assert not guest.exited


@pytest.mark.parametrize("server", ["generated", "socketcall"])
def test_a_second_server_on_a_taken_port(server, native, tmp_path):
    """The error path: a second instance finds the port taken.  bind's -EADDRINUSE (from
    strace's ``-1 EADDRINUSE``), what the program says about it, and its exit status."""
    port = free_port()
    data = SERVERS[server](port)
    path = _executable(tmp_path, "server.elf", data)
    first = native(path)
    first.wait_for("listen(...) = 0", _LISTENED.search)
    second = native(path)
    trace = second.finish()
    native_end = _native_status(trace, second.proc.returncode)

    guest = Guest(data, record=True)
    assert guest.start().reason == "blocked"
    again = Guest(data, record=True, network=guest.network)
    emulated_end = _emulated_status(again)

    assert ("bind", -errno.EADDRINUSE) in trace.calls
    assert again.calls == trace.calls
    assert emulated_end == native_end == ("exited", 1)
    assert again.stdout == second.stdout
    assert again.stderr == second.stderr
