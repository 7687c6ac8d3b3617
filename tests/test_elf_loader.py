"""The ELF loader (harness/elf.py): the committed fixture programs, the refusals, the stack.

The fixtures in fixtures/programs/ are checked three ways: against pyelftools (an
independent parser), against their own sources re-assembled with the commands in build.sh,
and, for the initial stack, against what the running kernel builds for stackdump.elf.
"""

from __future__ import annotations

import os
import platform
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import elf
from harness.elf import (
    AT_EXECFN,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_NULL,
    AT_PLATFORM,
    AT_RANDOM,
    AT_UID,
    EM_386,
    EM_486,
    EM_ARM,
    EM_X86_64,
    ET_CORE,
    ET_DYN,
    ET_EXEC,
    ET_REL,
    PF_R,
    PF_W,
    PF_X,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_NULL,
    build_initial_stack,
    load,
    page_ranges,
)
from harness.errors import ElfError, HarnessError
from support import NATIVE, NATIVE_REASON, i386_gcc, i386_ld, i386_setarch, nasm, tool

PROGRAMS = Path(__file__).resolve().parent.parent / "fixtures" / "programs"
ELF_FILES = sorted(PROGRAMS.glob("*.elf"))
NAMES = [p.stem for p in ELF_FILES]
EXPECTED_NAMES = {
    "hello", "exit42", "segfault", "spin", "socketcall_server", "stackdump", "hello_c",
    "echo_args", "unmodelled",
}

PAGE = 4096
BASE = 0x08048000
EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
PHDR = struct.Struct("<8I")
# Offsets of Elf32_Ehdr fields.
E_TYPE, E_MACHINE, E_ENTRY, E_PHOFF, E_PHENTSIZE, E_PHNUM = 16, 18, 24, 28, 42, 44
# Indexes of Elf32_Phdr words.
P_TYPE, P_OFFSET, P_VADDR, P_PADDR, P_FILESZ, P_MEMSZ, P_FLAGS, P_ALIGN = range(8)


def read(name: str) -> bytes:
    return (PROGRAMS / f"{name}.elf").read_bytes()


def memory(image: elf.Image, addr: int, size: int) -> bytes:
    """The bytes the guest sees at [addr, addr + size), from the image's mappings."""
    out = bytearray()
    for m in page_ranges(image):
        if m.start <= addr + len(out) < m.end:
            while len(out) < size and addr + len(out) < m.end:
                off = addr + len(out) - m.start
                take = min(size - len(out), m.end - addr - len(out))
                chunk = m.data[off : off + take]
                out += chunk + bytes(take - len(chunk))
    assert len(out) == size, f"[{addr:#x}, {addr + size:#x}) is not all mapped"
    return bytes(out)


def prot_at(image: elf.Image, addr: int) -> int | None:
    return next((m.prot for m in page_ranges(image) if m.start <= addr < m.end), None)


def make_elf(
    phdrs: list[tuple[int, ...]],
    entry: int,
    *,
    size: int = 3 * PAGE,
    fill: dict[int, bytes] | None = None,
    phoff: int = 52,
    e_type: int = ET_EXEC,
    machine: int = EM_386,
) -> bytes:
    """A hand-made ELF32: header, ``phdrs`` at ``phoff``, and ``fill`` bytes at their offsets."""
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    data = bytearray(size)
    EHDR.pack_into(data, 0, ident, e_type, machine, 1, entry, phoff, 0, 0, 52, 32,
                   len(phdrs), 0, 0, 0)
    for i, p in enumerate(phdrs):
        PHDR.pack_into(data, phoff + 32 * i, *p)
    for offset, chunk in (fill or {}).items():
        data[offset : offset + len(chunk)] = chunk
    return bytes(data)


def load_phdr(offset: int, vaddr: int, filesz: int, memsz: int, flags: int) -> tuple[int, ...]:
    return (PT_LOAD, offset, vaddr, vaddr, filesz, memsz, flags, PAGE)


GNU_STACK_RW = (PT_GNU_STACK, 0, 0, 0, 0, 0, PF_R | PF_W, 16)


def test_loader_needs_neither_unicorn_nor_the_generator():
    code = ("import sys, harness.elf; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('unicorn', 'generator', 'elftools', 'capstone')))")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- (a) the committed programs load, and agree with pyelftools ---------------------------


