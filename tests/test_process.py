"""Processes (issue 10, item 1): fork, wait4/waitpid, SIGCHLD, the process limit, a forking
server, natively and in the harness (harness/kernel/task.py)."""

from __future__ import annotations

import gc
import re
import socket
import subprocess
import time
import weakref

import pytest

from cprograms import build
from harness import Guest
from harness.kernel.task import MAX_PROCESSES
from support import i386_strace


def _native(tmp_path, program: str, *args: str) -> subprocess.CompletedProcess:
    build("glibc", program, tmp_path)
    return subprocess.run([str(tmp_path / program), *args], capture_output=True, timeout=30)


@pytest.mark.parametrize("program", ["fork_wait", "wait_errnos", "waitid"])
def test_fork_and_wait_as_natively(tmp_path, program):
    native = _native(tmp_path, program)
    guest = Guest(build("glibc", program))
    stop = guest.run()
    assert stop.reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)


def test_the_child_exits_7_and_the_parent_sees_it():
    guest = Guest(build("glibc", "fork_wait"))
    guest.run()
    assert guest.stdout == b"child\nreaped=1 exited=1 status=7\n"


def test_a_fork_bomb_meets_the_process_limit_with_eagain():
    guest = Guest(build("glibc", "fork_bomb"))
    assert guest.run().reason == "exited"
    assert guest.stdout == f"made {MAX_PROCESSES - 1}, then EAGAIN\n".encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REQUESTS = [b"GET /a HTTP/1.0\r\n\r\n", b"GET /bb HTTP/1.0\r\nHost: x\r\n\r\n",
            b"GET /ccc HTTP/1.0\r\n\r\n"]


def test_a_forking_server_answers_as_natively(tmp_path):
    build("glibc", "fork_server", tmp_path)
    port = _free_port()
    server = subprocess.Popen([str(tmp_path / "fork_server"), str(port), str(len(REQUESTS))])
    try:
        native = []
        for request in REQUESTS:
            for _ in range(100):
                try:
                    conn = socket.create_connection(("127.0.0.1", port))
                    break
                except ConnectionRefusedError:
                    time.sleep(0.02)
            with conn:
                conn.sendall(request)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            native.append(data)
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
    guest = Guest(build("glibc", "fork_server"), argv=["fork_server", "8080", str(len(REQUESTS))])
    assert guest.run().reason == "blocked" and guest.waiting_in_accept
    harness = [guest.request(request) for request in REQUESTS]
    assert harness == native
    assert guest.exited and guest.exit_status == 0


def test_a_guest_that_forked_is_freed_when_dropped():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        refs = []
        for _ in range(20):
            guest = Guest(build("glibc", "fork_wait"))
            guest.run()
            refs.append(weakref.ref(guest.machine))
            del guest
        assert sum(ref() is not None for ref in refs) == 0
    finally:
        if was:
            gc.enable()


