"""An x86 encoder (i386 and x86-64) with labels and fixups: webelf's machine code, by Python.

The API follows AsmJit: one method per mnemonic, operands as objects::

    a = Assembler()
    loop = a.label("loop")
    a.bind(loop)
    a.mov(EAX, 0x167)
    a.int_(0x80)
    a.jmp(loop)

Encodings follow the opcode tables of the Intel SDM, volume 2 (chapter 2.1 for the
instruction format, tables 2-2 and 2-3 for 32-bit ModR/M and SIB, section 2.2.1 for 64-bit
mode's REX prefix and RIP-relative addressing); each method's docstring names the rows it
uses.  ``Assembler()`` writes i386 code; ``Assembler(bits=64)`` writes x86-64 code, where
the same methods take 64-bit registers too (RAX..R15, R8D..R15D, SPL..DIL, R8B..R15B) and
the operand size still comes from the operands: ``a.add(ECX, 1)`` stays a 32-bit add.
Operands live in :mod:`generator.x86_operands`, their ModR/M/SIB/REX bytes are made by
:mod:`generator.x86_modrm`.  Where the manual offers several encodings, the shortest one is
taken, with ties broken the way NASM breaks them, so a listing reads like an assembler's.

Code goes to the ``text`` section; initialized bytes to ``data``; zero-filled space to
``bss``.  Labels are bound to a place in one section.  Branches start short (rel8) and are
relaxed to near (rel32) until every displacement fits (the classic monotone relaxation:
a branch only ever grows, so the loop ends).  Absolute references to labels (``mov ecx,
msg``) and RIP-relative ones (``lea rsi, [rip + msg]``, ``a.lea(RSI, rip(msg))``) are
resolved by :meth:`Assembler.link` once the ELF writer has chosen addresses; in 64-bit code
an absolute address that its field cannot hold is an error there, not a wrong program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import AsmError
from .x86_modrm import ABS32, ABS32S, ABS64, Fixup, modrm, prefixes, resolve
from .x86_operands import (
    AH, AL, BH, BL, BPL, CH, CL, DH, DIL, DL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, R8, R8B, R8D,
    R9, R9B, R9D, R10, R10B, R10D, R11, R11B, R11D, R12, R12B, R12D, R13, R13B, R13D, R14, R14B,
    R14D, R15, R15B, R15D, RAX, RBP, RBX, RCX, RDI, RDX, REGS8, REGS8_REX, REGS32, REGS32_64,
    REGS64, RIP, RSI, RSP, SIL, SPL, Address, Label, LabelRef, Mem, Reg, byte, dword, fits8, imm,
    qword, ref, rip, signed, simm32,
)

__all__ = [
    "Assembler", "Label", "LabelRef", "Mem", "Reg", "Section", "byte", "dword", "qword", "rip",
    "EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI",
    "AL", "CL", "DL", "BL", "AH", "CH", "DH", "BH", "CONDITIONS",
    "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "RIP",
    "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
    "R8D", "R9D", "R10D", "R11D", "R12D", "R13D", "R14D", "R15D",
    "SPL", "BPL", "SIL", "DIL", "R8B", "R9B", "R10B", "R11B", "R12B", "R13B", "R14B", "R15B",
    "REGS8", "REGS32", "REGS64", "REGS32_64", "REGS8_REX",
]


# --------------------------------------------------------------------------- sections

@dataclass
class _Insn:
    code: bytes
    fixups: tuple[Fixup, ...] = ()


@dataclass
class _Branch:
    """jmp/jcc/call to a label: its size depends on where the label ends up."""

    short_op: bytes | None  # rel8 form, None when there is none (call)
    near_op: bytes | None  # rel32 form, None when there is none (jecxz)
    target: Label
    short: bool = True
    name: str = ""  # for the error of a short-only branch that cannot reach

    @property
    def size(self) -> int:
        return len(self.short_op) + 1 if self.short and self.short_op else len(self.near_op) + 4


@dataclass
class _DataRef:
    """An absolute address stored as data: ``dd label`` (ABS32) or ``dq label`` (ABS64)."""

    ref: LabelRef
    kind: str = ABS32


@dataclass
class Section:
    """One of text, data, bss: a list of items and the labels bound in it."""

    name: str
    items: list = field(default_factory=list)
    size_bss: int = 0

    # data and bss helpers -------------------------------------------------------
    @property
    def size(self) -> int:
        if self.name == "bss":
            return self.size_bss
        return sum(len(i) if isinstance(i, (bytes, bytearray)) else _item_size(i) for i in self.items)

    def align(self, n: int) -> None:
        pad = -self.size % n
        if self.name == "bss":
            self.size_bss += pad
        elif pad:
            self.items.append(b"\0" * pad)


def _item_size(item: object) -> int:
    if isinstance(item, _Insn):
        return len(item.code)
    if isinstance(item, _Branch):
        return item.size
    if isinstance(item, _DataRef):
        return 8 if item.kind == ABS64 else 4
    raise TypeError(item)


# --------------------------------------------------------------------------- operand sizes

def _size_of(op: object) -> int | None:
    if isinstance(op, Reg):
        return op.size
    if isinstance(op, Mem):
        return op.size
    return None


def _operand_size(*ops: object) -> int:
    """The operation's width: from a register operand, else from a sized memory operand."""
    sizes = {s for s in map(_size_of, ops) if s is not None}
    if len(sizes) > 1:
        raise AsmError(f"operand size mismatch: {', '.join(map(repr, ops))}")
    if not sizes:
        raise AsmError(f"operand size unknown, say byte[...], dword[...] or qword[...]: {ops!r}")
    return sizes.pop()