def test_every_program_is_committed():
    assert set(NAMES) == EXPECTED_NAMES
    for name in NAMES:
        assert (PROGRAMS / f"{name}.asm").exists() or (PROGRAMS / f"{name}.c").exists()


@pytest.mark.parametrize("name", NAMES)
def test_program_loads_as_pyelftools_reads_it(name):
    data = read(name)
    image = load(data)
    with open(PROGRAMS / f"{name}.elf", "rb") as f:
        ref = ELFFile(f)
        assert image.entry == ref.header.e_entry
        assert image.phnum == ref.header.e_phnum
        assert image.phent == ref.header.e_phentsize == 32
        expected = [
            (s.header.p_vaddr, s.header.p_memsz, s.header.p_filesz, s.header.p_offset,
             s.header.p_flags, s.data())
            for s in ref.iter_segments()
            if s.header.p_type == "PT_LOAD"
        ]
        stack = [s for s in ref.iter_segments() if s.header.p_type == "PT_GNU_STACK"]
        first_load = next(s for s in ref.iter_segments() if s.header.p_type == "PT_LOAD")
        phoff = ref.header.e_phoff
    got = [(s.vaddr, s.memsz, s.filesz, s.offset, s.flags, s.data) for s in image.segments]
    assert got == expected
    assert image.read_implies_exec is (not stack)
    assert not image.stack_executable
    # The program headers sit in the first segment, which maps the file from offset 0.
    assert image.phdr == first_load.header.p_vaddr - first_load.header.p_offset + phoff
    assert image.brk == -(-max(v + m for v, m, *_ in expected) // PAGE) * PAGE


@pytest.mark.parametrize("name", NAMES)
def test_program_memory_holds_its_segments(name):
    image = load(read(name))
    for seg in image.segments:
        assert memory(image, seg.vaddr, seg.filesz) == seg.data
        if seg.writable:
            assert memory(image, seg.vaddr + seg.filesz, seg.memsz - seg.filesz) == bytes(
                seg.memsz - seg.filesz)
        want = PROT_READ | (PROT_WRITE if seg.writable else 0) | (PROT_EXEC if seg.executable
                                                                    else 0)
        for page in range(seg.vaddr & ~(PAGE - 1), seg.end, PAGE):
            assert prot_at(image, page) == want
    assert prot_at(image, image.entry) & PROT_EXEC


def test_mappings_are_sorted_disjoint_page_aligned():
    for name in NAMES:
        ranges = page_ranges(load(read(name)))
        for m in ranges:
            assert m.start % PAGE == 0 and m.end % PAGE == 0 and m.start < m.end
            assert len(m.data) <= m.size
        for a, b in zip(ranges, ranges[1:]):
            assert a.end <= b.start
            assert not (a.end == b.start and a.prot == b.prot and len(a.data) == a.size)


def test_socketcall_server_data_page_shows_the_file_around_its_segment():
    """Its RW segment starts mid-page at file offset 0x21c: mmap maps the page from offset 0."""
    data = read("socketcall_server")
    image = load(data)
    rw = next(s for s in image.segments if s.writable)
    page = rw.vaddr & ~(PAGE - 1)
    before = rw.vaddr - page
    assert memory(image, page, before) == data[rw.offset - before : rw.offset]
    assert memory(image, rw.vaddr + rw.filesz, PAGE - (rw.vaddr + rw.filesz - page)) == bytes(
        PAGE - (rw.vaddr + rw.filesz - page))


# --- (b) the committed programs still match their sources ---------------------------------


def _rebuild(name: str, out: Path) -> Path:
    sh = tool("sh", "dash")  # runs fixtures/programs/build.sh
    # A missing capability skips, naming its package; under CI=true (.ci/run) it fails.
    # build.sh calls nasm, ld and gcc by name: a cross linker found instead (an arm64 host's
    # i686-linux-gnu-ld, whose output is the same) is put first in PATH under that name.
    if (PROGRAMS / f"{name}.asm").exists():
        tools = {"nasm": nasm(), "ld": i386_ld()}
    else:
        tools = {"gcc": i386_gcc()}
    shims = out / "tools"
    shims.mkdir(exist_ok=True)
    for program, path in tools.items():
        (shims / program).symlink_to(path)
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([sh, str(PROGRAMS / "build.sh"), str(out), name],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return out / f"{name}.elf"


@pytest.mark.parametrize("name", NAMES)
def test_committed_program_matches_its_source(name, tmp_path):
    rebuilt = load(_rebuild(name, tmp_path).read_bytes())
    committed = load(read(name))
    assert rebuilt.entry == committed.entry
    assert [(s.vaddr, s.memsz, s.flags, s.data) for s in rebuilt.segments] == [
        (s.vaddr, s.memsz, s.flags, s.data) for s in committed.segments
    ], f"fixtures/programs/{name}.elf is stale: run fixtures/programs/build.sh"


# --- (c) malformed ELFs: each refusal has its own message --------------------------------


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def patch_phdr(data: bytes, index: int, field: int, value: int) -> bytes:
    phoff = struct.unpack_from("<I", data, E_PHOFF)[0]
    return patch(data, phoff + 32 * index + 4 * field, "<I", value)


def phdr_index(data: bytes, p_type: int, nth: int = 0) -> int:
    phoff, = struct.unpack_from("<I", data, E_PHOFF)
    phnum, = struct.unpack_from("<H", data, E_PHNUM)
    found = [i for i in range(phnum) if struct.unpack_from("<I", data, phoff + 32 * i)[0] == p_type]
    return found[nth]


def refused(data: bytes, fragment: str) -> str:
    with pytest.raises(ElfError) as info:
        load(data)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, HarnessError)
    return message


SERVER = read("socketcall_server")
HELLO_C = read("hello_c")


@pytest.mark.parametrize("name", ["socketcall_server", "hello_c"])
def test_truncated_at_every_byte(name):
    data = read(name)
    table_end = 52 + 32 * struct.unpack_from("<H", data, E_PHNUM)[0]
    image = load(data)
    file_end = max(s.offset + s.filesz for s in image.segments)
    for n in range(len(data)):
        cut = data[:n]
        if n < 52:
            refused(cut, "truncated ELF header")
        elif n < table_end:
            refused(cut, "truncated program header table")
        elif n < file_end:
            refused(cut, "past the end of the file")
        else:
            assert load(cut).segments == image.segments


def test_empty_file():
    assert refused(b"", "truncated ELF header") == (
        "truncated ELF header: the file has 0 bytes, an ELF32 header needs 52")


@pytest.mark.parametrize("head", [b"\x7fELG", b"#!/bin/sh\n", b"MZ\x90\x00", b"\x00"])
def test_bad_magic(head):
    refused(head + SERVER[len(head):], "not an ELF file")


@pytest.mark.parametrize(
    ("ident_index", "value", "fragment"),
    [
        # an i386 file claiming ELFCLASS64 is read as one: its e_machine is EM_386
        (4, 2, "EM_386 (3) in e_machine of an ELFCLASS64 file"),
        (4, 0, "ELFCLASSNONE"),
        (4, 9, "unknown class 9"),
        (5, 2, "ELFDATA2MSB (big-endian)"),
        (5, 0, "ELFDATANONE"),
        (6, 0, "ELF version 0 in e_ident[EI_VERSION]"),
        (6, 2, "only EV_CURRENT"),
    ],
)
def test_bad_ident(ident_index, value, fragment):
    refused(patch(SERVER, ident_index, "B", value), fragment)


@pytest.mark.parametrize(
    ("e_type", "fragment"),
    [
        (ET_REL, "relocatable object (ET_REL)"),
        (ET_CORE, "core dump (ET_CORE)"),
        (ET_DYN, "position-independent executable (ET_DYN)"),
        (0, "ET_NONE"),
        (0xFE00, "unknown file type e_type=0xfe00"),
    ],
)
def test_wrong_type(e_type, fragment):
    refused(patch(SERVER, E_TYPE, "<H", e_type), fragment)


@pytest.mark.parametrize(
    ("machine", "fragment"),
    [(EM_X86_64, "EM_X86_64 (62) in e_machine"), (EM_ARM, "EM_ARM (40)"), (0, "machine (0)")],
)
def test_wrong_machine(machine, fragment):
    refused(patch(SERVER, E_MACHINE, "<H", machine), fragment)


def test_em_486_is_accepted_as_linux_does():
    assert load(patch(SERVER, E_MACHINE, "<H", EM_486)).machine == EM_486


def test_big_endian_header_is_refused_before_its_fields_are_read():
    data = bytearray(SERVER)
    data[5] = 2
    data[16:18], data[18:20] = data[17:15:-1], data[19:17:-1]
    refused(bytes(data), "big-endian")


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "fragment"),
    [
        (E_PHENTSIZE, "<H", 40, "e_phentsize is 40, not 32"),
        (E_PHENTSIZE, "<H", 0, "e_phentsize is 0"),
        (E_PHNUM, "<H", 0, "no program headers (e_phnum 0)"),
        (E_PHNUM, "<H", 129, "e_phnum 129: Linux reads at most 128 program headers"),
        (E_PHNUM, "<H", 0xFFFF, "at most 128"),
        (E_PHOFF, "<I", 0xFFFFFFF0, "truncated program header table"),
        (E_PHOFF, "<I", len(SERVER) - 40, "truncated program header table"),
    ],
)
def test_bad_program_header_table(offset, fmt, value, fragment):
    refused(patch(SERVER, offset, fmt, value), fragment)


