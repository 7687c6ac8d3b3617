"""The encoder, judged by capstone: our bytes must disassemble to the instruction we meant.

Each check compares structure, not text: capstone's mnemonic and its decoded operands
(register names, immediate values, memory base/index/scale/displacement/size), and that
capstone consumed exactly the bytes we emitted.  Hypothesis draws registers and edge
immediates; every form the generator's server uses is covered, and then some.
"""

from __future__ import annotations

import capstone
import pytest
from capstone import x86_const as X
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.errors import AsmError
from generator.x86 import (
    AL, BL, CL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, REGS8, REGS32, Assembler, Mem, byte, dword,
)

BASE = 0x08048000
CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
CS.detail = True


def encode(build) -> bytes:
    a = Assembler()
    build(a)
    text, _ = a.link({"text": BASE, "data": BASE + 0x10000, "bss": BASE + 0x20000})
    return text


def decode_one(code: bytes):
    insns = list(CS.disasm(code, BASE))
    assert len(insns) == 1, f"{code.hex()} decodes to {[(i.mnemonic, i.op_str) for i in insns]}"
    insn = insns[0]
    assert insn.size == len(code), f"capstone read {insn.size} of {len(code)} bytes: {code.hex()}"
    return insn


def operand(insn, op):
    """Capstone's operand as a comparable tuple, immediates reduced to their width."""
    if op.type == X.X86_OP_REG:
        return ("reg", insn.reg_name(op.reg))
    if op.type == X.X86_OP_IMM:
        return ("imm", op.imm & ((1 << (8 * op.size)) - 1) if op.size else op.imm)
    m = op.mem
    return ("mem", insn.reg_name(m.base) if m.base else None,
            insn.reg_name(m.index) if m.index else None,
            m.scale if m.index else 1, m.disp & 0xFFFFFFFF, op.size * 8)


def expect(x, size=None):
    """Our operand in the same shape; ``size`` is the operation width for immediates."""
    if isinstance(x, int):
        return ("imm", x & ((1 << size) - 1))
    if isinstance(x, Mem):
        return ("mem", x.base.name if x.base else None, x.index.name if x.index else None,
                x.scale if x.index else 1, x.disp & 0xFFFFFFFF, x.size)
    return ("reg", x.name)


def check(mnemonic, *ops, size=32, build=None):
    code = encode(build or (lambda a: getattr(a, mnemonic)(*ops)))
    insn = decode_one(code)
    name = mnemonic.rstrip("_")
    assert insn.mnemonic == name, f"{code.hex()}: {insn.mnemonic} {insn.op_str}"
    got = [operand(insn, o) for o in insn.operands]
    want = [expect(o, size) for o in ops]
    assert got == want, f"{code.hex()}: {insn.mnemonic} {insn.op_str}"
    return code


# ---------------------------------------------------------------------- strategies

reg32 = st.sampled_from(REGS32)
reg8 = st.sampled_from(REGS8)
EDGES32 = [0, 1, 2, -1, 127, 128, -128, -129, 255, 256, 0x7FFF, 0x8000, 0x7FFFFFFF,
           -0x80000000, 0xFFFFFFFF, 0x80000000]
imm32 = st.sampled_from(EDGES32) | st.integers(-(1 << 31), (1 << 32) - 1)
imm8 = st.sampled_from([0, 1, -1, 127, -128, 128, 255]) | st.integers(-128, 255)
disp = st.sampled_from([0, 1, -1, 127, 128, -128, -129, 0x7FFFFFFF, -0x80000000]) | st.integers(-(1 << 31), (1 << 31) - 1)


@st.composite
def mem(draw, size=32):
    base = draw(st.none() | reg32)
    index = draw(st.none() | st.sampled_from([r for r in REGS32 if r is not ESP]))
    scale = draw(st.sampled_from([1, 2, 4, 8])) if index else 1
    return Mem(base, index, scale, draw(disp), size)


def rm(size):
    return (reg32 if size == 32 else reg8) | mem(size)


# ---------------------------------------------------------------------- two-operand ALU

ALU = ["add", "or_", "adc", "sbb", "and_", "sub", "xor", "cmp"]


@settings(max_examples=300)
@given(st.sampled_from(ALU), rm(32), reg32)
def test_alu_rm32_r32(op, dst, src):
    check(op, dst, src)


@settings(max_examples=300)
@given(st.sampled_from(ALU), reg32, mem(32))
def test_alu_r32_m32(op, dst, src):
    check(op, dst, src)


@settings(max_examples=300)
@given(st.sampled_from(ALU), rm(8), reg8)
def test_alu_rm8_r8(op, dst, src):
    check(op, dst, src, size=8)


