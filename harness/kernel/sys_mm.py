"""The address space: brk, mmap, munmap, mprotect, mremap, madvise (mm/mmap.c, mm/mremap.c,
mm/mprotect.c, mm/madvise.c), for a 32-bit process on a 64-bit x86 kernel with address
randomisation off (``setarch -R``), the kernel tests/test_mm.py compares against.

The address space is :attr:`harness.memory.Memory.regions`: every mapping the guest has,
ELF image, stack, brk and mmap alike, so each call sees the others as Linux's VMA tree does.

Placement (``arch_get_unmapped_area_topdown``, arch/x86/kernel/sys_x86_64.c): a compat task
uses the top-down layout.  ``mmap_base()`` (arch/x86/mm/mmap.c) is TASK_SIZE less a gap of
RLIMIT_STACK (8 MiB) + stack_guard_gap, clamped to at least 128 MiB: 0xF7FFE000.  A hint
(``addr`` without MAP_FIXED, page-rounded down, raised to mmap_min_addr) is taken if
[addr, addr + len) ends below the next mapping's start gap; otherwise ``vm_unmapped_area``
takes the highest gap below mmap_base that fits, and, failing that, the lowest one above
TASK_UNMAPPED_BASE (the bottom-up fallback).  The stack, a VM_GROWSDOWN mapping, keeps
stack_guard_gap (1 MiB) free below it.  At exec Linux maps the vDSO and its data pages
just below mmap_base; the harness gives the guest no vDSO (no AT_SYSINFO_EHDR) but reserves
the same 8 pages as a PROT_NONE hole, so that later mappings land where Linux puts them.

Exec (:func:`setup_exec`, fs/exec.c and fs/binfmt_elf.c ``load_elf_binary``), in Linux's
order: the stack VMA holds the pages of the argument strings, and ``setup_arg_pages`` adds
``stack_expand`` (128 KiB) below them, within RLIMIT_STACK: with one page of strings it is
0xFFFDD000-0xFFFFE000.  Then the PT_LOAD segments are mapped: the first with
MAP_FIXED_NOREPLACE (one that meets the stack fails the exec: Linux kills the process with
SIGSEGV, the harness refuses the file), the later ones, and the zero pages after file bytes,
with MAP_FIXED, which replaces what was there, stack pages included (a program linked at
0xFFFDC000 runs on Linux with its stack cut to 0xFFFDF000-0xFFFFE000).  Then
``create_elf_tables`` writes argc, argv, envp and the auxiliary vector below the strings,
and the vDSO goes where ``get_unmapped_area`` puts it, the highest free 8 pages below
mmap_base (below a segment linked there: at 0xF7FEF000 for a program linked at 0xF7FF8000).

Stack growth (:func:`expand_stack`, mm/mmap.c ``expand_downwards`` and
``acct_stack_growth``, as the page fault handler calls it since Linux 6.5): an access to an
unmapped address whose next mapping above is a stack (VM_GROWSDOWN: the process's stack or
a MAP_GROWSDOWN mapping) extends that mapping down to the page of the address, by the CPU
or by the kernel's own copy_from_user and copy_to_user, unless the address is below
mmap_min_addr, the mapping below is accessible, not a stack, and closer than
stack_guard_gap (256 pages), or the VMA would exceed RLIMIT_STACK (or the harness's bound on
guest memory); then the access faults: SIGSEGV with SEGV_MAPERR, or EFAULT for a system
call.  No check against esp (Linux dropped it in 4.20).

Differences, each a choice:

* mmap_min_addr is 65536 and the process unprivileged: MAP_FIXED below it fails with EPERM
  (root, with CAP_SYS_RAWIO, may map down to vm.mmap_min_addr, often 4096 or 0).
* The vDSO hole is not readable (Linux's vvar is, its vdso executable): an access faults.
* Only anonymous memory: a file descriptor gets the errno its file would (EBADF, EACCES for
  a write-only stdout, ENODEV for stdin); a TCP socket gets EPERM with PROT_WRITE or
  PROT_EXEC as tcp_mmap gives, and ENODEV instead of its read-only zerocopy mapping.
* MAP_SHARED anonymous memory is private to the one process (there is no fork).
* VMAs are approximated by runs of adjacent regions with the same protection and kind;
  Linux's merging also depends on anon_vma history, which only mremap's "cannot remap across
  areas" (EFAULT) can reveal.
* A bound on guest memory (:data:`harness.memory.MAX_GUEST_MEMORY`, 2 GiB in all) stands in
  for RLIMIT_AS: beyond it mmap, mremap and brk fail as over the limit (ENOMEM, brk keeps
  the old break), so a hostile guest cannot exhaust the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from ..elf import (
    MMAP_MIN_ADDR, PAGE_SIZE, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE,
    Image, flags_text,
)
from ..errors import ElfError
from ..memory import MAX_GUEST_MEMORY, MapFailed
from . import BadAddress
from .abi import s32
from .fs import File
from .sys_fs import file_bytes, file_mmap_check
from .sys_rlimit import INITIAL_RLIMITS

if TYPE_CHECKING:
    from ..memory import Memory, _Region
    from .process import Kernel

_PAGE_MASK = PAGE_SIZE - 1
_RWX = PROT_READ | PROT_WRITE | PROT_EXEC
_GROWS = L.PROT_GROWSDOWN | L.PROT_GROWSUP


def _page_align(x: int) -> int:
    """PAGE_ALIGN on a 64-bit kernel: a 32-bit length never wraps to 0."""
    return (x + _PAGE_MASK) & ~_PAGE_MASK


# ---------------------------------------------------------------------------- placement


def _start_gap(r: _Region) -> int:
    """vm_start_gap: a VM_GROWSDOWN mapping keeps stack_guard_gap free below it."""
    if r.kind == "stack":
        return max(r.start - L.STACK_GUARD_GAP, 0)
    return r.start


def _topdown(mem: Memory, length: int, low: int, high: int) -> int | None:
    """unmapped_area_topdown: the highest [a, a + length) in a gap within [low, high)."""
    regions = mem.regions
    upper: int | None = None  # the start gap of the mapping above the gap
    for i in range(len(regions), -1, -1):
        gap_hi = high if upper is None else min(upper, high)
        gap_lo = max(regions[i - 1].end if i else 0, low)
        if gap_hi - gap_lo >= length:
            return gap_hi - length
        if i:
            upper = _start_gap(regions[i - 1])
            if upper < low:
                return None
    return None


def _bottomup(mem: Memory, length: int, low: int, high: int) -> int | None:
    """unmapped_area: the lowest [a, a + length) in a gap within [low, high)."""
    regions = mem.regions
    for i in range(len(regions) + 1):
        gap_lo = max(regions[i - 1].end if i else 0, low)
        gap_hi = min(_start_gap(regions[i]) if i < len(regions) else high, high)
        if gap_hi - gap_lo >= length:
            return gap_lo
    return None


def get_unmapped_area(mem: Memory, addr: int, length: int, flags: int) -> int:
    """__get_unmapped_area with arch_get_unmapped_area_topdown: an address or -errno.
    The bounds are the process's (:class:`harness.memory.Memory`'s ``task_size``,
    ``mmap_base`` and ``unmapped_base``: an i386 process's on a 64-bit kernel, or an
    x86-64 process's)."""
    task_size = mem.task_size
    if length > task_size:
        return -L.ENOMEM
    if flags & L.MAP_FIXED:
        found = addr
    else:
        found = None
        if addr:
            addr &= ~_PAGE_MASK
            if task_size - length >= addr:
                above = mem.overlapping(addr, task_size)
                if not above or addr + length <= _start_gap(above[0]):
                    found = addr
        if found is None:
            found = _topdown(mem, length, MMAP_MIN_ADDR, mem.mmap_base)
        if found is None:
            found = _bottomup(mem, length, mem.unmapped_base, task_size)
        if found is None:
            return -L.ENOMEM
    if found > task_size - length:
        return -L.ENOMEM
    if found & _PAGE_MASK:
        return -L.EINVAL
    if found < MMAP_MIN_ADDR:  # security_mmap_addr, for a process without CAP_SYS_RAWIO
        return -L.EPERM
    return found


