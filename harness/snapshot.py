"""Snapshot a waiting guest and put it back, fast: what a fuzzer does before each input.

:class:`Snapshot` takes a one-process guest that waits (in accept, poll or epoll_wait, as
:attr:`harness.Guest.waiting_in_accept` says) and restores it, as often as asked, to exactly
that moment: the CPU, guest memory, and the kernel's state (fd table, sockets and the whole
fake network with its clock, signals, timers, pids, brk).  It is what ``fork(2)`` gives a
forkserver natively (AFL++'s ``__afl_forkserver``), done in-process: a fork per input would
copy the address space (:meth:`harness.machine.Machine.fork` does that for the guest's own
fork and costs a new emulator each time).

How each part comes back:

- **CPU**: ``uc_context_save``/``uc_context_restore`` (unicorn 2.1: every register, segment
  bases included), plus the machine's Python-side state (the parked call, eip, exit status).
  unicorn 2.1's ``UC_CTL_CONTEXT_MEMORY`` snapshots are copy-on-write inside unicorn's own
  memory regions; guest memory here is host memory the kernel writes directly
  (``uc_mem_map_ptr``, :mod:`harness.memory`), which those snapshots would not see, so memory
  is restored here instead.
- **Memory**, only the pages that changed: the snapshot keeps a copy of every mapping, and
  while it exists the emulator's TLB runs in unicorn's virtual mode (``UC_TLB_VIRTUAL``) with a
  ``UC_HOOK_TLB_FILL`` hook that maps every page 1:1 but grants write permission only to a
  write: the first store to a page since the TLB was last flushed refills it, and the hook
  notes the page as dirty (in C, :mod:`harness.native`, when a compiler is at hand: the
  hook runs dozens of times a request).  The kernel's own writes (``copy_to_user``: what ``read`` puts in
  a buffer) are noted by :class:`harness.memory.Memory`'s write path, swapped for a noting one
  only while a snapshot is installed.  Restoring copies those pages back and flushes the TLB
  (``UC_CTL_TLB_FLUSH``).  Protection is still unicorn's: its memory regions keep their
  permissions and refuse a bad access as before.  A mapping added, removed or reprotected
  since the snapshot (mmap, munmap, brk, stack growth) is put back the slow way, whole.
- **Kernel and network**: pickled once at the snapshot and unpickled into the same Kernel
  and Network objects at each restore (one C-speed ``pickle.loads``); what does not change
  (the system call table, the machine, memory, functions) is pinned by reference
  (``persistent_id``), so only state is copied.

Files of the ``--root`` tree hold host file descriptors: the snapshot keeps a duplicate of
each (dup(2)) and hands a fresh one to every restore, and closes those the run opened.

Limits: one process (a guest that has forked is refused with a HarnessError), and fault
injection's counters (:mod:`harness.faults`) are not rewound.
"""

from __future__ import annotations

import bisect
import ctypes
import enum
import io
import mmap
import os
import pickle
import types
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

PAGE = 4096
_PAGE_MASK = ~(PAGE - 1)


class _TlbEntry(ctypes.Structure):
    """unicorn's uc_tlb_entry (include/unicorn/unicorn.h): the physical page and its perms."""

    _fields_ = (("paddr", ctypes.c_uint64), ("perms", ctypes.c_uint32))


#: bool (*)(uc_engine *, uint64_t vaddr, uc_mem_type, uc_tlb_entry *, void *): UC_HOOK_TLB_FILL.
_TLB_CFUNC = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                              ctypes.POINTER(_TlbEntry), ctypes.c_void_p)

#: The machine's Python-side state that a run changes.
_MACHINE_FIELDS = ("eip", "_parked", "_parked_compat", "_stop", "exit_status", "killed_by",
                   "_error", "_bad_access", "_fault_context", "_next_image", "_in_syscall")
#: Objects copied by reference, never by value: code and what cannot change.
_BY_REFERENCE = (types.FunctionType, types.BuiltinFunctionType, types.BuiltinMethodType,
                 types.ModuleType, type, memoryview, mmap.mmap, types.CodeType)


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, pins: dict[int, object]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.pins = pins

    def persistent_id(self, obj: object) -> int | None:
        key = id(obj)
        if key in self.pins:
            return key
        if isinstance(obj, _BY_REFERENCE) or (
                isinstance(obj, types.MethodType) and id(obj.__self__) in self.pins) or (
                isinstance(obj, ctypes._SimpleCData | ctypes.Array | ctypes.Structure
                           | enum.Enum)):
            self.pins[key] = obj
            return key
        return None


