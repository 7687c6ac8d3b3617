"""Load a static i386 Linux ELF as Linux's binfmt_elf would, and build its initial stack.

Pure Python over ``struct``: no unicorn, no pyelftools.  ``load(data)`` returns an
:class:`Image` (entry point, segments, the final page mappings with their bytes, what the
auxiliary vector needs) or raises :class:`~harness.errors.ElfError` with one precise line.
``build_initial_stack`` lays out argc, argv, envp and the auxiliary vector byte for byte as
``create_elf_tables`` does for a 32-bit process.

What is checked, in this order (fs/binfmt_elf.c ``load_elf_binary`` unless marked *harness*):

1.  the file holds the ``\\x7fELF`` magic and a whole 52-byte ELF32 header;
2.  ``e_ident``: ELFCLASS32, ELFDATA2LSB, EV_CURRENT.  *Stricter than Linux*, whose i386
    ``elf_check_arch`` reads only ``e_machine``; a file that lies about its class or byte
    order is refused rather than misread;
3.  ``e_type`` is ET_EXEC.  ET_DYN (shared objects, static-pie) is refused: the kernel
    would pick a load bias and the program would relocate itself, which the harness does
    not model;
4.  ``e_machine`` is EM_386, or EM_486, which ``elf_check_arch_ia32`` also accepts;
5.  ``e_phentsize`` is 32 and ``e_phnum`` between 1 and 128: ``load_elf_phdrs`` refuses a
    table of 0 bytes or of more than ELF_MIN_ALIGN (4096) bytes;
6.  the program header table lies inside the file (``elf_read`` would come up short);
7.  no PT_INTERP: a dynamically linked ELF needs ld.so and a C library the harness lacks;
8.  PT_GNU_STACK decides the stack's PF_X, and its absence READ_IMPLIES_EXEC (below);
9.  each PT_LOAD, in table order: p_filesz <= p_memsz, and the segment inside user space
    (``BAD_ADDR``, ``TASK_SIZE - p_memsz < p_vaddr``); for a segment with file bytes,
    those bytes inside the file (*harness*: Linux maps past the end and the access raises
    SIGBUS) and p_offset congruent to p_vaddr modulo the page size (``elf_map`` passes
    ``p_offset - ELF_PAGEOFFSET(p_vaddr)`` to mmap, which needs a page-aligned offset; p_align
    plays no part for ET_EXEC); no page below vm.mmap_min_addr (mmap fails with EPERM);
10. *harness*: at least one PT_LOAD, at most 1 GiB of mapped memory, and an entry point
    inside a PT_LOAD segment on an executable page.  Linux only requires
    ``e_entry < TASK_SIZE`` and lets a bad entry point fault with SIGSEGV.

Linux performs steps 9 after the point of no return (``begin_new_exec``): there a bad
segment kills the new process with SIGSEGV instead of failing execve.  The harness
reports every refusal the same way, as an ElfError.

Choices, each what a 64-bit x86 kernel does for a 32-bit process (the kernel the
differential tests run on):

* TASK_SIZE is 0xFFFFE000 (``IA32_PAGE_OFFSET``); a native 32-bit kernel with the usual
  3G/1G split stops at 0xC0000000.  STACK_TOP is the same address: the top of the stack
  with address randomisation off (``setarch -R``).
* MMAP_MIN_ADDR is 65536, the vm.mmap_min_addr that Debian, Ubuntu and Fedora ship (the
  kernel's own default is 4096, and root may go lower), so page 0 stays unmapped and a NULL
  dereference faults.
* brk starts at the page-aligned end of the highest segment, as ``mm->brk`` is set before
  ``arch_randomize_brk`` moves it; the harness does not randomise.

How pages are mapped (``elf_load``, Linux 6.7 and later): each PT_LOAD with file bytes is
mmapped from ``PAGESTART(p_vaddr)`` to ``PAGEALIGN(p_vaddr + p_filesz)``, whole pages of the
file, so the bytes around the segment on those pages are the file's neighbouring bytes.
When p_memsz > p_filesz, ``padzero`` clears the rest of the last file page, which only
succeeds on a writable segment (on a read-only one the file bytes stay), and the pages
after it up to ``PAGEALIGN(p_vaddr + p_memsz)`` are anonymous zero pages mapped by
``vm_brk_flags``: read-write whatever the segment's flags, executable if the segment is.
Segments are mapped in table order with MAP_FIXED, so where two share a page the later
one replaces the whole page, permissions and contents.

READ_IMPLIES_EXEC: an i386 ELF without PT_GNU_STACK gets the READ_IMPLIES_EXEC personality
(arch/x86/include/asm/elf.h ``elf_read_implies_exec``), so mmap adds PROT_EXEC to every
readable mapping and brk pages are executable.  The mappings returned here already apply
it; ``Image.read_implies_exec`` records it for mappings the guest makes later.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ElfError

# --- <elf.h> names (System V ABI, "Object Files"; Linux include/uapi/linux/elf.h) -------------

EI_NIDENT = 16
EI_MAG0, EI_CLASS, EI_DATA, EI_VERSION, EI_OSABI = 0, 4, 5, 6, 7
ELFMAG = b"\x7fELF"
SELFMAG = 4

ELFCLASSNONE, ELFCLASS32, ELFCLASS64 = 0, 1, 2
ELFDATANONE, ELFDATA2LSB, ELFDATA2MSB = 0, 1, 2
EV_NONE, EV_CURRENT = 0, 1

ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4

EM_386 = 3
EM_486 = 6
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243

PT_NULL = 0
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_SHLIB = 5
PT_PHDR = 6
PT_TLS = 7
PT_GNU_EH_FRAME = 0x6474E550
PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552
PT_GNU_PROPERTY = 0x6474E553

PF_X, PF_W, PF_R = 1, 2, 4

# <sys/mman.h>; unicorn's UC_PROT_READ/WRITE/EXEC have the same values.
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4

# <linux/auxvec.h>, <asm/auxvec.h>
AT_NULL = 0
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_RSEQ_FEATURE_SIZE = 27
AT_RSEQ_ALIGN = 28
AT_EXECFN = 31
AT_SYSINFO = 32
AT_SYSINFO_EHDR = 33
AT_MINSIGSTKSZ = 51

EHDR_SIZE = 52  # sizeof(Elf32_Ehdr)
PHDR_SIZE = 32  # sizeof(Elf32_Phdr)

# --- Linux's numbers for a 32-bit process ---------------------------------------------------

PAGE_SIZE = 4096  # ELF_EXEC_PAGESIZE and ELF_MIN_ALIGN on x86
TASK_SIZE = 0xFFFFE000
STACK_TOP = TASK_SIZE
MMAP_MIN_ADDR = 0x10000
MAX_PHNUM = PAGE_SIZE // PHDR_SIZE
#: The top of an x86-64 process's stack with randomisation off: STACK_TOP = TASK_SIZE_LOW,
#: ``(1 << 47) - PAGE_SIZE`` with 4-level paging (arch/x86/include/asm/processor.h).
STACK_TOP_64 = (1 << 47) - PAGE_SIZE
CLOCKS_PER_SEC = 100  # USER_HZ, what AT_CLKTCK reports
#: CPUID leaf 1 EDX of a common x86-64 CPU (what AT_HWCAP carries on x86).
DEFAULT_HWCAP = 0x178BFBFF
#: ``bprm->p = vma->vm_end - sizeof(void *)`` (fs/exec.c): 8 on the 64-bit kernel.
STACK_END_GAP = 8
MAX_ARG_STRLEN = 32 * PAGE_SIZE
#: The kernel's limit on argument and environment bytes: a quarter of the 8 MiB RLIMIT_STACK.
MAX_ARG_BYTES = 8 * 1024 * 1024 // 4

# --- harness limits -------------------------------------------------------------------------

MAX_MAPPED_BYTES = 1 << 30

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
_PHDR = struct.Struct("<8I")

_CLASS_NAMES = {ELFCLASSNONE: "ELFCLASSNONE", ELFCLASS64: "ELFCLASS64 (64-bit)"}
_DATA_NAMES = {ELFDATANONE: "ELFDATANONE", ELFDATA2MSB: "ELFDATA2MSB (big-endian)"}
_TYPE_REFUSALS = {
    ET_NONE: "file type ET_NONE: not an executable",
    ET_REL: "relocatable object (ET_REL): link it into an executable first",
    ET_DYN: "shared object or position-independent executable (ET_DYN): only ET_EXEC "
    "programs can run; link with -static -no-pie",
    ET_CORE: "core dump (ET_CORE): not an executable",
}
_MACHINE_NAMES = {
    EM_ARM: "EM_ARM",
    EM_X86_64: "EM_X86_64",
    EM_AARCH64: "EM_AARCH64",
    EM_RISCV: "EM_RISCV",
}


def _page_start(x: int) -> int:
    return x & ~(PAGE_SIZE - 1)


def _page_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def flags_text(flags: int) -> str:
    """``PF_*`` bits as readelf prints them: ``R E``, ``RW``, ``RWE``."""
    return (
        ("R" if flags & PF_R else " ")
        + ("W" if flags & PF_W else " ")
        + ("E" if flags & PF_X else " ")
    ).rstrip()


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD program header and the p_filesz bytes of the file it describes."""

    index: int  # position in the program header table, as readelf counts
    vaddr: int
    memsz: int
    filesz: int
    offset: int
    align: int
    flags: int  # PF_R | PF_W | PF_X
    data: bytes

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def readable(self) -> bool:
        return bool(self.flags & PF_R)

    @property
    def writable(self) -> bool:
        return bool(self.flags & PF_W)

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)


