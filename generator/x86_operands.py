"""The operands of :mod:`generator.x86`: registers, memory references, labels, immediates.

Registers carry the number the manual gives them (Intel SDM vol. 2, section 2.2.1.2, table
2-4 "Register Field Encoding" for 64-bit mode): 0..7 fit the 3-bit fields of ModR/M, SIB and
the opcode byte; 8..15 (R8..R15) put their fourth bit in REX.R, REX.X or REX.B.  Two byte
registers share each of the numbers 4..7: AH, CH, DH, BH without a REX prefix, SPL, BPL, SIL,
DIL with one (section 2.2.1.2, "byte registers"), so each knows which side of that line it
is on.

Memory operands are ``[base + index*scale + disp]``; ``rip(label)`` (or ``RIP + label``) is
the 64-bit mode's RIP-relative form (section 2.2.1.6).  Nothing here knows the mode: the
encoder refuses a 64-bit operand in 32-bit code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

from .errors import AsmError


@dataclass(frozen=True)
class Reg:
    """A general-purpose register: its number (0..15), its width in bits, and whether it
    exists only with a REX prefix (SPL..DIL) or only without one (AH..BH)."""

    name: str
    num: int
    size: int
    rex: bool = False
    high: bool = False

    def __repr__(self) -> str:
        return self.name

    def __add__(self, other: int | Label | LabelRef | Reg | _Scaled) -> Mem:
        if isinstance(other, Reg):
            return Mem(base=self, index=other)
        if isinstance(other, _Scaled):
            return Mem(base=self, index=other.reg, scale=other.scale)
        return Mem(base=self, disp=other)

    def __mul__(self, scale: int) -> _Scaled:
        return _Scaled(self, scale)


_NAMES64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = (
    Reg(n, i, 32) for i, n in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"))
)
R8D, R9D, R10D, R11D, R12D, R13D, R14D, R15D = (Reg(f"r{i}d", i, 32) for i in range(8, 16))
RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 = (
    Reg(n, i, 64) for i, n in enumerate(_NAMES64)
)
AL, CL, DL, BL = (Reg(n, i, 8) for i, n in enumerate(("al", "cl", "dl", "bl")))
AH, CH, DH, BH = (Reg(n, i, 8, high=True) for i, n in enumerate(("ah", "ch", "dh", "bh"), 4))
SPL, BPL, SIL, DIL = (Reg(n, i, 8, rex=True) for i, n in enumerate(("spl", "bpl", "sil", "dil"), 4))
R8B, R9B, R10B, R11B, R12B, R13B, R14B, R15B = (Reg(f"r{i}b", i, 8) for i in range(8, 16))

#: RIP as a base: ``RIP + label`` addresses ``label`` relative to the next instruction.
RIP = Reg("rip", -1, 64)

REGS32 = (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI)
REGS8 = (AL, CL, DL, BL, AH, CH, DH, BH)
#: The registers of 64-bit mode, by number.
REGS64 = (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15)
REGS32_64 = REGS32 + (R8D, R9D, R10D, R11D, R12D, R13D, R14D, R15D)
REGS8_REX = (AL, CL, DL, BL, SPL, BPL, SIL, DIL, R8B, R9B, R10B, R11B, R12B, R13B, R14B, R15B)


@dataclass(frozen=True)
class _Scaled:
    reg: Reg
    scale: int


class Label:
    """A place in a section, known by name; bound once, referenced any number of times."""

    __slots__ = ("name", "section", "index")

    def __init__(self, name: str) -> None:
        self.name = name
        self.section = None  # the Section it is bound in
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
    """A memory operand ``[base + index*scale + disp]`` with an optional operand size.

    The address registers are all 32-bit or all 64-bit (in 64-bit mode, 32-bit ones cost
    an address-size prefix, 67); ``base=RIP`` is RIP-relative and takes no index.
    """

    base: Reg | None = None
    index: Reg | None = None
    scale: int = 1
    disp: int | Label | LabelRef = 0
    size: int | None = None

    def __post_init__(self) -> None:
        regs = [r for r in (self.base, self.index) if r is not None]
        for r in regs:
            if r.size not in (32, 64):
                raise AsmError(f"address registers must be 32- or 64-bit, not {r.name}")
        if len({r.size for r in regs}) > 1:
            raise AsmError(f"address registers of two sizes: {self.base!r}, {self.index!r}")
        if self.index is RIP or (self.base is RIP and self.index is not None):
            raise AsmError("rip takes no index register")
        if self.index is not None and self.index.num == 4:
            raise AsmError(f"{self.index.name} cannot be an index register")
        if self.scale not in (1, 2, 4, 8):
            raise AsmError(f"scale must be 1, 2, 4 or 8, not {self.scale}")
        if isinstance(self.disp, int) and not -(1 << 31) <= self.disp < (1 << 32):
            raise AsmError(f"displacement {self.disp:#x} does not fit in 32 bits")

    @property
    def address_size(self) -> int | None:
        """32 or 64 from the address registers; None for an absolute address."""
        reg = self.base or self.index
        return reg.size if reg is not None else None

    def __add__(self, disp: int) -> Mem:
        if isinstance(self.disp, int):
            return replace(self, disp=self.disp + disp)
        return replace(self, disp=ref(self.disp) + disp)


def rip(target: int | Label | LabelRef, size: int | None = None) -> Mem:
    """``[rip + target]``: a label's address relative to the next instruction (64-bit mode
    only; an integer is taken as the displacement itself)."""
    return Mem(base=RIP, disp=target, size=size)


class _SizedPtr:
    """``dword[EBX + 4]``, ``byte[msg]``: attach an operand size to an address expression."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __getitem__(self, where: object) -> Mem:
        if isinstance(where, Mem):
            return replace(where, size=self.size)
        if isinstance(where, Reg):
            return Mem(base=where, size=self.size)
        if isinstance(where, (Label, LabelRef, int)):
            return Mem(disp=where, size=self.size)
        if isinstance(where, _Scaled):
            return Mem(index=where.reg, scale=where.scale, size=self.size)
        raise AsmError(f"cannot address {where!r}")


byte = _SizedPtr(8)
dword = _SizedPtr(32)
qword = _SizedPtr(64)


def ref(x: Label | LabelRef) -> LabelRef:
    return x if isinstance(x, LabelRef) else LabelRef(x)


def fits8(v: int) -> bool:
    return -128 <= v <= 127


def signed(v: int, bits: int) -> int:
    """``0xFFFFFFFF`` and ``-1`` are the same 32-bit value; the short forms need the signed one."""
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise AsmError(f"immediate {v:#x} does not fit in {bits} bits")
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def imm(v: int, bits: int) -> bytes:
    """An immediate of ``bits`` bits; accepts signed and unsigned spellings of it."""
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise AsmError(f"immediate {v:#x} does not fit in {bits} bits")
    return (v & ((1 << bits) - 1)).to_bytes(bits // 8, "little")


def simm32(v: int) -> int:
    """A 64-bit operation's immediate, which the CPU sign-extends from 32 bits (SDM vol. 2,
    section 2.2.1.5): ``-1`` and ``0xFFFFFFFFFFFFFFFF`` are fine, ``0xFFFFFFFF`` is not."""
    v = signed(v, 64)
    if not -(1 << 31) <= v < (1 << 31):
        raise AsmError(f"immediate {v:#x} is not a sign-extended 32-bit value "
                       "(only mov r64, imm64 takes a 64-bit immediate)")
    return v
