"""The ELF writer: an ELF32 (i386) or ELF64 (x86-64) executable with no section headers and
W^X segments.  Both classes share one layout; only the header formats, the machine and the
traditional base address differ (System V ABI, chapter 4; its i386 and AMD64 supplements).

The file is laid out for the kernel's loader (fs/binfmt_elf.c, ``load_elf_binary``) and
nothing else, so it carries only what the loader reads:

====================  =========  =====================================================
program header        flags      what it maps
====================  =========  =====================================================
PT_LOAD #1            R X        the ELF header, the program headers and the code
PT_LOAD #2            R W        data (responses, the socket address, messages), then
                                 bss: p_memsz > p_filesz, buffers cost no file bytes
PT_GNU_STACK          R W        a non-executable stack
====================  =========  =====================================================

No segment is both writable and executable.  PT_GNU_STACK is not optional for that: an
i386 program without it runs with READ_IMPLIES_EXEC (arch/x86/include/asm/elf.h,
``elf_read_implies_exec``), which makes every readable mapping executable.

Data and bss share one writable segment, as .data and .bss do in any linked program: the
loader zeroes the rest of the last file page of a segment whose memsz exceeds its filesz
(``padzero`` in fs/binfmt_elf.c), which needs that page writable.  A separate read-only
data segment would cost one more program header (32 bytes) for no protection the
program needs: nothing in it writes through a computed pointer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .x86 import Assembler, Label

# <elf.h> names, as the ELF specification (System V ABI, chapter 4) spells them.
ELFMAG = b"\x7fELF"
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
EV_CURRENT = 1
ELFOSABI_SYSV = 0
ET_EXEC = 2
EM_386 = 3
EM_X86_64 = 62
PT_LOAD = 1
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

PAGE_SIZE = 0x1000
#: Where i386 executables traditionally start (the System V i386 ABI's text base).
DEFAULT_BASE = 0x08048000
#: Where x86-64 executables traditionally start (GNU ld's default for -static, non-PIE).
DEFAULT_BASE64 = 0x400000
_NUM_PHDRS = 3


@dataclass(frozen=True)
class _ElfClass:
    """What differs between ELF32 and ELF64: the header formats (Elf32_Ehdr/Elf64_Ehdr and
    the program headers, whose p_flags moves to second place in ELF64) and the machine."""

    elfclass: int
    machine: int
    base: int
    ehdr: struct.Struct
    phdr: struct.Struct

    def pack_phdr(self, p_type: int, offset: int, vaddr: int, filesz: int, memsz: int,
                  flags: int, align: int) -> bytes:
        if self.elfclass == ELFCLASS32:
            return self.phdr.pack(p_type, offset, vaddr, vaddr, filesz, memsz, flags, align)
        return self.phdr.pack(p_type, flags, offset, vaddr, vaddr, filesz, memsz, align)


_CLASSES = {
    32: _ElfClass(ELFCLASS32, EM_386, DEFAULT_BASE,
                  struct.Struct("<16sHHIIIIIHHHHHH"), struct.Struct("<IIIIIIII")),
    64: _ElfClass(ELFCLASS64, EM_X86_64, DEFAULT_BASE64,
                  struct.Struct("<16sHHIQQQIHHHHHH"), struct.Struct("<IIQQQQQQ")),
}
EHDR_SIZE = _CLASSES[32].ehdr.size  # 52; 64 for ELF64
PHDR_SIZE = _CLASSES[32].phdr.size  # 32; 56 for ELF64


@dataclass(frozen=True)
class Layout:
    """Where each part lands, in the file and in memory."""

    text_offset: int
    text_vaddr: int
    text_size: int
    data_offset: int
    data_vaddr: int
    data_size: int
    bss_size: int
    bits: int = 32

    @property
    def file_size(self) -> int:
        return self.data_offset + self.data_size

    @property
    def bss_vaddr(self) -> int:
        return (self.data_vaddr + self.data_size + 15) & ~15

    @property
    def memsz(self) -> int:
        """The data segment's size in memory: data, padding to 16, bss."""
        return self.bss_vaddr + self.bss_size - self.data_vaddr

    @property
    def bases(self) -> dict[str, int]:
        return {"text": self.text_vaddr, "data": self.data_vaddr, "bss": self.bss_vaddr}


def plan(text_size: int, data_size: int, bss_size: int, base: int | None = None,
         bits: int = 32) -> Layout:
    """Choose offsets and addresses: code right after the headers; data right after the
    code in the file but on the next page in memory, so that the code's page and the
    data's page have different permissions (p_offset and p_vaddr stay congruent modulo
    the page size, which the loader's mmap needs); bss right after the data.  ``bits``
    chooses ELF32 (i386) or ELF64 (x86-64), and the default base with it."""
    cls = _CLASSES[bits]
    base = cls.base if base is None else base
    text_offset = cls.ehdr.size + _NUM_PHDRS * cls.phdr.size
    data_offset = text_offset + text_size
    data_vaddr = (base + data_offset) // PAGE_SIZE * PAGE_SIZE + PAGE_SIZE + data_offset % PAGE_SIZE
    return Layout(text_offset, base + text_offset, text_size, data_offset, data_vaddr,
                  data_size, bss_size, bits)


def write(layout: Layout, text: bytes, data: bytes, entry: int) -> bytes:
    """The whole file: ELF header, three program headers, code, data."""
    assert len(text) == layout.text_size and len(data) == layout.data_size
    cls = _CLASSES[layout.bits]
    base = layout.text_vaddr - layout.text_offset
    ident = ELFMAG + bytes([cls.elfclass, ELFDATA2LSB, EV_CURRENT, ELFOSABI_SYSV]) + bytes(8)
    ehdr = cls.ehdr.pack(
        ident, ET_EXEC, cls.machine, EV_CURRENT, entry,
        cls.ehdr.size,  # e_phoff: the program headers follow the ELF header
        0,  # e_shoff: no section headers; the loader never reads them
        0,  # e_flags
        cls.ehdr.size, cls.phdr.size, _NUM_PHDRS,
        0, 0, 0,  # e_shentsize, e_shnum, e_shstrndx (SHN_UNDEF)
    )
    text_end = layout.text_offset + layout.text_size
    phdrs = b"".join([
        cls.pack_phdr(PT_LOAD, 0, base, text_end, text_end, PF_R | PF_X, PAGE_SIZE),
        cls.pack_phdr(PT_LOAD, layout.data_offset, layout.data_vaddr, layout.data_size,
                      layout.memsz, PF_R | PF_W, PAGE_SIZE),
        cls.pack_phdr(PT_GNU_STACK, 0, 0, 0, 0, PF_R | PF_W, 16),
    ])
    return ehdr + phdrs + text + data


def link(asm: Assembler, entry: Label, base: int | None = None) -> bytes:
    """Lay out an assembled program and return the executable's bytes: ELF32 for
    ``Assembler()``, ELF64 for ``Assembler(bits=64)``."""
    layout = plan(asm.text_size, asm.data_section.size, asm.bss.size, base, asm.bits)
    text, data = asm.link(layout.bases)
    return write(layout, text, data, asm.address_of(entry, layout.bases))