def _is_abs(m: object) -> bool:
    return isinstance(m, Mem) and m.base is None and m.index is None


def _imm32(src: int | Address, size: int) -> bytes | tuple[Address, str]:
    """The id of a 32- or 64-bit operation: a 64-bit one sign-extends it (SDM vol. 2,
    section 2.2.1.5), so a label's address must then be below 2 GiB (ABS32S)."""
    if isinstance(src, int):
        return imm(simm32(src) if size == 64 else src, 32)
    return (src, ABS32S if size == 64 else ABS32)


#: The sixteen conditions of Jcc/SETcc/CMOVcc: name -> the low nibble of the opcode
#: (Intel SDM vol. 2, appendix B.1.4.7, table B-10).
CONDITIONS = {
    "o": 0x0, "no": 0x1, "b": 0x2, "c": 0x2, "nae": 0x2, "ae": 0x3, "nb": 0x3, "nc": 0x3,
    "e": 0x4, "z": 0x4, "ne": 0x5, "nz": 0x5, "be": 0x6, "na": 0x6, "a": 0x7, "nbe": 0x7,
    "s": 0x8, "ns": 0x9, "p": 0xA, "pe": 0xA, "np": 0xB, "po": 0xB, "l": 0xC, "nge": 0xC,
    "ge": 0xD, "nl": 0xD, "le": 0xE, "ng": 0xE, "g": 0xF, "nle": 0xF,
}

#: The eight ALU operations sharing one opcode layout: /digit and base opcode op*8.
_ALU = {"add": 0, "or": 1, "adc": 2, "sbb": 3, "and": 4, "sub": 5, "xor": 6, "cmp": 7}

#: Group 2 shifts and rotates: the /digit of C0/C1/D0-D3.
_SHIFT = {"rol": 0, "ror": 1, "rcl": 2, "rcr": 3, "shl": 4, "shr": 5, "sar": 7}

#: Group 3 unary operations: the /digit of F6/F7.
_UNARY = {"not": 2, "neg": 3, "mul": 4, "imul": 5, "div": 6, "idiv": 7}