def _mapped_in(mem: Memory, start: int, end: int) -> int:
    """count_vma_pages_range, in bytes."""
    return sum(min(r.end, end) - max(r.start, start) for r in mem.overlapping(start, end))


def _may_expand(mem: Memory, more: int) -> bool:
    """may_expand_vm, with the harness's bound standing in for RLIMIT_AS."""
    return mem.mapped + more <= MAX_GUEST_MEMORY


def reserve_vdso(mem: Memory) -> None:
    """The hole where Linux maps [vvar], [vvar_vclock] and [vdso] at exec (see above):
    the highest 8 free pages below mmap_base, as ``map_vdso`` asks ``get_unmapped_area``."""
    addr = get_unmapped_area(mem, 0, L.VDSO_SIZE, 0)
    if addr < 0:
        raise ElfError("no room is left below the program's segments for the vDSO")
    mem.map(addr, L.VDSO_SIZE, PROT_NONE, kind="reserved")


# ---------------------------------------------------------------------------- the stack

#: ``stack_expand`` in setup_arg_pages (fs/exec.c): the stack VMA starts this much below
#: the pages of the argument strings.
STACK_EXPAND = 128 << 10
#: Host address space set aside below the stack for it to grow in one buffer (harness:
#: see :meth:`harness.memory.Memory.map`); growth past it still works, piece by piece.
_STACK_RESERVE = 8 << 20


