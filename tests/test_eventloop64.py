"""The x86-64 server (generator/eventloop64.py, ``ServerConfig(arch="x86_64")``).

The behaviours both programs share are tested for both in test_eventloop.py and
test_server_native.py (the ``arch`` fixture).  Here: the whole request corpus
(fixtures/requests) answered natively by the x86-64 program with the very bytes the i386
program sends natively (and the committed expected response); capstone in 64-bit mode
decodes every instruction the encoder wrote; the size budget; the ELF64 it is written as;
and the configuration of the architecture.

The harness runs i386 programs only, so there is no emulated x86-64 test yet: once it
runs ELF64, test_eventloop.py's emulated tests and test_replay.py's corpus take an arch
parameter as the native ones do.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from generator import ConfigError, ServerConfig, build_server, default_site, elf
from generator.server import response_bytes
from support import LOOPBACK, native_for, free_port, request_manifest, wait_listening
from test_replay import REQUEST_LIST, SITES, Request, expected_path, replay_native

SITE = default_site()


# ---------------------------------------------------------------------- the corpus, natively

class NativePair:
    """One site served natively by both programs, each on its own free port."""

    def __init__(self, tmp: Path, site: str) -> None:
        import subprocess

        self.procs = {}
        self.ports = {}
        for arch in ("i386", "x86_64"):
            port = free_port()
            path = tmp / f"{site}-{arch}.elf"
            path.write_bytes(build_server(SITES[site], ServerConfig(port=port, bind=LOOPBACK,
                                                                    arch=arch)))
            path.chmod(0o755)
            proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.procs[arch], self.ports[arch] = proc, port
            wait_listening(proc, port)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(timeout=10)
            proc.stderr.close()


@pytest.fixture(scope="module")
def native_pairs(tmp_path_factory):
    for arch in ("i386", "x86_64"):
        runs, why = native_for(arch)
        if not runs:
            pytest.skip(why)
    started: dict[str, NativePair] = {}
    tmp = tmp_path_factory.mktemp("native64")

    def get(site: str) -> NativePair:
        if site not in started:
            started[site] = NativePair(tmp, site)
        return started[site]

    try:
        yield get
    finally:
        for pair in started.values():
            pair.stop()


CASES = [pytest.param(r, s, id=f"{r.name}-{s}") for s in SITES for r in REQUEST_LIST]


@pytest.mark.parametrize("req,site", CASES)
def test_x86_64_answers_the_corpus_with_the_i386_bytes(req: Request, site: str, native_pairs):
    pair = native_pairs(site)
    i386 = replay_native(pair.ports["i386"], req)
    x86_64 = replay_native(pair.ports["x86_64"], req)
    assert x86_64 == i386, f"{req.name} from {site}: x86-64 and i386 differ natively"
    assert x86_64 == expected_path(site, req).read_bytes()


def test_the_corpus_is_the_whole_manifest():
    assert [r.name for r in REQUEST_LIST] == [e["name"] for e in request_manifest()]
    assert len(CASES) == len(SITES) * len(REQUEST_LIST) >= 3 * 30


# ---------------------------------------------------------------------- the program itself

@pytest.mark.parametrize("workers", [1, 2, "auto"])
def test_capstone_decodes_every_instruction_the_encoder_wrote(workers):
    """capstone in 64-bit mode reads the code from its first byte (the entry point) to its
    end as instructions: no byte it cannot decode, as many instructions as the encoder
    emitted, each of the size the encoder gave it (so none was mis-sized)."""
    import capstone

    from generator.eventloop64 import assemble

    config = ServerConfig(workers=workers, arch="x86_64")
    a, entry = assemble(SITE, config)
    layout = elf.plan(a.text_size, a.data_section.size, a.bss.size, bits=64)
    text, _ = a.link(layout.bases)
    assert a.address_of(entry, layout.bases) == layout.text_vaddr
    program = build_server(SITE, config)
    assert program[layout.text_offset:layout.text_offset + len(text)] == text
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    decoded = list(md.disasm(text, layout.text_vaddr))
    assert sum(insn.size for insn in decoded) == len(text), "capstone stopped early"
    assert len(decoded) == len(a.text.items)
    offsets = a._relax()  # noqa: SLF001 - where the encoder put each instruction
    assert [insn.address - layout.text_vaddr for insn in decoded] == offsets[:-1]
    assert not [i for i in decoded if i.mnemonic == "int"], "int 0x80 in a 64-bit program"
    assert sum(i.mnemonic == "syscall" for i in decoded) >= 15


#: What ELF64's headers add to ELF32's: a 64-byte ELF header for 52, three 56-byte program
#: headers for 32-byte ones.
ELF64_EXTRA = (64 - 52) + 3 * (56 - 32)


def test_the_overhead_stays_within_2048_bytes_plus_the_elf64_headers():
    """The i386 budget (2,048 bytes beyond the responses, every feature built in), plus
    only what ELF64's larger headers cost."""
    data = build_server(SITE, ServerConfig(workers="auto", arch="x86_64"))
    overhead = len(data) - sum(map(len, response_bytes(SITE)))
    assert ELF64_EXTRA == 84
    assert overhead <= 2048 + ELF64_EXTRA, overhead


