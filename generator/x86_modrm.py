"""Operand encoding for :mod:`generator.x86`: prefixes, REX, ModR/M, SIB, displacement.

An instruction is laid out as the Intel SDM vol. 2 figure 2-1 and section 2.2.1 say::

    [legacy prefixes] [67] [REX] opcode [ModR/M [SIB] [disp]] [imm]

This module writes everything from the address-size prefix to the displacement, for either
mode, and says where a label's address must be patched in (a :class:`Fixup`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AsmError
from .x86_operands import RIP, LabelRef, Mem, Reg, fits8, imm, ref, signed

#: How a fixup turns a label's address into the bytes at its offset.
ABS32 = "abs32"  # a 32-bit address, zero-extended in 64-bit mode (mov r32, imm32; dd)
ABS32S = "abs32s"  # a 32-bit address the CPU sign-extends to 64 bits (disp32, imm32 of r/m64)
REL32 = "rel32"  # RIP-relative: the address minus the address of the next instruction
ABS64 = "abs64"  # a 64-bit address (mov r64, imm64; dq)


@dataclass
class Fixup:
    """A label's address to patch at ``offset`` in an instruction or data, as ``kind`` says."""

    offset: int
    ref: LabelRef
    kind: str = ABS32

    @property
    def width(self) -> int:
        return 8 if self.kind == ABS64 else 4


def resolve(fixup: Fixup, address: int, end: int, bits: int) -> bytes:
    """The bytes for ``fixup`` once its label is at ``address - addend``; ``end`` is the
    address of the next instruction (for RIP-relative ones).  In 32-bit code an address
    wraps at 4 GiB as the CPU's does; in 64-bit code an address that the field cannot
    hold (the image above 2 GiB, or 4 GiB) is an error, not a silently wrong program."""
    value = address + fixup.ref.addend
    name = fixup.ref.label.name
    if fixup.kind == ABS64:
        return (value & (1 << 64) - 1).to_bytes(8, "little")
    if fixup.kind == REL32:
        value -= end
        if not -(1 << 31) <= value < 1 << 31:
            raise AsmError(f"{name!r} is {value:#x} bytes away: out of reach of rip+disp32")
    elif bits == 32:
        value &= 0xFFFFFFFF
    elif fixup.kind == ABS32 and not 0 <= value < 1 << 32:
        raise AsmError(f"address of {name!r} ({value:#x}) does not fit in 32 bits")
    elif fixup.kind == ABS32S and not -(1 << 31) <= value < 1 << 31:
        raise AsmError(f"address of {name!r} ({value:#x}) is not a sign-extended 32-bit "
                       "value: above 2 GiB, address it with rip(...)")
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def _regs(*ops: object) -> list[Reg]:
    out: list[Reg] = []
    for op in ops:
        if isinstance(op, Reg):
            out.append(op)
        elif isinstance(op, Mem):
            out += [r for r in (op.base, op.index) if r is not None and r is not RIP]
    return out


def prefixes(bits: int, *, w: bool = False, reg: Reg | int = 0, rm: Reg | Mem | None = None,
             opreg: Reg | None = None) -> bytes:
    """The address-size prefix and the REX prefix an instruction's operands need.

    REX is 0100WRXB (SDM vol. 2, section 2.2.1.2, table 2-4): W for a 64-bit operand size,
    R extends ModR/M.reg, X extends SIB.index, B extends ModR/M.rm, SIB.base or the
    register in the opcode byte (``opreg``, as in B8+r).  A REX with no bit set (40) is
    still needed to reach SPL, BPL, SIL, DIL; with any REX, AH..BH cannot be encoded.
    In 64-bit mode, 32-bit address registers take the address-size prefix 67 (section 2.2.1.3).
    """
    r = reg.num >> 3 if isinstance(reg, Reg) else 0
    x = b = 0
    out = b""
    if isinstance(rm, Reg):
        b = rm.num >> 3
    elif isinstance(rm, Mem):
        asize = rm.address_size
        if bits == 32 and (asize == 64 or rm.base is RIP):
            raise AsmError(f"64-bit addressing ({rm.base or rm.index!r}) needs Assembler(bits=64)")
        if bits == 64 and asize == 32:
            out = b"\x67"
        if rm.index is not None:
            x = rm.index.num >> 3
        if rm.base is not None and rm.base is not RIP:
            b = rm.base.num >> 3
    if opreg is not None:
        b = opreg.num >> 3
    regs = _regs(reg, rm, opreg)
    if bits == 32 and any(q.size == 64 for q in regs):
        name = next(q.name for q in regs if q.size == 64)
        raise AsmError(f"{name} is a 64-bit register: Assembler(bits=64) only")
    rex = 0x40 | w << 3 | r << 2 | x << 1 | b
    if rex == 0x40 and not any(q.rex for q in regs):
        return out
    if bits == 32:
        why = "a 64-bit operand size" if w else ", ".join(q.name for q in regs if q.num > 7
                                                           or q.rex or q.size == 64)
        raise AsmError(f"{why} needs a REX prefix: Assembler(bits=64) only")
    high = [q.name for q in regs if q.high]
    if high:
        raise AsmError(f"{high[0]} cannot be encoded in an instruction with a REX prefix "
                       f"(SDM vol. 2, 2.2.1.2): use the low byte registers or SPL..DIL")
    return out + bytes([rex])


