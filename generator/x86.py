"""An i386 encoder with labels and fixups: the machine code of webelf, written by Python.

The API follows AsmJit: one method per mnemonic, operands as objects::

    a = Assembler()
    loop = a.label("loop")
    a.bind(loop)
    a.mov(EAX, 0x167)
    a.int_(0x80)
    a.jmp(loop)

Encodings follow the opcode tables of the Intel SDM, volume 2 (chapter 2.1 for the
instruction format, tables 2-2 and 2-3 for 32-bit ModR/M and SIB); each method's docstring
names the rows it uses.  Where the manual offers several encodings, the shortest one is
taken, with ties broken the way NASM breaks them, so a listing reads like an assembler's.

Code goes to the ``text`` section; initialized bytes to ``data``; zero-filled space to
``bss``.  Labels are bound to a place in one section.  Branches start short (rel8) and are
relaxed to near (rel32) until every displacement fits (the classic monotone relaxation:
a branch only ever grows, so the loop ends).  Absolute references to labels (``mov ecx,
msg``) are resolved by :meth:`Assembler.link` once the ELF writer has chosen addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .errors import AsmError

__all__ = [
    "Assembler", "Label", "LabelRef", "Mem", "Reg", "Section", "byte", "dword",
    "EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI",
    "AL", "CL", "DL", "BL", "AH", "CH", "DH", "BH", "CONDITIONS",
]


# --------------------------------------------------------------------------- operands

@dataclass(frozen=True)
class Reg:
    """A general-purpose register: its 3-bit number in ModR/M and its width in bits."""

    name: str
    num: int
    size: int

    def __repr__(self) -> str:
        return self.name

    def __add__(self, disp: int | Label | LabelRef) -> Mem:
        return Mem(base=self, disp=disp)

    def __mul__(self, scale: int) -> _Scaled:
        return _Scaled(self, scale)


EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = (
    Reg(n, i, 32) for i, n in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"))
)
AL, CL, DL, BL, AH, CH, DH, BH = (
    Reg(n, i, 8) for i, n in enumerate(("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"))
)
REGS32 = (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI)
REGS8 = (AL, CL, DL, BL, AH, CH, DH, BH)


@dataclass(frozen=True)
class _Scaled:
    reg: Reg
    scale: int


class Label:
    """A place in a section, known by name; bound once, referenced any number of times."""

    __slots__ = ("name", "section", "index")

    def __init__(self, name: str) -> None:
        self.name = name
        self.section: Section | None = None
        self.index = -1  # item index in section (text) or byte offset (data, bss)

    def __repr__(self) -> str:
        return f"Label({self.name!r})"

    def __add__(self, addend: int) -> LabelRef:
        return LabelRef(self, addend)


@dataclass(frozen=True)
class LabelRef:
    """``label + addend``: the address of a label plus a constant, resolved at link time."""

    label: Label
    addend: int = 0

    def __add__(self, more: int) -> LabelRef:
        return LabelRef(self.label, self.addend + more)


Address = Union[Label, LabelRef]


@dataclass(frozen=True)
class Mem:
    """A memory operand ``[base + index*scale + disp]`` with an optional operand size."""

    base: Reg | None = None
    index: Reg | None = None
    scale: int = 1
    disp: int | Label | LabelRef = 0
    size: int | None = None

    def __post_init__(self) -> None:
        for r in (self.base, self.index):
            if r is not None and r.size != 32:
                raise AsmError(f"address registers must be 32-bit, not {r.name}")
        if self.index is ESP:
            raise AsmError("esp cannot be an index register")
        if self.scale not in (1, 2, 4, 8):
            raise AsmError(f"scale must be 1, 2, 4 or 8, not {self.scale}")
        if isinstance(self.disp, int) and not -(1 << 31) <= self.disp < (1 << 32):
            raise AsmError(f"displacement {self.disp:#x} does not fit in 32 bits")

    def __add__(self, disp: int) -> Mem:
        if isinstance(self.disp, int):
            return Mem(self.base, self.index, self.scale, self.disp + disp, self.size)
        return Mem(self.base, self.index, self.scale, _ref(self.disp) + disp, self.size)


class _SizedPtr:
    """``dword[EBX + 4]``, ``byte[msg]``: attach an operand size to an address expression."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __getitem__(self, where: object) -> Mem:
        if isinstance(where, Mem):
            return Mem(where.base, where.index, where.scale, where.disp, self.size)
        if isinstance(where, Reg):
            return Mem(base=where, size=self.size)
        if isinstance(where, (Label, LabelRef, int)):
            return Mem(disp=where, size=self.size)
        if isinstance(where, _Scaled):
            return Mem(index=where.reg, scale=where.scale, size=self.size)
        raise AsmError(f"cannot address {where!r}")


