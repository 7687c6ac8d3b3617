"""A guest that is dropped gives its memory back at once, not at the next full collection.

CPython frees an object the moment its last reference goes, unless it sits in a reference
cycle: those wait for the cyclic collector.  A machine is such a cycle (unicorn holds its
hooks, bound methods; the kernel holds the machine), so the Guest that owns it closes it as
it goes, and nothing else (the watchdog thread included) may hold a machine meanwhile.  The
counts below are taken with the collector switched off, so only reference counting frees.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

from generator import build_server, default_site
from harness import Guest, HarnessError
from support import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
EXIT42 = (FIXTURES / "programs" / "exit42.elf").read_bytes()
SERVER = build_server(default_site())
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def _made_and_dropped(count: int, **kwargs) -> int:
    """How many of ``count`` machines, each run and dropped, are still alive."""
    refs = []
    for _ in range(count):
        guest = Guest(SERVER, **kwargs)
        guest.start()
        assert guest.request(REQUEST).startswith(b"HTTP/1.1 200 ")
        refs.append(weakref.ref(guest.machine))
        del guest
    return sum(ref() is not None for ref in refs)


@pytest.fixture
def no_gc():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


@pytest.mark.parametrize("kwargs", [{}, {"coverage": True}, {"trace": lambda line: None},
                                    {"strace": lambda line: None}, {"record": True}],
                         ids=["plain", "coverage", "trace", "strace", "record"])
def test_a_dropped_guest_is_freed_by_reference_counting(no_gc, kwargs):
    assert _made_and_dropped(200, **kwargs) == 0


def test_the_watchdog_keeps_no_machine_alive():
    """With the collector on, too: the watchdog thread once held a list of every machine
    across its sleep, so machines that were garbage stayed alive."""
    refs = []
    for _ in range(200):
        guest = Guest(EXIT42)
        guest.start()
        refs.append(weakref.ref(guest.machine))
        del guest
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_close_and_with_free_the_machine_at_once(no_gc):
    with Guest(SERVER) as guest:
        guest.start()
        assert guest.request(REQUEST).startswith(b"HTTP/1.1 200 ")
    machine = weakref.ref(guest.machine)
    assert guest.machine._uch is None, "closed at the end of the block"
    with pytest.raises(HarnessError, match="closed"):
        guest.run()
    guest.close()  # idempotent
    del guest
    assert machine() is None


def test_what_a_closed_guest_said_stays_readable():
    program = (FIXTURES / "programs" / "hello.elf").read_bytes()
    guest = Guest(program)
    guest.start()
    guest.close()
    assert guest.exited and guest.stdout


def test_two_thousand_guests_stay_under_300_mib():
    """A child process makes 2,000 guests that each serve a request and touch a few MiB
    of their stack; its peak RSS must stay near one guest's, not grow with the count
    (before, 2,000 guests held 2.2-2.5 GiB)."""
    script = textwrap.dedent("""
        import resource, sys
        from generator import build_server, default_site
        from generator.elf import link
        from generator.x86 import EAX, EBX, ECX, ESP, Assembler, Mem
        from harness import Guest

        # touches 4 MiB of its stack, one word a page, then exits 0
        a = Assembler()
        start = a.label("_start")
        a.bind(start)
        a.mov(ECX, 1024)
        loop = a.label("loop")
        a.bind(loop)
        a.sub(ESP, 4096)
        a.mov(Mem(ESP), ECX)
        a.dec(ECX)
        a.j("nz", loop)
        a.mov(EBX, 0)
        a.mov(EAX, 1)
        a.int_(0x80)
        toucher = link(a, start)
        server = build_server(default_site())
        for i in range(2000):
            guest = Guest(toucher if i % 2 else server)
            guest.start()
            if i % 2 == 0:
                assert guest.request(b"GET / HTTP/1.1\\r\\n\\r\\n").startswith(b"HTTP/1.1 200")
            else:
                assert guest.exit_status == 0
        try:  # this process's own peak: ru_maxrss would also count its parent's, which
            # exec hands on (fs/exec.c: exec_mmap's setmax_mm_hiwater_rss)
            status = open("/proc/self/status").read()
            print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
        except OSError:
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(ROOT),
                                                         "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    peak_mib = int(result.stdout.split()[-1])
    assert peak_mib < 300, f"peak RSS {peak_mib} MiB for 2,000 guests"