def _unpickle(blob: bytes, pins: dict[int, object]) -> object:
    """``blob`` loaded, its pinned objects looked up by the dict's own (C) method: a
    Python persistent_load would cost a call per reference, and there are dozens."""
    unpickler = pickle.Unpickler(io.BytesIO(blob))
    unpickler.persistent_load = pins.__getitem__
    return unpickler.load()


def _open_host_file(f: object) -> bool:
    """Whether ``f`` is a file of the --root tree (harness.kernel.fs.File) still open."""
    return f is not None and hasattr(f, "host_fd") and not getattr(f, "closed", True)


def _by_id(kernel) -> dict[int, object]:
    """The open files whose id() keys the kernel's tables (Epoll.items and .files,
    Network.watchers and .shared, Kernel.sock_flags): copies get new ids, so the tables
    are re-keyed after each restore (:func:`_rekey`)."""
    found: dict[int, object] = {}
    for f in kernel.fds._files:
        if f is None:
            continue
        found[id(f)] = f
        for item in getattr(f, "items", {}).values() if hasattr(f, "watchers") else ():
            found[id(item.file)] = item.file
    return found


def _rekey(kernel, network, new: dict[int, int]) -> None:
    """Every id()-keyed table with the ids of the restored copies."""
    get = new.get
    network.watchers = {get(k, k): v for k, v in network.watchers.items()}
    network.shared = {get(k, k): v for k, v in network.shared.items()}
    kernel.sock_flags = {get(k, k): v for k, v in kernel.sock_flags.items()}
    for f in kernel.fds._files:
        if f is not None and hasattr(f, "watchers") and hasattr(f, "items"):
            f.items = {(get(k[0], k[0]), k[1]): v for k, v in f.items.items()}
            f.files = {get(k, k): v for k, v in f.files.items()}
            f.watchers = network.watchers


def _layout(mem) -> list[tuple[int, int, int, str]]:
    return [(r.start, r.end, r.prot, r.kind) for r in mem.regions]


