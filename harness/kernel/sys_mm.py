"""The address space: brk (mm/mmap.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..elf import PROT_EXEC, PROT_READ, PROT_WRITE

if TYPE_CHECKING:
    from .process import Kernel


def sys_brk(k: Kernel, address: int, *_: int) -> int:
    """brk(2): the new break if it could be set, else the current one (never -errno)."""
    if address < k.brk_start or address > k.brk_start + (1 << 30):
        return k.brk_end
    page_end = (address + 0xFFF) & ~0xFFF
    if page_end > k.mapped_brk:
        prot = PROT_READ | PROT_WRITE
        if k.read_implies_exec:
            prot |= PROT_EXEC
        k.mem.map(k.mapped_brk, page_end - k.mapped_brk, prot)
        k.mapped_brk = page_end
    k.brk_end = address
    return address
