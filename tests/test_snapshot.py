"""Snapshot and restore (harness/snapshot.py): a waiting guest, of one process or several,
comes back exactly as it was, as often as asked: its answers, every process's memory and
registers, the process table, the network, fault injection's counters, host files.

The programs: webelf's own server (one process, and with ``workers=2``, i386 and x86-64: a
parent in wait4 and two workers in epoll_wait), and C servers of fixtures/programs/c (glibc,
gcc -m32 -static): buggy_server (planted crash, hang and bad response), file_server (--root files),
fork_server (a child per connection), epoll_workers (a supervisor that forks a new worker
when one ends), and busybox from .ci/run for a process that runs execve.
"""

from __future__ import annotations

import os

import pytest

from cprograms import build
from generator import ServerConfig, build_server, default_site
from harness import DEFAULT_REQUEST, Guest, HarnessError
from harness import linux as L
from harness.fuzz import Fuzzer
from harness.snapshot import Snapshot
from support import FIXTURES, missing

SEEDS = [p.read_bytes() for p in sorted((FIXTURES / "requests").glob("*.http"))]
BUDGET = 300_000
BUGGY_PORT = "8080"


@pytest.fixture(scope="module")
def site_program() -> bytes:
    return build_server(default_site())


@pytest.fixture(scope="module")
def workers_program() -> bytes:
    return build_server(default_site(), _config(workers=2))


def _config(**kwargs):
    return ServerConfig(**kwargs)


def _memory(guest: Guest) -> dict[int, dict[int, bytes]]:
    """pid -> start -> bytes of every mapping of every live process."""
    tasks = guest.kernel.tasks
    machines = ({guest.kernel.pid: guest.machine} if tasks is None else
                {p.pid: p.machine for p in tasks.procs.values() if p.status is None})
    return {pid: {r.start: bytes(r.view) for r in m.mem.regions}
            for pid, m in machines.items()}


def _table(guest: Guest) -> dict[int, tuple]:
    """pid -> (ppid, status, zombie, parked call) of every process of the table."""
    return {p.pid: (p.ppid, p.status, p.zombie, p.machine._parked)
            for p in guest.kernel.tasks.procs.values()}


# ---------------------------------------------------------------------- one process

def test_a_restored_guest_answers_as_it_did_and_its_memory_is_as_it_was(site_program):
    guest = Guest(site_program)
    guest.start()
    snapshot = Snapshot(guest)
    before = {r.start: bytes(r.view) for r in guest.machine.mem.regions}
    clock = guest.network.now
    first = guest.request(DEFAULT_REQUEST)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert snapshot.dirty, "the request wrote no page the snapshot noticed"
    guest.network.advance(30)
    snapshot.restore()
    assert guest.network.now == clock
    assert {r.start: bytes(r.view) for r in guest.machine.mem.regions} == before
    assert guest.waiting_in_accept
    for _ in range(3):
        assert guest.request(DEFAULT_REQUEST) == first
        snapshot.restore()


