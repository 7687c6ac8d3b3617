"""The CPU affinity calls (sched_getaffinity, sched_setaffinity, sched_yield) against the real
kernel and strace: what a server's ``--workers auto`` counts its CPUs with.

fixtures/programs/c/affinity.c (glibc) makes each call with good and bad arguments, in
itself, in a child, a zombie and a reaped child, and prints each outcome and CPU_COUNT.  It
runs natively under ``strace -f`` and in the harness with ``--strace``: stdout and exit
status must be equal, and so must every sched_* strace line, with three normalisations:

* the harness's host gets the real machine's CPU count (``Network(ncpus=...)``), so the masks
  and counts are compared as they are; the test needs the process to be allowed on CPUs
  0..n-1, every CPU there is (it skips otherwise, say under ``taskset``), since the harness
  models a machine whose every CPU is allowed;
* a successful sched_getaffinity's result, the bytes it wrote, min(len, cpumask_size()), is
  compared masked: cpumask_size() is a kernel build option (8 bytes for up to 64 CPUs with
  the off-stack masks of a distribution kernel, which the harness models; 32 bytes on a
  kernel built with NR_CPUS=256 and no CPUMASK_OFFSTACK).  The harness's value is checked
  on its own against min(len, 8);
* the pids (the harness's are 1000 and 1001), strace -f's pid prefixes and padding.

Without a native run the harness's own lines are checked against the expected text of its
default two-CPU host.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess

import pytest

from cprograms import build
from harness import Guest, Network
from harness import linux as L
from harness.kernel import Kernel
from harness.kernel.sys_sched import cpumask_size
from harness.trace import strace_line
from support import NATIVE, NATIVE_REASON, i386_strace


def _sched_lines(lines: list[str], parent: int, child: int) -> list[str]:
    """The sched_* lines without strace -f's prefixes and padding, the two pids named, and
    a call strace -f split while another process ran (``NAME(ARGS <unfinished ...>``, then
    ``<... NAME resumed>REST``) joined back into the one line the harness prints."""
    out, pending = [], {}
    for line in lines:
        who = re.match(r"^(?:\[pid +(\d+)\] |(\d+) +)?", line)
        pid = who.group(1) or who.group(2)
        line = line[who.end():]
        if line.endswith(" <unfinished ...>"):
            pending[pid] = line[:-len(" <unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", line)
        if resumed and pid in pending:
            line = pending.pop(pid) + resumed.group(1)
        if not line.startswith("sched_"):
            continue
        line = re.sub(r"\s+= ", " = ", line)
        line = re.sub(rf"^(sched_\w+)\({parent},", r"\1(PARENT,", line)
        line = re.sub(rf"^(sched_\w+)\({child},", r"\1(CHILD,", line)
        out.append(line)
    return out


def _mask_size(lines: list[str]) -> list[str]:
    return [re.sub(r"^(sched_getaffinity\(.*\)) = \d+$", r"\1 = SIZE", line) for line in lines]


def _harness(ncpus: int = 2) -> tuple[Guest, list[str]]:
    lines: list[str] = []
    guest = Guest(build("glibc", "affinity"), argv=["affinity"], strace=lines.append,
                  network=Network(ncpus=ncpus))
    assert guest.run().reason == "exited"
    return guest, _sched_lines(lines, 1000, 1001)


def _host_cpus() -> int:
    cpus = os.sched_getaffinity(0)
    if cpus != set(range(len(cpus))) or len(cpus) != os.cpu_count():
        pytest.skip(f"this process may run on CPUs {sorted(cpus)} of {os.cpu_count()}: "
                    "the harness models a machine whose every CPU is allowed")
    return len(cpus)


def _clone(text: str) -> tuple[int, int] | None:
    """(parent's pid, child's pid) of strace -f's clone line, also when the child ran
    before the call returned and strace split it (``clone(... <unfinished ...>``, then
    ``<... clone resumed>...) = PID``), as it does when both processes run at once."""
    whole = re.search(r"^(\d+) +clone\(.*\) = (\d+)$", text, re.M)
    if whole:
        return int(whole.group(1)), int(whole.group(2))
    start = re.search(r"^(\d+) +clone\(.*<unfinished \.\.\.>$", text, re.M)
    if start is None:
        return None
    end = re.search(rf"^{start.group(1)} +<\.\.\. clone resumed>.*\) = (\d+)$", text, re.M)
    return None if end is None else (int(start.group(1)), int(end.group(1)))


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_affinity_calls_answer_and_print_as_on_the_kernel(tmp_path):
    ncpus = _host_cpus()
    strace = i386_strace()
    build("glibc", "affinity", tmp_path)
    log = tmp_path / "native.log"
    native = subprocess.run([strace, "-f", "-o", str(log), str(tmp_path / "affinity")],
                            capture_output=True, timeout=30)
    text = log.read_text()
    clone = _clone(text)
    assert clone, "strace printed no clone"
    want = _sched_lines(text.splitlines(), *clone)
    guest, got = _harness(ncpus)
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)
    assert native.stdout.startswith(b"CPU_COUNT %d\n" % ncpus)
    assert len(want) == len(EXPECTED_DEFAULT.splitlines()), "\n".join(want)
    assert _mask_size(got) == _mask_size(want)
    size = cpumask_size(ncpus)
    for line in got:  # the harness's own count: min(len, cpumask_size())
        ok = re.match(r"sched_getaffinity\(\w+, (\d+), \[.*\]\) = (\d+)$", line)
        if ok:
            assert int(ok.group(2)) == min(int(ok.group(1)), size), line


#: What the default host (2 CPUs, so an 8-byte mask) prints, as strace prints it.
EXPECTED_DEFAULT = """\
sched_getaffinity(0, 128, [0 1]) = 8
sched_getaffinity(0, 128, [0 1]) = 8
sched_getaffinity(0, 4, [0 1]) = 4
sched_getaffinity(0, 3, ADDR) = -1 EINVAL (Invalid argument)
sched_getaffinity(0, 0, ADDR) = -1 EINVAL (Invalid argument)
sched_getaffinity(0, 536870912, ADDR) = -1 EINVAL (Invalid argument)
sched_getaffinity(0, 128, NULL) = -1 EFAULT (Bad address)
sched_getaffinity(0, 128, 0x10) = -1 EFAULT (Bad address)
sched_getaffinity(999999, 128, ADDR) = -1 ESRCH (No such process)
sched_getaffinity(-1, 128, ADDR) = -1 ESRCH (No such process)
sched_getaffinity(999999, 3, ADDR) = -1 EINVAL (Invalid argument)
sched_getaffinity(PARENT, 128, [0 1]) = 8
sched_setaffinity(0, 0, []) = -1 EINVAL (Invalid argument)
sched_setaffinity(0, 0, NULL) = -1 EINVAL (Invalid argument)
sched_setaffinity(0, 128, NULL) = -1 EFAULT (Bad address)
sched_setaffinity(999999, 128, NULL) = -1 EFAULT (Bad address)
sched_setaffinity(999999, 128, [0]) = -1 ESRCH (No such process)
sched_setaffinity(0, 128, [1023]) = -1 EINVAL (Invalid argument)
sched_setaffinity(0, 128, [0]) = 0
sched_getaffinity(0, 128, [0]) = 8
sched_setaffinity(0, 128, [0 1]) = 0
sched_getaffinity(0, 128, [0 1]) = 8
sched_yield() = 0
sched_getaffinity(CHILD, 128, [0 1]) = 8
sched_setaffinity(CHILD, 128, [0]) = 0
sched_getaffinity(CHILD, 128, [0]) = 8
sched_getaffinity(0, 128, [0 1]) = 8
sched_getaffinity(0, 128, [0]) = 8
sched_getaffinity(CHILD, 128, [0]) = 8
sched_getaffinity(CHILD, 128, ADDR) = -1 ESRCH (No such process)
"""


def test_the_default_host_has_two_cpus():
    guest, lines = _harness()
    assert guest.stdout.startswith(b"CPU_COUNT 2\ngetaffinity len 128: ok, 2 CPUs\n")
    assert b"getaffinity in the child: ok, 1 CPUs\n" in guest.stdout
    assert guest.stdout.endswith(b"getaffinity of the reaped child: ESRCH\n")
    got = [re.sub(r"0x[0-9a-f]{5,}", "ADDR", line) for line in lines]
    assert "\n".join(got) + "\n" == EXPECTED_DEFAULT


def test_one_cpu():
    guest, _ = _harness(1)
    assert guest.stdout.startswith(b"CPU_COUNT 1\n")
    assert b"getaffinity after all again: ok, 1 CPUs\n" in guest.stdout


class _Flat:
    def __init__(self) -> None:
        self.data = bytearray(0x1000)

    def read(self, address: int, size: int) -> bytes:
        from harness.kernel import BadAddress
        if not 0x1000 <= address <= address + size <= 0x2000:
            raise BadAddress(address)
        return bytes(self.data[address - 0x1000:address - 0x1000 + size])

    def write(self, address: int, data: bytes) -> None:
        from harness.kernel import BadAddress
        if not 0x1000 <= address <= address + len(data) <= 0x2000:
            raise BadAddress(address)
        self.data[address - 0x1000:address - 0x1000 + len(data)] = data


def _kernel(ncpus: int) -> Kernel:
    k = Kernel(Network(ncpus=ncpus))
    k.mem = _Flat()
    return k


@pytest.mark.parametrize("ncpus, size", [(1, 8), (2, 8), (64, 8), (65, 16), (1024, 128)])
def test_the_mask_is_nr_cpu_ids_bits_in_64_bit_words(ncpus, size):
    """cpumask_size() of an off-stack-cpumask kernel; the length must hold nr_cpu_ids bits
    and be a multiple of 4 (compat_ulong_t)."""
    k = _kernel(ncpus)
    assert k.syscall(L.SYS_sched_getaffinity, 0, 256, 0x1000, 0, 0, 0) == min(256, size)
    assert int.from_bytes(k.mem.read(0x1000, size), "little") == (1 << ncpus) - 1
    smallest = -(-ncpus // 32) * 4
    assert k.syscall(L.SYS_sched_getaffinity, 0, smallest, 0x1000, 0, 0, 0) == smallest
    if smallest > 4:
        assert k.syscall(L.SYS_sched_getaffinity, 0, smallest - 4, 0x1000, 0, 0, 0) \
            == -L.EINVAL


def test_setaffinity_reads_whole_32_bit_words():
    """compat_get_bitmap rounds the length up to a compat_ulong_t: with len 1 the bits of
    the next three bytes count too (here CPU 9 of a 16-CPU host)."""
    k = _kernel(16)
    k.mem.write(0x1000, struct.pack("<I", 1 << 9))
    assert k.syscall(L.SYS_sched_setaffinity, 0, 1, 0x1000, 0, 0, 0) == 0
    assert k.cpus_mask == 1 << 9
    k.mem.write(0x1000, struct.pack("<I", 1 << 16))  # CPU 16: not on this host
    assert k.syscall(L.SYS_sched_setaffinity, 0, 4, 0x1000, 0, 0, 0) == -L.EINVAL
    assert k.cpus_mask == 1 << 9
    assert k.syscall(L.SYS_sched_setaffinity, 0, 4, 0x1ffe, 0, 0, 0) == -L.EFAULT


def test_ncpus_is_checked():
    for bad in (0, -1, 1025):
        with pytest.raises(ValueError):
            Network(ncpus=bad)


def test_strace_prints_the_mask_as_strace_does():
    mem = _Flat()
    mem.write(0x1000, bytes([0b11]) + bytes(127))

    def line(nr, args, ret):
        return strace_line(nr, args + (0, 0, 0), ret,
                           lambda a, n: mem.read(a, n) if 0x1000 <= a < 0x2000 else None)

    assert line(L.SYS_sched_getaffinity, (0, 128, 0x1000), 8) \
        == "sched_getaffinity(0, 128, [0 1])        = 8"
    assert line(L.SYS_sched_getaffinity, (0, 3, 0x1000), -L.EINVAL) \
        == "sched_getaffinity(0, 3, 0x1000)         = -1 EINVAL (Invalid argument)"
    # setaffinity reads at most 128 bytes, then says more follows
    assert line(L.SYS_sched_setaffinity, (0, 256, 0x1000), 0) \
        == "sched_setaffinity(0, 256, [0 1 ...])    = 0"
    assert line(L.SYS_sched_setaffinity, (0, 0, 0x1000), -L.EINVAL).startswith(
        "sched_setaffinity(0, 0, [])")
    assert line(L.SYS_sched_yield, (), 0) == "sched_yield()                           = 0"