def test_dynamic_elf_is_refused_naming_its_interpreter():
    interp = b"/lib/ld-linux.so.2\0"
    data = SERVER + interp
    i = phdr_index(data, PT_GNU_STACK)
    for field, value in [(P_TYPE, PT_INTERP), (P_OFFSET, len(SERVER)), (P_FILESZ, len(interp)),
                         (P_MEMSZ, len(interp)), (P_FLAGS, PF_R)]:
        data = patch_phdr(data, i, field, value)
    message = refused(data, "dynamically linked")
    assert message == ("dynamically linked (has PT_INTERP '/lib/ld-linux.so.2'): "
                       "only static ELFs can run")


def test_dynamic_elf_with_garbage_interpreter_is_still_one_line():
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_GNU_STACK), P_TYPE, PT_INTERP)
    data = patch_phdr(data, phdr_index(data, PT_INTERP), P_OFFSET, 0xFFFFFF00)
    data = patch_phdr(data, phdr_index(data, PT_INTERP), P_FILESZ, 0xFFFFFFFF)
    refused(data, "dynamically linked (has PT_INTERP ''")


def test_segment_past_the_end_of_the_file():
    i = phdr_index(SERVER, PT_LOAD, 1)
    data = patch_phdr(SERVER, i, P_FILESZ, 0x1000)
    refused(data, f"program header {i} (PT_LOAD): its file bytes [0x21c, 0x121c) run past "
                  f"the end of the file")