def test_a_guest_killed_by_a_signal_comes_back(tmp_path):
    data = build("glibc", "buggy_server", tmp_path)
    guest = Guest(data, argv=["buggy_server", BUGGY_PORT])
    guest.start()
    fuzzer = Fuzzer(guest, [], budget=BUDGET)
    assert fuzzer.execute(b"GET /" + b"A" * 300 + b" HTTP/1.1\r\n\r\n").kind == "crash"
    ok = fuzzer.execute(b"GET / HTTP/1.1\r\n\r\n")
    assert ok.kind == "ok"
    assert fuzzer.execute(b"DELETE / HTTP/1.1\r\n\r\n").kind == "hang"
    assert fuzzer.execute(b"GET /?verbose HTTP/1.1\r\n\r\n").kind == "invalid"
    assert fuzzer.execute(b"GET / HTTP/1.1\r\n\r\n") == ok
    fuzzer.close()
    assert guest.request(b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")


def test_mappings_made_or_removed_since_the_snapshot_are_undone(site_program):
    """The slow path: mmap, munmap and brk since the snapshot are put back whole."""
    guest = Guest(site_program)
    guest.start()
    mem = guest.machine.mem
    snapshot = Snapshot(guest)
    layout = [(r.start, r.end, r.prot, r.kind) for r in mem.regions]
    stack = next(r for r in mem.regions if r.kind == "stack")
    stack_bytes = bytes(stack.view)
    mem.map(0x40000000, 0x3000, 3)                 # a new mapping (mmap)
    mem.write(0x40000000, b"new")
    mem.unmap(stack.start, stack.start + 0x1000)   # part of the stack gone (munmap)
    snapshot.restore()
    assert [(r.start, r.end, r.prot, r.kind) for r in mem.regions] == layout
    assert bytes(next(r for r in mem.regions if r.kind == "stack").view) == stack_bytes
    assert guest.request(DEFAULT_REQUEST).startswith(b"HTTP/1.1 200 ")


def test_a_mapping_unmapped_and_mapped_again_gets_its_bytes_back(site_program):
    """munmap and mmap of the same range since the snapshot: the layout reads the same, but
    the memory is new (zeros) and no page of it was written: it comes back whole.  So does
    a descriptor set_thread_area put in the table (kept beside memory, not in it)."""
    guest = Guest(site_program)
    guest.start()
    mem, machine = guest.machine.mem, guest.machine
    mem.map(0x40000000, 0x2000, 3)
    mem.write(0x40001000, b"kept")
    gdt = bytes(machine.cpu.gdt)
    snapshot = Snapshot(guest)
    mem.unmap(0x40000000, 0x40002000)
    mem.map(0x40000000, 0x2000, 3)
    machine.set_gdt_entry(13, bytes.fromhex("ffff0000 00f2cf00"))
    assert mem.read(0x40001000, 4) == bytes(4) and bytes(machine.cpu.gdt) != gdt
    snapshot.restore()
    assert mem.read(0x40001000, 4) == b"kept" and bytes(machine.cpu.gdt) == gdt
    assert guest.request(DEFAULT_REQUEST).startswith(b"HTTP/1.1 200 ")


def test_the_python_hooks_do_what_the_compiled_ones_do(site_program, monkeypatch):
    """Without a C compiler the block and TLB fill hooks are Python: the same edges, the
    same restored memory."""
    from harness import native

    seen = []
    compiled = native.library()
    for lib in (compiled, None):
        monkeypatch.setattr(native, "_LOADED", [lib])
        guest = Guest(site_program)
        guest.start()
        fuzzer = Fuzzer(guest, [])
        assert fuzzer.map.native == (lib is not None)
        outcome = fuzzer.execute(DEFAULT_REQUEST)
        hits = fuzzer.map.hits()
        fuzzer.execute(b"GET /nowhere HTTP/1.1\r\n\r\n")
        assert fuzzer.execute(DEFAULT_REQUEST) == outcome
        assert fuzzer.map.hits() == hits
        seen.append((outcome, hits, fuzzer.edges))
        fuzzer.close()
    if compiled is None:   # the Python half ran; the comparison needs the compiled one
        missing("a C compiler (cc, gcc or $CC) for harness/native.py's hooks",
                "apt-get install gcc")
    assert seen[0] == seen[1]


def test_files_of_the_root_tree_come_back_and_leak_no_host_fd(tmp_path):
    """file_server.c opens a file of --root per request: each restore closes what the run
    opened, so no host fd is left behind, and the guest serves files as before."""
    data = build("glibc", "file_server", tmp_path)
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    (www / "b.txt").write_text("two\n")
    guest = Guest(data, argv=["file_server", BUGGY_PORT, "1000000", "/"], root=www)
    guest.start()
    fuzzer = Fuzzer(guest, [b"GET / HTTP/1.1\r\n\r\n", b"GET /b.txt HTTP/1.1\r\n\r\n"])
    open_fds = len(os.listdir("/proc/self/fd"))
    fuzzer.run(runs=200)
    assert fuzzer.execute(b"GET /b.txt HTTP/1.1\r\n\r\n").kind == "ok"
    assert len(os.listdir("/proc/self/fd")) == open_fds
    fuzzer.close()
    assert guest.request(b"GET /b.txt HTTP/1.1\r\n\r\n").endswith(b"\r\n\r\ntwo\n")


def test_fault_counters_are_rewound_so_the_same_call_fails_each_time(site_program):
    """faults=["writev=EPIPE@2"]: of the two requests each run makes, the second's writev
    (the 2nd since the snapshot) fails, after every restore alike: the counter the wrapped
    handler counts in is the one the restore rewinds (it did not: the run after a restore
    counted on from 2, and no call failed again)."""
    lines: list[str] = []
    guest = Guest(site_program, faults=["writev=EPIPE@2"], strace=lines.append)
    guest.start()
    snapshot = Snapshot(guest)
    runs = []
    for _ in range(3):
        start = len(lines)
        answers = (guest.request(DEFAULT_REQUEST), guest.request(DEFAULT_REQUEST))
        runs.append((answers, lines[start:]))
        snapshot.restore()
    (first, second), trace = runs[0]
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and second == b""
    assert [line.rsplit("=", 1)[1].strip() for line in trace
            if line.startswith("writev(")] == [str(len(first)), "-1 EPIPE (Broken pipe)"]
    assert runs[1] == runs[0] and runs[2] == runs[0]
    assert guest.kernel.faults.counts == {"writev": 0}


def test_the_objects_of_the_kernel_come_back_as_themselves(site_program):
    """The restore puts state back into the same objects: the client the snapshot holds,
    the sockets, fd table and network are the ones the caller knew, as they were."""
    guest = Guest(site_program)
    guest.start()
    client = guest.connect()
    guest.run()   # accepted, waiting for its first bytes
    kernel, network, fds = guest.kernel, guest.network, guest.kernel.fds
    files = list(fds._files)
    snapshot = Snapshot(guest, extras=(client,))
    answer = guest.exchange(client, DEFAULT_REQUEST)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and client.closed_by_peer
    for _ in range(3):
        snapshot.restore()
        assert snapshot.extras == (client,) and not client.closed_by_peer
        assert (guest.kernel, guest.network, guest.kernel.fds) == (kernel, network, fds)
        assert all(a is b for a, b in zip(guest.kernel.fds._files, files, strict=True))
        assert guest.exchange(client, DEFAULT_REQUEST) == answer


def test_state_the_walk_does_not_know_is_refused_in_one_line(site_program):
    guest = Guest(site_program)
    guest.start()
    guest.kernel.stream = (n for n in range(3))   # a generator: no state to copy
    with pytest.raises(HarnessError, match=r"^the guest's kernel state cannot be "
                       r"snapshotted: it holds a builtins.generator object$"):
        Snapshot(guest)
    del guest.kernel.stream
    Snapshot(guest).close()   # nothing of the refused one stayed installed
    assert guest.request(DEFAULT_REQUEST).startswith(b"HTTP/1.1 200 ")


# ---------------------------------------------------------------------- several processes

@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_a_server_with_workers_comes_back_with_every_process(arch):
    """ServerConfig(workers=2): the parent waits in wait4, two workers in epoll_wait.  Each
    restore brings back every process's memory, registers and table entry; each request
    after one gets the same bytes."""
    guest = Guest(build_server(default_site(), _config(workers=2, arch=arch)))
    guest.start()
    assert guest.waiting_in_accept and len(guest.kernel.tasks.procs) == 3
    memory, table = _memory(guest), _table(guest)
    snapshot = Snapshot(guest)
    first = guest.request(DEFAULT_REQUEST)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _memory(guest) != memory   # the worker that answered wrote its memory
    for _ in range(25):
        snapshot.restore()
        assert _table(guest) == table
        assert _memory(guest) == memory
        assert guest.request(DEFAULT_REQUEST) == first
    snapshot.close()
    assert guest.request(DEFAULT_REQUEST) == first   # on from where it was, untracked


def test_a_worker_killed_during_a_run_is_back_after_the_restore(workers_program):
    """A worker killed (SIGKILL, as the OOM killer would) is reaped by the parent, whose
    machine Tasks.ended would close: the snapshot keeps it and brings it back; the worker
    the parent forks in its place goes with the run."""
    guest = Guest(workers_program)
    guest.start()
    tasks = guest.kernel.tasks
    memory, table = _memory(guest), _table(guest)
    snapshot = Snapshot(guest)
    first = guest.request(DEFAULT_REQUEST)
    snapshot.restore()
    worker = tasks.procs[1001]
    worker.kernel.deliver(L.SIGKILL)
    guest.run()
    assert worker.machine.killed_by == L.SIGKILL and 1001 not in tasks.procs
    assert guest.request(DEFAULT_REQUEST) == first   # the other worker answers
    replacement = [p.machine for p in tasks.procs.values() if p.pid > 1002]
    assert replacement, "the parent forked no new worker"
    snapshot.restore()
    assert tasks.procs[1001] is worker and worker.machine.killed_by is None
    assert all(m._uch is None for m in replacement)
    assert _table(guest) == table and _memory(guest) == memory
    assert guest.request(DEFAULT_REQUEST) == first
    snapshot.close()


def test_shared_memory_a_forked_child_wrote_comes_back(workers_program):
    """Anonymous MAP_SHARED memory of the parent is the same memory in the worker it forks
    during a run (fork's dup_mmap shares it), whose writes no snapshot notes: after a run
    that forked, the restore puts it back whole."""
    guest = Guest(workers_program)
    guest.start()
    tasks = guest.kernel.tasks
    parent = guest.machine.mem
    parent.map(0x50000000, 0x2000, 3, kind="shared")   # as mmap(MAP_SHARED|MAP_ANONYMOUS)
    parent.write(0x50001000, b"parent")
    snapshot = Snapshot(guest)
    tasks.procs[1001].kernel.deliver(L.SIGKILL)
    guest.run()   # the parent reaps it, sleeps a while,
    guest.stall(5)   # and forks a new worker, which shares the memory
    child = next(p.machine for p in tasks.procs.values() if p.pid > 1002)
    child.mem.write(0x50001000, b"child!")   # the new worker's store
    assert parent.read(0x50001000, 6) == b"child!"
    snapshot.restore()
    assert parent.read(0x50001000, 6) == b"parent"
    snapshot.close()


def test_a_worker_that_exits_comes_back_and_its_replacement_goes(tmp_path):
    """epoll_workers.c: GET /die makes a worker exit 3 and the supervisor fork another.  The
    restore brings the first worker back, as it was, and discards the new one."""
    data = build("glibc", "epoll_workers", tmp_path)
    guest = Guest(data, argv=["epoll_workers", "8080", "2", "own", "5000"])
    guest.start()
    memory, table = _memory(guest), _table(guest)
    snapshot = Snapshot(guest)
    answer = guest.request(b"GET /a HTTP/1.0\r\n\r\n")
    for _ in range(3):
        snapshot.restore()
        die = b"GET /die HTTP/1.0\r\n\r\n"
        assert guest.request(die).endswith(b"you asked for /die in %d bytes, rdhup=0\n" % len(die))
        procs = guest.kernel.tasks.procs
        assert any(pid not in procs or procs[pid].status is not None for pid in table)
        replacements = [p.machine for pid, p in procs.items() if pid not in table]
        assert replacements, "the supervisor forked no new worker"
        snapshot.restore()
        assert all(m._uch is None for m in replacements)
        assert _table(guest) == table and _memory(guest) == memory
        assert guest.request(b"GET /a HTTP/1.0\r\n\r\n") == answer
    snapshot.close()


def test_processes_forked_during_a_run_go_with_the_restore(tmp_path):
    """fork_server.c snapshotted as it waits in accept, one process: each request forks a
    child; the restore closes the child's machine and the guest is one process again."""
    data = build("glibc", "fork_server", tmp_path)
    guest = Guest(data, argv=["fork_server", BUGGY_PORT, "1000000"])
    guest.start()
    assert guest.kernel.tasks is None
    snapshot = Snapshot(guest)
    children = []
    guest.network.connect(int(BUGGY_PORT))
    guest.run()
    children += [p.machine for p in guest.kernel.tasks.procs.values() if p.pid != 1000]
    assert children, "the server forked no child"
    snapshot.restore()
    assert guest.kernel.tasks is None
    assert all(m._uch is None for m in children)
    answer = guest.request(b"GET / HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.") and guest.kernel.tasks is not None
    snapshot.restore()
    assert guest.request(b"GET / HTTP/1.1\r\n\r\n") == answer


def test_the_fuzzer_runs_a_server_with_workers(workers_program):
    """Fuzzer on ServerConfig(workers=2): its snapshot, taken where a worker has accepted
    the connection and waits for its bytes, holds all three processes, the workers' edges
    count (they were forked before the fuzzer came), and 200 runs from the corpus find
    nothing."""
    guest = Guest(workers_program)
    guest.start()
    fuzzer = Fuzzer(guest, SEEDS, seed=1)
    assert fuzzer.snapshot.extras, "the snapshot is not where the worker waits to read"
    assert len(guest.kernel.tasks.procs) == 3
    ok = fuzzer.execute(DEFAULT_REQUEST)
    assert ok.kind == "ok"
    report = fuzzer.run(runs=200)
    assert report.runs == 200 and report.findings == []
    assert report.edges > 100, "the workers' blocks are not counted"
    assert fuzzer.execute(DEFAULT_REQUEST) == ok
    fuzzer.close()
    assert guest.request(DEFAULT_REQUEST).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_process_that_ran_execve_is_refused_in_one_line():
    """busybox sh runs nc in a child and, once it is done, execs echo: its emulator is not
    the one the snapshot copied, so the restore refuses, and leaves the guest as it is."""
    from test_busybox import third_party

    busybox = third_party("busybox", "busybox-static:i386")
    root = busybox.parent.parent
    guest = Guest(busybox.read_bytes(), root=root, argv=[
        "sh", "-c", "/bin/busybox nc -l -p 8080; exec /bin/busybox echo done"])
    guest.start()
    assert guest.waiting_in_accept
    snapshot = Snapshot(guest)
    assert guest.request(b"hi\n") == b""
    assert guest.exited and guest.stdout == b"hi\ndone\n"
    with pytest.raises(HarnessError, match=r"^process 1000 ran execve since the snapshot"):
        snapshot.restore()
    assert guest.exited and guest.stdout == b"hi\ndone\n"
    snapshot.close()
