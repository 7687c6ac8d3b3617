"""Where the bytes of an emitted server go.

Reproduce: python benchmarks/size.py   (from the repository root, after pip install .)

Overhead is the file's size minus the bytes of every response it holds (the pages, and
the 404, 405, 400 and 431 answers): what the program costs beyond what it says.
"""

from __future__ import annotations

from generator import Page, Site, build_server, default_site
from generator.elf import EHDR_SIZE, PHDR_SIZE, plan
from generator.eventloop import assemble
from generator.server import ServerConfig, as_site, response_bytes


def breakdown(site: Site) -> dict[str, int]:
    program = build_server(site)
    responses = sum(map(len, response_bytes(site)))
    asm, _ = assemble(site, ServerConfig())
    layout = plan(asm.text_size, asm.data_section.size, asm.bss.size)
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
    rows = {name: breakdown(site) for name, site in sites.items()}
    cols = list(next(iter(rows.values())))
    print(f"{'site':<12} " + " ".join(f"{c:>17}" for c in cols))
    for name, row in rows.items():
        print(f"{name:<12} " + " ".join(f"{row[c]:>17}" for c in cols))
    print(f"\nheaders = ELF header ({EHDR_SIZE}) + 3 program headers ({PHDR_SIZE} each); "
          "data = routes, response entries, socket address, error-message names")
    print("reproduce: python benchmarks/size.py")


if __name__ == "__main__":
    main()
