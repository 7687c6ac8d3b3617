"""Guest memory as host buffers, shared with unicorn (``uc_mem_map_ptr``).

The kernel reads and writes guest memory here as Python buffers, without a call into the
emulator, with Linux's rules for bad pointers: copy_from_user and copy_to_user fail with
EFAULT on an address that is unmapped or, for a write, not writable (a PROT_NONE page is
neither readable nor writable).

Each mapping is host memory the harness owns: an anonymous ``mmap.mmap`` (lazily committed
by the host's kernel), handed to unicorn with ``uc_mem_map_ptr``.  A partial munmap or
mprotect splits a region: unicorn splits its own region in place (the pieces keep pointing
into the same host buffer), and :attr:`Memory.regions` gets the same pieces, each a slice of
that buffer.  A buffer lives as long as one piece of it does; pages unmapped from its middle
are given back to the host with ``madvise(MADV_DONTNEED)``.

The stack grows down on demand (harness.kernel.sys_mm.expand_stack decides, as Linux's
page fault handler does): from the CPU through the machine's UC_HOOK_MEM_INVALID hook, which
maps the pages and has unicorn retry the access, and from the kernel's copy_from_user and
copy_to_user here (:attr:`Memory.grow`).  The stack's host buffer has room set aside below it
(``reserve``), so a grown stack stays one region, here and in unicorn, whose cost of mapping
grows with its number of regions.  An error of the host's mmap or of unicorn becomes
:class:`MapFailed` (the kernel answers ENOMEM) or a one-line HarnessError, never a UcError.

Protections, as tested against unicorn 2.1.4 (tests/test_mm.py): with guest memory mapped
this way and the machine's UC_HOOK_MEM_INVALID hook installed, unicorn refuses a write to a
read-only page, any access to a PROT_NONE page and a fetch from a non-executable page, also
after ``uc_mem_protect`` changes a page the guest already touched (it flushes its TLB).  The
one thing it keeps is code it already translated: a page that loses PROT_EXEC would still
run its old translation blocks, so :meth:`Memory.protect` drops them (``uc_ctl_remove_cache``)
whenever execute permission is taken away or executable contents are thrown away.

x86 has no write-only or execute-only pages: PROT_WRITE and PROT_EXEC imply PROT_READ in the
page tables (``protection_map``, arch/x86/mm/pgprot.c), so unicorn gets read permission
with either, and so does copy_from_user here.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
from dataclasses import dataclass

from collections.abc import Callable

from unicorn import Uc, UcError

from . import elf as elfmod
from .errors import HarnessError
from .kernel import BadAddress
from .linux import MMAP_BASE as _I386_MMAP_BASE
from .linux import TASK_UNMAPPED_BASE as _I386_UNMAPPED_BASE

_R, _W, _X = elfmod.PROT_READ, elfmod.PROT_WRITE, elfmod.PROT_EXEC
#: Whether the host can give pieces of a buffer back with madvise (4 KiB host pages).
_HOST_MADVISE = hasattr(mmap.mmap, "madvise") and mmap.PAGESIZE == elfmod.PAGE_SIZE
#: The most guest memory one process may have mapped at once, image, stack, brk and mmap
#: together: the harness's stand-in for RLIMIT_AS, so a hostile guest cannot exhaust the
#: host.  Mappings are committed lazily by the host, so only touched pages cost memory.
MAX_GUEST_MEMORY = 2 << 30
#: Host address space set aside below a stack's new buffer when it grows past its first
#: one (:meth:`Memory.grow_down`): committed only where the guest touches it.
_GROW_RESERVE = 8 << 20


class MapFailed(HarnessError):
    """Host memory for a guest mapping could not be had (the host's mmap failed, or unicorn
    refused the range).  The kernel answers the guest's call as Linux does when memory runs
    out (ENOMEM; brk keeps the old break); at exec it is a refusal to load."""


def effective_prot(prot: int) -> int:
    """What the page tables allow for ``prot`` on x86: write or exec implies read."""
    prot &= _R | _W | _X
    return prot | _R if prot & (_W | _X) else prot


@dataclass(eq=False)
class _Region:
    """One piece of guest memory: [start, end) at ``offset`` into the host buffer ``buf``.

    ``prot`` is what the guest asked for (PROT_* bits), ``access`` what the page tables
    allow (:func:`effective_prot`).  ``kind`` says what Linux's VMA would be: "anon",
    "shared" (anonymous MAP_SHARED), "stack" (VM_GROWSDOWN), "image", "brk" or "reserved".
    """

    start: int
    end: int
    prot: int
    buf: mmap.mmap
    view: memoryview
    offset: int = 0
    kind: str = "anon"
    access: int = 0

    def __post_init__(self) -> None:
        self.access = effective_prot(self.prot)

    def piece(self, start: int, end: int) -> _Region:
        """The part [start, end) of this region, over the same host memory."""
        lo, hi = start - self.start, end - self.start
        return _Region(start, end, self.prot, self.buf, self.view[lo:hi], self.offset + lo,
                       self.kind)


class Memory:
    """Guest memory as host buffers: what a system call reads or writes, with Linux's
    rules for bad pointers (copy_from_user/copy_to_user fail with EFAULT on an address
    that is unmapped or, for writes, not writable), and the regions an address space is
    made of (``regions``, sorted by address and never overlapping)."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self.regions: list[_Region] = []
        self._starts: list[int] = []
        #: Bytes of guest memory mapped now (the sum of the regions' sizes).
        self.mapped = 0
        #: ``grow(address) -> bool``: make an unmapped ``address`` just below a stack
        #: mapping valid by growing the stack down (harness.kernel.sys_mm.expand_stack),
        #: as Linux's page fault handler does; set by the machine.  Kernel accesses
        #: (copy_from_user, copy_to_user) call it here, the CPU's through the machine.
        self.grow: Callable[[int], bool] | None = None
        #: The process's address space bounds (harness.kernel.sys_mm): an i386 process's on
        #: a 64-bit kernel unless the machine says otherwise (:meth:`set_layout`).
        self.task_size, self.stack_top = elfmod.TASK_SIZE, elfmod.STACK_TOP
        self.mmap_base, self.unmapped_base = _I386_MMAP_BASE, _I386_UNMAPPED_BASE

    def set_layout(self, task_size: int, stack_top: int, mmap_base: int,
                   unmapped_base: int) -> None:
        """The bounds of another architecture's address space (an x86-64 process's)."""
        self.task_size, self.stack_top = task_size, stack_top
        self.mmap_base, self.unmapped_base = mmap_base, unmapped_base

    # ------------------------------------------------------------------ the address space

    def _index(self) -> None:
        self.regions.sort(key=lambda r: r.start)
        self._starts = [r.start for r in self.regions]

    def map(self, start: int, size: int, prot: int, data: bytes = b"", *,
            kind: str = "anon", reserve: int = 0) -> None:
        """New zeroed memory at [start, start + size), which must be free, page-aligned.

        ``reserve`` bytes of host address space are set aside below it (not mapped for the
        guest, and not committed by the host until used), so that :meth:`grow_down` can
        extend the mapping downwards in the same host buffer: a stack growing page by page
        stays one region.  Raises :class:`MapFailed` when the host or unicorn refuses."""
        try:
            buf = mmap.mmap(-1, reserve + size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except (OSError, ValueError, OverflowError) as exc:
            raise MapFailed(f"cannot map {size:#x} bytes of guest memory at {start:#x}: "
                            f"the host refused ({exc})") from None
        view = memoryview(buf)[reserve:]
        if data:
            view[:len(data)] = data
        region = _Region(start, start + size, prot, buf, view, reserve, kind)
        try:
            self._uc_map(region)
        except MapFailed:
            view.release()
            raise
        self.regions.append(region)
        self.mapped += size
        self._index()

    def copy_from(self, parent: Memory) -> None:
        """fork's copy of ``parent``'s address space into this empty one (dup_mmap): each
        host buffer is copied (only the bytes its regions use: the rest stays uncommitted),
        except MAP_SHARED anonymous memory, which both processes then map."""
        self.set_layout(parent.task_size, parent.stack_top, parent.mmap_base,
                        parent.unmapped_base)
        copies: dict[int, mmap.mmap] = {}
        for r in parent.regions:
            size = r.end - r.start
            if r.kind == "shared":
                buf = r.buf
            else:
                buf = copies.get(id(r.buf))
                if buf is None:
                    buf = copies[id(r.buf)] = mmap.mmap(
                        -1, len(r.buf), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
                buf[r.offset:r.offset + size] = r.view
            region = _Region(r.start, r.end, r.prot, buf,
                             memoryview(buf)[r.offset:r.offset + size], r.offset, r.kind)
            self._uc_map(region)
            self.regions.append(region)
            self.mapped += size
        self._index()

    def _uc_map(self, r: _Region) -> None:
        """Hand [r.start, r.end) of r's host buffer to unicorn."""
        address = ctypes.addressof(ctypes.c_char.from_buffer(r.buf)) + r.offset
        try:
            self._uc.mem_map_ptr(r.start, r.end - r.start, r.access, address)
        except UcError as exc:
            raise MapFailed(f"cannot map guest memory at [{r.start:#x}, {r.end:#x}): "
                            f"unicorn refused ({exc})") from None

    def grow_down(self, r: _Region, start: int) -> None:
        """Extend the region ``r`` down to ``start`` (the pages [start, r.start) must be
        free), with r's protection and kind: stack growth.

        In r's host buffer when it has room below (see ``reserve`` in :meth:`map`): the
        region is handed to unicorn again, whole, so that a stack grown page by page stays
        one region there too (unicorn's cost of mapping grows with its number of regions,
        and steeply once code has run).  Else the new pages start a new buffer."""
        size = r.start - start
        if r.offset < size:  # a new buffer, with room below for the growth to come
            self.map(start, size, r.prot, kind=r.kind, reserve=_GROW_RESERVE)
            return
        lo = r.offset - size
        grown = _Region(start, r.end, r.prot, r.buf,
                        memoryview(r.buf)[lo:r.offset + r.end - r.start], lo, r.kind)
        if not _HOST_MADVISE:  # pages given back earlier may still hold their old bytes
            grown.view[:size] = bytes(size)
        _unicorn(self._uc.mem_unmap, r.start, r.end - r.start)
        try:
            self._uc_map(grown)
        except MapFailed:
            self._uc_map(r)
            raise
        self.regions[self.regions.index(r)] = grown
        self.mapped += size
        self._index()

    def overlapping(self, start: int, end: int) -> list[_Region]:
        """The regions that meet [start, end), in address order."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        found = []
        for r in self.regions[i:]:
            if r.start >= end:
                break
            if r.end > start:
                found.append(r)
        return found

    def _split(self, start: int, end: int, change) -> bool:
        """Cut every region meeting [start, end) at start and end, and hand each inner
        piece to ``change`` (which returns the piece to keep, or None).  True if an inner
        piece was executable (its translated code must go)."""
        had_exec = False
        kept: list[_Region] = []
        for r in self.overlapping(start, end):
            self.regions.remove(r)
            lo, hi = max(r.start, start), min(r.end, end)
            if r.start < lo:
                kept.append(r.piece(r.start, lo))
            inner = r.piece(lo, hi)
            had_exec |= bool(r.access & _X)
            inner = change(inner)
            if inner is not None:
                kept.append(inner)
            if hi < r.end:
                kept.append(r.piece(hi, r.end))
        self.regions.extend(kept)
        self._index()
        return had_exec

    def unmap(self, start: int, end: int) -> None:
        """Remove [start, end) from the address space; unmapped parts are left alone."""
        def drop(piece: _Region) -> None:
            _unicorn(self._uc.mem_unmap, piece.start, piece.end - piece.start)
            self.mapped -= piece.end - piece.start
            _host_free(piece)
            piece.view.release()
            return None

        self._split(start, end, drop)

    def protect(self, start: int, end: int, prot: int) -> None:
        """Change the protection of every mapped page in [start, end)."""
        old_exec = False

        def change(piece: _Region) -> _Region:
            nonlocal old_exec
            old_exec |= bool(piece.access & _X)
            piece.prot = prot
            piece.access = effective_prot(prot)
            _unicorn(self._uc.mem_protect, piece.start, piece.end - piece.start, piece.access)
            return piece

        self._split(start, end, change)
        if old_exec and not effective_prot(prot) & _X:
            self._uc.ctl_remove_cache(start, end)

    def discard(self, start: int, end: int) -> None:
        """MADV_DONTNEED on private memory: the pages read as zero from now on."""
        executable = False
        for r in self.overlapping(start, end):
            if r.kind == "shared":
                continue  # shmem keeps its pages: DONTNEED only drops the page tables
            lo, hi = max(r.start, start), min(r.end, end)
            piece = r.piece(lo, hi)
            if not _host_free(piece):
                piece.view[:] = bytes(hi - lo)
            piece.view.release()
            executable |= bool(r.access & _X)
        if executable:
            self._uc.ctl_remove_cache(start, end)

    def zero(self, start: int, end: int) -> None:
        """Zero every mapped byte in [start, end), whatever its protection."""
        for r in self.overlapping(start, end):
            lo, hi = max(r.start, start) - r.start, min(r.end, end) - r.start
            r.view[lo:hi] = bytes(hi - lo)

    def contents(self, start: int, end: int) -> bytes:
        """The bytes of [start, end), whatever their protection (unmapped reads as zero)."""
        out = bytearray(end - start)
        for r in self.overlapping(start, end):
            lo, hi = max(r.start, start), min(r.end, end)
            out[lo - start:hi - start] = r.view[lo - r.start:hi - r.start]
        return bytes(out)

    def region_after(self, address: int) -> _Region | None:
        """The lowest region that ends above ``address`` (find_vma): the one holding it, or
        the next one up."""
        i = max(bisect.bisect_right(self._starts, address) - 1, 0)
        for r in self.regions[i:i + 2]:
            if r.end > address:
                return r
        return None

    def region_before(self, address: int) -> _Region | None:
        """The highest region that starts below ``address``."""
        i = bisect.bisect_left(self._starts, address) - 1
        return self.regions[i] if i >= 0 else None

    def region_at(self, address: int) -> _Region | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            r = self.regions[i]
            if address < r.end:
                return r
        return None

    # ------------------------------------------------------------------ reading and writing

    def _find(self, address: int, size: int, need: int) -> tuple[_Region, int]:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            r = self.regions[i]
            if address + size <= r.end and r.access & need:
                return r, address - r.start
        raise BadAddress(address)

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; a range crossing into another region is followed."""
        if size <= 0:
            return b""
        try:
            r, off = self._find(address, size, _R)
            return r.view[off:off + size].tobytes()
        except BadAddress:
            return b"".join(self._pieces(address, size, _R, None))

    def write(self, address: int, data: bytes) -> None:
        size = len(data)
        if size == 0:
            return
        try:
            r, off = self._find(address, size, _W)
            r.view[off:off + size] = data
        except BadAddress:
            for _ in self._pieces(address, size, _W, data):
                pass

    def _pieces(self, address: int, size: int, need: int, data: bytes | None):
        """The slow path: an access spanning adjacent regions, or a bad one."""
        done = 0
        while done < size:
            at = address + done
            r = self.region_at(at)
            if r is None and self.grow is not None and self.grow(at):
                continue  # the stack grew down to it: the page fault handler's retry
            if r is None or not r.access & need:
                raise BadAddress(at)
            n = min(size - done, r.end - at)
            off = at - r.start
            if data is None:
                yield r.view[off:off + n].tobytes()
            else:
                r.view[off:off + n] = data[done:done + n]
            done += n

    def readable(self, address: int, size: int = 1) -> bool:
        try:
            self.read(address, size)
            return True
        except BadAddress:
            return False

    def fetch(self, address: int, size: int = 16) -> bytes:
        """Instruction bytes for messages: as many of ``size`` as are mapped, maybe none."""
        r = self.region_at(address)
        if r is None:
            return b""
        off = address - r.start
        return r.view[off:min(off + size, r.end - r.start)].tobytes()

    def close(self) -> None:
        for r in self.regions:
            r.view.release()
        self.regions.clear()
        self._starts.clear()
        self.mapped = 0


def _unicorn(call, start: int, size: int, *args: int) -> None:
    """mem_unmap or mem_protect of pages the address space says are mapped: unicorn has
    them too, so a refusal is the harness's own inconsistency, reported in one line."""
    try:
        call(start, size, *args)
    except UcError as exc:
        raise HarnessError(f"unicorn refused {call.__name__} of [{start:#x}, "
                           f"{start + size:#x}): {exc}") from None


def _host_free(piece: _Region) -> bool:
    """Give a piece's host pages back (they read as zero afterwards); False if the host
    cannot, and the caller must zero them itself if it needs zeros."""
    if not _HOST_MADVISE:
        return False
    try:
        piece.buf.madvise(mmap.MADV_DONTNEED, piece.offset, piece.end - piece.start)
    except (OSError, ValueError):
        return False
    return True