def test_segment_offset_past_the_end_of_the_file():
    i = phdr_index(SERVER, PT_LOAD, 1)
    data = patch_phdr(SERVER, i, P_OFFSET, 0x1021C)
    refused(data, "past the end of the file")


def test_filesz_larger_than_memsz():
    i = phdr_index(SERVER, PT_LOAD, 1)
    data = patch_phdr(SERVER, i, P_MEMSZ, 0x10)
    refused(data, "p_filesz 0x40 is larger than p_memsz 0x10")


def test_offset_and_vaddr_not_congruent_modulo_the_page():
    i = phdr_index(SERVER, PT_LOAD, 1)
    vaddr = struct.unpack_from("<I", SERVER, 52 + 32 * i + 8)[0]
    data = patch_phdr(SERVER, i, P_VADDR, vaddr + 4)
    refused(data, "differ modulo the page size 0x1000, so mmap cannot map it")


def test_congruence_is_a_page_rule_not_a_p_align_rule():
    """p_align plays no part for ET_EXEC: a 2 MiB p_align with page congruence loads."""
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_LOAD, 1), P_ALIGN, 0x200000)
    load(data)
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_LOAD, 1), P_ALIGN, 0)
    load(data)


def test_entry_outside_every_segment():
    refused(patch(SERVER, E_ENTRY, "<I", 0x10000000),
            "entry point 0x10000000 is outside every PT_LOAD segment")


def test_entry_in_the_bss():
    image = load(SERVER)
    rw = next(s for s in image.segments if s.writable)
    refused(patch(SERVER, E_ENTRY, "<I", rw.vaddr + 0x100),
            f"is on a page that is not executable (program header {rw.index}, flags RW)")


def test_entry_in_read_only_data():
    rodata = load(HELLO_C).segments[-1]
    assert rodata.flags == PF_R
    refused(patch(HELLO_C, E_ENTRY, "<I", rodata.vaddr), "flags R)")


