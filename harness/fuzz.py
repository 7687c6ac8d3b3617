"""Coverage-guided fuzzing of a server through the fake network, without patching it.

::

    guest = Guest.load("server.elf")
    guest.start()                                   # waits in accept, poll or epoll_wait
    fuzzer = Fuzzer(guest, seeds=[b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"], seed=1)
    report = fuzzer.run(runs=5000)
    for finding in report.findings:
        print(finding.kind, finding.detail, finding.data)

Each input runs from the same moment, restored by :class:`harness.snapshot.Snapshot` (CPU,
dirty pages, kernel and network): the latest one every input shares.  A client has
connected and the guest, having accepted it, waits for its first bytes (AFL++'s deferred
forkserver: what comes before the input arrives is not repeated for each input; for
webelf's own server that is five of a request's fourteen system calls).  A guest that
cannot be caught there (it forks per connection, greets the client first or refuses it) is
restored to where it first waited for a connection instead, and each input connects anew.
The input is sent whole or split at chosen offsets (:meth:`harness.Guest.exchange` with
``split``), and the guest runs until it waits again, as a polite client sees it: one that
connected, then sent its request (a server that waits for its request, in read, poll or
epoll_wait, does the same as for one that came with the connection; one that reads without
waiting first gets EAGAIN, as it may natively).  Then the run is judged:

- **crash**: the guest died of a signal (:class:`~harness.errors.GuestFault`, what Linux's
  ``force_sig_fault`` would deliver with no handler: signal(7));
- **hang**: it ran more than its budget of basic blocks between two waits
  (:class:`~harness.errors.GuestTimeout`), counted by the block hook: exact, so the same
  input hangs again, and since a block is at least one instruction, ``webelf run
  --max-instructions`` with the same number reproduces it;
- **invalid**: a response that h11 cannot frame or that breaks HTTP/1.1
  (:func:`harness.http.check_response`: a Content-Length that disagrees with the body, a
  body after a HEAD response...), each response of a pipelined exchange in turn, framed
  as the requests the input may hold would frame them (:mod:`harness.judge`);
- **exit**: the server exited (a server that ends on a request serves no one after it);
- **differs**: with a ``reference`` (another build of the same server, ``webelf fuzz
  --reference``), its response to the same input is not the same bytes, or it did not
  answer: differential fuzzing of two builds.

Guidance is AFL's: each translated block the guest enters is hashed, and the edge from the
previous block (``prev >> 1 ^ cur``) is an entry of a 64 KiB map (:mod:`harness.edges`:
compiled C when a compiler is at hand), from a block hook that exists only while the fuzzer
does.  An input that takes an edge no run took before joins the corpus.  When one does, it
is run once more with hooks on what the guest reads of its program file and on every
``cmp``, and the strings and constants it held the input against become words the
mutations (:mod:`harness.mutate`) offer: the fuzzer's dictionary, :mod:`harness.words`.

A server that forks per connection is followed into its children: the block hook and the
budget are put on each process it forks during a run (the restore then discards them), but a
child killed by a signal is seen only in what it does to the response.

Findings are deduplicated by kind and place, before minimising (which costs runs): a hang
by the block it was stopped in, an invalid response by its problem with the numbers left
out; a hang or invalid response must also take an edge that no earlier finding of its kind
took (AFL's rule for unique hangs), and after minimising it is named by a hash of its edge
set, which must be new too.  A crash is keyed by the bug rather than by where it showed:
one stack overflow faults wherever the bytes written over the stack send it (a return to
an address made of input bytes, into the middle of a function, or a callee-saved register
overwritten and dereferenced later in ``strstr``), each a different faulting instruction.
So the symptom (the signal and the faulting instruction, or for a jump to an address that
is not code, the block that jumped) is diagnosed the first time it is seen: the input runs
once more under an instruction hook that sees a function read back a value saved on its
stack that something overwrote (:mod:`harness.stackwatch`: what a stack protector's
canary would tell, without recompiling).  Then the crash is that function's stack
overflow, whatever the symptom; else the symptom is the key, the faulting instruction
naming a bad pointer's use.  The diagnosis is remembered for the symptom (it costs one
slow run, a few ms), so a symptom two bugs share is one finding, as it was before the
diagnosis.  Minimising removes chunks of bytes (halves, quarters... single bytes) while
the outcome keeps its key (delta debugging, Zeller and Hildebrandt 2002).  The same seed,
seeds and number of runs give the same findings.  Several fuzzers at once
(:meth:`Fuzzer.share`) claim each finding's key in a directory they share before
minimising it, so that a bug is reported once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .edges import EdgeMap
from .errors import GuestFault, GuestTimeout, HarnessError
from .guest import Guest
from .judge import judge_http, judge_responses, request_methods  # noqa: F401 - re-exported
from .linux import SIGNAL_NAMES
from .mutate import Context, mutate
from .snapshot import Snapshot
from .stackwatch import StackWatch
from .words import MEM_CFUNC, CompareLog, Dictionary

try:
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - older bindings
    from unicorn.unicorn import _uc as _uclib
from unicorn import (
    UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_TCG_OPCODE, UC_TCG_OP_FLAG_CMP,
    UC_TCG_OP_SUB,
)

#: Basic blocks the guest may run between two waits before a run counts as a hang.
DEFAULT_BUDGET = 1_000_000
#: The most bytes of one response kept for judging.
RESPONSE_LIMIT = 1 << 20
#: Tries the minimiser may spend on one finding (a hang's each cost a whole budget).
MINIMISE_TRIES = 400
MINIMISE_HANG_TRIES = 48
#: Crash symptoms diagnosed and remembered (past them a new symptom is its own key).
MAX_SYMPTOMS = 4096

_DIGITS = re.compile(rb"[0-9]+")


@dataclass(frozen=True)
class Outcome:
    """How one run ended: ``kind`` is "ok", "crash", "hang", "invalid", "exit" or "differs"; ``key``
    tells findings apart (see the module's doc)."""

    kind: str
    detail: str = ""
    key: tuple = ()


@dataclass
class Finding:
    kind: str
    number: int
    data: bytes
    detail: str
    runs: int  # how many runs the fuzzer had made when it found it

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.number}"