def stack_rlimit(k: Kernel) -> int:
    """RLIMIT_STACK's soft limit for the process now (RLIM64_INFINITY when unlimited)."""
    limits = k.rlimits
    return (limits[L.RLIMIT_STACK] if limits is not None else
            INITIAL_RLIMITS[L.RLIMIT_STACK])[0]


def expand_stack(mem: Memory, address: int, rlimit: int) -> bool:
    """The page fault handler's ``expand_stack`` for an access to the unmapped ``address``
    (see the module docstring): True if the stack above it grew down to its page."""
    above = mem.region_after(address)
    if above is None or above.start <= address or above.kind != "stack":
        return False
    page = address & ~_PAGE_MASK
    if page < MMAP_MIN_ADDR:
        return False
    below = mem.region_before(above.start)
    if (below is not None and below.kind != "stack" and (below.access or below.kind == "reserved")
            and page - below.end < L.STACK_GUARD_GAP):
        return False  # the guard gap (vma_is_accessible: the vDSO's vvar is readable)
    vma_end = _vma(mem, above.start)[1]
    if vma_end - page > rlimit or not _may_expand(mem, above.start - page):
        return False
    try:
        mem.grow_down(above, page)
    except MapFailed:
        return False
    return True


def setup_exec(mem: Memory, image: Image, stack_prot: int, esp: int, stack: bytes,
               strings: int, rlimit: int) -> None:
    """Lay out a new process's address space as load_elf_binary does (module docstring):
    the stack (``stack``, the bytes from ``esp`` up to STACK_TOP, the argument strings from
    ``strings`` up), the program's pages, the vDSO hole.  Raises ElfError where Linux's
    exec fails (past its point of no return: the process dies of SIGSEGV)."""
    stack_top = mem.stack_top
    arg_pages = stack_top - (strings & ~_PAGE_MASK)
    grown = min(rlimit & ~_PAGE_MASK, arg_pages + STACK_EXPAND)
    start = stack_top - max(arg_pages, grown)
    size = stack_top - start
    mem.map(start, size, stack_prot, kind="stack", reserve=max(_STACK_RESERVE - size, 0))
    mem.write(strings, stack[strings - esp:])  # copy_strings, before the program is mapped
    first = image.segments[0]
    if first.filesz:  # elf_map with MAP_FIXED_NOREPLACE (only the first PT_LOAD)
        lo = first.vaddr & ~_PAGE_MASK
        hi = _page_align(first.vaddr + first.filesz)
        if mem.overlapping(lo, hi):
            raise ElfError(
                f"program header {first.index} (PT_LOAD): its pages [{lo:#x}, {hi:#x}) meet "
                f"the stack at [{start:#x}, {stack_top:#x}), which exec maps first")
    for m in image.mappings:  # MAP_FIXED: each replaces what is there
        mem.unmap(m.start, m.end)
        try:
            mem.map(m.start, m.size, m.prot, m.data)
        except MapFailed as exc:
            raise ElfError(str(exc)) from None
    tables = strings & ~0xF  # create_elf_tables writes below the (aligned) strings
    try:
        mem.write(esp, stack[:tables - esp])
    except BadAddress as exc:
        at = exc.args[0]
        owner = next((s for s in image.segments
                      if s.vaddr & ~_PAGE_MASK <= at < _page_align(s.end)), None)
        what = (f"program header {owner.index} (PT_LOAD, {flags_text(owner.flags) or 'no'} "
                f"access) lies there" if owner else "it is not mapped")
        raise ElfError(f"exec cannot write the initial stack at {at:#x}: "
                       f"{what}") from None
    reserve_vdso(mem)