@settings(max_examples=300)
@given(st.sampled_from(ALU), rm(32), imm32)
def test_alu_rm32_imm(op, dst, src):
    code = check(op, dst, src)
    value = src - (1 << 32) if src >= 1 << 31 else src
    if -128 <= value <= 127:
        assert code[0] == 0x83, "an immediate that fits in a byte takes the 83 /digit ib form"


@settings(max_examples=300)
@given(st.sampled_from(ALU), rm(8), imm8)
def test_alu_rm8_imm8(op, dst, src):
    check(op, dst, src, size=8)


def test_alu_short_accumulator_forms():
    assert check("add", EAX, 0x12345) == bytes([0x05]) + (0x12345).to_bytes(4, "little")
    assert check("cmp", AL, 0x41, size=8) == b"\x3C\x41"
    assert check("sub", EAX, 1) == b"\x83\xE8\x01"  # ib beats the accumulator's id


# ---------------------------------------------------------------------- mov and friends

@settings(max_examples=300)
@given(rm(32), reg32)
def test_mov_rm32_r32(dst, src):
    check("mov", dst, src)


@settings(max_examples=300)
@given(reg32, mem(32))
def test_mov_r32_m32(dst, src):
    check("mov", dst, src)


@settings(max_examples=300)
@given(rm(8), reg8)
def test_mov_rm8_r8(dst, src):
    check("mov", dst, src, size=8)


@settings(max_examples=300)
@given(reg8, mem(8))
def test_mov_r8_m8(dst, src):
    check("mov", dst, src, size=8)


@settings(max_examples=300)
@given(rm(32), imm32)
def test_mov_rm32_imm32(dst, src):
    code = check("mov", dst, src)
    if not isinstance(dst, Mem):
        assert len(code) == 5, "mov r32, imm32 is B8+rd id"


@settings(max_examples=300)
@given(rm(8), imm8)
def test_mov_rm8_imm8(dst, src):
    check("mov", dst, src, size=8)


@given(st.integers(0, 0xFFFFFFFF))
def test_mov_moffs_forms(addr):
    assert check("mov", EAX, dword[addr])[0] == 0xA1
    assert check("mov", dword[addr], EAX)[0] == 0xA3
    assert check("mov", AL, byte[addr], size=8)[0] == 0xA0
    assert check("mov", byte[addr], AL, size=8)[0] == 0xA2


@settings(max_examples=200)
@given(reg32, rm(8))
def test_movzx_movsx(dst, src):
    check("movzx", dst, src)
    check("movsx", dst, src)


@settings(max_examples=200)
@given(reg32, mem(None))
def test_lea(dst, src):
    code = encode(lambda a: a.lea(dst, src))
    insn = decode_one(code)
    assert insn.mnemonic == "lea"
    reg, m = insn.operands
    assert operand(insn, reg) == ("reg", dst.name)
    assert operand(insn, m)[1:5] == expect(Mem(src.base, src.index, src.scale, src.disp, 32))[1:5]


@given(reg32, reg32)
def test_xchg(a_, b_):
    code = encode(lambda a: a.xchg(a_, b_))
    insn = decode_one(code)
    if a_ is EAX and b_ is EAX:
        assert insn.mnemonic == "nop"  # 90 is xchg eax, eax
        return
    assert insn.mnemonic == "xchg"
    assert sorted(operand(insn, o) for o in insn.operands) == sorted([expect(a_), expect(b_)])
    if EAX in (a_, b_):
        assert len(code) == 1


# ---------------------------------------------------------------------- one-operand forms

@settings(max_examples=200)
@given(st.sampled_from(["inc", "dec", "neg", "not_", "mul", "div", "idiv"]), rm(32) | rm(8))
def test_unary(op, dst):
    code = check(op, dst)
    if op in ("inc", "dec") and not isinstance(dst, Mem) and dst.size == 32:
        assert len(code) == 1, "inc/dec r32 is 40+rd / 48+rd"


@settings(max_examples=200)
@given(st.sampled_from(["shl", "shr", "sar", "rol", "ror"]), rm(32) | rm(8),
       st.integers(0, 31) | st.just(1))
def test_shift_by_immediate(op, dst, count):
    code = encode(lambda a: getattr(a, op)(dst, count))
    insn = decode_one(code)
    assert insn.mnemonic == op
    got = [operand(insn, o) for o in insn.operands]
    assert got[0] == expect(dst)
    assert got[1] == ("imm", count)