@dataclass
class Report:
    runs: int = 0
    seconds: float = 0.0
    edges: int = 0
    corpus: int = 0
    findings: list[Finding] = field(default_factory=list)
    tokens: int = 0
    #: (seconds, runs, edges) whenever the edge count grew.
    history: list[tuple[float, int, int]] = field(default_factory=list)


class Fuzzer:
    """Fuzz ``guest``, which must wait for a connection (:attr:`Guest.waiting_in_accept`).
    ``seeds`` start the corpus; ``seed`` makes every choice; ``budget`` is the basic blocks
    a run may take between two waits before it is a hang; ``compares`` False leaves the
    comparisons' operands out of the words (to see what they are worth)."""

    def __init__(self, guest: Guest, seeds: Sequence[bytes], *, seed: int = 0,
                 budget: int = DEFAULT_BUDGET, port: int | None = None,
                 reference: Guest | None = None, compares: bool = True) -> None:
        if not guest.waiting_in_accept:
            raise HarnessError("the guest does not wait for a connection: nothing to fuzz "
                               f"(it stopped: {guest.last_stop})")
        #: Differential fuzzing: another build, waiting as the guest does, whose response to
        #: each input must be the guest's (or the run is a "differs" finding).
        self.reference = reference
        self._reference_snapshot = None
        if reference is not None:
            if not reference.waiting_in_accept:
                raise HarnessError("the reference does not wait for a connection "
                                   f"(it stopped: {reference.last_stop})")
            self._reference_port = reference.port(port)
            self._reference_snapshot = _snapshot_waiting_to_read(reference,
                                                                 self._reference_port)
        self.guest = guest
        self.port = guest.port(port)
        self.machine = machine = guest.machine
        self.budget = budget
        self.snapshot = Snapshot(guest)
        self.rng = random.Random(seed)
        self.seeds = [bytes(s) for s in seeds] or [b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"]
        self.corpus: list[bytes] = []
        self.map = EdgeMap(stop=ctypes.cast(_uclib.uc_emu_stop, ctypes.c_void_p))
        # The budget is counted in blocks by the block hook, not in instructions by unicorn
        # (which would cost a fifth of the run): every run the hook stops has run more
        # instructions than ``budget`` too, so webelf run --max-instructions reproduces it.
        self.map.set_budget(budget)
        #: The words the mutations offer, from what the guest compared input against.
        self.dictionary = Dictionary(machine)
        #: Comparison feedback: the constants the guest compares input against become
        #: words too (:meth:`_harvest`).
        self.compares = compares
        self._seen_keys: set[tuple] = set()
        #: A crash's symptom -> (its key, a note): the diagnosis each symptom had first.
        self._bugs: dict[tuple, tuple[tuple, str]] = {}
        self._finding_edges: dict[str, set[int]] = {}
        self.findings: list[Finding] = []
        self.runs = 0
        self._share: tuple[Path, str] | None = None
        self._keys: Path | None = None
        self._hooks: list[tuple[ctypes.c_size_t, object, object]] = []
        self._judged: dict[tuple, str | None] = {}
        tasks = guest.kernel.tasks
        #: The guest's processes as it waits: workers forked before it first waited count
        #: too (each has its own emulator; those forked during a run are hooked by fork).
        self._machines = [machine] + ([] if tasks is None else [
            p.machine for p in tasks.procs.values()
            if p.machine is not machine and p.machine._uch is not None])
        self._count_each_run(guest)
        for m in self._machines:
            self._attach(m)
            # unicorn instruments a block for a hook when it translates it: the blocks it
            # translated before (the guest's start) must go.
            m.uc.ctl_flush_tb()
        self.snapshot = _snapshot_waiting_to_read(guest, self.port, self.snapshot)

    # ------------------------------------------------------------------ hooks

    def _attach(self, machine) -> None:
        """The block hook on ``machine`` (the guest's, or a process it forked during a run:
        its blocks count too), and the machine told why the hook stopped it.  The budget
        is counted from zero at each of the guest's runs (:meth:`_count_each_run`)."""
        machine.max_instructions = None
        edge_map, budget, fork = self.map, self.budget, machine.fork

        def forked(kernel):
            child = fork(kernel)
            self._attach(child)
            return child

        machine.fork = forked
        machine.overrun = lambda: (f"budget of {budget:,} basic blocks"
                                   if edge_map.over_budget else None)
        self._hook(UC_HOOK_BLOCK, self.map.callback, 1, 0, self.map.user, machine=machine)

    def _count_each_run(self, guest: Guest) -> None:
        """The block budget counted from zero each time the guest runs until it waits
        (Guest.run), whatever its processes: the scheduler gives each of several processes
        time slices (harness.kernel.task), each a run of its machine, and a budget counted
        per slice would never be spent by a child that runs away while its parent waits."""
        run, edge_map = guest.run, self.map

        def counted_run():
            edge_map.count_from_zero()  # the budget is between two waits
            return run()

        guest.run = counted_run

    def _hook(self, kind: int, callback: object, begin: int, end: int,
              user: ctypes.c_void_p | None = None, machine=None,
              extra: tuple[int, ...] = ()) -> ctypes.c_size_t:
        """uc_hook_add, with ``extra`` for hooks that take more (UC_HOOK_TCG_OPCODE's
        opcode and flags)."""
        machine = machine or self.machine
        handle = ctypes.c_size_t()
        pointer = (callback if isinstance(callback, ctypes.c_void_p) else
                   ctypes.c_void_p.from_address(ctypes.addressof(callback)))
        status = _uclib.uc_hook_add(machine._uch, ctypes.byref(handle), kind, pointer,
                                    user, ctypes.c_uint64(begin), ctypes.c_uint64(end),
                                    *(ctypes.c_int(value) for value in extra))
        if status != 0:
            raise HarnessError(f"unicorn refused the fuzzer's hook (error {status})")
        self._hooks.append((handle, callback, machine))
        return handle

    def _unhook(self, handle: ctypes.c_size_t) -> None:
        for h, _, machine in self._hooks:
            if h is handle and machine._uch is not None:
                _uclib.uc_hook_del(machine._uch, handle)
        self._hooks = [entry for entry in self._hooks if entry[0] is not handle]

    def close(self) -> None:
        """Remove the fuzzer's hooks and the snapshot's tracking (the guest stays usable)."""
        for handle, _, _ in list(self._hooks):
            self._unhook(handle)
        self.snapshot.close()
        if self._reference_snapshot is not None:
            self._reference_snapshot.close()
        self.guest.__dict__.pop("run", None)
        for m in self._machines:
            for name in ("fork", "overrun"):
                m.__dict__.pop(name, None)
            if m._uch is not None:
                m.uc.ctl_flush_tb()

    # ------------------------------------------------------------------ one run

    def execute(self, data: bytes, split: Sequence[int] = ()) -> Outcome:
        """Restore the snapshot, send ``data`` on a new connection, judge what happens.
        The edges it took are in ``self.map`` afterwards."""
        self.snapshot.restore()  # processes the guest forked in the last run are gone
        self._hooks = [entry for entry in self._hooks if entry[2]._uch is not None]
        self.map.reset()
        self.runs += 1
        try:
            response = _send(self.guest, self.snapshot, self.port, data, split)
        except GuestFault as fault:
            return self._crash(fault, data, split)
        except GuestTimeout as exc:
            return Outcome("hang", str(exc), ("hang", self.map.last_block))
        except HarnessError as exc:  # a response over the limit, say: not judged
            return Outcome("ok", str(exc))
        guest = self.guest
        if guest.exited:
            status = guest.exit_status
            return Outcome("exit", f"the server exited with status {status}", ("exit", status))
        problem = self._judge(data, response)
        if problem is not None:
            return Outcome("invalid", f"invalid HTTP: {problem}",
                           ("invalid", _DIGITS.sub(b"N", problem.encode()).decode()))
        if self.reference is not None:
            return self._compare(data, split, response)
        return Outcome("ok")

    def _crash(self, fault: GuestFault, data: bytes, split: Sequence[int]) -> Outcome:
        """A crash, keyed by the bug rather than the symptom (see the module's doc): the
        symptom is the signal and the faulting instruction, or for a jump to an address
        that is not code, the block that jumped; the first time a symptom is seen, the
        input runs again under :class:`StackWatch`, and a stack overflow it sees names
        the crash instead."""
        eip = fault.eip
        r = self.machine.mem.region_at(eip)
        place = eip if r is not None and r.access & 4 else self.map.last_block
        name = SIGNAL_NAMES.get(fault.signal, f"signal {fault.signal}")
        symptom = ("crash", name, place)
        bug = self._bugs.get(symptom)
        if bug is None:
            bug = ((symptom, "") if len(self._bugs) >= MAX_SYMPTOMS
                   else self._diagnose(symptom, data, split))
        key, note = bug
        return Outcome("crash", str(fault) + note, key)

    def _diagnose(self, symptom: tuple, data: bytes, split: Sequence[int]) -> tuple[tuple, str]:
        """Run ``data`` again with an instruction hook (:class:`StackWatch`): (the crash's
        key, a note for its detail)."""
        machine = self.machine
        watch = StackWatch(machine)
        handle = self._hook(UC_HOOK_CODE, watch.callback, 1, 0)
        machine.uc.ctl_flush_tb()  # instrumented only while this run lasts
        try:
            self.snapshot.restore()
            self.runs += 1
            try:
                _send(self.guest, self.snapshot, self.port, data, split)
            except HarnessError:  # the same crash, as expected
                pass
        finally:
            self._unhook(handle)
            if machine._uch is not None:
                machine.uc.ctl_flush_tb()
        bug: tuple[tuple, str] = (symptom, "")
        if watch.smashed is not None:
            function, reader = watch.smashed
            where = (f"the function at 0x{function:08x}" if function is not None
                     else "a function called before the run began")
            bug = (("crash", "stack overflow", reader if function is None else function),
                   (f"; before it, a stack overflow in {where}: a value saved on its stack "
                    f"was overwritten before 0x{reader:08x} read it back"))
        self._bugs[symptom] = bug
        return bug

    def _compare(self, data: bytes, split: Sequence[int], response: bytes) -> Outcome:
        """The reference's response to the same input, which must be the same bytes."""
        self._reference_snapshot.restore()
        reference = self.reference
        try:
            theirs = _send(reference, self._reference_snapshot, self._reference_port, data,
                           split)
        except (GuestFault, GuestTimeout) as exc:
            return Outcome("differs", f"the reference did not answer: {exc}", ("differs",))
        except HarnessError as exc:
            return Outcome("ok", str(exc))
        if theirs == response:
            return Outcome("ok")
        at = next((i for i, (a, b) in enumerate(zip(response, theirs)) if a != b),
                  min(len(response), len(theirs)))
        return Outcome("differs", f"the response differs from the reference's from byte {at} "
                       f"({len(response)} bytes, the reference's {len(theirs)})", ("differs",))

    def _judge(self, data: bytes, response: bytes) -> str | None:
        """judge_http, remembered: a server gives the same few responses again and again,
        and what matters of the request is its HEAD-looking lines."""
        methods = request_methods(data)
        maybe_head = b"HEAD" in data
        key = (response, tuple(methods), maybe_head)
        try:
            return self._judged[key]
        except KeyError:
            pass
        problem = judge_responses(bytes(response), methods, 0, maybe_head, {})
        if len(self._judged) < 4096 and len(response) <= 65536:  # at most 256 MiB kept
            self._judged[key] = problem
        return problem

    def _new_edges(self) -> int:
        """Edges the last run took first (set by the block hook)."""
        return self.map.new

    @property
    def edges(self) -> int:
        """Edges any run has taken."""
        return self.map.seen()

    @property
    def tokens(self) -> list[bytes]:
        """The words the mutations offer (the dictionary's, as found)."""
        return self.dictionary.tokens

    # ------------------------------------------------------------------ words

    def _harvest(self, data: bytes, split: Sequence[int]) -> None:
        """Run ``data`` again with a hook on reads of what the program file put in memory
        (its segments' file bytes: code, constants, initialised data; the reference's too);
        the strings read there become words for the mutations.  With ``compares``, a hook
        on the comparisons too, whose constants held against the input become words
        (:func:`harness.words._compare_words`)."""
        machines = [self.machine] + ([self.reference.machine] if self.reference else [])
        reads: list[set[int]] = []
        logs: list[CompareLog] = []
        callbacks, handles = [], []
        for machine in machines:
            found: set[int] = set()
            reads.append(found)
            callback = MEM_CFUNC(lambda _uch, _access, address, _size, _value, _user,
                                 add=found.add: add(address))
            callbacks.append(callback)
            handles += [self._hook(UC_HOOK_MEM_READ, callback, seg.vaddr,
                                   seg.vaddr + seg.filesz - 1, machine=machine)
                        for seg in machine.image.segments if seg.filesz]
            if self.compares:
                log = CompareLog()
                logs.append(log)
                handles.append(self._hook(UC_HOOK_TCG_OPCODE, log.callback, 1, 0, log.user,
                                          machine=machine,
                                          extra=(UC_TCG_OP_SUB, UC_TCG_OP_FLAG_CMP)))
            machine.uc.ctl_flush_tb()  # instrumented for reads only while this run lasts
        try:
            self.execute(data, split)
        finally:
            for handle in handles:
                self._unhook(handle)
            for machine in machines:
                machine.uc.ctl_flush_tb()
        for machine, found in zip(machines, reads):
            self.dictionary.read(machine, found)
        for machine, log in zip(machines, logs):
            self.dictionary.compared(data, machine, log.compares())

    # ------------------------------------------------------------------ the loop

    def run(self, runs: int | None = None, seconds: float | None = None,
            progress: Callable[[Report], None] | None = None,
            found: Callable[[Finding], None] | None = None) -> Report:
        """Fuzz for ``runs`` runs or ``seconds`` of wall clock (whichever is given; runs
        make it reproducible).  ``progress`` is called at most once a second, ``found``
        with each new (minimised) finding."""
        if runs is None and seconds is None:
            raise HarnessError("give a number of runs or of seconds")
        start = time.monotonic()
        report = Report()
        last_progress = start
        rng = self.rng
        ctx = Context(self.corpus, self.tokens)
        queue = list(self.seeds)
        done = 0

        def elapsed() -> float:
            return time.monotonic() - start

        while True:
            if runs is not None and done >= runs:
                break
            if seconds is not None and elapsed() >= seconds:
                break
            if queue:
                data, split = queue.pop(0), ()
            else:
                base = self._pick()
                data = mutate(rng, base, ctx)
                split = ()
                if len(data) > 1 and rng.random() < 0.1:
                    split = sorted(rng.sample(range(1, len(data)), min(2, len(data) - 1)))
            outcome = self.execute(data, split)
            done += 1
            if self._new_edges():
                report.history.append((elapsed(), done, self.edges))
                if outcome.kind in ("ok", "invalid"):  # not crashes and hangs, as AFL
                    self.corpus.append(data)
                    self._harvest(data, split)
                    self._publish(data)
            if outcome.kind != "ok":
                finding = self._record(data, split, outcome, done)
                if finding is not None and found is not None:
                    found(finding)
            now = time.monotonic()
            if now - last_progress >= 1.0:
                last_progress = now
                self._take_shared()
                if progress is not None:
                    progress(self._report(report, done, elapsed()))
        return self._report(report, done, elapsed())

    def _report(self, report: Report, done: int, seconds: float) -> Report:
        report.runs, report.seconds, report.edges = done, seconds, self.edges
        report.corpus, report.findings, report.tokens = (len(self.corpus), self.findings,
                                                         len(self.tokens))
        return report

    def _pick(self) -> bytes:
        """A corpus entry to mutate: a recent one half the time (AFL favours new finds)."""
        corpus = self.corpus or self.seeds
        if len(corpus) > 8 and self.rng.random() < 0.5:
            return self.rng.choice(corpus[-8:])
        return self.rng.choice(corpus)

    # ------------------------------------------------------------------ sharing

    def share(self, directory: Path, name: str, keys: Path | None = None) -> None:
        """Several fuzzers at once (``webelf fuzz --jobs N``): each new corpus entry is
        written to ``directory`` as ``<name>-<n>``, and once a second the entries the others
        wrote there are run, joining this corpus when they take an edge new here (AFL's
        ``-M``/``-S`` sync, through a directory).  The runs then depend on timing.

        With ``keys``, a directory the fuzzers share, a finding is also claimed there
        before it is minimised: a file named by a hash of its key, created exclusively
        (O_EXCL), so that of several fuzzers finding the same bug only the first reports
        it, each fuzzer's own record of keys seeing only its own."""
        directory.mkdir(parents=True, exist_ok=True)
        self._share = (directory, name)
        self._shared: set[str] = set()
        self._published = 0
        self._keys = keys

    def _claim(self, key: tuple) -> bool:
        """Whether this fuzzer is the first to find ``key``: alone it is; sharing keys, it
        is when it creates the key's file (a key it cannot write is its own: reported)."""
        if self._keys is None:
            return True
        path = self._keys / hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError:
            return True
        with os.fdopen(fd, "w") as file:
            file.write(f"{key!r}\n")
        return True

    def _publish(self, data: bytes) -> None:
        if self._share is None:
            return
        directory, name = self._share
        self._published += 1
        final = directory / f"{name}-{self._published:06d}"
        partial = directory / f".{final.name}.part"
        try:
            partial.write_bytes(data)
            os.replace(partial, final)  # others never see half an entry
        except OSError:
            pass

    def _take_shared(self) -> None:
        if self._share is None:
            return
        directory, name = self._share
        try:
            names = sorted(p.name for p in directory.iterdir())
        except OSError:
            return
        for entry in names:
            if entry.startswith((".", f"{name}-")) or entry in self._shared:
                continue
            self._shared.add(entry)
            try:
                data = (directory / entry).read_bytes()
            except OSError:
                continue
            outcome = self.execute(data)
            if self._new_edges() and outcome.kind in ("ok", "invalid"):
                self.corpus.append(data)

    # ------------------------------------------------------------------ findings

    def _record(self, data: bytes, split: Sequence[int], outcome: Outcome,
                done: int) -> Finding | None:
        kind = outcome.kind
        if outcome.key in self._seen_keys:
            return None
        if kind in ("hang", "invalid", "differs"):  # new only with an edge no earlier one took
            seen = self._finding_edges.get(kind, set())
            if self.map.hits() <= seen:
                return None
        if not self._claim(outcome.key):  # another fuzzer found it first
            self._seen_keys.add(outcome.key)
            return None
        small = self.minimise(data, outcome,
                              MINIMISE_HANG_TRIES if kind == "hang" else MINIMISE_TRIES)
        final = self.execute(small)
        if final.key != outcome.key:  # delivered whole it does not do it: keep it as found
            small, final = data, outcome
            self.execute(data, split)
        self._seen_keys.add(outcome.key)
        self._seen_keys.add(final.key)
        if kind in ("hang", "invalid", "differs"):
            hits = self.map.hits()
            edges = (kind, hashlib.sha256(repr(sorted(hits)).encode()).hexdigest()[:12])
            self._finding_edges.setdefault(kind, set()).update(hits)
            if edges in self._seen_keys or not self._claim(edges):
                self._seen_keys.add(edges)
                return None
            self._seen_keys.add(edges)
        number = 1 + sum(1 for f in self.findings if f.kind == kind)
        finding = Finding(kind, number, small, final.detail, done)
        self.findings.append(finding)
        return finding

    def minimise(self, data: bytes, outcome: Outcome, tries: int = MINIMISE_TRIES) -> bytes:
        """The smallest input found, by removing chunks (halves, quarters... single
        bytes), that still ends with ``outcome``'s key, sent whole."""
        def same(candidate: bytes) -> bool:
            return self.execute(candidate).key == outcome.key

        chunk = max(1, len(data) // 2)
        while chunk >= 1 and tries > 0:
            i = 0
            while i < len(data) and tries > 0:
                candidate = data[:i] + data[i + chunk:]
                tries -= 1
                if candidate and same(candidate):
                    data = candidate
                else:
                    i += chunk
            if chunk == 1:
                break
            chunk //= 2
        return data


def _snapshot_waiting_to_read(guest: Guest, port: int,
                              first: Snapshot | None = None) -> Snapshot:
    """The latest moment every run shares, to snapshot instead of the first wait: a client
    has connected and the guest, having accepted it, waits for its first bytes (AFL++'s
    deferred forkserver, ``__AFL_INIT`` placed as late as the input allows).  What the
    guest does before a request's first byte arrives (epoll_wait, accept4, epoll_ctl,
    and waiting again, for webelf's own server: five of its fourteen calls) is then not
    repeated for each input.  The snapshot holds the client (:attr:`Snapshot.extras`).

    Only a guest that, after that run, waits, holds the connection in one of its processes
    and has sent nothing on it qualifies (a server that greets first or refuses it does
    not): otherwise ``first`` (or a new snapshot of the guest as it waits for a
    connection) is restored and returned, and each input connects anew.  A server that
    forks per connection or has workers qualifies too: the snapshot holds every process,
    the child that waits for the bytes among them, and no run forks it again."""
    first = first or Snapshot(guest)
    client = guest.connect(port)
    try:
        stop = guest.run()
    except (GuestFault, GuestTimeout, HarnessError):
        stop = None
    if (stop is None or stop.reason != "blocked" or client.available()
            or client.closed_by_peer or not guest._holds(client)):
        first.restore()
        return first
    first.close()
    return Snapshot(guest, extras=(client,))


def _send(guest: Guest, snapshot: Snapshot, port: int, data: bytes,
          split: Sequence[int]) -> bytes:
    """``data`` to the restored guest: on the connection the snapshot holds, or a new one."""
    if snapshot.extras:
        return guest.exchange(snapshot.extras[0], data, split=split, limit=RESPONSE_LIMIT)
    return guest.request(data, port, split=split, limit=RESPONSE_LIMIT)
