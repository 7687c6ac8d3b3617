"""Load a static x86-64 Linux ELF (ELFCLASS64) as binfmt_elf does on an x86-64 kernel.

:func:`harness.elf.load` hands every ELFCLASS64 file here; the checks after the header, the
page layout and the initial stack are :mod:`harness.elf`'s, shared with i386.  What differs,
each from fs/binfmt_elf.c ``load_elf_binary`` unless marked:

1.  the header is ``Elf64_Ehdr`` (64 bytes) and each program header ``Elf64_Phdr`` (56 bytes,
    ``p_flags`` second);
2.  ``elf_check_arch`` (arch/x86/include/asm/elf.h) accepts only EM_X86_64;
3.  ``e_type`` may be ET_EXEC or ET_DYN.  An ET_DYN with PT_INTERP is a dynamically linked
    program (refused, as for i386); one without is a static-pie, which Linux loads with
    ``load_bias = 0`` and no MAP_FIXED: ``get_unmapped_area`` puts its whole extent
    (``total_mapping_size``) at the top of the mmap area, so with randomisation off it ends
    at mmap_base, 0x7ffff7fff000 (arch/x86/mm/mmap.c: TASK_SIZE less the 128 MiB minimum
    gap).  A p_align above the page size rounds the address down to it, as
    ``vm_unmapped_area``'s align_mask does (*harness*: the kernel's large-alignment path
    maps first, then aligns; the result is the same for a free address space);
4.  a static-pie's brk starts at ELF_ET_DYN_BASE (``DEFAULT_MAP_WINDOW / 3 * 2``, page
    aligned: 0x555555555000), where Linux 6.10 and later move it "out of the mmap region"
    even with randomisation off; an ET_EXEC's brk is the page-aligned end of its highest
    segment, as for i386;
5.  no READ_IMPLIES_EXEC: a 64-bit program without PT_GNU_STACK gets a non-executable stack
    and data (``elf_read_implies_exec`` is ``mmap_is_ia32() && exec_stk == EXSTACK_DEFAULT``
    since Linux 5.8);
6.  user space ends at TASK_SIZE_MAX, ``(1 << 47) - PAGE_SIZE`` (4-level paging).
"""

from __future__ import annotations

import struct

from . import linux64 as L64
from .elf import (
    _MACHINE_NAMES,
    _TYPE_REFUSALS,
    EM_386,
    EM_486,
    ET_DYN,
    ET_EXEC,
    PAGE_SIZE,
    PT_LOAD,
    STACK_TOP_64,
    Image,
    build_image,
    check_ident,
    read_phdrs,
)
from .errors import ElfError

EM_X86_64 = 62
EHDR64_SIZE = 64  # sizeof(Elf64_Ehdr)
PHDR64_SIZE = 56  # sizeof(Elf64_Phdr)
TASK_SIZE_64 = STACK_TOP_64

_EHDR64 = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR64 = struct.Struct("<IIQQQQQQ")


def _phdr64(raw: tuple[int, ...]) -> tuple[int, ...]:
    """Elf64_Phdr (type, flags, offset, vaddr, paddr, filesz, memsz, align) in Elf32_Phdr's
    order, as :func:`harness.elf.read_phdrs` hands them on."""
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = raw
    return p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align


def _page_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def static_pie_bias(phdrs: list[tuple[int, ...]]) -> int:
    """Where Linux puts a static-pie (item 3 above): the load bias."""
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    if not loads:
        raise ElfError("no PT_LOAD segment: nothing to map")
    first = loads[0][2] & ~(PAGE_SIZE - 1)
    total = _page_align(loads[-1][2] + loads[-1][5]) - first  # total_mapping_size
    if total > L64.MMAP_BASE_64:
        raise ElfError(f"the PT_LOAD segments span {total:#x} bytes: no room below "
                       f"mmap_base {L64.MMAP_BASE_64:#x}")
    align = max([PAGE_SIZE] + [p[7] for p in loads if p[7] & (p[7] - 1) == 0])
    addr = (L64.MMAP_BASE_64 - total) & ~(align - 1)
    return addr - first


def load64(data: bytes) -> Image:
    """Validate ``data`` as a static x86-64 executable (ET_EXEC or static-pie) and lay it
    out, or raise ElfError."""
    size = len(data)
    if size < EHDR64_SIZE:
        raise ElfError(f"truncated ELF header: the file has {size} bytes, an ELF64 header "
                       f"needs {EHDR64_SIZE}")
    (ident, e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags, _ehsize,
     e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx) = _EHDR64.unpack_from(data)
    check_ident(ident, "x86-64")
    if e_type not in (ET_EXEC, ET_DYN):
        refusal = _TYPE_REFUSALS.get(e_type, f"unknown file type e_type={e_type:#x}")
        raise ElfError(refusal)
    if e_machine != EM_X86_64:
        name = {EM_386: "EM_386", EM_486: "EM_486"}.get(e_machine) or _MACHINE_NAMES.get(
            e_machine, "machine")
        raise ElfError(f"{name} ({e_machine}) in e_machine of an ELFCLASS64 file: only "
                       "EM_X86_64 (x86-64) 64-bit programs can run")
    phdrs = read_phdrs(data, e_phoff, e_phentsize, e_phnum, PHDR64_SIZE, "Elf64_Phdr",
                       _PHDR64, _phdr64)
    bias, brk = 0, None
    if e_type == ET_DYN:  # no PT_INTERP (read_phdrs refused it): a static-pie
        bias = static_pie_bias(phdrs)
        brk = _page_align(L64.ELF_ET_DYN_BASE_64)
    return build_image(data, phdrs, e_entry=e_entry, e_phoff=e_phoff, e_phnum=e_phnum,
                       e_phentsize=e_phentsize, e_machine=e_machine, task_size=TASK_SIZE_64,
                       arch="x86_64", load_bias=bias, brk=brk)
