"""Where the bytes of an emitted server go.

Reproduce: python benchmarks/size.py   (from the repository root, after pip install .)

Overhead is the file's size minus the bytes of every response it holds (the pages, and
the 404, 405, 400 and 431 answers): what the program costs beyond what it says.  Each site
is built for both architectures: i386 (ELF32, generator/eventloop.py) and x86-64 (ELF64,
generator/eventloop64.py, ``webelf build --arch x86_64``).
"""

from __future__ import annotations

from generator import Page, Site, build_server, default_site
from generator.elf import EHDR_SIZE, PHDR_SIZE, plan
from generator.server import ARCHES, ServerConfig, as_site, assembler_for, response_bytes


def breakdown(site: Site, arch: str = "i386", **options) -> dict[str, int]:
    config = ServerConfig(arch=arch, **options)
    program = build_server(site, config)
    responses = sum(map(len, response_bytes(site)))
    asm, _ = assembler_for(arch)(site, config)
    layout = plan(asm.text_size, asm.data_section.size, asm.bss.size, bits=asm.bits)
    return {
        "file": len(program),
        "responses": responses,
        "overhead": len(program) - responses,
        "headers": layout.text_offset,
        "code": asm.text_size,
        "data": asm.data_section.size - responses,
        "bss (not in file)": asm.bss.size,
    }


def main() -> None:
    sites = {
        "default": default_site(),
        "empty body": as_site(Page.make(b"", "text/plain")),
        "64 KiB body": as_site(Page.make(b"x" * 65536, "application/octet-stream")),
    }
    rows = {(name, arch): breakdown(site, arch) for name, site in sites.items()
            for arch in ARCHES}
    cols = list(next(iter(rows.values())))
    print(f"{'site':<12} {'arch':<7} " + " ".join(f"{c:>17}" for c in cols))
    for (name, arch), row in rows.items():
        print(f"{name:<12} {arch:<7} " + " ".join(f"{row[c]:>17}" for c in cols))
    auto = {arch: breakdown(default_site(), arch, workers="auto")["overhead"] for arch in ARCHES}
    print("\ndefault site with --workers auto (every feature): overhead "
          + ", ".join(f"{auto[arch]} ({arch})" for arch in ARCHES))
    print(f"headers = ELF header + 3 program headers: {EHDR_SIZE} + 3 x {PHDR_SIZE} = {plan(0, 0, 0).text_offset} (i386), "
          f"64 + 3 x 56 = {plan(0, 0, 0, bits=64).text_offset} (x86_64); "
          "data = routes, response entries, socket address, error-message names")
    print("reproduce: python benchmarks/size.py")


if __name__ == "__main__":
    main()
