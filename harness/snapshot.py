"""Snapshot a waiting guest and put it back, fast: what a fuzzer does before each input.

:class:`Snapshot` takes a guest that waits (in accept, poll or epoll_wait, as
:attr:`harness.Guest.waiting_in_accept` says), of one process or of several (a server that
forked its workers: :mod:`harness.kernel.task`), and restores it, as often as asked, to
exactly that moment: every process's CPU and memory, and the kernel's state (fd tables,
sockets and the whole fake network with its clock, signals, timers, pids, brk, the process
table, fault injection's counters).  It is what ``fork(2)`` gives a forkserver natively
(AFL++'s ``__afl_forkserver``), done in-process: a fork per input would copy the address
space (:meth:`harness.machine.Machine.fork` does that for the guest's own fork and costs a
new emulator each time).

How each part comes back:

- **CPU**, of each process: ``uc_context_save``/``uc_context_restore`` (unicorn 2.1: every
  register, segment bases included), plus the machine's Python-side state (the parked call,
  eip, exit status) and its descriptor table (set_thread_area's TLS entries, which the
  harness keeps beside guest memory: :mod:`harness.cpu`).  unicorn 2.1's
  ``UC_CTL_CONTEXT_MEMORY`` snapshots are copy-on-write inside unicorn's own memory
  regions; guest memory here is host memory the kernel writes directly
  (``uc_mem_map_ptr``, :mod:`harness.memory`), which those snapshots would not see, so
  memory is restored here instead.
- **Memory**, of each process, only the pages that changed: the snapshot keeps a copy of
  every mapping, and while it exists the emulator's TLB runs in unicorn's virtual mode
  (``UC_TLB_VIRTUAL``) with a ``UC_HOOK_TLB_FILL`` hook that maps every page 1:1 but grants
  write permission only to a write: the first store to a page since the TLB was last
  flushed refills it, and the hook notes the page as dirty (in C, :mod:`harness.native`,
  when a compiler is at hand: the hook runs dozens of times a request).  The kernel's own
  writes (``copy_to_user``: what ``read`` puts in a buffer) are noted by
  :class:`harness.memory.Memory`'s write path, swapped for a noting one only while a
  snapshot is installed.  Restoring copies those pages back and flushes the TLB
  (``UC_CTL_TLB_FLUSH``).  Protection is still unicorn's: its memory regions keep their
  permissions and refuse a bad access as before.  A mapping added, removed or reprotected
  since the snapshot (mmap, munmap, brk, stack growth) is put back the slow way, whole;
  so is one unmapped and mapped again in the same place (new memory no dirty page covers).
  Anonymous MAP_SHARED memory is also written by processes forked during a run, which
  nobody tracks: after a run that forked, it is put back whole.
- **Kernel and network**: the Python objects of the guest's kernels (fd tables, sockets,
  epoll sets, the process table, the Faults counters, the network...) are walked once at
  the snapshot, and a shallow copy of each is kept: a dict's items, a list's, a
  bytearray's bytes, an object's attributes (its ``__dict__`` or its slots).  A restore
  puts each copy back into the same object (``d.clear(); d.update(saved)``; a slotted
  object's attributes by one assignment, compiled once per class as dataclasses compiles
  its ``__init__``), so every object keeps its identity: the tables keyed by ``id()``
  (epoll's, the network's) stay right, a :class:`harness.net.Client` the caller holds is
  the restored one, and the closures the kernel made (fault injection puts one in front of
  a handler, holding the :class:`harness.faults.Faults` it counts in) count in the object
  that was rewound.  What does not change (the system call tables, machines, memory,
  functions, classes, enum members) is held by reference and not walked; what a run made
  is simply no longer referenced.  (Unpickling a copy of the same state, as this module
  did before, cost four times as long, and its new objects were unknown to the id()-keyed
  tables, which had to be re-keyed, and to those closures, whose counters ran on.)
- **Processes**: those forked during a run are discarded (their machines closed); those of
  the snapshot come back, also one that ended during the run.  :meth:`Tasks.ended
  <harness.kernel.task.Tasks.ended>` closes a child's machine (its memory goes with it), so
  while the snapshot is installed a child's ``close`` keeps the emulator of a process that
  has ended, for the restore; :meth:`Snapshot.close` lets go of those still ended.

Files of the ``--root`` tree hold host file descriptors: the snapshot keeps a duplicate of
each (dup(2)) and hands a fresh one to every restore, and closes those the run opened.

Limits: a process that ran execve(2) since the snapshot has a new emulator, and the restore
refuses it with a HarnessError (the guest is left as it is); state of a type the walk does
not know (neither a builtin container nor an object with a ``__dict__`` or slots: a
generator, say) is refused at the snapshot, also with a HarnessError; the coverage a guest
made with ``coverage=True`` (:attr:`Machine.covered`) is not rewound; a Network shared with
another guest is rewound under that guest too; a process that ended during a run keeps its
emulator (and memory) until the next restore or :meth:`Snapshot.close`.
"""