# ---------------------------------------------------------------------------- mmap


def _file_mmap(k: Kernel, file: object, prot: int, flags: int) -> int:
    """do_mmap's checks for a file mapping, for the files a guest can have: stdin
    (read-only, no ->mmap), stdout and stderr (write-only) and TCP sockets."""
    from .files import StdStream

    if isinstance(file, StdStream):
        readable, writable, has_mmap = file.readable, not file.readable, False
    else:
        readable = writable = has_mmap = True
    kind = flags & L.MAP_TYPE
    if kind in (L.MAP_SHARED, L.MAP_SHARED_VALIDATE):
        if kind == L.MAP_SHARED_VALIDATE and flags & ~L.LEGACY_MAP_MASK:
            return -L.EOPNOTSUPP
        if prot & PROT_WRITE and not writable:
            return -L.EACCES
    elif kind != L.MAP_PRIVATE:
        return -L.EINVAL
    if not readable:
        return -L.EACCES
    if not has_mmap:
        return -L.ENODEV
    # tcp_mmap (net/ipv4/tcp.c): only a read-only mapping, and sockfs is noexec.
    if prot & (PROT_WRITE | PROT_EXEC):
        return -L.EPERM
    return -L.ENODEV  # the zerocopy-receive mapping is not modelled


def do_mmap(k: Kernel, addr: int, length: int, prot: int, flags: int, fd: int,
            pgoff: int) -> int:
    """ksys_mmap_pgoff and do_mmap (mm/mmap.c), anonymous memory only."""
    mem = k.mem
    file = None
    if not flags & L.MAP_ANONYMOUS:
        fd = s32(fd)
        file = k.fds.get(fd) if fd >= 0 else None
        if file is None:
            return -L.EBADF
        if flags & L.MAP_HUGETLB:
            return -L.EINVAL  # not a hugetlbfs file
    elif flags & L.MAP_HUGETLB:
        # hugetlb_file_setup: an unknown page size is EINVAL; with vm.nr_hugepages at 0
        # (no huge pages reserved) the reservation fails with ENOMEM.
        size_log = (flags >> L.MAP_HUGE_SHIFT) & L.MAP_HUGE_MASK
        return -L.ENOMEM if size_log in (0, 21, 30) else -L.EINVAL
    if length == 0:
        return -L.EINVAL
    if prot & PROT_READ and k.read_implies_exec:
        prot |= PROT_EXEC
    if flags & L.MAP_FIXED_NOREPLACE:
        flags |= L.MAP_FIXED
    if not flags & L.MAP_FIXED and addr and addr < MMAP_MIN_ADDR:
        addr = MMAP_MIN_ADDR  # round_hint_to_min
    length = _page_align(length)
    shared = file is None and flags & L.MAP_TYPE == L.MAP_SHARED
    addr = get_unmapped_area(mem, addr, length, flags | (L.MAP_SHARED if shared else 0))
    if addr < 0:
        return addr
    end = addr + length
    if flags & L.MAP_FIXED_NOREPLACE and mem.overlapping(addr, end):
        return -L.EEXIST
    if file is not None:
        if file.__class__ is not File:
            return _file_mmap(k, file, prot, flags)
        err = file_mmap_check(file, prot, flags)
        if err:
            return err
        if not _may_expand(mem, length - _mapped_in(mem, addr, end)):
            return -L.ENOMEM
        mem.unmap(addr, end)
        try:  # a private copy of the file's bytes (the tree is read-only: shared is the same)
            mem.map(addr, length, prot & _RWX, file_bytes(file, length, pgoff))
        except MapFailed:
            return -L.ENOMEM
        return addr
    map_type = flags & L.MAP_TYPE
    if map_type == L.MAP_SHARED:
        if flags & L.MAP_GROWSDOWN:
            return -L.EINVAL
        kind = "shared"
    elif map_type == L.MAP_DROPPABLE:
        if flags & L.MAP_GROWSDOWN:
            return -L.EINVAL
        kind = "anon"
    elif map_type == L.MAP_PRIVATE:
        kind = "stack" if flags & L.MAP_GROWSDOWN else "anon"
    else:
        return -L.EINVAL
    if not _may_expand(mem, length - _mapped_in(mem, addr, end)):
        return -L.ENOMEM
    mem.unmap(addr, end)  # MAP_FIXED replaces whatever was there
    try:
        mem.map(addr, length, prot & _RWX, kind=kind)
    except MapFailed:
        return -L.ENOMEM
    return addr