def test_entry_in_read_only_data_runs_with_read_implies_exec():
    rodata = load(HELLO_C).segments[-1]
    data = patch(HELLO_C, E_ENTRY, "<I", rodata.vaddr)
    data = patch_phdr(data, phdr_index(data, PT_GNU_STACK), P_TYPE, PT_NULL)
    assert load(data).entry == rodata.vaddr


@pytest.mark.parametrize(
    ("memsz", "fragment"),
    [
        (0xF8000000, "[0x804921c, 0x10004921c) reaches past the end of user space at 0xffffe000"),
        (0xF0000000, "need 0xf0002000 bytes of memory; the harness maps at most"),
        (0xFFFFFFFF, "reaches past the end of user space"),
        (0x50000000, "the harness maps at most 0x40000000 (1 GiB)"),
    ],
)
def test_enormous_memsz(memsz, fragment):
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_LOAD, 1), P_MEMSZ, memsz)
    refused(data, fragment)


def test_segment_above_user_space():
    data = make_elf([load_phdr(0, 0xFFFFE000, 0x100, 0x100, PF_R | PF_X)], 0xFFFFE000)
    refused(data, "[0xffffe000, 0xffffe100) reaches past the end of user space at 0xffffe000")


def test_segment_below_mmap_min_addr():
    data = make_elf([load_phdr(0, 0x8000, 0x100, 0x100, PF_R | PF_X)], 0x8080)
    refused(data, "maps the page at 0x8000, below vm.mmap_min_addr 0x10000")


def test_no_pt_load_at_all():
    data = SERVER
    for _ in range(2):
        data = patch_phdr(data, phdr_index(data, PT_LOAD), P_TYPE, PT_NULL)
    refused(data, "no PT_LOAD segment: nothing to map")


# --- what a valid ELF becomes: permissions, bss, overlaps, auxv inputs -------------------


def test_missing_pt_gnu_stack_means_read_implies_exec():
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_GNU_STACK), P_TYPE, PT_NULL)
    image = load(data)
    assert image.read_implies_exec and image.stack_executable
    rw = next(s for s in image.segments if s.writable)
    assert prot_at(image, rw.vaddr) == PROT_READ | PROT_WRITE | PROT_EXEC
    assert prot_at(image, rw.end - 1) == PROT_READ | PROT_WRITE | PROT_EXEC


def test_executable_pt_gnu_stack():
    data = patch_phdr(SERVER, phdr_index(SERVER, PT_GNU_STACK), P_FLAGS, PF_R | PF_W | PF_X)
    image = load(data)
    assert image.stack_executable and not image.read_implies_exec
    rw = next(s for s in image.segments if s.writable)
    assert prot_at(image, rw.vaddr) == PROT_READ | PROT_WRITE


def test_later_segment_owns_a_shared_page():
    """MAP_FIXED in table order: the data segment's page replaces the code's last page."""
    text = load_phdr(0, BASE, 0x1200, 0x1200, PF_R | PF_X)
    data_seg = load_phdr(0x1300, BASE + 0x1300, 0x20, 0x20, PF_R | PF_W)
    raw = make_elf([text, data_seg, GNU_STACK_RW], BASE + 0x80,
                   fill={0x1100: b"C" * 0x10, 0x1300: b"D" * 0x20})
    image = load(raw)
    assert [(m.start, m.end, m.prot) for m in page_ranges(image)] == [
        (BASE, BASE + PAGE, PROT_READ | PROT_EXEC),
        (BASE + PAGE, BASE + 2 * PAGE, PROT_READ | PROT_WRITE),
    ]
    assert memory(image, BASE + 0x1100, 0x10) == b"C" * 0x10
    refused(patch(raw, E_ENTRY, "<I", BASE + 0x1100),
            "entry point 0x8049100 is on a page that is not executable (program header 0, "
            "flags R E)")


def test_read_only_bss_keeps_file_bytes_and_gets_writable_zero_pages():
    """padzero fails on a read-only page; vm_brk_flags maps the rest read-write."""
    ro = load_phdr(0x1000, BASE + 0x1000, 0x10, 0x1800, PF_R)
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    raw = make_elf([text, ro, GNU_STACK_RW], BASE + 0x80,
                   fill={0x1000: b"A" * 0x10, 0x1010: b"B" * 0x10})
    image = load(raw)
    assert memory(image, BASE + 0x1000, 0x20) == b"A" * 0x10 + b"B" * 0x10
    assert prot_at(image, BASE + 0x1000) == PROT_READ
    assert prot_at(image, BASE + 0x2000) == PROT_READ | PROT_WRITE
    assert memory(image, BASE + 0x2000, 0x800) == bytes(0x800)
    assert image.brk == BASE + 0x3000


