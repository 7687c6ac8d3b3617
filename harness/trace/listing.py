"""Capstone: one instruction's text (:func:`insn_text`, :func:`trace_insn`, the ``--trace``
lines) and the listing of an image's executable segments (:func:`listing`, ``webelf disasm``).
Capstone is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # capstone is imported on first use, so importing trace stays cheap
    import capstone

    from ..elf import Image

# --- capstone ---------------------------------------------------------------------------------

_BYTES_COLUMN = 21  # ten bytes of hex fit before the mnemonic; longer ones push it right


@lru_cache(maxsize=2)
def _capstone(wide: bool = False) -> capstone.Cs:
    """One Cs per mode for the process (32-bit, or 64-bit for x86-64 code): building it
    costs more than decoding an instruction."""
    import capstone

    mode = capstone.CS_MODE_64 if wide else capstone.CS_MODE_32
    return capstone.Cs(capstone.CS_ARCH_X86, mode)


def _decode_one(code: bytes, address: int, wide: bool = False) -> tuple[int, str] | None:
    for _addr_, size, mnemonic, op_str in _capstone(wide).disasm_lite(code[:15], address, 1):
        return size, f"{mnemonic} {op_str}".rstrip()
    return None


def insn_text(code: bytes, address: int, wide: bool = False) -> str:
    """Capstone's ``mnemonic op_str`` for the instruction at the start of ``code``, or
    ``(bad)`` (objdump's word) when those bytes do not decode; ``wide`` decodes x86-64."""
    decoded = _decode_one(bytes(code), address, wide)
    return decoded[1] if decoded is not None else "(bad)"


def _line(address: int, code: bytes, text: str) -> str:
    return f"{address:08x}:  {code.hex().ljust(_BYTES_COLUMN)} {text}"


def trace_insn(address: int, code: bytes, wide: bool = False) -> str:
    """One ``--trace`` line for the instruction at ``address`` (``code`` holds its bytes and
    possibly more), in the same shape as a :func:`listing` line."""
    decoded = _decode_one(bytes(code), address, wide)
    if decoded is None:
        return _line(address, bytes(code[:1]), "(bad)")
    return _line(address, bytes(code[: decoded[0]]), decoded[1])


class ListingLine(NamedTuple):
    """One line of :func:`listing`, kept structured so that coverage can count the same
    instructions the listing shows: an instruction (``decoded``), a ``.byte`` the sweep
    could not decode, or a comment or blank line (``address`` None, ``text`` the line)."""

    address: int | None
    code: bytes
    text: str
    decoded: bool = False

    def __str__(self) -> str:
        return self.text if self.address is None else _line(self.address, self.code, self.text)


def _disassemble(data: bytes, address: int, wide: bool = False) -> Iterator[ListingLine]:
    """Linear sweep: each undecodable byte becomes ``.byte 0x..`` and decoding resumes at
    the next byte, so the output depends on nothing but the bytes."""
    cs = _capstone(wide)
    view = memoryview(data)  # restarting after a bad byte must not copy the rest each time
    pos = 0
    while pos < len(data):
        for insn_address, size, mnemonic, op_str in cs.disasm_lite(view[pos:], address + pos):
            yield ListingLine(insn_address, data[pos : pos + size],
                              f"{mnemonic} {op_str}".rstrip(), True)
            pos += size
        if pos < len(data):
            yield ListingLine(address + pos, data[pos : pos + 1], f".byte {data[pos]:#04x}")
            pos += 1


def listing(image: Image) -> str:
    """``webelf disasm``: every executable segment's file bytes, one instruction a line.

    Stable by construction, for golden files: a header line per segment
    (``; segment 0: 0x08048000-0x080480ad r-x``, the number being its program header index
    and the range its file bytes), then ``address:  bytes  mnemonic operands``.

    Choices: a segment that maps the start of the file holds the ELF header and usually the
    program header table, which are data; those ranges are named in a comment line and not
    decoded.  Decoding is a linear sweep from the segment's start (data between code is
    decoded too, as objdump -D would), restarted at the entry point, which gets a comment
    line, so the instructions a reader cares most about are never misaligned by bytes before
    them.  An instruction that would run past the entry point or a header range is cut into
    ``.byte`` lines.
    """
    return "\n".join(map(str, listing_lines(image)))


def listing_lines(image: Image) -> list[ListingLine]:
    """:func:`listing`, line by line, before formatting; an x86-64 image's code is decoded
    in 64-bit mode and its 64-byte ELF header skipped."""
    from ..elf import EHDR_SIZE, ELFMAG, PF_R, PF_W, PF_X

    wide = image.arch == "x86_64"
    header = 64 if wide else EHDR_SIZE  # sizeof(Elf64_Ehdr), sizeof(Elf32_Ehdr)
    out: list[ListingLine] = []

    def comment(text: str) -> None:
        out.append(ListingLine(None, b"", text))

    for seg in image.segments:
        if not seg.executable:
            continue
        start, data = seg.vaddr, seg.data
        rwx = "".join(c if seg.flags & bit else "-" for c, bit in zip("rwx", (PF_R, PF_W, PF_X)))
        comment(f"; segment {seg.index}: 0x{start:08x}-0x{start + len(data):08x} {rwx}")
        skips: list[tuple[int, int, str]] = []
        if seg.offset == 0 and data.startswith(ELFMAG) and len(data) >= header:
            skips.append((start, start + header, "ELF header"))
        table = image.phnum * image.phent
        if image.phdr and start <= image.phdr and image.phdr + table <= start + len(data):
            skips.append((image.phdr, image.phdr + table,
                          f"program headers ({image.phnum} x {image.phent} bytes)"))
        cuts = sorted({start, start + len(data)} | {a for s in skips for a in s[:2]}
                      | ({image.entry} if start < image.entry < start + len(data) else set()))
        for begin, end in zip(cuts, cuts[1:]):
            skip = next((s for s in skips if s[0] == begin), None)
            if skip is not None:
                comment(f"; 0x{begin:08x}-0x{skip[1]:08x}: {skip[2]}, not code")
                continue
            if any(s[0] < begin < s[1] for s in skips):
                continue
            if begin == image.entry:
                comment("; entry point")
            out.extend(_disassemble(data[begin - start : end - start], begin, wide))
        comment("")
    return out
