"""What a careless user and a hostile input did to the CLI (issue 9): Ctrl-C, special and
huge files, requests that got no response, results that overwrote each other, links out of
a site, and the messages a new user met.  Each is one line on stderr and a documented exit
status, never a traceback, a hang or a silently lost result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = FIXTURES / "programs"
SPIN = PROGRAMS / "spin.elf"


def webelf(*args: str, cwd=None, timeout: float = 60,
           stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          cwd=cwd, timeout=timeout, input=stdin,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in lines[0]
    return lines[0]


# ---------------------------------------------------------------------- Ctrl-C

def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(status.split("Threads:")[1].split()[0])


def _interrupt(args: list[str], tmp_path: Path) -> tuple[int, float, str, str]:
    """Start ``webelf ARGS`` with stdout and stderr on files, let the guest spin for a
    while, send SIGINT; (status, seconds from SIGINT to exit, stdout, stderr)."""
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "webelf", *args], stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            # The watchdog thread starts with the first guest: then the guest is about to run.
            deadline = time.monotonic() + 30
            while _threads(proc.pid) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)
            assert proc.poll() is None, "the guest spins until it is interrupted"
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=10)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return status, elapsed, out.read_text(errors="replace"), err.read_text(errors="replace")


def test_ctrl_c_stops_a_spinning_guest_at_once(tmp_path):
    status, elapsed, stdout, stderr = _interrupt(["run", str(SPIN)], tmp_path)
    assert status == 130, stderr
    assert elapsed < 1.0
    assert stderr.splitlines() == ["webelf: interrupted"]
    assert stdout == ""


@pytest.mark.parametrize("option", ["--trace", "--coverage", "--strace",
                                    "--max-instructions=1000000000000"])
def test_ctrl_c_stops_it_in_every_mode(tmp_path, option):
    """--trace and --coverage run Python inside unicorn's hooks, where an exception is
    swallowed by ctypes; Ctrl-C once ended there in exit 124 after the whole budget."""
    status, elapsed, _, stderr = _interrupt(["run", str(SPIN), option], tmp_path)
    assert status == 130, stderr[-2000:]
    assert elapsed < 1.0
    assert stderr.splitlines()[-1] == "webelf: interrupted"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    if option == "--coverage":  # what ran before the interruption, then the one line
        assert stderr.startswith("coverage: ")


def test_ctrl_c_in_check(tmp_path):
    request = tmp_path / "r.http"
    request.write_bytes(b"GET / HTTP/1.1\r\n\r\n")
    status, elapsed, _, stderr = _interrupt(
        ["check", str(SPIN), "--request", str(request), "--expect", str(request)], tmp_path)
    assert (status, stderr.splitlines()) == (130, ["webelf: interrupted"])
    assert elapsed < 1.0