class Snapshot:
    """A guest, as it is now, to come back to with :meth:`restore` (see the module's doc).

    Installing it switches the emulator to dirty-page tracking; :meth:`close` switches back
    (the guest then runs as before, from wherever it is)."""

    def __init__(self, guest: Guest, extras: tuple = ()) -> None:
        kernel, machine = guest.kernel, guest.machine
        if kernel.tasks is not None:
            raise HarnessError("a guest of several processes cannot be snapshotted yet "
                               "(it forked)")
        if machine.done:
            raise HarnessError("the guest has ended: there is nothing to snapshot")
        self.guest = guest
        self.machine = machine
        mem = self.mem = machine.mem
        uc = machine.uc
        # ---- CPU
        self._context = uc.context_save()
        self._machine_state = {name: getattr(machine, name) for name in _MACHINE_FIELDS}
        self._guest_state = (guest.last_stop, guest.response_size)
        # ---- memory: a copy of every mapping, and dirty-page tracking from now on
        self._layout = _layout(mem)
        self._saved = [(r.start, r.end, r.prot, r.kind, bytes(r.view)) for r in mem.regions]
        self._saved_starts = [s[0] for s in self._saved]
        self.dirty: set[int] = set()
        self._handle: ctypes.c_size_t | None = None
        self._install_tracking()
        # ---- kernel and network, pickled with what never changes pinned
        network = guest.network
        self._pins: dict[int, object] = {}
        for obj in (guest, kernel, network, machine, mem, uc, machine.cpu,
                    kernel.table, kernel.socketcalls, kernel.abi, kernel.home_abi,
                    getattr(kernel, "tree", None)):
            if obj is not None:
                self._pins[id(obj)] = obj
        slots = type(network).__slots__
        state = (dict(kernel.__dict__), {name: getattr(network, name) for name in slots
                                         if hasattr(network, name)}, _by_id(kernel),
                 tuple(extras))
        buf = io.BytesIO()
        try:
            _Pickler(buf, self._pins).dump(state)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self.close()
            raise HarnessError(f"the guest's kernel state cannot be snapshotted: {exc}") from None
        self._kernel_blob = buf.getvalue()
        # Files of the --root tree hold host fds: the snapshot keeps its own duplicate of
        # each, and every restore hands the restored File a fresh duplicate (the guest may
        # close its fd during a run); files opened during a run are closed at the restore.
        self._host_fds = {id(f): os.dup(f.host_fd) for f in kernel.fds._files
                          if _open_host_file(f)}
        #: ``extras`` as they are after the last restore: objects of the guest's world
        #: outside the kernel (a :class:`harness.net.Client` the caller holds) come back
        #: as copies that share the restored network, so they are read from here.
        self.extras = tuple(extras)
        self.restores = 0

    # ------------------------------------------------------------------ dirty pages

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
        self._handle = ctypes.c_size_t()
        status = _uclib.uc_hook_add(machine._uch, ctypes.byref(self._handle), UC_HOOK_TLB_FILL,
                                    self._fill, ctypes.c_void_p(ctypes.addressof(written)),
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            machine.uc.ctl_set_tlb_mode(UC_TLB_CPU)
            raise HarnessError(f"unicorn refused the TLB fill hook (error {status})")
        self._flush_tlb()
        # The kernel's writes into guest memory, noted by page (instance attributes shadow
        # Memory's methods only while the snapshot is installed).
        write, zero, discard = mem.write, mem.zero, mem.discard

        def noted(start: int, end: int) -> None:
            dirty.update(range(start & _PAGE_MASK, end, PAGE))

        def tracked_write(address: int, data: bytes) -> None:
            write(address, data)
            noted(address, address + len(data))

        def tracked_zero(start: int, end: int) -> None:
            zero(start, end)
            noted(start, end)

        def tracked_discard(start: int, end: int) -> None:
            discard(start, end)
            noted(start, end)

        mem.write, mem.zero, mem.discard = tracked_write, tracked_zero, tracked_discard

    def _flush_tlb(self) -> None:
        self.machine.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def close(self) -> None:
        """Stop tracking: the emulator's TLB back to the CPU's own, Memory's methods back."""
        for fd in getattr(self, "_host_fds", {}).values():
            os.close(fd)
        self._host_fds = {}
        mem = self.mem
        for name in ("write", "zero", "discard"):
            mem.__dict__.pop(name, None)
        machine = self.machine
        if machine._uch is not None and self._handle is not None:
            _uclib.uc_hook_del(machine._uch, self._handle)
            self._handle = None
            machine.uc.ctl_set_tlb_mode(UC_TLB_CPU)
            self._flush_tlb()

    # ------------------------------------------------------------------ restoring

    def restore(self) -> None:
        """Put the guest back as it was when the snapshot was taken."""
        machine, mem = self.machine, self.mem
        if machine._uch is None:
            raise HarnessError("the guest was closed; its snapshot cannot be restored")
        kernels = [self.guest.kernel]
        tasks = self.guest.kernel.tasks
        if tasks is not None:  # it forked since: the children go with the run
            for proc in tasks.procs.values():
                kernels.append(proc.kernel)
                if proc.machine is not machine:
                    proc.machine.close()
        for k in kernels:  # the run's host files (the snapshot's come back as duplicates)
            for f in k.fds._files:
                if _open_host_file(f):
                    f.close()
        if _layout(mem) != self._layout:
            self._restore_layout()
        saved, starts = self._saved, self._saved_starts
        region_at = mem.region_at
        written = self._written
        count = written.count
        if count > DIRTY_CAPACITY:  # too many to list: every page goes back
            self.dirty.update(page for start, end, *_ in saved
                              for page in range(start, end, PAGE))
        else:
            self.dirty.update(written.pages[:count])
        written.count = 0
        for page in self.dirty:
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
        self.dirty.clear()
        self._flush_tlb()
        machine.uc.context_restore(self._context)
        machine.__dict__.update(self._machine_state)
        kernel_state, network_state, by_id, self.extras = _unpickle(self._kernel_blob,
                                                                    self._pins)
        kernel = self.guest.kernel
        kernel.__dict__.clear()
        kernel.__dict__.update(kernel_state)
        network = self.guest.network
        for name, value in network_state.items():
            setattr(network, name, value)
        if by_id:
            _rekey(kernel, network, {old: id(obj) for old, obj in by_id.items()})
        for old, fd in self._host_fds.items():
            f = by_id[old]
            f.host_fd, f.closed = os.dup(fd), False
        self.guest.last_stop, self.guest.response_size = self._guest_state
        self.restores += 1

    def _restore_layout(self) -> None:
        """The slow path: mappings made, removed or changed since the snapshot are undone,
        each snapshot mapping that is not there as it was is mapped again with its bytes."""
        mem = self.mem
        wanted = {(s[0], s[1], s[2], s[3]): s for s in self._saved}
        for r in list(mem.regions):
            if (r.start, r.end, r.prot, r.kind) not in wanted:
                mem.unmap(r.start, r.end)
        have = set(_layout(mem))
        for key, (start, end, prot, kind, data) in wanted.items():
            if key not in have:
                mem.unmap(start, end)
                mem.map(start, end - start, prot, data, kind=kind)
        self.machine.uc.ctl_remove_cache(0, 1 << 32 if not self.machine.wide else 1 << 47)