@given(st.sampled_from(["shl", "shr", "sar"]), rm(32) | rm(8))
def test_shift_by_cl(op, dst):
    check(op, dst, CL)


@given(reg32)
def test_push_pop_registers(r):
    assert check("push", r) == bytes([0x50 + r.num])
    assert check("pop", r) == bytes([0x58 + r.num])


@given(imm32)
def test_push_immediate(v):
    code = check("push", v)
    signed = v - (1 << 32) if v >= 1 << 31 else v
    assert len(code) == (2 if -128 <= signed <= 127 else 5)


@given(mem(32))
def test_push_pop_memory(m):
    check("push", m)
    check("pop", m)


@given(rm(32) | rm(8), reg32 | reg8)
def test_test_reg(dst, src):
    if dst.size != src.size:
        return
    check("test", dst, src, size=src.size)


@given(rm(32), imm32)
def test_test_imm32(dst, src):
    check("test", dst, src)


@given(rm(8), imm8)
def test_test_imm8(dst, src):
    check("test", dst, src, size=8)


@given(st.integers(0, 255))
def test_int(vector):
    code = check("int_", vector, size=8)
    assert code == bytes([0xCD, vector])


@given(st.integers(0, 0xFFFF))
def test_ret(pop):
    code = encode(lambda a: a.ret(pop))
    insn = decode_one(code)
    assert insn.mnemonic == "ret"
    assert [operand(insn, o) for o in insn.operands] == ([] if pop == 0 else [("imm", pop)])


@given(reg32 | mem(32))
def test_indirect_jmp_call(target):
    check("jmp", target)
    check("call", target)


@pytest.mark.parametrize("method,mnemonic", [
    ("nop", "nop"), ("hlt", "hlt"), ("cdq", "cdq"), ("cld", "cld"), ("std", "std"),
    ("int3", "int3"), ("rep_movsb", "rep movsb"), ("repe_cmpsb", "repe cmpsb"),
    ("movsb", "movsb"), ("movsd", "movsd"), ("stosb", "stosb"), ("lodsb", "lodsb"),
    ("lodsd", "lodsd"), ("cmpsb", "cmpsb"), ("scasb", "scasb"),
])
def test_fixed_forms(method, mnemonic):
    insn = decode_one(encode(lambda a: getattr(a, method)()))
    assert insn.mnemonic == mnemonic


# ---------------------------------------------------------------------- labels and branches

CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]
CS_CONDS = ["jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja", "js", "jns", "jp", "jnp",
            "jl", "jge", "jle", "jg"]


def program(a_build):
    """Assemble, then decode the whole text with capstone; returns (insns, labels' addresses)."""
    a = Assembler()
    labels = a_build(a)
    bases = {"text": BASE, "data": BASE + 0x10000, "bss": BASE + 0x20000}
    text, _ = a.link(bases)
    insns = list(CS.disasm(text, BASE))
    assert sum(i.size for i in insns) == len(text)
    return insns, {k: a.address_of(v, bases) for k, v in labels.items()}


@pytest.mark.parametrize("gap,short", [(0, True), (127, True), (128, False), (5000, False)])
@pytest.mark.parametrize("kind", ["jmp", "jcc", "call"])
def test_forward_branch_size(kind, gap, short):
    def build(a):
        t = a.label("t")
        {"jmp": lambda: a.jmp(t), "jcc": lambda: a.j("nz", t), "call": lambda: a.call(t)}[kind]()
        for _ in range(gap):
            a.nop()
        a.bind(t)
        a.ret()
        return {"t": t}

    insns, where = program(build)
    first = insns[0]
    assert first.operands[0].imm == where["t"]
    if kind == "call":
        assert first.size == 5
    else:
        assert first.size == (2 if short else {"jmp": 5, "jcc": 6}[kind])


@pytest.mark.parametrize("gap,short", [(0, True), (126, True), (127, False)])
def test_backward_branch_size(gap, short):
    def build(a):
        t = a.label("t")
        a.bind(t)
        for _ in range(gap):
            a.nop()
        a.jmp(t)
        return {"t": t}

    insns, where = program(build)
    assert insns[-1].operands[0].imm == where["t"] == BASE
    assert insns[-1].size == (2 if short else 5)


@pytest.mark.parametrize("op", ["jecxz", "loop"])
@pytest.mark.parametrize("gap", [0, 127, 128])
def test_short_only_branches(op, gap):
    def build(a):
        t = a.label("t")
        getattr(a, op)(t)
        for _ in range(gap):
            a.nop()
        a.bind(t)
        return {"t": t}

    if gap > 127:
        with pytest.raises(AsmError, match="out of reach"):
            program(build)
        return
    insns, where = program(build)
    assert insns[0].mnemonic == op and insns[0].size == 2
    assert insns[0].operands[0].imm == where["t"]