def modrm(reg_field: int, rm: Reg | Mem, bits: int) -> tuple[bytes, tuple[Fixup, ...]]:
    """ModR/M (+SIB, +disp) bytes for ``rm``, with ``reg_field & 7`` in bits 5..3.

    Intel SDM vol. 2, table 2-2 (32-bit ModR/M) and table 2-3 (SIB).  The special cases:
    rm=100 means "a SIB follows" (so [esp] and [r12] need a SIB), mod=00 rm=101 means "disp32,
    no base" (so [ebp] and [r13] need mod=01 with a zero disp8), and SIB base=101 with mod=00
    also means "disp32, no base".  In 64-bit mode mod=00 rm=101 is RIP-relative instead
    (section 2.2.1.6, table 2-7), so an absolute address takes the SIB form: rm=100, SIB
    base=101 index=100.  REX.B does not change which of these applies, so R12 and R13 as
    bases behave as ESP and EBP do; REX.X does: SIB.index=100 with REX.X set is R12, a
    valid index (section 2.2.1.2, table 2-5, "Special Cases of REX Encodings").
    """
    reg_field &= 7
    if isinstance(rm, Reg):
        return bytes([0xC0 | reg_field << 3 | rm.num & 7]), ()
    wide = bits == 64 and rm.address_size != 32  # disp32 is sign-extended to 64 bits
    if isinstance(rm.disp, int):
        disp = rm.disp
        if wide and not -(1 << 31) <= disp < 1 << 31:
            raise AsmError(f"displacement {disp:#x} is not a sign-extended 32-bit value")
        disp = signed(disp, 32)
        symbolic = None
    else:
        disp, symbolic = 0, ref(rm.disp)
    kind = ABS32S if wide else ABS32
    base, index = rm.base, rm.index
    if base is RIP:
        out = bytes([reg_field << 3 | 0b101])
        return out + imm(disp, 32), ((Fixup(1, symbolic, REL32),) if symbolic else ())
    if base is None:
        if index is None and bits == 32:
            out = bytes([reg_field << 3 | 0b101])
        else:  # [index*scale + disp32], or 64-bit mode's [disp32]: SIB with base=101, mod=00
            idx = index.num if index is not None else 0b100  # 100: no index
            out = bytes([reg_field << 3 | 0b100, _sib(rm.scale, idx, 0b101)])
        fixups = (Fixup(len(out), symbolic, kind),) if symbolic else ()
        return out + imm(disp, 32), fixups
    if symbolic:
        mod, dbytes = 0b10, b"\0\0\0\0"
    elif disp == 0 and base.num & 7 != 0b101:
        mod, dbytes = 0b00, b""
    elif fits8(disp):
        mod, dbytes = 0b01, imm(disp, 8)
    else:
        mod, dbytes = 0b10, imm(disp, 32)
    if index is None and base.num & 7 != 0b100:
        out = bytes([mod << 6 | reg_field << 3 | base.num & 7])
    else:
        idx = index.num if index is not None else 0b100  # 100: no index
        out = bytes([mod << 6 | reg_field << 3 | 0b100, _sib(rm.scale, idx, base.num)])
    fixups = (Fixup(len(out), symbolic, kind),) if symbolic else ()
    return out + dbytes, fixups


def _sib(scale: int, index: int, base: int) -> int:
    return {1: 0, 2: 1, 4: 2, 8: 3}[scale] << 6 | (index & 7) << 3 | base & 7