from __future__ import annotations

import bisect
import collections
import ctypes
import enum
import keyword
import mmap
import os
import types
from functools import cache
from typing import TYPE_CHECKING

from unicorn import UC_HOOK_TLB_FILL, UC_MEM_WRITE, UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_TLB_CPU, UC_TLB_VIRTUAL

from . import native
from .errors import HarnessError
from .native import DIRTY_CAPACITY, Dirty

try:  # the C library behind the binding
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - older bindings
    from unicorn.unicorn import _uc as _uclib

if TYPE_CHECKING:
    from .guest import Guest
    from .machine import Machine

PAGE = 4096
_PAGE_MASK = ~(PAGE - 1)


class _TlbEntry(ctypes.Structure):
    """unicorn's uc_tlb_entry (include/unicorn/unicorn.h): the physical page and its perms."""

    _fields_ = (("paddr", ctypes.c_uint64), ("perms", ctypes.c_uint32))


#: bool (*)(uc_engine *, uint64_t vaddr, uc_mem_type, uc_tlb_entry *, void *): UC_HOOK_TLB_FILL.
_TLB_CFUNC = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                              ctypes.POINTER(_TlbEntry), ctypes.c_void_p)

#: uc_ctl's code for uc_ctl_flush_tlb (UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0), unicorn.h), to call
#: the C function without the binding's wrapper, which costs as much again.
_FLUSH_TLB = UC_CTL_IO_WRITE << 30 | UC_CTL_TLB_FLUSH
#: The machine's Python-side state that a run changes.
_MACHINE_FIELDS = ("eip", "_parked", "_parked_compat", "_stop", "exit_status", "killed_by",
                   "_error", "_bad_access", "_fault_context", "_next_image", "_in_syscall")
#: Objects held by reference, never walked: code and what cannot change.
_BY_REFERENCE = (types.FunctionType, types.BuiltinFunctionType, types.BuiltinMethodType,
                 types.MethodType, types.ModuleType, type, memoryview, mmap.mmap,
                 types.CodeType, enum.Enum, ctypes._SimpleCData, ctypes.Array,
                 ctypes.Structure)
#: Values that hold no other object and cannot change.
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None), range, slice,
                    type(Ellipsis), type(NotImplemented), object})


def _open_host_file(f: object) -> bool:
    """Whether ``f`` is a file of the --root tree (harness.kernel.fs.File) still open."""
    return f is not None and hasattr(f, "host_fd") and not getattr(f, "closed", True)


# ---------------------------------------------------------------------- the kernel's objects

#: A slot that had no value at the snapshot.
_UNSET = object()


@cache
def _slots(cls: type) -> tuple[str, ...]:
    """Every slot of ``cls`` and its bases, by attribute name (``__x`` mangled as Python
    does), without ``__dict__`` and ``__weakref__``."""
    names: list[str] = []
    for c in reversed(cls.__mro__):
        declared = c.__dict__.get("__slots__", ())
        for name in (declared,) if isinstance(declared, str) else declared:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{c.__name__.lstrip('_')}{name}"
            names.append(name)
    return tuple(names)


