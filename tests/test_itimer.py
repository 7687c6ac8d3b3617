"""alarm, setitimer, getitimer and pause (issue 10, item 2) on the network's virtual clock,
natively and in the harness (harness/kernel/sys_itimer.py)."""

from __future__ import annotations

import re
import subprocess

import pytest

from cprograms import build
from harness import Guest
from harness.errors import GuestFault
from support import i386_strace


def _run_to_the_end(guest: Guest) -> None:
    """Let the virtual clock jump to each deadline the guest sleeps towards, as nothing
    else happens meanwhile; the program ends killed by its last SIGALRM."""
    stop = guest.run()
    with pytest.raises(GuestFault, match="SIGALRM"):
        while stop.reason == "blocked":
            assert guest.kernel.timeout_at is not None, stop
            stop = guest.stall(guest.kernel.timeout_at - guest.network.now)
    assert guest.machine.killed_by == 14


def test_itimers_as_natively(tmp_path):
    build("glibc", "itimer", tmp_path)
    native = subprocess.run([str(tmp_path / "itimer")], capture_output=True, timeout=30)
    guest = Guest(build("glibc", "itimer"))
    _run_to_the_end(guest)
    assert native.returncode == -14
    assert guest.stdout == native.stdout
    assert b"repeating: alarms 5" in native.stdout


def _timer_lines(lines: list[str]) -> list[str]:
    """The timer calls and SIGALRM lines; a sleep a signal interrupted is -EINTR in the
    harness's trace where strace shows the kernel's ERESTARTNOHAND/ERESTARTSYS."""
    out = []
    for line in lines:
        line = re.sub(r"^\d+ +", "", line.strip())
        if re.match(r"(alarm|setitimer|getitimer|pause|--- SIGALRM|\+\+\+ killed)", line):
            line = re.sub(r"= \? ERESTART\w+ \([^)]*\)", "= -1 EINTR (Interrupted system call)",
                          line)
            out.append(re.sub(r"0xff[0-9a-f]{6}", "STACK", line))  # no ASLR asked for
    return out


def test_itimers_print_as_strace_prints_them(tmp_path):
    strace = i386_strace()
    build("glibc", "itimer", tmp_path)
    log = tmp_path / "native.log"
    subprocess.run([strace, "-o", str(log), str(tmp_path / "itimer")],
                   capture_output=True, timeout=30)
    lines: list[str] = []
    _run_to_the_end(Guest(build("glibc", "itimer"), strace=lines.append))
    native = _timer_lines(log.read_text().splitlines())
    assert any(line.startswith("setitimer(ITIMER_REAL, {it_interval=") for line in native)
    assert _timer_lines(lines) == native


def test_the_deadline_a_sleeping_guest_waits_for_is_the_alarm_when_it_comes_first():
    """Kernel.timeout_at, which Guest.request jumps the clock to, counts the alarm."""
    guest = Guest(build("glibc", "itimer"))
    guest.kernel.itimer_at = 0.5
    guest.kernel.deadline = 3.0
    assert guest.kernel.timeout_at == 0.5
    guest.kernel.itimer_at = None
    assert guest.kernel.timeout_at == 3.0