def sys_mmap2(k: Kernel, addr: int, length: int, prot: int, flags: int, fd: int,
              pgoff: int) -> int:
    """mmap2(2): the offset counts 4096-byte units (sys_mmap_pgoff)."""
    return do_mmap(k, addr, length, prot, flags, fd, pgoff)


def sys_mmap(k: Kernel, addr: int, length: int, prot: int, flags: int, fd: int,
             offset: int) -> int:
    """mmap(2) of an x86-64 process (arch/x86/kernel/sys_x86_64.c): six registers, the
    offset in bytes, -EINVAL unless page-aligned, then ksys_mmap_pgoff."""
    if offset & _PAGE_MASK:
        return -L.EINVAL
    return do_mmap(k, addr, length, prot, flags, fd, offset >> 12)


def sys_old_mmap(k: Kernel, args: int, *_: int) -> int:
    """The old mmap (i386 number 90, compat_sys_ia32_mmap in arch/x86/kernel/sys_ia32.c):
    one pointer to struct mmap_arg_struct {addr, len, prot, flags, fd, offset}; the offset
    is in bytes and must be page-aligned."""
    raw = k.copy_in(args, 24)
    if raw.__class__ is int:
        return raw
    addr, length, prot, flags, fd, offset = (int.from_bytes(raw[i:i + 4], "little")
                                             for i in range(0, 24, 4))
    if offset & _PAGE_MASK:
        return -L.EINVAL
    return do_mmap(k, addr, length, prot, flags, fd, offset >> 12)


# ---------------------------------------------------------------------------- munmap, brk


def sys_munmap(k: Kernel, addr: int, length: int, *_: int) -> int:
    """munmap(2), do_vmi_munmap: EINVAL for an unaligned start, a range past TASK_SIZE or
    of length 0; unmapping nothing succeeds."""
    task_size = k.mem.task_size
    if addr & _PAGE_MASK or addr > task_size or length > task_size - addr:
        return -L.EINVAL
    end = addr + _page_align(length)
    if end == addr:
        return -L.EINVAL
    k.mem.unmap(addr, end)
    return 0