@dataclass(frozen=True)
class Mapping:
    """Pages to map: ``[start, end)`` with ``prot`` (PROT_*), ``data`` at start, zeros after.

    ``prot`` is what the guest may do: PROT_READ is added to writable pages because x86 page
    tables cannot express write-only.  Execute-only stays execute-only (what Linux gives on
    CPUs with protection keys).
    """

    start: int
    end: int
    prot: int
    data: bytes

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Image:
    """Everything the emulator needs from a loaded ELF, and the auxiliary vector's inputs."""

    entry: int
    segments: tuple[Segment, ...]
    mappings: tuple[Mapping, ...]
    phdr: int  # AT_PHDR: where the program headers are in memory, 0 if not mapped
    phnum: int
    phent: int
    stack_executable: bool
    read_implies_exec: bool
    brk: int
    machine: int = EM_386
    #: ``"i386"`` or ``"x86_64"``: which CPU mode, system call table and layouts it runs with.
    arch: str = "i386"
    #: The offset an ET_DYN (static-pie) image was loaded at; 0 for ET_EXEC.
    load_bias: int = 0

    @property
    def word(self) -> int:
        """sizeof(long) and of a pointer in the program's ABI."""
        return 8 if self.arch == "x86_64" else 4


def load(data: bytes | bytearray | memoryview) -> Image:
    """Validate ``data`` as a static i386 or x86-64 executable and lay it out in memory, or
    raise ElfError.  ELFCLASS64 files go to :func:`harness.elf64.load64`."""
    data = bytes(data)
    size = len(data)

    if data[:SELFMAG] != ELFMAG[: min(size, SELFMAG)]:
        raise ElfError(f"not an ELF file: it starts with {data[:SELFMAG]!r}, not {ELFMAG!r}")
    if size > EI_CLASS and data[EI_CLASS] == ELFCLASS64:
        from .elf64 import load64

        return load64(data)
    if size < EHDR_SIZE:
        raise ElfError(
            f"truncated ELF header: the file has {size} bytes, an ELF32 header needs {EHDR_SIZE}"
        )
    (ident, e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags, _ehsize,
     e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack_from(data)

    if ident[EI_CLASS] != ELFCLASS32:
        name = _CLASS_NAMES.get(ident[EI_CLASS], f"unknown class {ident[EI_CLASS]}")
        raise ElfError(f"{name} in e_ident[EI_CLASS]: only ELFCLASS32 (32-bit) and "
                       "ELFCLASS64 (64-bit) programs can run")
    check_ident(ident, "i386")
    if e_type != ET_EXEC:
        refusal = _TYPE_REFUSALS.get(e_type, f"unknown file type e_type={e_type:#x}")
        raise ElfError(refusal)
    if e_machine not in (EM_386, EM_486):
        name = _MACHINE_NAMES.get(e_machine, "machine")
        raise ElfError(f"{name} ({e_machine}) in e_machine: only EM_386 (i386) programs can run")
    phdrs = read_phdrs(data, e_phoff, e_phentsize, e_phnum, PHDR_SIZE, "Elf32_Phdr", _PHDR,
                       _phdr32)
    return build_image(data, phdrs, e_entry=e_entry, e_phoff=e_phoff, e_phnum=e_phnum,
                       e_phentsize=e_phentsize, e_machine=e_machine, task_size=TASK_SIZE,
                       arch="i386")


def check_ident(ident: bytes, arch: str) -> None:
    """e_ident's byte order and version (*stricter than Linux*, see the module docstring)."""
    if ident[EI_DATA] != ELFDATA2LSB:
        name = _DATA_NAMES.get(ident[EI_DATA], f"unknown byte order {ident[EI_DATA]}")
        raise ElfError(
            f"{name} in e_ident[EI_DATA]: {arch} programs are little-endian (ELFDATA2LSB)"
        )
    if ident[EI_VERSION] != EV_CURRENT:
        raise ElfError(
            f"ELF version {ident[EI_VERSION]} in e_ident[EI_VERSION]: only EV_CURRENT (1) exists"
        )


def _phdr32(raw: tuple[int, ...]) -> tuple[int, ...]:
    return raw  # Elf32_Phdr: type, offset, vaddr, paddr, filesz, memsz, flags, align


def read_phdrs(data: bytes, e_phoff: int, e_phentsize: int, e_phnum: int, phdr_size: int,
               phdr_name: str, fmt: struct.Struct, order) -> list[tuple[int, ...]]:
    """load_elf_phdrs: the program header table as (type, offset, vaddr, paddr, filesz,
    memsz, flags, align) tuples, Elf32_Phdr's order whatever the class."""
    if e_phentsize != phdr_size:
        raise ElfError(f"e_phentsize is {e_phentsize}, not {phdr_size} (sizeof({phdr_name}))")
    if e_phnum == 0:
        raise ElfError("no program headers (e_phnum 0): nothing to load")
    if e_phnum > PAGE_SIZE // phdr_size:
        raise ElfError(
            f"e_phnum {e_phnum}: Linux reads at most {PAGE_SIZE // phdr_size} program headers "
            f"({PAGE_SIZE} bytes)"
        )
    table_end = e_phoff + e_phnum * phdr_size
    if table_end > len(data):
        raise ElfError(
            f"truncated program header table: {e_phnum} headers at offset {e_phoff:#x} "
            f"end at {table_end:#x}, the file has {len(data):#x} bytes"
        )
    phdrs = [order(fmt.unpack_from(data, e_phoff + i * phdr_size)) for i in range(e_phnum)]
    for p_type, p_offset, _v, _p, p_filesz, _m, _f, _a in phdrs:
        if p_type == PT_INTERP:
            path = data[p_offset : p_offset + min(p_filesz, 256)].split(b"\0")[0]
            raise ElfError(
                f"dynamically linked (has PT_INTERP {path.decode('ascii', 'replace')!r}): "
                "only static ELFs can run"
            )
    return phdrs


def build_image(data: bytes, phdrs: Sequence[tuple[int, ...]], *, e_entry: int, e_phoff: int,
                e_phnum: int, e_phentsize: int, e_machine: int, task_size: int, arch: str,
                load_bias: int = 0, brk: int | None = None) -> Image:
    """Steps 8-10 of the module docstring for either class: the segments (their addresses
    moved by ``load_bias``), the pages to map, the entry point's checks."""
    size = len(data)
    stack_flags: int | None = None  # the kernel's loop lets the last PT_GNU_STACK decide
    for p_type, _o, _v, _p, _fs, _m, p_flags, _a in phdrs:
        if p_type == PT_GNU_STACK:
            stack_flags = p_flags
    # elf_read_implies_exec: i386 without PT_GNU_STACK; never on x86-64 (Linux 5.8 and
    # later: ``mmap_is_ia32() && exec_stk == EXSTACK_DEFAULT``).
    read_implies_exec = stack_flags is None and arch == "i386"
    stack_executable = (stack_flags is None and arch == "i386") or bool(
        stack_flags is not None and stack_flags & PF_X)

    segments = []
    phdr_addr = 0
    for index, (p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_flags, p_align) in \
            enumerate(phdrs):
        if p_type != PT_LOAD:
            continue
        p_vaddr += load_bias
        where = f"program header {index} (PT_LOAD)"
        if p_filesz > p_memsz:
            raise ElfError(f"{where}: p_filesz {p_filesz:#x} is larger than p_memsz {p_memsz:#x}")
        if p_vaddr >= task_size or p_vaddr + p_memsz > task_size:
            raise ElfError(
                f"{where}: [{p_vaddr:#x}, {p_vaddr + p_memsz:#x}) reaches past the end of "
                f"user space at {task_size:#x}"
            )
        if p_filesz:
            if p_offset + p_filesz > size:
                raise ElfError(
                    f"{where}: its file bytes [{p_offset:#x}, {p_offset + p_filesz:#x}) run "
                    f"past the end of the file ({size:#x} bytes)"
                )
            if (p_offset - p_vaddr) % PAGE_SIZE:
                raise ElfError(
                    f"{where}: p_offset {p_offset:#x} and p_vaddr {p_vaddr:#x} differ modulo "
                    f"the page size {PAGE_SIZE:#x}, so mmap cannot map it"
                )
        if p_memsz and _page_start(p_vaddr) < MMAP_MIN_ADDR:
            raise ElfError(
                f"{where}: maps the page at {_page_start(p_vaddr):#x}, below "
                f"vm.mmap_min_addr {MMAP_MIN_ADDR:#x}"
            )
        if p_offset <= e_phoff < p_offset + p_filesz:
            phdr_addr = e_phoff - p_offset + p_vaddr
        segments.append(Segment(
            index=index, vaddr=p_vaddr, memsz=p_memsz, filesz=p_filesz, offset=p_offset,
            align=p_align, flags=p_flags & (PF_R | PF_W | PF_X),
            data=data[p_offset : p_offset + p_filesz] if p_filesz else b"",
        ))

    if not segments:
        raise ElfError("no PT_LOAD segment: nothing to map")

    pieces = _layout(segments, read_implies_exec)
    mapped = sum(end - start for start, end, _prot, _kind, _seg in pieces)
    if mapped > MAX_MAPPED_BYTES:
        raise ElfError(
            f"the PT_LOAD segments need {mapped:#x} bytes of memory; the harness maps at most "
            f"{MAX_MAPPED_BYTES:#x} (1 GiB)"
        )
    entry = e_entry + load_bias
    _check_entry(entry, segments, pieces)

    return Image(
        entry=entry,
        segments=tuple(segments),
        mappings=_materialize(pieces, data),
        phdr=phdr_addr,
        phnum=e_phnum,
        phent=e_phentsize,
        stack_executable=stack_executable,
        read_implies_exec=read_implies_exec,
        brk=brk if brk is not None else _page_align(max(s.end for s in segments)),
        machine=e_machine,
        arch=arch,
        load_bias=load_bias,
    )


def page_ranges(image: Image) -> tuple[Mapping, ...]:
    """The pages to map, sorted and disjoint, each with its permissions and initial bytes.

    Overlaps are already resolved (the later segment owns a shared page) and neighbours with
    the same permissions are merged, so each entry is one ``mem_map`` and one ``mem_write``.
    """
    return image.mappings


# A piece is (start, end, prot, kind, segment): kind "file" for pages mmapped from the file,
# "anon" for the zero pages vm_brk_flags adds after them.
_Piece = tuple[int, int, int, str, Segment]


def _layout(segments: Sequence[Segment], read_implies_exec: bool) -> list[_Piece]:
    pieces: list[_Piece] = []
    for seg in segments:
        file_prot = (
            (PROT_READ if seg.readable else 0)
            | (PROT_WRITE if seg.writable else 0)
            | (PROT_EXEC if seg.executable else 0)
        )
        if read_implies_exec and file_prot & PROT_READ:
            file_prot |= PROT_EXEC
        anon_prot = PROT_READ | PROT_WRITE
        if seg.executable or read_implies_exec:
            anon_prot |= PROT_EXEC
        if seg.filesz:
            file_end = _page_align(seg.vaddr + seg.filesz)
            pieces = _overlay(pieces, (_page_start(seg.vaddr), file_end, file_prot, "file", seg))
            anon_start = file_end
        else:
            anon_start = _page_start(seg.vaddr)
        anon_end = _page_align(seg.vaddr + seg.memsz)
        if seg.memsz > seg.filesz and anon_end > anon_start:
            pieces = _overlay(pieces, (anon_start, anon_end, anon_prot, "anon", seg))
    return pieces


def _overlay(pieces: list[_Piece], new: _Piece) -> list[_Piece]:
    """MAP_FIXED: ``new`` replaces whatever was mapped on its pages."""
    start, end = new[0], new[1]
    out: list[_Piece] = []
    for piece in pieces:
        if piece[1] <= start or piece[0] >= end:
            out.append(piece)
            continue
        if piece[0] < start:
            out.append((piece[0], start) + piece[2:])
        if piece[1] > end:
            out.append((end, piece[1]) + piece[2:])
    out.append(new)
    out.sort(key=lambda p: p[0])
    return out


def _check_entry(entry: int, segments: Sequence[Segment], pieces: Sequence[_Piece]) -> None:
    owner = next((s for s in reversed(segments) if s.vaddr <= entry < s.end), None)
    if owner is None:
        raise ElfError(f"entry point {entry:#x} is outside every PT_LOAD segment")
    prot = next((p[2] for p in pieces if p[0] <= entry < p[1]), PROT_NONE)
    if not prot & PROT_EXEC:
        raise ElfError(
            f"entry point {entry:#x} is on a page that is not executable (program header "
            f"{owner.index}, flags {flags_text(owner.flags) or 'none'})"
        )


def _materialize(pieces: Sequence[_Piece], data: bytes) -> tuple[Mapping, ...]:
    out: list[Mapping] = []
    for start, end, prot, kind, seg in pieces:
        if prot & PROT_WRITE:
            prot |= PROT_READ
        if kind == "file":
            first = seg.offset - seg.vaddr + start
            chunk = bytearray(data[first : first + (end - start)])
            chunk.extend(bytes(end - start - len(chunk)))
            zero_from = seg.vaddr + seg.filesz
            if seg.memsz > seg.filesz and seg.writable and zero_from < end:
                lo = max(zero_from, start) - start
                chunk[lo:] = bytes(len(chunk) - lo)
            content = bytes(chunk)
        else:
            content = b""
        prev = out[-1] if out else None
        if prev and prev.end == start and prev.prot == prot:
            # Merge only when no zero-filled gap has to be spelled out in bytes: a large
            # bss followed by file pages stays two mappings.
            if not content:
                out[-1] = Mapping(prev.start, end, prot, prev.data)
                continue
            if len(prev.data) == prev.size:
                out[-1] = Mapping(prev.start, end, prot, prev.data + content)
                continue
        out.append(Mapping(start, end, prot, content))
    return tuple(out)


def _cstring(value: str | bytes, what: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if b"\0" in raw:
        raise ValueError(f"{what} {value!r} contains a NUL byte")
    raw += b"\0"
    if len(raw) > MAX_ARG_STRLEN:
        raise ValueError(f"{what} is {len(raw)} bytes; execve allows {MAX_ARG_STRLEN} (E2BIG)")
    return raw


def arg_strings_start(stack_top: int, argv: Sequence[str | bytes], envp: Sequence[str | bytes],
                      execfn: str | bytes) -> int:
    """``bprm->p`` after execve copied its strings: the address of argv[0]'s first byte,
    the lowest byte of the stack that exec writes before it maps the program
    (``copy_string_kernel`` and ``copy_strings``, fs/exec.c).  The pages from there up to
    ``stack_top`` are what ``setup_arg_pages`` finds in the stack VMA."""
    args = [_cstring(a, "argument") for a in argv] or [b"\0"]
    envs = [_cstring(e, "environment string") for e in envp]
    return (stack_top - STACK_END_GAP - len(_cstring(execfn, "execfn"))
            - sum(map(len, envs)) - sum(map(len, args)))


def build_initial_stack(
    image: Image,
    stack_top: int,
    argv: Sequence[str | bytes],
    envp: Sequence[str | bytes],
    random16: bytes,
    execfn: str | bytes,
    *,
    uid: int = 0,
    gid: int = 0,
    hwcap: int = DEFAULT_HWCAP,
    hwcap2: int | None = None,
    platform: str | bytes | None = None,
    arch_auxv: Sequence[tuple[int, int]] = (),
    extra_auxv: Sequence[tuple[int, int]] = (),
) -> tuple[int, bytes]:
    """The process stack as Linux leaves it at the first instruction: ``(esp, bytes)``,
    with ``image.word``-sized words (4 for i386, 8 for x86-64: ``elf_addr_t``).

    ``bytes`` goes at ``esp`` and runs up to ``stack_top`` (a page boundary: the end of the
    stack mapping).  From the top down, as fs/exec.c and ``create_elf_tables`` build it:

    * 8 zero bytes (``bprm->p = vm_end - sizeof(void *)`` on a 64-bit kernel);
    * the ``execfn`` string (``bprm->filename``, the path given to execve: AT_EXECFN);
    * the envp strings, then below them the argv strings, each list in its own order;
    * alignment to 16 bytes (``arch_align_stack`` without randomisation);
    * the AT_PLATFORM string, then the 16 AT_RANDOM bytes;
    * argc, argv[], NULL, envp[], NULL, then the auxiliary vector, placed so that ``esp``,
      where argc sits, is 16-byte aligned (``STACK_ROUND``).

    An empty ``argv`` becomes ``[""]``, as Linux 5.18 and later do.  The auxiliary vector
    holds, in the kernel's order: ``arch_auxv`` (ARCH_DLINFO's place: a real kernel puts
    AT_SYSINFO and AT_SYSINFO_EHDR for the vDSO and AT_MINSIGSTKSZ there; the harness has no
    vDSO and delivers no signals, so it is empty by default), AT_HWCAP, AT_PAGESZ, AT_CLKTCK,
    AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE (0: no interpreter), AT_FLAGS (0), AT_ENTRY, AT_UID,
    AT_EUID, AT_GID, AT_EGID, AT_SECURE (0), AT_RANDOM, AT_HWCAP2 when given, AT_EXECFN,
    AT_PLATFORM, ``extra_auxv`` (a kernel with rseq adds AT_RSEQ_FEATURE_SIZE and
    AT_RSEQ_ALIGN here), AT_NULL.  Passing what a real kernel passed reproduces its stack
    byte for byte.
    """
    word = image.word
    if platform is None:  # ELF_PLATFORM: utsname()->machine on x86-64, "i686" for ia32
        platform = "x86_64" if word == 8 else "i686"
    top = STACK_TOP_64 if word == 8 else TASK_SIZE
    if stack_top % PAGE_SIZE or not PAGE_SIZE <= stack_top <= top:
        raise ValueError(f"stack_top {stack_top:#x} must be a page boundary within user space")
    if len(random16) != 16:
        raise ValueError(f"random16 must be 16 bytes, not {len(random16)}")
    args = [_cstring(a, "argument") for a in argv] or [b"\0"]
    envs = [_cstring(e, "environment string") for e in envp]
    filename = _cstring(execfn, "execfn")
    platform_c = _cstring(platform, "platform")
    pointers = (len(args) + len(envs)) * word
    total = sum(map(len, args)) + sum(map(len, envs)) + len(filename) + pointers
    if total > MAX_ARG_BYTES:
        raise ValueError(f"arguments and environment take {total} bytes; execve allows "
                         f"{MAX_ARG_BYTES} (E2BIG)")

    p = stack_top - STACK_END_GAP
    p -= len(filename)
    execfn_addr = p
    strings_end = p
    p -= sum(map(len, envs)) + sum(map(len, args))
    strings_start = p
    string_addrs = []
    addr = strings_start
    for s in args + envs:
        string_addrs.append(addr)
        addr += len(s)
    arg_addrs, env_addrs = string_addrs[: len(args)], string_addrs[len(args):]

    p &= ~0xF
    p -= len(platform_c)
    platform_addr = p
    p -= 16
    random_addr = p

    auxv: list[tuple[int, int]] = list(arch_auxv)
    auxv += [
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCKS_PER_SEC),
        (AT_PHDR, image.phdr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, uid),
        (AT_EUID, uid),
        (AT_GID, gid),
        (AT_EGID, gid),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
    ]
    if hwcap2 is not None:
        auxv.append((AT_HWCAP2, hwcap2))
    auxv += [(AT_EXECFN, execfn_addr), (AT_PLATFORM, platform_addr)]
    auxv += list(extra_auxv)
    auxv.append((AT_NULL, 0))

    words = [len(args), *arg_addrs, 0, *env_addrs, 0]
    for key, value in auxv:
        words += [key, value]
    esp = (random_addr - word * len(words)) & ~0xF

    stack = bytearray(stack_top - esp)
    mask = (1 << 8 * word) - 1
    struct.pack_into(f"<{len(words)}{'Q' if word == 8 else 'I'}", stack, 0,
                     *(w & mask for w in words))
    stack[random_addr - esp : random_addr - esp + 16] = random16
    stack[platform_addr - esp : platform_addr - esp + len(platform_c)] = platform_c
    stack[strings_start - esp : strings_end - esp] = b"".join(args + envs)
    stack[execfn_addr - esp : execfn_addr - esp + len(filename)] = filename
    return esp, bytes(stack)
