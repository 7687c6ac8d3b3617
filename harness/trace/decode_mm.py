"""Decoders of the memory calls (src/mem.c): brk, mmap2, mmap, munmap, mprotect, mremap,
madvise.
"""

from __future__ import annotations

import struct

from .. import linux as L
from ..elf import PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE
from .format import (
    _HEX, _U32, _UDECIMAL, Pending, _addr, _d, _Enter, _Exit, _flag_table, _flags, _Memory, _table,
    _u, _x, _xval,
)


def _enter_brk(p: Pending, mem: _Memory) -> bool:
    p.text += _addr(p.args[0])
    return True


# --- decoders of the memory calls (mmap2, munmap, mprotect, mremap, ...) ---------------------
# strace 6.1's src/xlat/mmap_prot.in, mmap_flags.in, mremap_flags.in and madvise_cmds.in as
# they stand for i386, in their order (6.1 knows neither MAP_ABOVE4G nor MAP_DROPPABLE).
_MMAP_PROT = ((PROT_NONE, "PROT_NONE"), (PROT_READ, "PROT_READ"), (PROT_WRITE, "PROT_WRITE"),
              (PROT_EXEC, "PROT_EXEC"), *_flag_table("PROT_SEM PROT_GROWSDOWN PROT_GROWSUP"))
_MMAP_FLAGS = _flag_table(
    "MAP_SHARED MAP_PRIVATE MAP_SHARED_VALIDATE MAP_FIXED MAP_ANONYMOUS MAP_32BIT "
    "MAP_NORESERVE MAP_POPULATE MAP_NONBLOCK MAP_GROWSDOWN MAP_DENYWRITE MAP_EXECUTABLE "
    "MAP_FILE MAP_LOCKED MAP_STACK MAP_HUGETLB MAP_SYNC MAP_UNINITIALIZED MAP_FIXED_NOREPLACE")
_MMAP_TYPES = {value: name for value, name in reversed(_MMAP_FLAGS)}
_MREMAP_FLAGS = _flag_table("MREMAP_MAYMOVE MREMAP_FIXED MREMAP_DONTUNMAP")
_MADVISE_CMDS = _table(
    "MADV_NORMAL MADV_RANDOM MADV_SEQUENTIAL MADV_WILLNEED MADV_DONTNEED MADV_FREE "
    "MADV_REMOVE MADV_DONTFORK MADV_DOFORK MADV_MERGEABLE MADV_UNMERGEABLE MADV_HUGEPAGE "
    "MADV_NOHUGEPAGE MADV_DONTDUMP MADV_DODUMP MADV_WIPEONFORK MADV_KEEPONFORK MADV_COLD "
    "MADV_PAGEOUT MADV_POPULATE_READ MADV_POPULATE_WRITE MADV_DONTNEED_LOCKED MADV_COLLAPSE "
    "MADV_HWPOISON MADV_SOFT_OFFLINE")


def _mmap_flags(flags: int) -> str:
    """print_mmap_flags (src/mem.c): the MAP_TYPE value by name, then the other bits as
    flags (their unknown rest in hex, no comment), then the huge page size field."""
    text = _xval(_MMAP_TYPES, flags & L.MAP_TYPE, "MAP_???")
    flags &= ~L.MAP_TYPE
    huge_mask = L.MAP_HUGE_MASK << L.MAP_HUGE_SHIFT
    huge = flags & huge_mask
    flags &= ~huge_mask
    if flags:
        names = []
        for bit, name in _MMAP_FLAGS:
            if bit and flags & bit == bit:
                names.append(name)
                flags &= ~bit
        if flags:
            names.append(_x(flags))
        text += "|" + "|".join(names)
    if huge:
        text += f"|{huge >> L.MAP_HUGE_SHIFT}<<MAP_HUGE_SHIFT"
    return text


def _mmap_args(args: tuple[int, ...], offset: int) -> str:
    """print_mmap: addr, length, prot, flags, fd, offset (PRINT_VAL_X of 64 bits)."""
    return (f"{_addr(args[0])}, {_u(args[1])}, {_flags(_MMAP_PROT, args[2], 'PROT_???')}, "
            f"{_mmap_flags(args[3])}, {_d(args[4])}, {_x(offset)}")


def _enter_mmap2(p: Pending, mem: _Memory) -> bool:
    """mmap2 (SYS_FUNC(mmap_pgoff)): the offset argument counts pages, shown in bytes."""
    p.text += _mmap_args(p.args, (p.args[5] & _U32) * 4096)
    return True


def _enter_old_mmap(p: Pending, mem: _Memory) -> bool:
    """The old mmap (SYS_FUNC(old_mmap)): its six words read from the pointer, or the
    pointer when they cannot be read."""
    words = mem.fetch(p.args[0], 24)
    if words is None:
        p.text += _addr(p.args[0])
    else:
        args = struct.unpack("<6I", words)
        p.text += _mmap_args(args, args[5])
    return True


def _enter_munmap(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_addr(p.args[0])}, {_u(p.args[1])}"
    return True


def _enter_mprotect(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_addr(a[0])}, {_u(a[1])}, {_flags(_MMAP_PROT, a[2], 'PROT_???')}"
    return True


def _enter_mremap(p: Pending, mem: _Memory) -> bool:
    """The new address only with both MREMAP_MAYMOVE and MREMAP_FIXED."""
    a = p.args
    p.text += (f"{_addr(a[0])}, {_u(a[1])}, {_u(a[2])}, "
               f"{_flags(_MREMAP_FLAGS, a[3], 'MREMAP_???')}")
    both = L.MREMAP_MAYMOVE | L.MREMAP_FIXED
    if a[3] & both == both:
        p.text += f", {_addr(a[4])}"
    return True


def _enter_madvise(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += f"{_addr(a[0])}, {_u(a[1])}, {_xval(_MADVISE_CMDS, a[2], 'MADV_???')}"
    return True


#: The memory calls strace decodes: name -> (enter, exit, how the result prints).
DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "brk": (_enter_brk, None, _HEX),
    "mmap2": (_enter_mmap2, None, _HEX),
    "mmap": (_enter_old_mmap, None, _HEX),
    "munmap": (_enter_munmap, None, _UDECIMAL),
    "mprotect": (_enter_mprotect, None, _UDECIMAL),
    "mremap": (_enter_mremap, None, _HEX),
    "madvise": (_enter_madvise, None, _UDECIMAL),
}