def test_writable_bss_zeroes_the_rest_of_the_last_file_page():
    rw = load_phdr(0x1000, BASE + 0x1000, 0x10, 0x20, PF_R | PF_W)
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    raw = make_elf([text, rw, GNU_STACK_RW], BASE + 0x80,
                   fill={0x1000: b"A" * 0x10, 0x1010: b"B" * 0x100})
    image = load(raw)
    assert memory(image, BASE + 0x1000, 0x1000) == b"A" * 0x10 + bytes(0xFF0)


def test_segment_without_bss_shows_the_following_file_bytes():
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    raw = make_elf([text, GNU_STACK_RW], BASE + 0x80, fill={0x100: b"tail"})
    assert memory(load(raw), BASE + 0x100, 4) == b"tail"


def test_last_page_past_the_end_of_the_file_reads_as_zeros():
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    raw = make_elf([text, GNU_STACK_RW], BASE + 0x80, size=0x100)
    image = load(raw)
    assert memory(image, BASE + 0x100, PAGE - 0x100) == bytes(PAGE - 0x100)


def test_bss_only_segment_is_read_write_zero_pages():
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    bss = load_phdr(0, BASE + 0x10000, 0, 0x3000, PF_R)
    image = load(make_elf([text, bss, GNU_STACK_RW], BASE + 0x80))
    assert [(m.start, m.end, m.prot, m.data) for m in page_ranges(image)][1:] == [
        (BASE + 0x10000, BASE + 0x13000, PROT_READ | PROT_WRITE, b"")]
    assert image.brk == BASE + 0x13000


def test_zero_memsz_segment_maps_nothing():
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    empty = load_phdr(0, BASE + 0x10000, 0, 0, PF_R | PF_W)
    image = load(make_elf([text, empty, GNU_STACK_RW], BASE + 0x80))
    assert len(page_ranges(image)) == 1


def test_phdr_address_follows_the_segment_that_holds_the_table():
    text = load_phdr(0x1000, BASE + 0x1000, 0x100, 0x100, PF_R | PF_X)
    headers = load_phdr(0, 0x20000000, 0x200, 0x200, PF_R)
    image = load(make_elf([text, headers, GNU_STACK_RW], BASE + 0x1000))
    assert image.phdr == 0x20000000 + 52
    image = load(make_elf([text, GNU_STACK_RW], BASE + 0x1000))
    assert image.phdr == 0


def test_huge_bss_is_not_spelled_out_in_bytes():
    text = load_phdr(0, BASE, 0x100, 0x100, PF_R | PF_X)
    bss = load_phdr(0x1000, BASE + 0x1000, 0x10, 0x3000_0000, PF_R | PF_W)
    image = load(make_elf([text, bss, GNU_STACK_RW], BASE + 0x80))
    assert sum(len(m.data) for m in page_ranges(image)) <= 2 * PAGE


# --- (d) random damage: ElfError or an Image, never anything else, never slowly ----------


def _check_invariants(image: elf.Image) -> None:
    ranges = page_ranges(image)
    assert ranges
    for m in ranges:
        assert m.start % PAGE == 0 and m.end % PAGE == 0 and m.start < m.end <= elf.TASK_SIZE
        assert m.start >= elf.MMAP_MIN_ADDR
        assert len(m.data) <= m.size
    assert all(a.end <= b.start for a, b in zip(ranges, ranges[1:]))
    assert sum(m.size for m in ranges) <= elf.MAX_MAPPED_BYTES
    assert prot_at(image, image.entry) & PROT_EXEC


def _try(data: bytes) -> None:
    try:
        image = load(data)
    except ElfError as error:
        assert str(error) and "\n" not in str(error)
    else:
        _check_invariants(image)


