"""The ELF writer, judged by readelf, pyelftools and the kernel's own memory map."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import build_server, default_page, http_response
from generator.elf import link
from generator.x86 import EAX, EBX, Assembler
from support import tool

PF_X, PF_W, PF_R = 1, 2, 4


@pytest.fixture(scope="module")
def site_elf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("elf") / "site.elf"
    path.write_bytes(build_server(http_response(default_page())))
    return path


def test_readelf_reads_it_without_a_warning(site_elf):
    out = subprocess.run([tool("readelf"), "-h", "-l", "-W", str(site_elf)],
                         capture_output=True, text=True, check=True)
    assert out.stderr == ""
    assert "warning" not in out.stdout.lower()
    assert "EXEC (Executable file)" in out.stdout
    assert "Intel 80386" in out.stdout
    assert re.search(r"Number of program headers:\s+3\n", out.stdout)
    assert "GNU_STACK" in out.stdout


def test_pyelftools_sees_an_i386_executable_with_wx_segments(site_elf):
    with site_elf.open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 32 and elf.little_endian
        assert elf.header.e_type == "ET_EXEC" and elf.header.e_machine == "EM_386"
        assert elf.num_sections() == 0
        loads = [s for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"]
        stack = [s for s in elf.iter_segments() if s.header.p_type == "PT_GNU_STACK"]
        assert len(loads) == 2 and len(stack) == 1
        for seg in loads + stack:
            h = seg.header
            assert not (h.p_flags & PF_W and h.p_flags & PF_X), f"W+X segment: {h}"
        code, data = loads
        assert code.header.p_flags == PF_R | PF_X
        assert data.header.p_flags == PF_R | PF_W
        assert stack[0].header.p_flags == PF_R | PF_W
        assert data.header.p_memsz > data.header.p_filesz, "the request buffer is bss"
        entry = elf.header.e_entry
        assert code.header.p_vaddr <= entry < code.header.p_vaddr + code.header.p_filesz
        for seg in loads:
            h = seg.header
            assert h.p_offset % h.p_align == h.p_vaddr % h.p_align
            assert h.p_offset + h.p_filesz <= site_elf.stat().st_size
        assert code.header.p_vaddr + code.header.p_memsz <= data.header.p_vaddr & ~0xFFF, \
            "code and data must not share a page, or one of them gets the other's permissions"


def test_the_response_is_in_the_file_verbatim(site_elf):
    response = http_response(default_page())
    assert site_elf.read_bytes().count(response) == 1


@settings(max_examples=30, deadline=None)
@given(code=st.integers(1, 9000), data=st.integers(1, 9000), bss=st.integers(1, 1 << 20))
def test_layouts_of_any_size_keep_pages_apart(code, data, bss, tmp_path_factory):
    a = Assembler()
    blob = a.data(b"d" * data)
    a.reserve(bss)
    start = a.label()
    a.bind(start)
    for _ in range(code // 5):
        a.mov(EAX, blob)
    a.mov(EBX, 0)
    elf = link(a, start)
    path = tmp_path_factory.mktemp("lay") / "x.elf"
    path.write_bytes(elf)
    with path.open("rb") as f:
        loads = [s.header for s in ELFFile(f).iter_segments() if s.header.p_type == "PT_LOAD"]
    text, dat = loads
    assert text.p_vaddr + text.p_memsz <= dat.p_vaddr & ~0xFFF
    assert dat.p_offset % 0x1000 == dat.p_vaddr % 0x1000
    assert dat.p_filesz == data and dat.p_memsz >= data + bss
    assert dat.p_offset + dat.p_filesz == len(elf)


def test_the_running_program_has_no_writable_executable_mapping(arch, servers):
    served = servers.start(default_page())
    maps = Path(f"/proc/{served.proc.pid}/maps").read_text().splitlines()
    assert maps, "the process must be running"
    for line in maps:
        perms = line.split()[1]
        assert not ("w" in perms and "x" in perms), f"W+X mapping: {line}"
    stack = [line for line in maps if line.endswith("[stack]")]
    assert stack and "x" not in stack[0].split()[1], "the stack must not be executable"
    assert any(line.split()[1].startswith("r-x") for line in maps), "code is mapped r-x"
    assert served.fetch_raw() == served.response