def test_it_is_an_elf64_x86_64_executable_with_w_xor_x_segments():
    data = build_server(SITE, arch="x86_64")
    assert data[:5] == b"\x7fELF\x02"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    assert (e_type, e_machine) == (elf.ET_EXEC, elf.EM_X86_64)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    flags = [struct.unpack_from("<II", data, e_phoff + 56 * i) for i in range(3)]
    assert flags == [(elf.PT_LOAD, elf.PF_R | elf.PF_X), (elf.PT_LOAD, elf.PF_R | elf.PF_W),
                     (elf.PT_GNU_STACK, elf.PF_R | elf.PF_W)]


def test_the_same_data_is_held_for_both_architectures():
    """program_data is shared: the x86-64 data section is the i386 one but for the
    supervisor's struct timespec (16 bytes for 8) and the addresses in the entries."""
    from generator.eventloop import assemble as assemble32
    from generator.eventloop64 import assemble as assemble64

    for workers in (1, 2):
        a32, _ = assemble32(SITE, ServerConfig(workers=workers))
        a64, _ = assemble64(SITE, ServerConfig(workers=workers))
        grown = 8 if workers != 1 else 0
        assert a64.data_section.size == a32.data_section.size + grown


# ---------------------------------------------------------------------- configuration

def test_the_default_architecture_is_i386():
    assert ServerConfig().arch == "i386"
    assert build_server(SITE)[4] == 1  # ELFCLASS32
    assert build_server(SITE, ServerConfig(arch="x86_64"))[4] == 2
    assert build_server(SITE, arch="x86_64") == build_server(SITE, ServerConfig(arch="x86_64"))
    assert build_server(SITE, ServerConfig(arch="x86_64"), arch="i386") == build_server(SITE)


def test_memory_past_4_gib_is_refused_not_wrapped():
    """Slots and buffers are addressed with 32-bit arithmetic (the image lies below 4 GiB):
    a configuration whose buffers would end past it is refused, rather than built into a
    program whose addresses wrap."""
    build_server(SITE, ServerConfig(arch="x86_64", max_connections=65536))  # 512 MiB: fine
    with pytest.raises(ConfigError, match="must end below 4 GiB"):
        build_server(SITE, ServerConfig(arch="x86_64", max_connections=65536,
                                        buffer_size=1 << 20))


def test_i386_memory_past_its_address_space_is_refused_not_a_traceback():
    """An i386 process's memory ends at 3 GiB on a 32-bit kernel (the stack below it):
    buffers that would pass it are a ConfigError naming the sizes, not a struct.error from
    the ELF writer or a program the kernel cannot load."""
    build_server(SITE, ServerConfig(max_connections=65536, buffer_size=16384))  # 1 GiB: fine
    with pytest.raises(ConfigError, match="an i386 process's memory ends at 3 GiB"):
        build_server(SITE, ServerConfig(max_connections=65536, buffer_size=1 << 16))


@pytest.mark.parametrize("name", ["x86-64", "amd64", "arm64", "", None])
def test_an_unknown_architecture_is_refused(name):
    with pytest.raises(ConfigError, match="neither i386 nor x86_64"):
        ServerConfig(arch=name)