@settings(max_examples=400, deadline=timedelta(milliseconds=250),
          suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([SERVER, HELLO_C]),
    edits=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=8),
    words=st.lists(st.tuples(st.integers(0, 160), st.integers(0, 2**32 - 1)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 9000)),
)
def test_random_mutations_never_crash(base, edits, words, cut):
    data = bytearray(base)
    for offset, value in edits:
        data[offset % len(data)] = value
    for offset, value in words:
        struct.pack_into("<I", data, offset & ~3, value)
    if cut is not None:
        data = data[:cut]
    _try(bytes(data))


@settings(max_examples=200, deadline=timedelta(milliseconds=250))
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(blob):
    _try(blob)
    _try(b"\x7fELF\x01\x01\x01" + blob)


# --- (e) the initial stack --------------------------------------------------------------


def parse_stack(esp: int, stack: bytes) -> dict:
    """Read argc, argv, envp and the auxiliary vector back, following the pointers."""
    def word(addr):
        return struct.unpack_from("<I", stack, addr - esp)[0]

    def string(addr):
        end = stack.index(b"\0", addr - esp)
        return stack[addr - esp : end]

    argc = word(esp)
    argv = [word(esp + 4 + 4 * i) for i in range(argc)]
    assert word(esp + 4 + 4 * argc) == 0
    envp, at = [], esp + 8 + 4 * argc
    while word(at):
        envp.append(word(at))
        at += 4
    at += 4
    auxv = []
    while True:
        key, value = word(at), word(at + 4)
        auxv.append((key, value))
        at += 8
        if key == AT_NULL:
            break
    return {
        "argc": argc,
        "argv": [string(a) for a in argv],
        "envp": [string(e) for e in envp],
        "auxv": auxv,
        "string": string,
        "end_of_auxv": at,
    }


RANDOM16 = bytes(range(0xA0, 0xB0))


def test_initial_stack_layout():
    image = load(read("hello"))
    top = elf.STACK_TOP
    esp, stack = build_initial_stack(image, top, ["./hello.elf", "one", "два"], ["A=1", "B=xyz"],
                                     RANDOM16, "./hello.elf", uid=1000, gid=100)
    assert esp % 16 == 0
    assert esp + len(stack) == top
    parsed = parse_stack(esp, stack)
    assert parsed["argc"] == 3
    assert parsed["argv"] == [b"./hello.elf", b"one", "два".encode()]
    assert parsed["envp"] == [b"A=1", b"B=xyz"]
    auxv = dict(parsed["auxv"])
    assert [k for k, _ in parsed["auxv"]] == [16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 23,
                                              25, 31, 15, 0]
    assert auxv[6] == 4096 and auxv[17] == 100
    assert auxv[3] == image.phdr == BASE + 52
    assert auxv[4] == 32 and auxv[5] == image.phnum == 2
    assert auxv[7] == 0 and auxv[8] == 0 and auxv[23] == 0
    assert auxv[9] == image.entry
    assert (auxv[11], auxv[12], auxv[13], auxv[14]) == (1000, 1000, 100, 100)
    assert auxv[AT_HWCAP] == elf.DEFAULT_HWCAP
    assert stack[auxv[AT_RANDOM] - esp : auxv[AT_RANDOM] - esp + 16] == RANDOM16
    assert parsed["string"](auxv[AT_PLATFORM]) == b"i686"
    assert parsed["string"](auxv[AT_EXECFN]) == b"./hello.elf"
    # execfn is the highest string, 8 zero bytes below the top (the 64-bit kernel's gap).
    assert stack[-8:] == bytes(8)
    assert auxv[AT_EXECFN] == top - 8 - len(b"./hello.elf\0")
    # Strings are contiguous, argv first, then envp, then execfn.
    first = struct.unpack_from("<I", stack, 4)[0]
    assert stack[first - esp : auxv[AT_EXECFN] - esp] == (
        b"./hello.elf\0one\0" + "два".encode() + b"\0A=1\0B=xyz\0")
    # AT_RANDOM sits 16 bytes below AT_PLATFORM, which sits at the 16-aligned string start.
    assert auxv[AT_PLATFORM] == (first & ~0xF) - 5
    assert auxv[AT_RANDOM] == auxv[AT_PLATFORM] - 16
    # Nothing but zeros between the auxiliary vector and the random bytes.
    assert stack[parsed["end_of_auxv"] - esp : auxv[AT_RANDOM] - esp] == bytes(
        auxv[AT_RANDOM] - parsed["end_of_auxv"])