@pytest.mark.parametrize("cond,mnemonic", list(zip(CONDS, CS_CONDS)))
def test_every_condition(cond, mnemonic):
    def build(a):
        t = a.label()
        a.j(cond, t)
        a.bind(t)
        return {"t": t}

    insns, where = program(build)
    assert insns[0].mnemonic == mnemonic and insns[0].operands[0].imm == where["t"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("nops"), st.integers(1, 90)),
    st.tuples(st.just("jmp"), st.integers(0, 9)),
    st.tuples(st.just("jcc"), st.integers(0, 9)),
    st.tuples(st.just("bind"), st.integers(0, 9)),
), min_size=1, max_size=40))
def test_relaxation_reaches_every_label_with_the_shortest_forms(ops):
    def build(a):
        labels = [a.label(f"l{i}") for i in range(10)]
        bound = set()
        for kind, arg in ops:
            if kind == "nops":
                for _ in range(arg):
                    a.nop()
            elif kind == "jmp":
                a.jmp(labels[arg])
            elif kind == "jcc":
                a.j("e", labels[arg])
            elif arg not in bound:
                a.bind(labels[arg])
                bound.add(arg)
        for i, lab in enumerate(labels):
            if i not in bound:
                a.bind(lab)
        return {i: lab for i, lab in enumerate(labels)}

    insns, where = program(build)
    targets = set(where.values())
    for insn in insns:
        if insn.mnemonic in ("jmp", "je"):
            target = insn.operands[0].imm
            assert target in targets
            short_size = 2
            if insn.size > 2:  # a near form is only there when the short one cannot reach
                assert not -128 <= target - (insn.address + short_size) <= 127


def test_absolute_references_resolve_after_layout():
    a = Assembler()
    msg = a.data(b"hello", "msg")
    buf = a.reserve(16, "buf")
    a.mov(ECX, msg)
    a.mov(EDX, dword[buf + 4])
    a.push(msg + 2)
    a.mov(byte[EBX + buf], AL)
    a.dd(buf)
    bases = {"text": BASE, "data": 0x08049000, "bss": 0x0804A000}
    text, data = a.link(bases)
    insns = list(CS.disasm(text, BASE))
    assert operand(insns[0], insns[0].operands[1]) == ("imm", 0x08049000)
    assert operand(insns[1], insns[1].operands[1])[4] == 0x0804A004
    assert operand(insns[2], insns[2].operands[0]) == ("imm", 0x08049002)
    assert operand(insns[3], insns[3].operands[0])[1:5] == ("ebx", None, 1, 0x0804A000)
    assert data[:5] == b"hello" and int.from_bytes(data[8:12], "little") == 0x0804A000


# ---------------------------------------------------------------------- refusals

@pytest.mark.parametrize("build,fragment", [
    (lambda a: a.jmp(a.label("nowhere")), "never bound"),
    (lambda a: (lambda l: (a.bind(l), a.bind(l)))(a.label("twice")), "bound twice"),
    (lambda a: a.mov(dword[EBX], dword[ECX]), "memory-to-memory"),
    (lambda a: a.mov(EAX, BL), "size mismatch"),
    (lambda a: a.inc(Mem(base=EBX)), "size unknown"),
    (lambda a: a.mov(dword[ESP * 2], EAX), "esp cannot be an index"),
    (lambda a: a.mov(EAX, dword[EBX * 3]), "scale"),
    (lambda a: a.mov(AL, 256), "does not fit in 8 bits"),
    (lambda a: a.mov(EAX, 1 << 32), "does not fit in 32 bits"),
    (lambda a: a.shl(EAX, 32), "count"),
    (lambda a: a.push(AL), "only 32-bit"),
    (lambda a: a.j("zz", a.label()), "unknown condition"),
    (lambda a: a.mov(AL, a.data(b"x")), "cannot hold an address"),
    (lambda a: a.jmp(a.data(b"x")), "not code"),
])
def test_refusals_are_asm_errors(build, fragment):
    with pytest.raises(AsmError, match=fragment):
        encode(build)


def test_registers_have_intel_numbers():
    assert [r.num for r in REGS32] == list(range(8))
    assert (EAX.name, ECX.name, EDX.name, EBX.name, ESP.name, EBP.name, ESI.name, EDI.name) == \
        tuple(CS.reg_name(getattr(X, f"X86_REG_{n.upper()}")) for n in
              ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"))
    assert BL.num == 3 and CL.num == 1