def sys_brk(k: Kernel, brk: int, *_: int) -> int:
    """brk(2) as mm/mmap.c's brk: the new break if it could be set, else the current one
    (never -errno).  Growing needs the pages [old, new) free with one page to spare below
    the next mapping (its stack guard gap if it is the stack), within check_brk_limits;
    shrinking unmaps the pages given back."""
    mem = k.mem
    orig = k.brk_end
    if brk < k.brk_start:
        return orig
    newbrk, oldbrk = _page_align(brk), _page_align(orig)
    if newbrk == oldbrk:
        k.brk_end = brk
        return brk
    if brk <= orig:
        if not mem.overlapping(newbrk, oldbrk):
            return orig  # the brk area is gone (munmap): nothing to shrink
        k.brk_end = brk
        k.mapped_brk = newbrk
        mem.unmap(newbrk, oldbrk)
        return brk
    if newbrk > mem.task_size:  # check_brk_limits: get_unmapped_area(MAP_FIXED) says ENOMEM
        return orig
    above = mem.overlapping(oldbrk, newbrk + PAGE_SIZE + L.STACK_GUARD_GAP)
    if above and newbrk + PAGE_SIZE > _start_gap(above[0]):
        return orig
    if not _may_expand(mem, newbrk - oldbrk):
        return orig
    prot = PROT_READ | PROT_WRITE
    if k.read_implies_exec:
        prot |= PROT_EXEC
    try:
        mem.map(oldbrk, newbrk - oldbrk, prot, kind="brk")
    except MapFailed:
        return orig
    k.brk_end = brk
    k.mapped_brk = newbrk
    return brk


# ---------------------------------------------------------------------------- mprotect


def sys_mprotect(k: Kernel, start: int, length: int, prot: int, *_: int) -> int:
    """mprotect(2), do_mprotect_pkey (mm/mprotect.c).  EINVAL: an unaligned start, a bit
    other than PROT_READ/WRITE/EXEC/SEM (arch_validate_prot), both GROWSDOWN and GROWSUP,
    GROWSDOWN on a mapping that does not grow down, GROWSUP (x86 has no VM_GROWSUP).
    ENOMEM: a range that starts or continues in unmapped memory; the mappings before the
    hole keep their new protection, as Linux changes them one VMA at a time.  Length 0
    succeeds.  With READ_IMPLIES_EXEC, PROT_READ brings PROT_EXEC."""
    mem = k.mem
    grows = prot & _GROWS
    rier = k.read_implies_exec and prot & PROT_READ
    prot &= ~_GROWS
    if grows == _GROWS:
        return -L.EINVAL
    if start & _PAGE_MASK:
        return -L.EINVAL
    if not length:
        return 0
    end = start + _page_align(length)
    if prot & ~(_RWX | L.PROT_SEM):
        return -L.EINVAL
    regions = mem.overlapping(start, end)
    if not regions:
        return -L.ENOMEM
    first = regions[0]
    if grows & L.PROT_GROWSDOWN:
        if first.kind != "stack":
            return -L.EINVAL
        start = _vma(mem, first.start)[0]
    elif first.start > start:
        return -L.ENOMEM
    elif grows & L.PROT_GROWSUP:
        return -L.EINVAL
    if rier:
        prot |= PROT_EXEC
    prot &= _RWX
    at = start
    for r in regions:
        if r.start > at:
            return -L.ENOMEM
        hi = min(r.end, end)
        mem.protect(at, hi, prot)
        at = hi
    return -L.ENOMEM if at < end else 0


# ---------------------------------------------------------------------------- mremap


def _vma(mem: Memory, addr: int) -> tuple[int, int, int, str] | None:
    """vma_lookup: the VMA holding ``addr`` as (start, end, prot, kind), a run of adjacent
    regions alike in protection and kind (see the module docstring), or None."""
    r = mem.region_at(addr)
    if r is None:
        return None
    regions = mem.regions
    i = regions.index(r)
    lo = hi = i
    while lo > 0 and _alike(regions[lo - 1], regions[lo]):
        lo -= 1
    while hi + 1 < len(regions) and _alike(regions[hi], regions[hi + 1]):
        hi += 1
    return regions[lo].start, regions[hi].end, r.prot, r.kind


def _alike(a: _Region, b: _Region) -> bool:
    return a.end == b.start and a.prot == b.prot and a.kind == b.kind


