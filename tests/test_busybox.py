"""Debian's own static i386 busybox and bash, natively and in the harness.

Programs nobody here wrote, built by Debian with glibc: ``busybox APPLET ARGS`` for a few
applets (stdin piped where the applet reads it) and one ``bash -c`` script.  Each runs on
the real kernel, the referee, and in the harness with the same argv (argv[0] included), the
same empty environment and the same stdin; stdout, stderr and the exit status (or killing
signal) must be equal.

The binaries are not committed: ``.ci/run`` downloads busybox-static:i386 and
bash-static:i386 with ``apt-get download`` into .cache/debs and unpacks them into
.cache/root.  Without them these tests skip (fail under CI=true), naming that step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rundiff import TIMEOUT, natives, run_in_harness, unmodelled  # noqa: F401 - a fixture
from support import NATIVE, NATIVE_REASON, missing

pytestmark = [pytest.mark.native, pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)]

UNPACKED = Path(__file__).resolve().parent.parent / ".cache" / "root"
STEP = ("run .ci/run: its step `apt-get download busybox-static:i386 bash-static:i386` "
        "unpacks them into .cache/root")

LINES = b"pear\napple\nfig 3\n\nbanana split\nApple\n"

#: (applet and arguments, stdin)
APPLETS = {
    "echo": (["echo", "hello", "two  words", "-"], b""),
    "true": (["true"], b""),
    "false": (["false"], b""),
    "expr": (["expr", "6", "*", "7"], b""),
    "expr-zero": (["expr", "3", "-", "3"], b""),  # prints 0 and exits 1
    "seq": (["seq", "2", "3", "11"], b""),
    "printf": (["printf", "%s=%d|%5.2f\\n", "a", "42", "3.14159", "b", "-7", "1"], b""),
    "wc": (["wc"], LINES),
    "sort": (["sort"], LINES),
    "sort-rn": (["sort", "-r", "-n"], b"10\n9\n100\n-1\n"),
    "sha256sum": (["sha256sum"], LINES * 1000),
}

BASH_SCRIPT = "for i in 1 2 3; do echo $((i*i)); done; x=hello; echo ${x^^}"


def third_party(name: str, package: str) -> Path:
    path = UNPACKED / "bin" / name
    if not path.is_file():
        missing(f"{package} ({path})", STEP)
    return path


def compare(natives, path: Path, argv: list[str], stdin: bytes) -> None:
    native = natives.run(path, argv, {}, stdin)
    emulated, guest, how = run_in_harness(path.read_bytes(), argv, {}, stdin)
    context = f"{' '.join(argv)}: the harness's guest {how}; unmodelled calls: {unmodelled(guest)}"
    assert emulated.end == native.end, context
    assert emulated.stdout == native.stdout, context
    assert emulated.stderr == native.stderr, context


@pytest.mark.parametrize("case", APPLETS)
def test_busybox_applet_runs_as_on_linux(natives, case):
    busybox = third_party("busybox", "busybox-static:i386")
    args, stdin = APPLETS[case]
    compare(natives, busybox, ["busybox", *args], stdin)


def test_bash_script_runs_as_on_linux(natives):
    bash = third_party("bash-static", "bash-static:i386")
    compare(natives, bash, ["bash", "-c", BASH_SCRIPT], b"")


@pytest.mark.parametrize("case", ["echo", "false", "wc"])
def test_webelf_run_busybox_as_from_a_shell(natives, case):
    """``webelf run PATH APPLET ARGS < stdin``: argv[0] is PATH as typed, as a shell gives it;
    the guest's stdout and stderr are webelf's, its status webelf's."""
    busybox = third_party("busybox", "busybox-static:i386")
    args, stdin = APPLETS[case]
    native = natives.run(busybox, [str(busybox), *args], {}, stdin)
    proc = natives.start(Path(sys.executable), [sys.executable, "-m", "webelf", "run",
                                                 str(busybox), *args], None,
                         stdin=subprocess.PIPE)
    stdout, stderr = proc.communicate(stdin, timeout=TIMEOUT)
    assert proc.returncode == native.end[1] and native.end[0] == "exited", stderr
    assert stdout == native.stdout, stderr
    if native.end[1] == 0:
        assert stderr == native.stderr
    else:  # webelf adds its one line on the status after the guest's own stderr
        assert stderr.startswith(native.stderr)
        assert stderr[len(native.stderr):] == (
            f"webelf: the guest exited with status {native.end[1]}\n".encode())