class Assembler:
    """Collects instructions and data, then lays them out and resolves every label.

    ``bits`` is the mode the code runs in: 32 (i386, the default) or 64 (x86-64).
    """

    def __init__(self, bits: int = 32) -> None:
        if bits not in (32, 64):
            raise AsmError(f"bits must be 32 or 64, not {bits!r}")
        self.bits = bits
        self.text = Section("text")
        self.data_section = Section("data")
        self.bss = Section("bss")
        self._labels: list[Label] = []

    # ----------------------------------------------------------------- labels, data

    def label(self, name: str | None = None) -> Label:
        """A new, unbound label; ``name`` only shows in error messages."""
        lab = Label(name or f"L{len(self._labels)}")
        self._labels.append(lab)
        return lab

    def bind(self, label: Label) -> Label:
        """Bind ``label`` to the next instruction of text."""
        return self._bind(label, self.text, len(self.text.items))

    def _bind(self, label: Label, section: Section, index: int) -> Label:
        if label.section is not None:
            raise AsmError(f"label {label.name!r} is bound twice")
        label.section, label.index = section, index
        return label

    def data(self, blob: bytes, name: str | None = None, align: int = 1) -> Label:
        """Append initialized bytes; returns a label bound to their first byte."""
        self.data_section.align(align)
        lab = self._bind(self.label(name), self.data_section, self.data_section.size)
        self.data_section.items.append(bytes(blob))
        return lab

    def dd(self, target: Address, name: str | None = None, align: int = 4) -> Label:
        """Append a 32-bit absolute address to data (a pointer table entry; in 64-bit code
        the address must be below 4 GiB, and is read zero-extended by ``mov r32, [..]``)."""
        return self._dataref(target, ABS32, name, align)

    def dq(self, target: Address, name: str | None = None, align: int = 8) -> Label:
        """Append a 64-bit absolute address to data."""
        return self._dataref(target, ABS64, name, align)

    def _dataref(self, target: Address, kind: str, name: str | None, align: int) -> Label:
        self.data_section.align(align)
        lab = self._bind(self.label(name), self.data_section, self.data_section.size)
        self.data_section.items.append(_DataRef(ref(target), kind))
        return lab

    def reserve(self, size: int, name: str | None = None, align: int = 4) -> Label:
        """Reserve ``size`` zero-filled bytes of bss; they cost nothing in the file."""
        self.bss.align(align)
        lab = self._bind(self.label(name), self.bss, self.bss.size_bss)
        self.bss.size_bss += size
        return lab

    # ----------------------------------------------------------------- emission

    def _emit(self, code: bytes, fixups: tuple[Fixup, ...] = ()) -> None:
        self.text.items.append(_Insn(bytes(code), fixups))

    def _emit_imm(self, code: bytes, immediate: bytes | tuple[Address, str],
                  fixups: tuple[Fixup, ...] = ()) -> None:
        """``code`` followed by an immediate: bytes, or a label's address of a fixup kind."""
        if isinstance(immediate, tuple):
            target, kind = immediate
            fixup = Fixup(len(code), ref(target), kind)
            return self._emit(code + bytes(fixup.width), fixups + (fixup,))
        self._emit(code + immediate, fixups)

    def _emit_rm(self, opcode: bytes, reg: Reg | int, rm: Reg | Mem, *, w: bool = False,
                 imm: bytes | tuple[Address, str] = b"", prefix: bytes = b"") -> None:
        """``prefix [67] [REX] opcode ModR/M [SIB] [disp] [imm]``: ``reg`` is the ModR/M.reg
        register or the opcode's /digit, ``w`` asks for REX.W (a 64-bit operand size)."""
        head = prefix + prefixes(self.bits, w=w, reg=reg, rm=rm) + opcode
        body, fixups = modrm(reg.num if isinstance(reg, Reg) else reg, rm, self.bits)
        shifted = tuple(Fixup(f.offset + len(head), f.ref, f.kind) for f in fixups)
        self._emit_imm(head + body, imm, shifted)

    def _emit_opreg(self, opcode: int, reg: Reg, *, w: bool = False,
                    imm: bytes | tuple[Address, str] = b"") -> None:
        """``[REX] opcode+r [imm]``: the register in the opcode's low three bits, REX.B the fourth."""
        head = prefixes(self.bits, w=w, opreg=reg) + bytes([opcode + (reg.num & 7)])
        self._emit_imm(head, imm)

    def _emit_fixed(self, code: bytes, w: bool = False, prefix: bytes = b"") -> None:
        """An instruction without operands; ``w`` makes it the 64-bit one (REX.W)."""
        self._emit(prefix + prefixes(self.bits, w=w) + code)

    # ----------------------------------------------------------------- data movement

    def mov(self, dst: Reg | Mem, src: Reg | Mem | int | Label | LabelRef) -> None:
        """MOV: 88/89 /r (r/m, r), 8A/8B /r (r, r/m), B0+rb ib / B8+rd id (r, imm),
        C6/C7 /0 (r/m, imm), A0/A1 and A2/A3 (AL/EAX to and from a moffs32 address, i386
        only: in 64-bit mode they take a moffs64).  With REX.W: B8+r io, C7 /0 id."""
        if isinstance(src, (int, Label, LabelRef)):
            size = _operand_size(dst)
            if isinstance(dst, Reg):
                if size == 8:
                    return self._emit_opreg(0xB0, dst, imm=imm(_int(src), 8))
                if size == 32:
                    return self._emit_opreg(0xB8, dst, imm=_imm32(src, 32))
                return self._mov_r64_imm(dst, src)
            if size == 8:
                return self._emit_rm(b"\xC6", 0, dst, imm=imm(_int(src), 8))
            return self._emit_rm(b"\xC7", 0, dst, w=size == 64, imm=_imm32(src, size))
        size = _operand_size(dst, src)
        w, rexw = size != 8, size == 64
        if isinstance(dst, Reg) and isinstance(src, Reg):
            return self._emit_rm(bytes([0x88 | w]), src, dst, w=rexw)
        if isinstance(dst, Reg) and isinstance(src, Mem):
            if self.bits == 32 and dst.num == 0 and _is_abs(src):
                return self._emit_imm(bytes([0xA0 | w]), _imm32(src.disp, 32))
            return self._emit_rm(bytes([0x8A | w]), dst, src, w=rexw)
        if isinstance(dst, Mem) and isinstance(src, Reg):
            if self.bits == 32 and src.num == 0 and _is_abs(dst):
                return self._emit_imm(bytes([0xA2 | w]), _imm32(dst.disp, 32))
            return self._emit_rm(bytes([0x88 | w]), src, dst, w=rexw)
        raise AsmError(f"mov {dst!r}, {src!r}: no memory-to-memory form")

    def _mov_r64_imm(self, dst: Reg, src: int | Address) -> None:
        """MOV r64, imm, the shortest of three (SDM vol. 2, MOV): B8+rd id, which writes the
        32-bit register and so zero-extends (a value below 4 GiB); REX.W C7 /0 id, which
        sign-extends (a negative value down to -2**31); REX.W B8+rd io, the full imm64.
        A label's address takes the imm64 (correct wherever the image lands); write
        ``mov(ESI, label)`` for the 5-byte zero-extending form when the image is below 4 GiB."""
        if not isinstance(src, int):
            return self._emit_opreg(0xB8, dst, w=True, imm=(src, ABS64))
        value = signed(src, 64)
        if 0 <= value < 1 << 32:
            return self._emit_opreg(0xB8, dst, imm=imm(value, 32))
        if value >= -(1 << 31) and value < 0:
            return self._emit_rm(b"\xC7", 0, dst, w=True, imm=imm(value, 32))
        self._emit_opreg(0xB8, dst, w=True, imm=imm(value, 64))

    def movzx(self, dst: Reg, src: Reg | Mem) -> None:
        """MOVZX r32, r/m8: 0F B6 /r (REX.W for r64)."""
        self._extend(b"\x0F\xB6", dst, src)

    def movsx(self, dst: Reg, src: Reg | Mem) -> None:
        """MOVSX r32, r/m8: 0F BE /r (REX.W for r64)."""
        self._extend(b"\x0F\xBE", dst, src)

    def _extend(self, opcode: bytes, dst: Reg, src: Reg | Mem) -> None:
        if not (isinstance(dst, Reg) and dst.size in (32, 64)) or _size_of(src) not in (8, None):
            raise AsmError("movzx/movsx take a 32- or 64-bit register and an 8-bit source")
        self._emit_rm(opcode, dst, src, w=dst.size == 64)

    def movsxd(self, dst: Reg, src: Reg | Mem) -> None:
        """MOVSXD r64, r/m32: REX.W 63 /r (64-bit mode only)."""
        if not (isinstance(dst, Reg) and dst.size == 64) or _size_of(src) not in (32, None):
            raise AsmError("movsxd takes a 64-bit register and a 32-bit source")
        self._emit_rm(b"\x63", dst, src, w=True)

    def lea(self, dst: Reg, src: Mem) -> None:
        """LEA r32, m: 8D /r; LEA r64, m: REX.W 8D /r (``a.lea(RSI, rip(msg))``)."""
        if not (isinstance(dst, Reg) and dst.size in (32, 64) and isinstance(src, Mem)):
            raise AsmError("lea takes a 32- or 64-bit register and a memory operand")
        self._emit_rm(b"\x8D", dst, src, w=dst.size == 64)

    def xchg(self, a: Reg | Mem, b: Reg) -> None:
        """XCHG: 90+rd (EAX with r32; REX.W for RAX), 86/87 /r otherwise.  In 64-bit mode 90
        is NOP and does not zero-extend, so xchg eax, eax takes 87 C0 there."""
        size = _operand_size(a, b)
        w, rexw = size != 8, size == 64
        if w and isinstance(a, Reg) and (a.num == 0 or b.num == 0):
            other = b if a.num == 0 else a
            if not (self.bits == 64 and other.num == 0):
                return self._emit_opreg(0x90, other, w=rexw)
        self._emit_rm(bytes([0x86 | w]), b, a, w=rexw)

    def push(self, src: Reg | Mem | int | Label | LabelRef) -> None:
        """PUSH: 50+rd, 6A ib (sign-extended), 68 id, FF /6.  In 64-bit mode the operand
        size is 64 without REX.W (SDM vol. 2, table 2-6): r64, qword, and the immediate
        sign-extended to 64 bits."""
        stack = self.bits
        if isinstance(src, Reg):
            if src.size != stack:
                raise AsmError(f"push {src.name}: only {stack}-bit registers")
            return self._emit_opreg(0x50, src)
        if isinstance(src, int):
            value = simm32(src) if stack == 64 else signed(src, 32)
            if fits8(value):
                return self._emit(b"\x6A" + imm(value, 8))
            return self._emit(b"\x68" + imm(value, 32))
        if isinstance(src, (Label, LabelRef)):
            return self._emit_imm(b"\x68", _imm32(src, stack))
        if _operand_size(src) != stack:
            raise AsmError(f"push takes a {'dword' if stack == 32 else 'qword'} memory operand")
        self._emit_rm(b"\xFF", 6, src)

    def pop(self, dst: Reg | Mem) -> None:
        """POP: 58+rd, 8F /0 (64-bit operand size in 64-bit mode, as push)."""
        stack = self.bits
        if isinstance(dst, Reg):
            if dst.size != stack:
                raise AsmError(f"pop {dst.name}: only {stack}-bit registers")
            return self._emit_opreg(0x58, dst)
        if _operand_size(dst) != stack:
            raise AsmError(f"pop takes a {'dword' if stack == 32 else 'qword'} memory operand")
        self._emit_rm(b"\x8F", 0, dst)

    # ----------------------------------------------------------------- arithmetic

    def _alu(self, op: int, dst: Reg | Mem, src: Reg | Mem | int | Address) -> None:
        """The ALU row of the opcode map: op*8 + {0: r/m8,r8  1: r/m32,r32  2: r8,r/m8
        3: r32,r/m32  4: AL,imm8  5: EAX,imm32}; 80 /op ib, 81 /op id, 83 /op ib.  REX.W
        makes the 32-bit rows 64-bit, their immediates sign-extended."""
        if isinstance(src, (int, Label, LabelRef)):
            size = _operand_size(dst)
            if size == 8:
                v = imm(_int(src), 8)
                if isinstance(dst, Reg) and dst.num == 0:
                    return self._emit(bytes([op * 8 + 4]) + v)
                return self._emit_rm(b"\x80", op, dst, imm=v)
            rexw = size == 64
            if isinstance(src, int):
                value = simm32(src) if rexw else signed(src, 32)
                if fits8(value):
                    return self._emit_rm(b"\x83", op, dst, w=rexw, imm=imm(value, 8))
            if isinstance(dst, Reg) and dst.num == 0:
                code = prefixes(self.bits, w=rexw) + bytes([op * 8 + 5])
                return self._emit_imm(code, _imm32(src, size))
            return self._emit_rm(b"\x81", op, dst, w=rexw, imm=_imm32(src, size))
        size = _operand_size(dst, src)
        w, rexw = size != 8, size == 64
        if isinstance(src, Reg):
            return self._emit_rm(bytes([op * 8 + w]), src, dst, w=rexw)
        if isinstance(dst, Reg):
            return self._emit_rm(bytes([op * 8 + 2 + w]), dst, src, w=rexw)
        raise AsmError("no memory-to-memory form")

    def add(self, dst, src) -> None:
        """ADD (00-05, 80-83 /0)."""
        self._alu(0, dst, src)

    def or_(self, dst, src) -> None:
        """OR (08-0D, 80-83 /1)."""
        self._alu(1, dst, src)

    def adc(self, dst, src) -> None:
        """ADC (10-15, 80-83 /2)."""
        self._alu(2, dst, src)

    def sbb(self, dst, src) -> None:
        """SBB (18-1D, 80-83 /3)."""
        self._alu(3, dst, src)

    def and_(self, dst, src) -> None:
        """AND (20-25, 80-83 /4)."""
        self._alu(4, dst, src)

    def sub(self, dst, src) -> None:
        """SUB (28-2D, 80-83 /5)."""
        self._alu(5, dst, src)

    def xor(self, dst, src) -> None:
        """XOR (30-35, 80-83 /6)."""
        self._alu(6, dst, src)

    def cmp(self, dst, src) -> None:
        """CMP (38-3D, 80-83 /7)."""
        self._alu(7, dst, src)

    def test(self, dst: Reg | Mem, src: Reg | int) -> None:
        """TEST: 84/85 /r, A8 ib (AL), A9 id (EAX; REX.W for RAX), F6/F7 /0."""
        if isinstance(src, int):
            size = _operand_size(dst)
            w, rexw = size != 8, size == 64
            value = imm(src, 8) if size == 8 else _imm32(src, size)
            if isinstance(dst, Reg) and dst.num == 0:
                return self._emit(prefixes(self.bits, w=rexw) + bytes([0xA8 | w]) + value)
            return self._emit_rm(bytes([0xF6 | w]), 0, dst, w=rexw, imm=value)
        size = _operand_size(dst, src)
        self._emit_rm(bytes([0x84 | (size != 8)]), src, dst, w=size == 64)

    def inc(self, dst: Reg | Mem) -> None:
        """INC: 40+rd (i386 only: in 64-bit mode 40..4F are REX), FE /0, FF /0."""
        self._incdec(0, dst)

    def dec(self, dst: Reg | Mem) -> None:
        """DEC: 48+rd (i386 only), FE /1, FF /1."""
        self._incdec(1, dst)

    def _incdec(self, digit: int, dst: Reg | Mem) -> None:
        size = _operand_size(dst)
        if self.bits == 32 and isinstance(dst, Reg) and size == 32:
            return self._emit(bytes([0x40 + 8 * digit + dst.num]))
        self._emit_rm(bytes([0xFE | (size != 8)]), digit, dst, w=size == 64)

    def _unary(self, name: str, dst: Reg | Mem) -> None:
        """Group 3: F6 /digit (8-bit), F7 /digit (32-bit; REX.W for 64-bit)."""
        size = _operand_size(dst)
        self._emit_rm(bytes([0xF6 | (size != 8)]), _UNARY[name], dst, w=size == 64)

    def not_(self, dst) -> None:
        """NOT r/m: F6/F7 /2."""
        self._unary("not", dst)

    def neg(self, dst) -> None:
        """NEG r/m: F6/F7 /3."""
        self._unary("neg", dst)

    def mul(self, src) -> None:
        """MUL r/m (EDX:EAX = EAX * r/m): F6/F7 /4."""
        self._unary("mul", src)

    def div(self, src) -> None:
        """DIV r/m (EAX = EDX:EAX / r/m, EDX = remainder; RDX:RAX with r/m64): F6/F7 /6."""
        self._unary("div", src)

    def idiv(self, src) -> None:
        """IDIV r/m: F6/F7 /7."""
        self._unary("idiv", src)

    def _shift(self, name: str, dst: Reg | Mem, count: int | Reg) -> None:
        """Group 2: D0/D1 /digit (by 1), C0/C1 /digit ib, D2/D3 /digit (by CL); REX.W for
        r/m64, whose count is masked to 6 bits instead of 5."""
        size = _operand_size(dst)
        w, rexw = size != 8, size == 64
        digit = _SHIFT[name]
        if count is CL:
            return self._emit_rm(bytes([0xD2 | w]), digit, dst, w=rexw)
        limit = 63 if rexw else 31
        if not isinstance(count, int) or not 0 <= count <= limit:
            raise AsmError(f"{name} count must be 0..{limit} or cl, not {count!r}")
        if count == 1:
            return self._emit_rm(bytes([0xD0 | w]), digit, dst, w=rexw)
        self._emit_rm(bytes([0xC0 | w]), digit, dst, w=rexw, imm=bytes([count]))

    def shl(self, dst, count) -> None:
        """SHL r/m, imm8/1/CL (group 2 /4)."""
        self._shift("shl", dst, count)

    def shr(self, dst, count) -> None:
        """SHR r/m, imm8/1/CL (group 2 /5)."""
        self._shift("shr", dst, count)

    def sar(self, dst, count) -> None:
        """SAR r/m, imm8/1/CL (group 2 /7)."""
        self._shift("sar", dst, count)

    def rol(self, dst, count) -> None:
        """ROL r/m, imm8/1/CL (group 2 /0)."""
        self._shift("rol", dst, count)

    def ror(self, dst, count) -> None:
        """ROR r/m, imm8/1/CL (group 2 /1)."""
        self._shift("ror", dst, count)

    # ----------------------------------------------------------------- control flow

    def jmp(self, target: Label | Reg | Mem) -> None:
        """JMP: EB cb (rel8), E9 cd (rel32), FF /4 (r/m32; r/m64 in 64-bit mode)."""
        if isinstance(target, Label):
            return self.text.items.append(_Branch(b"\xEB", b"\xE9", target))
        self._indirect(4, target)

    def _indirect(self, digit: int, target: Reg | Mem) -> None:
        """FF /2 and FF /4: 64-bit operands in 64-bit mode, without REX.W (table 2-6)."""
        if self.bits == 64 and _size_of(target) not in (64, None):
            raise AsmError(f"an indirect jmp/call in 64-bit mode takes a 64-bit operand, "
                           f"not {target!r}")
        self._emit_rm(b"\xFF", digit, target)

    def j(self, cond: str, target: Label) -> None:
        """Jcc: 70+cc cb (rel8), 0F 80+cc cd (rel32)."""
        try:
            cc = CONDITIONS[cond]
        except KeyError:
            raise AsmError(f"unknown condition {cond!r}") from None
        if not isinstance(target, Label):
            raise AsmError("conditional jumps take a label")
        self.text.items.append(_Branch(bytes([0x70 + cc]), bytes([0x0F, 0x80 + cc]), target))

    def _short_only(self, name: str, op: bytes, target: Label) -> None:
        if not isinstance(target, Label):
            raise AsmError(f"{name} takes a label")
        self.text.items.append(_Branch(op, None, target, name=name))

    def jecxz(self, target: Label) -> None:
        """JECXZ: E3 cb; in 64-bit mode 67 E3 cb (E3 alone tests RCX there).  There is no
        rel32 form: the target must be within a short jump."""
        self._short_only("jecxz", b"\x67\xE3" if self.bits == 64 else b"\xE3", target)

    def jrcxz(self, target: Label) -> None:
        """JRCXZ: E3 cb (64-bit mode only), short only as jecxz."""
        if self.bits != 64:
            raise AsmError("jrcxz needs Assembler(bits=64)")
        self._short_only("jrcxz", b"\xE3", target)

    def loop(self, target: Label) -> None:
        """LOOP: E2 cb (ecx -= 1, jump while it is not 0; RCX in 64-bit mode).  Short only."""
        self._short_only("loop", b"\xE2", target)

    def call(self, target: Label | Reg | Mem) -> None:
        """CALL: E8 cd (rel32), FF /2 (r/m32; r/m64 in 64-bit mode)."""
        if isinstance(target, Label):
            return self.text.items.append(_Branch(None, b"\xE8", target, short=False))
        self._indirect(2, target)

    def ret(self, pop: int = 0) -> None:
        """RET: C3; RET imm16: C2 iw."""
        self._emit(b"\xC3" if pop == 0 else b"\xC2" + imm(pop, 16))

    def int_(self, vector: int) -> None:
        """INT imm8: CD ib (INT 3 is spelled CC only by int3)."""
        self._emit(b"\xCD" + imm(vector, 8))

    def int3(self) -> None:
        """INT3: CC."""
        self._emit(b"\xCC")

    def syscall(self) -> None:
        """SYSCALL: 0F 05, the x86-64 Linux system call (i386 Linux takes int 0x80)."""
        if self.bits != 64:
            raise AsmError("syscall needs Assembler(bits=64); i386 Linux takes int 0x80")
        self._emit(b"\x0F\x05")

    # ----------------------------------------------------------------- one-byte forms

    def nop(self) -> None:
        """NOP: 90."""
        self._emit(b"\x90")

    def hlt(self) -> None:
        """HLT: F4 (a privileged instruction: user code that runs it gets SIGSEGV)."""
        self._emit(b"\xF4")

    def cdq(self) -> None:
        """CDQ: 99 (EDX = sign of EAX)."""
        self._emit(b"\x99")

    def cqo(self) -> None:
        """CQO: REX.W 99 (RDX = sign of RAX; 64-bit mode only)."""
        self._emit_fixed(b"\x99", w=True)

    def cld(self) -> None:
        """CLD: FC (string instructions count up)."""
        self._emit(b"\xFC")

    def std(self) -> None:
        """STD: FD (string instructions count down)."""
        self._emit(b"\xFD")

    # String instructions address [ESI]/[EDI] and count ECX in i386 code, [RSI]/[RDI] and
    # RCX in 64-bit code: the same bytes.  F3 is REP/REPE, F2 REPNE; both precede REX.

    def movsb(self, rep: bool = False) -> None:
        """MOVSB: A4; with REP: F3 A4."""
        self._emit(b"\xF3\xA4" if rep else b"\xA4")

    def movsd(self, rep: bool = False) -> None:
        """MOVSD: A5; with REP: F3 A5."""
        self._emit(b"\xF3\xA5" if rep else b"\xA5")

    def movsq(self, rep: bool = False) -> None:
        """MOVSQ: REX.W A5; with REP: F3 REX.W A5."""
        self._emit_fixed(b"\xA5", w=True, prefix=b"\xF3" if rep else b"")

    def stosb(self, rep: bool = False) -> None:
        """STOSB: AA; with REP: F3 AA."""
        self._emit(b"\xF3\xAA" if rep else b"\xAA")

    def stosd(self, rep: bool = False) -> None:
        """STOSD: AB; with REP: F3 AB."""
        self._emit(b"\xF3\xAB" if rep else b"\xAB")

    def stosq(self, rep: bool = False) -> None:
        """STOSQ: REX.W AB; with REP: F3 REX.W AB."""
        self._emit_fixed(b"\xAB", w=True, prefix=b"\xF3" if rep else b"")

    def lodsb(self) -> None:
        """LODSB: AC."""
        self._emit(b"\xAC")

    def lodsd(self) -> None:
        """LODSD: AD (eax = [esi], esi += 4)."""
        self._emit(b"\xAD")

    def lodsq(self) -> None:
        """LODSQ: REX.W AD (rax = [rsi], rsi += 8)."""
        self._emit_fixed(b"\xAD", w=True)

    def cmpsb(self, repe: bool = False) -> None:
        """CMPSB: A6; with REPE: F3 A6."""
        self._emit(b"\xF3\xA6" if repe else b"\xA6")

    def scasb(self, repne: bool = False) -> None:
        """SCASB: AE; with REPNE: F2 AE."""
        self._emit(b"\xF2\xAE" if repne else b"\xAE")

    def rep_movsb(self) -> None:
        """REP MOVSB: copy ECX bytes from [ESI] to [EDI]."""
        self.movsb(rep=True)

    def repe_cmpsb(self) -> None:
        """REPE CMPSB: compare up to ECX bytes of [ESI] and [EDI] while equal."""
        self.cmpsb(repe=True)

    # ----------------------------------------------------------------- layout

    def _relax(self) -> list[int]:
        """Offsets of every text item, after growing short branches that do not reach."""
        items = self.text.items
        for lab in self._labels:
            if lab.section is None:
                raise AsmError(f"label {lab.name!r} is used or declared but never bound")
        while True:
            offsets = [0] * (len(items) + 1)
            pos = 0
            for i, item in enumerate(items):
                offsets[i] = pos
                pos += _item_size(item)
            offsets[len(items)] = pos
            grew = False
            for i, item in enumerate(items):
                if isinstance(item, _Branch) and item.short:
                    if item.target.section is not self.text:
                        raise AsmError(f"branch to {item.target.name!r}, which is not code")
                    rel = offsets[item.target.index] - (offsets[i] + item.size)
                    if not fits8(rel):
                        if item.near_op is None:
                            raise AsmError(f"{item.name} to {item.target.name!r} is out of reach "
                                           f"({rel} bytes); it has no near form")
                        item.short = False
                        grew = True
            if not grew:
                return offsets

    @property
    def text_size(self) -> int:
        return self._relax()[-1]

    def address_of(self, label: Label, bases: dict[str, int]) -> int:
        if label.section is None:
            raise AsmError(f"label {label.name!r} is never bound")
        if label.section is self.text:
            return bases["text"] + self._relax()[label.index]
        return bases[label.section.name] + label.index

    def link(self, bases: dict[str, int]) -> tuple[bytes, bytes]:
        """Encode text and data for the given section addresses; returns both images."""
        offsets = self._relax()
        text_base = bases["text"]

        def addr(lab: Label) -> int:
            if lab.section is self.text:
                return text_base + offsets[lab.index]
            assert lab.section is not None
            return bases[lab.section.name] + lab.index

        def patch(buf: bytearray, at: int, fixup: Fixup, end: int) -> None:
            buf[at:at + fixup.width] = resolve(fixup, addr(fixup.ref.label), end, self.bits)

        text = bytearray()
        for i, item in enumerate(self.text.items):
            if isinstance(item, _Insn):
                start = len(text)
                text += item.code
                for f in item.fixups:
                    patch(text, start + f.offset, f, text_base + len(text))
            else:
                end = offsets[i] + item.size
                rel = offsets[item.target.index] - end
                if item.short and item.short_op:
                    text += item.short_op + imm(rel, 8)
                else:
                    text += item.near_op + imm(rel, 32)
        data = bytearray()
        for item in self.data_section.items:
            if isinstance(item, _DataRef):
                fixup = Fixup(len(data), item.ref, item.kind)
                data += bytes(fixup.width)
                patch(data, fixup.offset, fixup, 0)
            else:
                data += item
        return bytes(text), bytes(data)


def _int(v: object) -> int:
    if not isinstance(v, int):
        raise AsmError(f"an 8-bit operand cannot hold an address ({v!r})")
    return v