def _fork_lines(lines: list[str]) -> list[str]:
    """clone, wait4 and SIGCHLD lines, with what legitimately differs masked: pids (the
    harness's first is 1000), addresses (no address randomisation is asked for natively) and
    strace -f's split of a call another process interrupted (``wait4(N,  <unfinished ...>``
    then ``<... wait4 resumed>REST``), joined back into the one line the harness prints."""
    out, pending = [], {}
    # Natively, pids are whatever the machine is at (they wrap at pid_max, so they may be
    # below 1000): every pid strace names, as a line's prefix or clone's result, is masked.
    named = set()
    for line in lines:
        who = re.match(r"^(?:\[pid +(\d+)\] |(\d+) +)?", line)
        named.add(who.group(1) or who.group(2))
        named.update(re.findall(r"(?:clone\(.*\)|clone resumed>.*\)) += (\d+)$", line))
    named.discard(None)
    pids = re.compile(r"\b(?:%s)\b" % "|".join(sorted(named))) if named else None
    for line in lines:
        who = re.match(r"^(?:\[pid +(\d+)\] |(\d+) +)?", line)
        pid = who.group(1) or who.group(2)
        line = line[who.end():].strip()
        if line.endswith(" <unfinished ...>"):  # strace adds one space before the mark
            pending[pid] = line[:-len(" <unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", line)
        if resumed and pid in pending:
            line = pending.pop(pid) + resumed.group(1)
        if re.match(r"(clone|wait4|waitid|--- SIGCHLD)", line):
            line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
            line = re.sub(r"\b[1-9]\d{3,}\b", "PID", line)  # pids: 1000 and up
            if pids is not None:
                line = pids.sub("PID", line)
            out.append(re.sub(r"\s+", " ", line))
    return out


@pytest.mark.parametrize("program", ["fork_wait", "wait_errnos", "waitid"])
def test_fork_and_wait_print_as_strace_prints_them(tmp_path, program):
    """clone's flags and pointers, wait4's status macros and options, and SIGCHLD's siginfo
    (the child's pid, uid and status): the harness's --strace lines are strace's own."""
    strace = i386_strace()
    build("glibc", program, tmp_path)
    log = tmp_path / "native.log"
    subprocess.run([strace, "-f", "-o", str(log), str(tmp_path / program)],
                   capture_output=True, timeout=30, check=True)
    lines: list[str] = []
    Guest(build("glibc", program), strace=lines.append).run()
    native = _fork_lines(log.read_text().splitlines())
    assert native, "strace printed no clone or wait4"
    assert _fork_lines(lines) == native


def test_a_signal_wakes_a_child_asleep_in_read_as_natively(tmp_path):
    """kill(child, SIGTERM) ends a child asleep in read(); with an SA_RESTART handler for
    SIGUSR1 the handler runs and read() goes on to get the parent's byte (signal(7),
    "Interruption of system calls and library functions by signal handlers")."""
    native = _native(tmp_path, "kill_child")
    guest = Guest(build("glibc", "kill_child"))
    stop = guest.run()
    assert stop.reason == "exited" and guest.exit_status == native.returncode

    def by_process(out: bytes) -> tuple[list[bytes], list[bytes]]:
        # Each process's lines in its own order: how the two interleave is the scheduler's
        # choice natively (the woken child may run before the parent's next printf).
        lines = out.splitlines()
        return ([x for x in lines if x.startswith(b"child:")],
                [x for x in lines if not x.startswith(b"child:")])

    assert by_process(guest.stdout) == by_process(native.stdout)
    assert b"killed by signal 15" in native.stdout and b"SIGUSR1 handled" in native.stdout


def test_a_handler_without_sa_restart_makes_the_sleeping_call_fail_with_eintr():
    guest = Guest(build("glibc", "eintr_child"))
    assert guest.run().reason == "exited"
    assert guest.stdout == b"child exited 42\n"


def test_a_spinning_child_does_not_starve_its_parent(tmp_path):
    """The child never makes a system call; the parent still runs (the scheduler's time
    slice), kills it and reaps it, as natively, where the kernel preempts the child."""
    native = _native(tmp_path, "spin_kill")
    guest = Guest(build("glibc", "spin_kill"), max_seconds=20)
    assert guest.run().reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)
    assert native.stdout.endswith(b"killed by signal 9\n")


def test_two_processes_that_never_wait_meet_the_time_budget():
    """Two spinning processes pass the CPU back and forth for ever: the guest's time budget
    still ends the run, with GuestTimeout (webelf run: 124)."""
    from generator.elf import link
    from generator.x86 import EAX, Assembler

    from harness import GuestTimeout

    a = Assembler()
    start, spin = a.label("_start"), a.label("spin")
    a.bind(start)
    a.mov(EAX, 2)  # fork()
    a.int_(0x80)
    a.bind(spin)
    a.jmp(spin)
    guest = Guest(link(a, start), max_seconds=1)
    began = time.monotonic()
    with pytest.raises(GuestTimeout):
        guest.run()
    assert time.monotonic() - began < 10