def _vma_to_resize(mem: Memory, addr: int, old_len: int, new_len: int) -> tuple | int:
    vma = _vma(mem, addr)
    if vma is None:
        return -L.EFAULT
    if not old_len and vma[3] != "shared":
        return -L.EINVAL  # "duplicating" a private mapping makes no sense (mm/mremap.c)
    if old_len > vma[1] - addr:
        return -L.EFAULT  # across VMA boundaries
    if new_len > old_len and not _may_expand(mem, new_len - old_len):
        return -L.ENOMEM
    return vma


def _move(mem: Memory, vma: tuple, addr: int, old_len: int, new_len: int, new_addr: int,
          dontunmap: bool) -> int:
    """move_vma: the pages go to [new_addr, new_addr + new_len); the old range is unmapped
    (MREMAP_DONTUNMAP: kept, but empty, so it reads as zeros)."""
    data = mem.contents(addr, addr + old_len)
    kind = "anon" if vma[3] in ("brk", "reserved") else vma[3]
    try:
        mem.map(new_addr, new_len, vma[2], data, kind=kind)
    except MapFailed:
        return -L.ENOMEM
    if dontunmap:
        mem.discard(addr, addr + old_len)
    else:
        mem.unmap(addr, addr + old_len)
    return new_addr


def sys_mremap(k: Kernel, addr: int, old_len: int, new_len: int, flags: int,
               new_addr: int, *_: int) -> int:
    """mremap(2), mm/mremap.c: shrink in place, grow in place when the pages after the
    area are free, else move with MREMAP_MAYMOVE; MREMAP_FIXED and MREMAP_DONTUNMAP."""
    mem = k.mem
    if flags & ~(L.MREMAP_MAYMOVE | L.MREMAP_FIXED | L.MREMAP_DONTUNMAP):
        return -L.EINVAL
    if flags & L.MREMAP_FIXED and not flags & L.MREMAP_MAYMOVE:
        return -L.EINVAL
    if flags & L.MREMAP_DONTUNMAP and (not flags & L.MREMAP_MAYMOVE or old_len != new_len):
        return -L.EINVAL
    if addr & _PAGE_MASK:
        return -L.EINVAL
    old_len, new_len = _page_align(old_len), _page_align(new_len)
    if not new_len:
        return -L.EINVAL
    if mem.region_at(addr) is None:
        return -L.EFAULT
    if flags & (L.MREMAP_FIXED | L.MREMAP_DONTUNMAP):
        return _mremap_to(mem, addr, old_len, new_addr, new_len, flags)
    if old_len >= new_len:
        if old_len > new_len:
            mem.unmap(addr + new_len, addr + old_len)
        return addr
    vma = _vma_to_resize(mem, addr, old_len, new_len)
    if vma.__class__ is int:
        return vma
    if old_len == vma[1] - addr:  # vma_expandable
        end = vma[1] + new_len - old_len
        if not mem.overlapping(vma[1], end) and vma[0] + (end - vma[0]) <= mem.task_size:
            try:
                mem.map(vma[1], end - vma[1], vma[2], kind=vma[3])
            except MapFailed:
                return -L.ENOMEM
            return addr
    if not flags & L.MREMAP_MAYMOVE:
        return -L.ENOMEM
    shared = L.MAP_SHARED if vma[3] == "shared" else 0
    target = get_unmapped_area(mem, 0, new_len, shared)
    if target < 0:
        return target
    return _move(mem, vma, addr, old_len, new_len, target, False)