@cache
def _slot_setter(cls: type):
    """``set(obj, values)``: every slot of ``cls`` from ``values``, in one tuple assignment
    (``o.a, o.b, o.c = values``), compiled once: ten times as fast as a setattr loop."""
    names = _slots(cls)
    if any(keyword.iskeyword(name) for name in names):  # a slot no code can name
        return _set_some_slots
    source = (f"def set(o, values):\n    {', '.join('o.' + n for n in names)}, = values\n")
    namespace: dict[str, object] = {}
    exec(source, namespace)  # noqa: S102 - the names are the class's own slot identifiers
    return namespace["set"]


def _set_some_slots(obj: object, values: tuple) -> None:
    """The slots of ``obj`` from ``values``, one by one: those that had no value are
    deleted again."""
    for name, value in zip(_slots(type(obj)), values):
        if value is _UNSET:
            if hasattr(obj, name):
                delattr(obj, name)
        else:
            setattr(obj, name, value)


def _frozen(cls: type) -> bool:
    """A frozen dataclass: its fields cannot change (and cannot be assigned)."""
    params = getattr(cls, "__dataclass_params__", None)
    return params is not None and params.frozen


class _Objects:
    """Every object reachable from ``roots`` (but those in ``pins`` and those held by
    reference), with a shallow copy of its state, to put back in place."""

    def __init__(self, roots: tuple, pins: set[int]) -> None:
        dicts, lists, arrays, deques, sets = [], [], [], [], []
        slotted: dict[object, list] = {}
        seen = set(pins)
        stack = list(roots)
        push = stack.extend
        while stack:
            obj = stack.pop()
            cls = type(obj)
            if cls in _ATOMS or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, _BY_REFERENCE):
                continue
            if isinstance(obj, tuple | frozenset):
                push(obj)
            elif isinstance(obj, dict):
                dicts.append((obj, dict(obj)))
                push(obj.keys())
                push(obj.values())
            elif isinstance(obj, list):
                lists.append((obj, tuple(obj)))
                push(obj)
            elif isinstance(obj, bytearray):
                arrays.append((obj, bytes(obj)))
            elif isinstance(obj, collections.deque):
                deques.append((obj, tuple(obj)))
                push(obj)
            elif isinstance(obj, set):
                sets.append((obj, frozenset(obj)))
                push(obj)
            else:
                attrs = getattr(obj, "__dict__", None)
                names = _slots(cls)
                if attrs is None and not names:
                    raise HarnessError("the guest's kernel state cannot be snapshotted: it "
                                       f"holds a {cls.__module__}.{cls.__qualname__} object")
                frozen = _frozen(cls)
                if attrs is not None:
                    if not frozen:
                        dicts.append((attrs, dict(attrs)))
                    push(attrs.values())
                if names:
                    values = tuple(getattr(obj, name, _UNSET) for name in names)
                    if not frozen:
                        setter = (_set_some_slots if any(v is _UNSET for v in values)
                                  else _slot_setter(cls))
                        slotted.setdefault(setter, []).append((obj, values))
                    push(values)
        self.dicts, self.lists, self.arrays = dicts, lists, arrays
        self.deques, self.sets = deques, sets
        self.slotted = list(slotted.items())
        #: How many objects come back at each restore.
        self.count = (len(dicts) + len(lists) + len(arrays) + len(deques) + len(sets)
                      + sum(len(objs) for objs in slotted.values()))

    def restore(self) -> None:
        """Every object's state back in it.  A container empty then and now is left alone:
        many are (receive buffers, queues, tables of nothing yet), and a truth test costs a
        fraction of the call it saves."""
        for d, saved in self.dicts:
            if d or saved:
                d.clear()
                d.update(saved)
        for l, saved in self.lists:
            if l or saved:
                l[:] = saved
        for b, saved in self.arrays:
            if b or saved:
                b[:] = saved
        for q, saved in self.deques:
            if q or saved:
                q.clear()
                q.extend(saved)
        for s, saved in self.sets:
            if s or saved:
                s.clear()
                s.update(saved)
        for setter, objs in self.slotted:
            for obj, values in objs:
                setter(obj, values)


# ---------------------------------------------------------------------- one process

