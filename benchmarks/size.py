"""Where the bytes of an emitted server go.

Reproduce: python benchmarks/size.py   (from the repository root, after pip install .)
"""

from __future__ import annotations

from generator import Page, build_server, default_page, http_response
from generator.elf import EHDR_SIZE, PHDR_SIZE, plan
from generator.server import assemble


def breakdown(page: Page) -> dict[str, int]:
    response = http_response(page)
    program = build_server(response)
    asm, _ = assemble(response)
    layout = plan(asm.text_size, asm.data_section.size, asm.bss.size)
    headers = layout.text_offset
    return {
        "file": len(program),
        "response": len(response),
        "overhead": len(program) - len(response),
        "headers": headers,
        "code": asm.text_size,
        "data": asm.data_section.size - len(response),
        "bss (not in file)": asm.bss.size,
    }


def main() -> None:
    sites = {
        "default": default_page(),
        "empty body": Page.make(b"", "text/plain"),
        "64 KiB body": Page.make(b"x" * 65536, "application/octet-stream"),
    }
    rows = {name: breakdown(page) for name, page in sites.items()}
    cols = list(next(iter(rows.values())))
    print(f"{'site':<12} " + " ".join(f"{c:>17}" for c in cols))
    for name, row in rows.items():
        print(f"{name:<12} " + " ".join(f"{row[c]:>17}" for c in cols))
    print(f"\nheaders = ELF header ({EHDR_SIZE}) + 3 program headers ({PHDR_SIZE} each)")
    print("reproduce: python benchmarks/size.py")


if __name__ == "__main__":
    main()