def _mremap_to(mem: Memory, addr: int, old_len: int, new_addr: int, new_len: int,
               flags: int) -> int:
    if new_addr & _PAGE_MASK:
        return -L.EINVAL
    if new_len > mem.task_size or new_addr > mem.task_size - new_len:
        return -L.EINVAL
    if addr + old_len > new_addr and new_addr + new_len > addr:
        return -L.EINVAL  # the old and new ranges overlap
    if flags & L.MREMAP_FIXED:
        mem.unmap(new_addr, new_addr + new_len)
    if old_len > new_len:
        mem.unmap(addr + new_len, addr + old_len)
        old_len = new_len
    vma = _vma_to_resize(mem, addr, old_len, new_len)
    if vma.__class__ is int:
        return vma
    dontunmap = bool(flags & L.MREMAP_DONTUNMAP)
    if dontunmap and not _may_expand(mem, old_len):
        return -L.ENOMEM
    map_flags = (L.MAP_FIXED if flags & L.MREMAP_FIXED else 0) | (
        L.MAP_SHARED if vma[3] == "shared" else 0)
    target = get_unmapped_area(mem, new_addr, new_len, map_flags)
    if target < 0:
        return target
    return _move(mem, vma, addr, old_len, new_len, target, dontunmap)


# ---------------------------------------------------------------------------- madvise

#: madvise_behavior_valid (mm/madvise.c) on an x86-64 kernel with KSM and THP and without
#: CONFIG_MEMORY_FAILURE (MADV_HWPOISON and MADV_SOFT_OFFLINE are EINVAL, as on the test
#: machine); the guard pages of Linux 6.13 (MADV_GUARD_INSTALL/REMOVE) are not modelled and
#: refused as older kernels refuse them.
_ADVICE = frozenset({
    L.MADV_NORMAL, L.MADV_RANDOM, L.MADV_SEQUENTIAL, L.MADV_WILLNEED, L.MADV_DONTNEED,
    L.MADV_FREE, L.MADV_REMOVE, L.MADV_DONTFORK, L.MADV_DOFORK, L.MADV_MERGEABLE,
    L.MADV_UNMERGEABLE, L.MADV_HUGEPAGE, L.MADV_NOHUGEPAGE, L.MADV_DONTDUMP, L.MADV_DODUMP,
    L.MADV_WIPEONFORK, L.MADV_KEEPONFORK, L.MADV_COLD, L.MADV_PAGEOUT, L.MADV_POPULATE_READ,
    L.MADV_POPULATE_WRITE, L.MADV_DONTNEED_LOCKED, L.MADV_COLLAPSE})


def sys_madvise(k: Kernel, start: int, length: int, advice: int, *_: int) -> int:
    """madvise(2), do_madvise: EINVAL for an unknown advice or an unaligned start; length 0
    succeeds; a range with unmapped pages gets ENOMEM after the advice is applied to the
    mapped ones.  MADV_DONTNEED (and _LOCKED) zero private anonymous pages; MADV_REMOVE
    zeroes shared ones and refuses private ones, MADV_FREE and MADV_WIPEONFORK refuse
    shared ones (EINVAL); MADV_POPULATE_* fail with EFAULT on pages they may not touch;
    MADV_COLLAPSE fails with EINVAL (a 32-bit task's memory gets no huge pages here).  The
    rest are hints the harness takes and ignores, as Linux may."""
    mem = k.mem
    if advice not in _ADVICE:
        return -L.EINVAL
    if start & _PAGE_MASK:
        return -L.EINVAL
    end = start + _page_align(length)
    if end == start:
        return 0
    at, hole = start, False
    for r in mem.overlapping(start, end):
        if r.start > at:
            hole = True
        lo, hi = max(r.start, start), min(r.end, end)
        shared = r.kind == "shared"
        if advice == L.MADV_COLLAPSE:
            return -L.EINVAL
        if advice in (L.MADV_DONTNEED, L.MADV_DONTNEED_LOCKED):
            mem.discard(lo, hi)
        elif advice == L.MADV_REMOVE:
            if not shared:
                return -L.EINVAL
            mem.zero(lo, hi)
        elif advice in (L.MADV_FREE, L.MADV_WIPEONFORK, L.MADV_KEEPONFORK) and shared:
            return -L.EINVAL
        elif advice == L.MADV_POPULATE_READ and not r.access & PROT_READ:
            return -L.EFAULT
        elif advice == L.MADV_POPULATE_WRITE and not r.access & PROT_WRITE:
            return -L.EFAULT
        at = hi
    return -L.ENOMEM if hole or at < end else 0