class _Process:
    """One process of the snapshot: its CPU, a copy of its memory, and the pages written
    since (see the module's doc).  ``child``: a process other than the guest's first,
    whose machine :meth:`Tasks.ended` would close."""

    def __init__(self, machine: Machine, child: bool) -> None:
        self.machine = machine
        self.mem = mem = machine.mem
        self.pid = machine.kernel.pid
        uc = machine.uc
        # ---- CPU
        self.context = uc.context_save()
        self.fields = {name: getattr(machine, name) for name in _MACHINE_FIELDS}
        # ---- memory: a copy of every mapping, and dirty-page tracking from now on
        self.saved = [(r.start, r.end, r.prot, r.kind, bytes(r.view)) for r in mem.regions]
        self.starts = [s[0] for s in self.saved]
        self.shared = [s for s in self.saved if s[3] == "shared"]
        #: The mappings as objects: every change to the address space (map, munmap,
        #: mprotect, stack growth) replaces objects of ``mem.regions`` (Memory._split cuts
        #: new pieces; nothing changes a region in place), so the same objects in the same
        #: order are the same layout, and one list comparison says so.
        self.regions = list(mem.regions)
        #: The descriptor table (set_thread_area's TLS entries live there, not in memory).
        self.gdt = bytes(machine.cpu.gdt)
        self.dirty: set[int] = set()
        self._handle: ctypes.c_size_t | None = None
        self._install_tracking()
        #: The machine's close was deferred: its process ended during a run.
        self.kept = False
        if child:
            machine.close = self._close

    def _close(self) -> None:
        """The machine's close while the snapshot is installed: a process that has ended
        keeps its emulator and memory, to come back at the next restore."""
        if self.machine.done and self._handle is not None:
            self.kept = True
            return
        type(self.machine).close(self.machine)

    def _install_tracking(self) -> None:
        machine, mem, dirty = self.machine, self.mem, self.dirty
        #: The pages the CPU wrote, noted by the TLB fill hook (C when it can be built).
        self._written = written = Dirty()
        lib = native.library()
        if lib is not None:
            self._fill = ctypes.cast(lib.webelf_tlb_fill, ctypes.c_void_p)
        else:
            write_perms = UC_PROT_ALL
            other_perms = UC_PROT_READ | UC_PROT_EXEC
            pages = written.pages

            def fill(_uch: int, vaddr: int, access: int, entry, _user: int) -> bool:
                e = entry[0]
                e.paddr = vaddr
                if access == UC_MEM_WRITE:
                    if written.count < DIRTY_CAPACITY:
                        pages[written.count] = vaddr
                    written.count += 1
                    e.perms = write_perms
                else:
                    e.perms = other_perms
                return True

            self._fill_cfunc = _TLB_CFUNC(fill)
            self._fill = ctypes.c_void_p.from_address(ctypes.addressof(self._fill_cfunc))
        machine.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        handle = ctypes.c_size_t()
        status = _uclib.uc_hook_add(machine._uch, ctypes.byref(handle), UC_HOOK_TLB_FILL,
                                    self._fill, ctypes.c_void_p(ctypes.addressof(written)),
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            machine.uc.ctl_set_tlb_mode(UC_TLB_CPU)
            raise HarnessError(f"unicorn refused the TLB fill hook (error {status})")
        self._handle = handle
        self._flush_tlb()
        # The kernel's writes into guest memory, noted by page (instance attributes shadow
        # Memory's methods only while the snapshot is installed).
        write, zero, discard = mem.write, mem.zero, mem.discard
        note = dirty.add

        def noted(start: int, end: int) -> None:
            dirty.update(range(start & _PAGE_MASK, end, PAGE))

        def tracked_write(address: int, data: bytes) -> None:
            write(address, data)
            page = address & _PAGE_MASK
            end = address + len(data)
            if end - page <= PAGE:  # the usual write: a struct, a buffer within a page
                note(page)
            else:
                noted(address, end)

        def tracked_zero(start: int, end: int) -> None:
            zero(start, end)
            noted(start, end)

        def tracked_discard(start: int, end: int) -> None:
            discard(start, end)
            noted(start, end)

        mem.write, mem.zero, mem.discard = tracked_write, tracked_zero, tracked_discard

    def _flush_tlb(self) -> None:
        _uclib.uc_ctl(self.machine._uch, _FLUSH_TLB)

    def close(self) -> None:
        """Stop tracking: the emulator's TLB back to the CPU's own, Memory's and Machine's
        methods back; a machine kept for a process that is still ended is closed now."""
        mem, machine = self.mem, self.machine
        for name in ("write", "zero", "discard"):
            mem.__dict__.pop(name, None)
        if machine.__dict__.get("close") == self._close:
            del machine.close
        if machine._uch is not None and self._handle is not None:
            _uclib.uc_hook_del(machine._uch, self._handle)
            machine.uc.ctl_set_tlb_mode(UC_TLB_CPU)
            self._flush_tlb()
        self._handle = None
        if self.kept and machine.done:
            machine.close()
        self.kept = False

    def check(self) -> None:
        """Refuse, in one line, a process whose emulator is gone."""
        machine = self.machine
        if machine._uch is None:
            raise HarnessError("the guest was closed; its snapshot cannot be restored")
        if machine.mem is not self.mem:
            raise HarnessError(f"process {self.pid} ran execve since the snapshot (a new "
                               "program, a new emulator): the snapshot cannot be restored")

    def restore(self, forked: bool) -> None:
        """Memory, descriptor table, CPU and machine as at the snapshot.  ``forked``: the
        run forked processes, whose writes to MAP_SHARED memory nobody noted."""
        machine, mem = self.machine, self.mem
        if mem.regions != self.regions:
            self._restore_layout()
        saved, starts = self.saved, self.starts
        region_at = mem.region_at
        written = self._written
        count = written.count
        dirty = self.dirty
        if count > DIRTY_CAPACITY:  # too many to list: every page goes back
            dirty.update(page for start, end, *_ in saved for page in range(start, end, PAGE))
        else:
            dirty.update(written.pages[:count])
        written.count = 0
        for page in dirty:
            i = bisect.bisect_right(starts, page) - 1
            if i < 0:
                continue
            start, end, _, _, data = saved[i]
            if page >= end:
                continue
            r = region_at(page)
            if r is None:
                continue
            lo = page - r.start
            hi = min(lo + PAGE, r.end - r.start)
            r.view[lo:hi] = data[page - start:page - start + hi - lo]
        dirty.clear()
        if forked:
            for start, _, _, _, data in self.shared:
                region_at(start).view[:] = data
        gdt = machine.cpu.gdt
        if gdt != self.gdt:
            gdt[:] = self.gdt
        _uclib.uc_ctl(machine._uch, _FLUSH_TLB)
        _uclib.uc_context_restore(machine._uch, self.context.context)
        machine.__dict__.update(self.fields)
        self.kept = False

    def _restore_layout(self) -> None:
        """The slow path: mappings made, removed or changed since the snapshot are undone,
        each snapshot mapping that is not there as it was is mapped again with its bytes,
        and one that is there as it was but is not the snapshot's own (unmapped and mapped
        again: other memory, which no dirty page covers) gets its bytes back whole."""
        mem = self.mem
        wanted = {(s[0], s[1], s[2], s[3]): s for s in self.saved}
        for r in list(mem.regions):
            if (r.start, r.end, r.prot, r.kind) not in wanted:
                mem.unmap(r.start, r.end)
        have = {(r.start, r.end, r.prot, r.kind): r for r in mem.regions}
        own = {id(r) for r in self.regions}
        for key, (start, end, prot, kind, data) in wanted.items():
            r = have.get(key)
            if r is None:
                mem.unmap(start, end)
                mem.map(start, end - start, prot, data, kind=kind)
            elif id(r) not in own:
                r.view[:] = data
        self.regions = list(mem.regions)
        self.machine.uc.ctl_remove_cache(0, 1 << 32 if not self.machine.wide else 1 << 47)


# ---------------------------------------------------------------------- the snapshot

class Snapshot:
    """A guest, as it is now, to come back to with :meth:`restore` (see the module's doc).

    Installing it switches each process's emulator to dirty-page tracking; :meth:`close`
    switches back (the guest then runs as before, from wherever it is).  ``extras`` are
    objects of the guest's world outside its kernels that come back too (a
    :class:`harness.net.Client` the caller holds: the same object, restored)."""

    def __init__(self, guest: Guest, extras: tuple = ()) -> None:
        kernel, machine = guest.kernel, guest.machine
        tasks = kernel.tasks
        procs = [] if tasks is None else list(tasks.procs.values())
        if machine.done and all(p.status is not None for p in procs):
            raise HarnessError("the guest has ended: there is nothing to snapshot")
        if machine._uch is None:
            raise HarnessError("the guest was closed: there is nothing to snapshot")
        self.guest = guest
        self.machine = machine
        self._tasks = tasks
        # ---- every process's CPU and memory; a zombie's machine is closed already
        live = [p.machine for p in procs if p.machine is not machine and p.machine._uch is not None]
        self._procs: list[_Process] = []
        try:
            for m in [machine, *live]:
                self._procs.append(_Process(m, child=m is not machine))
        except BaseException:
            self.close()
            raise
        self._machines = {id(m) for m in [machine, *(p.machine for p in procs)]}
        self._next_pid = None if tasks is None else tasks.next_pid
        # ---- the kernels' objects and the network's, with what never changes held by
        # reference
        kernels = [kernel, *(p.kernel for p in procs)]
        pins = {id(guest)}
        for m in [machine, *(p.machine for p in procs)]:
            pins.update(id(o) for o in (m, m.mem, m.uc, m.cpu))
        for k in kernels:
            pins.update(id(o) for o in (k.table, k.socketcalls, k.abi, k.home_abi,
                                        k.mem, k.cpu, getattr(k, "tree", None)))
            if k._compat_tables is not None:
                pins.update(id(t) for t in k._compat_tables)
        try:
            self._objects = _Objects((kernel, guest.network, *kernels, tuple(extras)), pins)
        except HarnessError:
            self.close()
            raise
        self._guest_state = (guest.last_stop, guest.response_size)
        # Files of the --root tree hold host fds: the snapshot keeps its own duplicate of
        # each, and every restore hands the File a fresh duplicate (the guest may close its
        # fd during a run); files opened during a run are closed at the restore.
        files = {id(f): f for k in kernels for f in k.fds._files if _open_host_file(f)}
        self._host_fds = [(f, os.dup(f.host_fd)) for f in files.values()]
        #: Whether the guest has a --root tree, without which it opens no host file.
        self._tree = any(getattr(k, "tree", None) is not None for k in kernels)
        #: The ``extras`` given: the same objects after each restore, as they were.
        self.extras = tuple(extras)
        self.restores = 0

    @property
    def dirty(self) -> set[int]:
        """The pages of the guest's first process that the kernel wrote (copy_to_user)
        since the snapshot or the last restore."""
        return self._procs[0].dirty if self._procs else set()

    def close(self) -> None:
        """Stop tracking: each emulator's TLB back to the CPU's own, Memory's methods back;
        the machines of processes that ended and were kept for a restore are closed."""
        for _, fd in getattr(self, "_host_fds", ()):
            os.close(fd)
        self._host_fds = []
        for proc in getattr(self, "_procs", ()):
            proc.close()

    # ------------------------------------------------------------------ restoring

    def restore(self) -> None:
        """Put the guest back as it was when the snapshot was taken."""
        for proc in self._procs:
            proc.check()
        guest = self.guest
        tasks = guest.kernel.tasks
        if self._tree:  # the run's host files (the snapshot's come back as duplicates)
            for k in [guest.kernel] if tasks is None else [p.kernel for p in tasks.procs.values()]:
                for f in k.fds._files:
                    if _open_host_file(f):
                        f.close()
        forked = False
        if tasks is not None:  # processes forked during the run go with it
            mine = self._machines
            for proc in tasks.procs.values():
                if id(proc.machine) not in mine:
                    proc.machine.close()
                    forked = True
            if tasks is not self._tasks:  # the table itself was made by the run's first fork
                tasks.procs.clear()
                tasks.reporter = None
                forked = True
            elif tasks.next_pid != self._next_pid:  # and those that have gone already
                forked = True
        for proc in self._procs:
            proc.restore(forked)
        self._objects.restore()
        for f, fd in self._host_fds:
            f.host_fd, f.closed = os.dup(fd), False
        guest.last_stop, guest.response_size = self._guest_state
        self.restores += 1