byte = _SizedPtr(8)
dword = _SizedPtr(32)


def _ref(x: Label | LabelRef) -> LabelRef:
    return x if isinstance(x, LabelRef) else LabelRef(x)


def _fits8(v: int) -> bool:
    return -128 <= v <= 127


def _signed(v: int, bits: int) -> int:
    """``0xFFFFFFFF`` and ``-1`` are the same 32-bit value; the short forms need the signed one."""
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise AsmError(f"immediate {v:#x} does not fit in {bits} bits")
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def _imm(v: int, bits: int) -> bytes:
    """An immediate of ``bits`` bits; accepts signed and unsigned spellings of it."""
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise AsmError(f"immediate {v:#x} does not fit in {bits} bits")
    return (v & ((1 << bits) - 1)).to_bytes(bits // 8, "little")


# --------------------------------------------------------------------------- sections

@dataclass
class _Fixup:
    """An absolute 32-bit address to patch at ``offset`` in an instruction or data."""

    offset: int
    ref: LabelRef


@dataclass
class _Insn:
    code: bytes
    fixups: tuple[_Fixup, ...] = ()


@dataclass
class _Branch:
    """jmp/jcc/call to a label: its size depends on where the label ends up."""

    short_op: bytes | None  # rel8 form, None when there is none (call)
    near_op: bytes | None  # rel32 form, None when there is none (jecxz)
    target: Label
    short: bool = True

    @property
    def size(self) -> int:
        return len(self.short_op) + 1 if self.short and self.short_op else len(self.near_op) + 4


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
        return 4
    raise TypeError(item)


@dataclass
class _DataRef:
    """A 32-bit absolute address stored as data (``dd label``)."""

    ref: LabelRef


# --------------------------------------------------------------------------- encoding

def _modrm(reg_field: int, rm: Reg | Mem) -> tuple[bytes, tuple[_Fixup, ...]]:
    """ModR/M (+SIB, +disp) bytes for ``rm``, with ``reg_field`` in bits 5..3.

    Intel SDM vol. 2, table 2-2 (32-bit ModR/M) and table 2-3 (SIB).  The special cases:
    rm=100 means "a SIB follows" (so [esp] needs a SIB), mod=00 rm=101 means "disp32, no
    base" (so [ebp] needs mod=01 with a zero disp8), and SIB base=101 with mod=00 also
    means "disp32, no base".
    """
    if isinstance(rm, Reg):
        return bytes([0xC0 | reg_field << 3 | rm.num]), ()
    disp = rm.disp if not isinstance(rm.disp, int) else _signed(rm.disp, 32)
    fixups: tuple[_Fixup, ...] = ()
    symbolic = not isinstance(disp, int)
    base, index = rm.base, rm.index
    if base is None and index is None:
        out = bytes([reg_field << 3 | 0b101])
        if symbolic:
            return out + b"\0\0\0\0", (_Fixup(1, _ref(disp)),)
        return out + _imm(disp, 32), ()
    if base is None:  # [index*scale + disp32]: SIB with base=101, mod=00
        sib = _sib(rm.scale, index, 0b101)
        out = bytes([reg_field << 3 | 0b100, sib])
        if symbolic:
            return out + b"\0\0\0\0", (_Fixup(2, _ref(disp)),)
        return out + _imm(disp, 32), ()
    if symbolic:
        mod, dbytes = 0b10, b"\0\0\0\0"
    elif disp == 0 and base is not EBP:
        mod, dbytes = 0b00, b""
    elif _fits8(disp):
        mod, dbytes = 0b01, _imm(disp, 8)
    else:
        mod, dbytes = 0b10, _imm(disp, 32)
    if index is None and base is not ESP:
        out = bytes([mod << 6 | reg_field << 3 | base.num])
    else:
        idx = index.num if index is not None else 0b100  # 100: no index
        out = bytes([mod << 6 | reg_field << 3 | 0b100, _sib(rm.scale, idx, base.num)])
    if symbolic:
        fixups = (_Fixup(len(out), _ref(disp)),)
    return out + dbytes, fixups


def _sib(scale: int, index: Reg | int, base: int) -> int:
    idx = index if isinstance(index, int) else index.num
    return {1: 0, 2: 1, 4: 2, 8: 3}[scale] << 6 | idx << 3 | base


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
        raise AsmError(f"operand size unknown, say byte[...] or dword[...]: {ops!r}")
    return sizes.pop()


def _is_abs(m: object) -> bool:
    return isinstance(m, Mem) and m.base is None and m.index is None


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
    """Collects instructions and data, then lays them out and resolves every label."""

    def __init__(self) -> None:
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
        """Append a 32-bit absolute address to data (a pointer table entry)."""
        self.data_section.align(align)
        lab = self._bind(self.label(name), self.data_section, self.data_section.size)
        self.data_section.items.append(_DataRef(_ref(target)))
        return lab

    def reserve(self, size: int, name: str | None = None, align: int = 4) -> Label:
        """Reserve ``size`` zero-filled bytes of bss; they cost nothing in the file."""
        self.bss.align(align)
        lab = self._bind(self.label(name), self.bss, self.bss.size_bss)
        self.bss.size_bss += size
        return lab

    # ----------------------------------------------------------------- emission

    def _emit(self, code: bytes, fixups: tuple[_Fixup, ...] = ()) -> None:
        self.text.items.append(_Insn(bytes(code), fixups))

    def _emit_modrm(self, opcode: bytes, reg_field: int, rm: Reg | Mem, tail: bytes = b"") -> None:
        modrm, fixups = _modrm(reg_field, rm)
        shift = len(opcode)
        self._emit(opcode + modrm + tail, tuple(_Fixup(f.offset + shift, f.ref) for f in fixups))

    def _emit_imm32(self, opcode: bytes, value: int | Label | LabelRef) -> None:
        if isinstance(value, int):
            self._emit(opcode + _imm(value, 32))
        else:
            self._emit(opcode + b"\0\0\0\0", (_Fixup(len(opcode), _ref(value)),))

    # ----------------------------------------------------------------- data movement

    def mov(self, dst: Reg | Mem, src: Reg | Mem | int | Label | LabelRef) -> None:
        """MOV: 88/89 /r (r/m, r), 8A/8B /r (r, r/m), B0+rb ib / B8+rd id (r, imm),
        C6/C7 /0 (r/m, imm), A0/A1 and A2/A3 (AL/EAX to and from a moffs32 address)."""
        if isinstance(src, (int, Label, LabelRef)):
            size = _operand_size(dst)
            if isinstance(dst, Reg):
                if size == 8:
                    return self._emit(bytes([0xB0 + dst.num]) + _imm(_int(src), 8))
                return self._emit_imm32(bytes([0xB8 + dst.num]), src)
            if size == 8:
                return self._emit_modrm(b"\xC6", 0, dst, _imm(_int(src), 8))
            return self._mem_imm32(b"\xC7", 0, dst, src)
        size = _operand_size(dst, src)
        w = 1 if size == 32 else 0
        if isinstance(dst, Reg) and isinstance(src, Reg):
            return self._emit_modrm(bytes([0x88 | w]), src.num, dst)
        if isinstance(dst, Reg) and isinstance(src, Mem):
            if dst.num == 0 and _is_abs(src):
                return self._moffs(0xA0 | w, src)
            return self._emit_modrm(bytes([0x8A | w]), dst.num, src)
        if isinstance(dst, Mem) and isinstance(src, Reg):
            if src.num == 0 and _is_abs(dst):
                return self._moffs(0xA2 | w, dst)
            return self._emit_modrm(bytes([0x88 | w]), src.num, dst)
        raise AsmError(f"mov {dst!r}, {src!r}: no memory-to-memory form")

    def _moffs(self, opcode: int, m: Mem) -> None:
        self._emit_imm32(bytes([opcode]), m.disp)

    def _mem_imm32(self, opcode: bytes, digit: int, dst: Reg | Mem, src: int | Address) -> None:
        modrm, fixups = _modrm(digit, dst)
        code = opcode + modrm
        fx = [_Fixup(f.offset + len(opcode), f.ref) for f in fixups]
        if isinstance(src, int):
            code += _imm(src, 32)
        else:
            fx.append(_Fixup(len(code), _ref(src)))
            code += b"\0\0\0\0"
        self._emit(code, tuple(fx))

    def movzx(self, dst: Reg, src: Reg | Mem) -> None:
        """MOVZX r32, r/m8: 0F B6 /r."""
        self._extend(b"\x0F\xB6", dst, src)

    def movsx(self, dst: Reg, src: Reg | Mem) -> None:
        """MOVSX r32, r/m8: 0F BE /r."""
        self._extend(b"\x0F\xBE", dst, src)

    def _extend(self, opcode: bytes, dst: Reg, src: Reg | Mem) -> None:
        if not (isinstance(dst, Reg) and dst.size == 32) or _size_of(src) not in (8, None):
            raise AsmError("movzx/movsx take a 32-bit register and an 8-bit source")
        self._emit_modrm(opcode, dst.num, src)

    def lea(self, dst: Reg, src: Mem) -> None:
        """LEA r32, m: 8D /r."""
        if not (isinstance(dst, Reg) and dst.size == 32 and isinstance(src, Mem)):
            raise AsmError("lea takes a 32-bit register and a memory operand")
        self._emit_modrm(b"\x8D", dst.num, src)

    def xchg(self, a: Reg | Mem, b: Reg) -> None:
        """XCHG: 90+rd (EAX with r32), 86/87 /r otherwise."""
        size = _operand_size(a, b)
        if size == 32 and isinstance(a, Reg) and (a.num == 0 or b.num == 0):
            other = b if a.num == 0 else a
            return self._emit(bytes([0x90 + other.num]))
        self._emit_modrm(bytes([0x86 | (size == 32)]), b.num, a)

    def push(self, src: Reg | Mem | int | Label | LabelRef) -> None:
        """PUSH: 50+rd, 6A ib (sign-extended), 68 id, FF /6."""
        if isinstance(src, Reg):
            if src.size != 32:
                raise AsmError(f"push {src.name}: only 32-bit registers")
            return self._emit(bytes([0x50 + src.num]))
        if isinstance(src, int):
            if _fits8(_signed(src, 32)):
                return self._emit(b"\x6A" + _imm(_signed(src, 32), 8))
            return self._emit(b"\x68" + _imm(src, 32))
        if isinstance(src, (Label, LabelRef)):
            return self._emit_imm32(b"\x68", src)
        if _operand_size(src) != 32:
            raise AsmError("push takes a dword memory operand")
        self._emit_modrm(b"\xFF", 6, src)

    def pop(self, dst: Reg | Mem) -> None:
        """POP: 58+rd, 8F /0."""
        if isinstance(dst, Reg):
            if dst.size != 32:
                raise AsmError(f"pop {dst.name}: only 32-bit registers")
            return self._emit(bytes([0x58 + dst.num]))
        if _operand_size(dst) != 32:
            raise AsmError("pop takes a dword memory operand")
        self._emit_modrm(b"\x8F", 0, dst)

    # ----------------------------------------------------------------- arithmetic

    def _alu(self, op: int, dst: Reg | Mem, src: Reg | Mem | int | Address) -> None:
        """The ALU row of the opcode map: op*8 + {0: r/m8,r8  1: r/m32,r32  2: r8,r/m8
        3: r32,r/m32  4: AL,imm8  5: EAX,imm32}; 80 /op ib, 81 /op id, 83 /op ib."""
        if isinstance(src, (int, Label, LabelRef)):
            size = _operand_size(dst)
            if size == 8:
                v = _imm(_int(src), 8)
                if dst is AL:
                    return self._emit(bytes([op * 8 + 4]) + v)
                return self._emit_modrm(b"\x80", op, dst, v)
            if isinstance(src, int) and _fits8(_signed(src, 32)):
                return self._emit_modrm(b"\x83", op, dst, _imm(_signed(src, 32), 8))
            if dst is EAX:
                return self._emit_imm32(bytes([op * 8 + 5]), src)
            return self._mem_imm32(b"\x81", op, dst, src)
        size = _operand_size(dst, src)
        w = 1 if size == 32 else 0
        if isinstance(src, Reg):
            return self._emit_modrm(bytes([op * 8 + w]), src.num, dst)
        if isinstance(dst, Reg):
            return self._emit_modrm(bytes([op * 8 + 2 + w]), dst.num, src)
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
        """TEST: 84/85 /r, A8 ib (AL), A9 id (EAX), F6/F7 /0."""
        if isinstance(src, int):
            size = _operand_size(dst)
            if dst in (AL, EAX):
                return self._emit(bytes([0xA8 | (size == 32)]) + _imm(src, size))
            return self._emit_modrm(bytes([0xF6 | (size == 32)]), 0, dst, _imm(src, size))
        size = _operand_size(dst, src)
        self._emit_modrm(bytes([0x84 | (size == 32)]), src.num, dst)

    def inc(self, dst: Reg | Mem) -> None:
        """INC: 40+rd, FE /0, FF /0."""
        self._incdec(0, dst)

    def dec(self, dst: Reg | Mem) -> None:
        """DEC: 48+rd, FE /1, FF /1."""
        self._incdec(1, dst)

    def _incdec(self, digit: int, dst: Reg | Mem) -> None:
        size = _operand_size(dst)
        if isinstance(dst, Reg) and size == 32:
            return self._emit(bytes([0x40 + 8 * digit + dst.num]))
        self._emit_modrm(bytes([0xFE | (size == 32)]), digit, dst)

    def _unary(self, name: str, dst: Reg | Mem) -> None:
        """Group 3: F6 /digit (8-bit), F7 /digit (32-bit)."""
        self._emit_modrm(bytes([0xF6 | (_operand_size(dst) == 32)]), _UNARY[name], dst)

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
        """DIV r/m (EAX = EDX:EAX / r/m, EDX = remainder): F6/F7 /6."""
        self._unary("div", src)

    def idiv(self, src) -> None:
        """IDIV r/m: F6/F7 /7."""
        self._unary("idiv", src)

    def _shift(self, name: str, dst: Reg | Mem, count: int | Reg) -> None:
        """Group 2: D0/D1 /digit (by 1), C0/C1 /digit ib, D2/D3 /digit (by CL)."""
        w = _operand_size(dst) == 32
        digit = _SHIFT[name]
        if count is CL:
            return self._emit_modrm(bytes([0xD2 | w]), digit, dst)
        if not isinstance(count, int) or not 0 <= count <= 31:
            raise AsmError(f"{name} count must be 0..31 or cl, not {count!r}")
        if count == 1:
            return self._emit_modrm(bytes([0xD0 | w]), digit, dst)
        self._emit_modrm(bytes([0xC0 | w]), digit, dst, bytes([count]))

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
        """JMP: EB cb (rel8), E9 cd (rel32), FF /4 (r/m32)."""
        if isinstance(target, Label):
            return self.text.items.append(_Branch(b"\xEB", b"\xE9", target))
        self._emit_modrm(b"\xFF", 4, target)

    def j(self, cond: str, target: Label) -> None:
        """Jcc: 70+cc cb (rel8), 0F 80+cc cd (rel32)."""
        try:
            cc = CONDITIONS[cond]
        except KeyError:
            raise AsmError(f"unknown condition {cond!r}") from None
        if not isinstance(target, Label):
            raise AsmError("conditional jumps take a label")
        self.text.items.append(_Branch(bytes([0x70 + cc]), bytes([0x0F, 0x80 + cc]), target))

    def jecxz(self, target: Label) -> None:
        """JECXZ: E3 cb.  There is no rel32 form: the target must be within a short jump."""
        if not isinstance(target, Label):
            raise AsmError("jecxz takes a label")
        self.text.items.append(_Branch(b"\xE3", None, target))

    def loop(self, target: Label) -> None:
        """LOOP: E2 cb (ecx -= 1, jump while it is not 0).  Short only, as jecxz."""
        if not isinstance(target, Label):
            raise AsmError("loop takes a label")
        self.text.items.append(_Branch(b"\xE2", None, target))

    def call(self, target: Label | Reg | Mem) -> None:
        """CALL: E8 cd (rel32), FF /2 (r/m32)."""
        if isinstance(target, Label):
            return self.text.items.append(_Branch(None, b"\xE8", target, short=False))
        self._emit_modrm(b"\xFF", 2, target)

    def ret(self, pop: int = 0) -> None:
        """RET: C3; RET imm16: C2 iw."""
        self._emit(b"\xC3" if pop == 0 else b"\xC2" + _imm(pop, 16))

    def int_(self, vector: int) -> None:
        """INT imm8: CD ib (INT 3 is spelled CC only by int3)."""
        self._emit(b"\xCD" + _imm(vector, 8))

    def int3(self) -> None:
        """INT3: CC."""
        self._emit(b"\xCC")

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

    def cld(self) -> None:
        """CLD: FC (string instructions count up)."""
        self._emit(b"\xFC")

    def std(self) -> None:
        """STD: FD (string instructions count down)."""
        self._emit(b"\xFD")

    def movsb(self, rep: bool = False) -> None:
        """MOVSB: A4; with REP: F3 A4."""
        self._emit(b"\xF3\xA4" if rep else b"\xA4")

    def movsd(self, rep: bool = False) -> None:
        """MOVSD: A5; with REP: F3 A5."""
        self._emit(b"\xF3\xA5" if rep else b"\xA5")

    def stosb(self, rep: bool = False) -> None:
        """STOSB: AA; with REP: F3 AA."""
        self._emit(b"\xF3\xAA" if rep else b"\xAA")

    def lodsb(self) -> None:
        """LODSB: AC."""
        self._emit(b"\xAC")

    def lodsd(self) -> None:
        """LODSD: AD (eax = [esi], esi += 4)."""
        self._emit(b"\xAD")

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
                    if not _fits8(rel):
                        if item.near_op is None:
                            op = {0xE3: "jecxz", 0xE2: "loop"}[item.short_op[0]]
                            raise AsmError(f"{op} to {item.target.name!r} is out of reach "
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

        def patch(buf: bytearray, at: int, ref: LabelRef) -> None:
            buf[at:at + 4] = ((addr(ref.label) + ref.addend) & 0xFFFFFFFF).to_bytes(4, "little")

        text = bytearray()
        for i, item in enumerate(self.text.items):
            if isinstance(item, _Insn):
                start = len(text)
                text += item.code
                for f in item.fixups:
                    patch(text, start + f.offset, f.ref)
            else:
                end = offsets[i] + item.size
                rel = offsets[item.target.index] - end
                if item.short and item.short_op:
                    text += item.short_op + _imm(rel, 8)
                else:
                    text += item.near_op + _imm(rel, 32)
        data = bytearray()
        for item in self.data_section.items:
            if isinstance(item, _DataRef):
                data += b"\0\0\0\0"
                patch(data, len(data) - 4, item.ref)
            else:
                data += item
        return bytes(text), bytes(data)


def _int(v: object) -> int:
    if not isinstance(v, int):
        raise AsmError(f"an 8-bit operand cannot hold an address ({v!r})")
    return v