def test_initial_stack_empty_argv_becomes_one_empty_string():
    esp, stack = build_initial_stack(load(read("hello")), elf.STACK_TOP, [], [], RANDOM16, "x")
    parsed = parse_stack(esp, stack)
    assert parsed["argc"] == 1 and parsed["argv"] == [b""] and parsed["envp"] == []


@pytest.mark.parametrize("n_args", range(0, 9))
def test_initial_stack_is_16_byte_aligned_whatever_the_counts(n_args):
    image = load(read("hello"))
    for n_env in range(0, 5):
        esp, stack = build_initial_stack(image, 0x80000000, ["a" * n_args] * n_args,
                                         ["E"] * n_env, RANDOM16, "p")
        assert esp % 16 == 0 and esp + len(stack) == 0x80000000
        parsed = parse_stack(esp, stack)
        assert parsed["argc"] == max(n_args, 1)
        assert len(parsed["envp"]) == n_env


def test_initial_stack_hwcap2_and_extra_entries_go_where_the_kernel_puts_them():
    image = load(read("hello"))
    esp, stack = build_initial_stack(image, elf.STACK_TOP, ["p"], [], RANDOM16, "p",
                                     hwcap2=2, arch_auxv=[(51, 0xD30)],
                                     extra_auxv=[(27, 0x1C), (28, 0x20)])
    keys = [k for k, _ in parse_stack(esp, stack)["auxv"]]
    assert keys[0] == 51
    assert keys[keys.index(AT_RANDOM) + 1] == AT_HWCAP2
    assert keys[-3:] == [27, 28, AT_NULL]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stack_top": 0x80000010}, "page boundary"),
        ({"stack_top": 0}, "page boundary"),
        ({"random16": b"short"}, "16 bytes"),
        ({"argv": ["a\0b"]}, "NUL"),
        ({"envp": ["x" * elf.MAX_ARG_STRLEN]}, "E2BIG"),
        ({"envp": ["x" * 100_000] * 30}, "E2BIG"),
    ],
)
def test_initial_stack_rejects_what_execve_would(kwargs, fragment):
    args = {"stack_top": elf.STACK_TOP, "argv": ["p"], "envp": [], "random16": RANDOM16,
            "execfn": "p"} | kwargs
    with pytest.raises(ValueError, match=fragment):
        build_initial_stack(load(read("hello")), **args)


def _native_stack_dump() -> bytes:
    if not NATIVE:
        pytest.skip(NATIVE_REASON)
    setarch = i386_setarch()  # turns address randomisation off
    env = tool("env", "coreutils")
    result = subprocess.run(
        [setarch, "-R", env, "-i", "A=1", "B=xyz", "./stackdump.elf", "one", "two"],
        cwd=PROGRAMS, capture_output=True,
    )
    if result.returncode != 0:
        assert platform.machine() != "x86_64", f"stackdump.elf failed: {result.stderr!r}"
        pytest.skip(f"stackdump.elf could not dump its stack (exit {result.returncode}): the "
                    "stack does not end at 0xFFFFE000, so this is not a 64-bit x86 kernel")
    return result.stdout


def test_initial_stack_equals_the_kernels_byte_for_byte():
    native = _native_stack_dump()
    top = elf.STACK_TOP
    native_esp = top - len(native)
    parsed = parse_stack(native_esp, native)
    assert parsed["argv"] == [b"./stackdump.elf", b"one", b"two"]
    assert parsed["envp"] == [b"A=1", b"B=xyz"]
    keys = [k for k, _ in parsed["auxv"]]
    values = dict(parsed["auxv"])
    arch_auxv = parsed["auxv"][: keys.index(AT_HWCAP)]
    extra_auxv = parsed["auxv"][keys.index(AT_PLATFORM) + 1 : -1]
    rnd = values[AT_RANDOM] - native_esp

    esp, stack = build_initial_stack(
        load(read("stackdump")), top, ["./stackdump.elf", "one", "two"], ["A=1", "B=xyz"],
        native[rnd : rnd + 16], "./stackdump.elf",
        uid=values[AT_UID], gid=values[AT_GID], hwcap=values[AT_HWCAP],
        hwcap2=values.get(AT_HWCAP2), arch_auxv=arch_auxv, extra_auxv=extra_auxv,
    )
    assert esp == native_esp
    assert stack == native
