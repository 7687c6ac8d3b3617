"""The encoder's 64-bit mode, judged by capstone in CS_MODE_64.

As in test_x86: every instruction is assembled, disassembled, and compared as structure
(mnemonic, registers, immediates, base/index/scale/displacement/size) with what we asked for,
and capstone must consume exactly the bytes we emitted.  Then the traps of 64-bit mode one by
one: REX with byte registers, R12/R13 as bases, RIP-relative fixups with an immediate after
the displacement, the three encodings of mov r64, imm, absolute addresses that do not fit,
branch relaxation with REX-prefixed neighbours, and what 32-bit code must refuse.
"""

from __future__ import annotations

import capstone
import pytest
from capstone import x86_const as X
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.errors import AsmError
from generator.x86 import (
    AH, AL, BH, BPL, CH, CL, DH, DIL, EAX, EBX, ECX, ESI, ESP, R8, R8B, R8D, R9, R12, R12D, R13, R13D, R15,
    RAX, RBP, RBX, RCX, REGS8, REGS8_REX, REGS32_64, REGS64, RIP, RSI, RSP, SIL, SPL, Assembler,
    Mem, byte, dword, qword, rip,
)

TEXT, DATA, BSS = 0x401000, 0x402000, 0x403000
BASES = {"text": TEXT, "data": DATA, "bss": BSS}
CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
CS.detail = True


def encode(build, bases=BASES) -> bytes:
    a = Assembler(bits=64)
    build(a)
    text, _ = a.link(bases)
    return text


def decode_one(code: bytes, address: int = TEXT):
    insns = list(CS.disasm(code, address))
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
            m.scale if m.index else 1, m.disp, op.size * 8)


def expect(x, size=None):
    """Our operand in the same shape; ``size`` is the operation width for immediates."""
    if isinstance(x, int):
        return ("imm", x & ((1 << size) - 1))
    if isinstance(x, Mem):
        disp = x.disp - (1 << 32) if x.disp >= 1 << 31 else x.disp
        return ("mem", x.base.name if x.base else None, x.index.name if x.index else None,
                x.scale if x.index else 1, disp, x.size)
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

reg64 = st.sampled_from(REGS64)
reg32 = st.sampled_from(REGS32_64)
reg8 = st.sampled_from(REGS8_REX)  # the byte registers any instruction can name in 64-bit mode
REGS = {8: reg8, 32: reg32, 64: reg64}
EDGES = [0, 1, 2, -1, 127, 128, -128, -129, 255, 256, 0x7FFF, 0x8000, 0x7FFFFFFF, -0x80000000]
simm32 = st.sampled_from(EDGES) | st.integers(-(1 << 31), (1 << 31) - 1)
imm32 = simm32 | st.sampled_from([0xFFFFFFFF, 0x80000000]) | st.integers(0, (1 << 32) - 1)
imm8 = st.sampled_from([0, 1, -1, 127, -128, 128, 255]) | st.integers(-128, 255)
IMMS = {8: imm8, 32: imm32, 64: simm32}
disp = st.sampled_from([0, 1, -1, 127, 128, -128, -129, 0x7FFFFFFF, -0x80000000]) | \
    st.integers(-(1 << 31), (1 << 31) - 1)


@st.composite
def mem(draw, size=32):
    """A memory operand of 64-bit mode: 64-bit address registers (R8..R15 included, so REX.X
    and REX.B), 32-bit ones (an address-size prefix), RIP, or an absolute address."""
    regs = draw(st.sampled_from([REGS64, REGS32_64]))
    base = draw(st.none() | st.sampled_from(regs) | st.just(RIP))
    if base is RIP:
        return Mem(RIP, None, 1, draw(disp), size)
    index = draw(st.none() | st.sampled_from([r for r in regs if r.num != 4]))
    scale = draw(st.sampled_from([1, 2, 4, 8])) if index else 1
    return Mem(base, index, scale, draw(disp), size)


def rm(size):
    return REGS[size] | mem(size)


SIZES = st.sampled_from([8, 32, 64])


# ---------------------------------------------------------------------- two-operand ALU

ALU = ["add", "or_", "adc", "sbb", "and_", "sub", "xor", "cmp"]


@settings(max_examples=400)
@given(st.sampled_from(ALU + ["mov", "test"]), SIZES, st.data())
def test_alu_and_mov_rm_r(op, size, data):
    check(op, data.draw(rm(size)), data.draw(REGS[size]), size=size)


@settings(max_examples=400)
@given(st.sampled_from(ALU + ["mov"]), SIZES, st.data())
def test_alu_and_mov_r_m(op, size, data):
    check(op, data.draw(REGS[size]), data.draw(mem(size)), size=size)


@settings(max_examples=400)
@given(st.sampled_from(ALU + ["test"]), SIZES, st.data())
def test_alu_rm_imm(op, size, data):
    dst, src = data.draw(rm(size)), data.draw(IMMS[size])
    code = check(op, dst, src, size=size)
    value = src - (1 << 32) if size == 32 and src >= 1 << 31 else src
    if op != "test" and size != 8 and -128 <= value <= 127:
        assert 0x83 in code[:3], "an immediate that fits in a byte takes the 83 /digit ib form"


@settings(max_examples=200)
@given(rm(64), simm32)
def test_mov_rm64_imm32_sign_extended(dst, src):
    if isinstance(dst, Mem):
        check("mov", dst, src, size=64)


def test_64_bit_accumulator_forms():
    assert check("add", RAX, 0x12345, size=64) == b"\x48\x05" + (0x12345).to_bytes(4, "little")
    assert check("test", RAX, 0x100, size=64) == b"\x48\xA9\x00\x01\x00\x00"
    assert check("sub", RAX, 1, size=64) == b"\x48\x83\xE8\x01"
    assert check("cmp", R8D, 0x12345) == b"\x41\x81\xF8" + (0x12345).to_bytes(4, "little")


# ---------------------------------------------------------------------- mov r64, imm

@settings(max_examples=400)
@given(reg64, st.sampled_from([0, 1, -1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32,
                               -0x80000000, -0x80000001, (1 << 63) - 1, -(1 << 63),
                               (1 << 64) - 1]) | st.integers(-(1 << 63), (1 << 64) - 1))
def test_mov_r64_imm_takes_the_shortest_encoding_that_leaves_the_value(dst, value):
    """Capstone names the register written and the immediate; a 32-bit destination
    zero-extends (SDM vol. 1, 3.4.1.1), so the 64-bit register must end up holding
    ``value`` either way, and the length must be the shortest of the three forms."""
    code = encode(lambda a: a.mov(dst, value))
    insn = decode_one(code)
    reg, src = insn.operands
    written = insn.reg_name(reg.reg)
    want = value & (1 << 64) - 1
    if written == REGS32_64[dst.num].name:
        assert insn.mnemonic == "mov"
        got = src.imm & 0xFFFFFFFF  # the 32-bit write clears bits 63..32
    else:
        assert written == dst.name and insn.mnemonic in ("mov", "movabs")
        got = src.imm & (1 << 64) - 1
    assert got == want, f"{code.hex()}: {insn.mnemonic} {insn.op_str}"
    rex = dst.num > 7
    if want < 1 << 32:
        assert len(code) == 5 + rex
    elif want >= (1 << 64) - (1 << 31):
        assert len(code) == 7 and insn.mnemonic == "mov"
    else:
        assert len(code) == 10 and insn.mnemonic == "movabs"


def test_mov_r64_label_is_movabs_and_r32_label_is_zero_extended():
    a = Assembler(bits=64)
    msg = a.data(b"hi", "msg")
    a.mov(RSI, msg + 1)
    a.mov(R8D, msg)
    text, _ = a.link(BASES)
    first, second = CS.disasm(text, TEXT)
    assert (first.mnemonic, first.op_str, first.size) == ("movabs", f"rsi, {DATA + 1:#x}", 10)
    assert (second.mnemonic, second.op_str, second.size) == ("mov", f"r8d, {DATA:#x}", 6)


# ---------------------------------------------------------------------- movzx, lea, xchg

@settings(max_examples=200)
@given(reg32 | reg64, rm(8))
def test_movzx_movsx(dst, src):
    check("movzx", dst, src)
    check("movsx", dst, src)


@settings(max_examples=100)
@given(reg64, reg32 | mem(32))
def test_movsxd(dst, src):
    check("movsxd", dst, src)


@settings(max_examples=300)
@given(reg32 | reg64, mem(None))
def test_lea(dst, src):
    insn = decode_one(encode(lambda a: a.lea(dst, src)))
    assert insn.mnemonic == "lea"
    reg, m = insn.operands
    assert operand(insn, reg) == ("reg", dst.name)
    assert operand(insn, m)[1:5] == expect(src)[1:5]


@settings(max_examples=200)
@given(SIZES, st.data())
def test_xchg(size, data):
    a_, b_ = data.draw(REGS[size] | mem(size)), data.draw(REGS[size])
    code = encode(lambda a: a.xchg(a_, b_))
    insn = decode_one(code)
    assert insn.mnemonic == "xchg", "in 64-bit mode 90 is nop and would not zero-extend"
    assert sorted(operand(insn, o) for o in insn.operands) == sorted([expect(a_), expect(b_)])


def test_xchg_eax_eax_is_not_nop_in_64_bit_mode():
    assert encode(lambda a: a.xchg(EAX, EAX)) == b"\x87\xC0"
    assert encode(lambda a: a.xchg(RAX, R8)) == b"\x49\x90"


# ---------------------------------------------------------------------- one-operand forms

@settings(max_examples=300)
@given(st.sampled_from(["inc", "dec", "neg", "not_", "mul", "div", "idiv"]), SIZES, st.data())
def test_unary(op, size, data):
    check(op, data.draw(rm(size)), size=size)


@settings(max_examples=300)
@given(st.sampled_from(["shl", "shr", "sar", "rol", "ror"]), SIZES, st.data())
def test_shift_by_immediate(op, size, data):
    dst = data.draw(rm(size))
    count = data.draw(st.integers(0, 63 if size == 64 else 31) | st.just(1))
    insn = decode_one(encode(lambda a: getattr(a, op)(dst, count)))
    assert insn.mnemonic == op
    assert [operand(insn, o) for o in insn.operands] == [expect(dst), ("imm", count)]


@given(st.sampled_from(["shl", "shr", "sar"]), SIZES, st.data())
def test_shift_by_cl(op, size, data):
    check(op, data.draw(rm(size)), CL, size=size)


@given(reg64)
def test_push_pop_registers_default_to_64_bits(r):
    rex = b"\x41" if r.num > 7 else b""
    assert check("push", r) == rex + bytes([0x50 + (r.num & 7)])
    assert check("pop", r) == rex + bytes([0x58 + (r.num & 7)])


@given(simm32)
def test_push_immediate_is_sign_extended(v):
    code = check("push", v, size=64)
    assert len(code) == (2 if -128 <= v <= 127 else 5)


@given(mem(64))
def test_push_pop_memory(m):
    check("push", m)
    check("pop", m)


@given(reg64 | mem(64))
def test_indirect_jmp_call(target):
    check("jmp", target)
    check("call", target)


@pytest.mark.parametrize("method,mnemonic,code", [
    ("syscall", "syscall", "0f05"), ("cqo", "cqo", "4899"), ("cdq", "cdq", "99"),
    ("lodsb", "lodsb", "ac"), ("lodsd", "lodsd", "ad"), ("lodsq", "lodsq", "48ad"),
    ("stosb", "stosb", "aa"), ("stosd", "stosd", "ab"), ("stosq", "stosq", "48ab"),
    ("movsb", "movsb", "a4"), ("movsq", "movsq", "48a5"), ("rep_movsb", "rep movsb", "f3a4"),
    ("repe_cmpsb", "repe cmpsb", "f3a6"), ("scasb", "scasb", "ae"), ("ret", "ret", "c3"),
])
def test_fixed_forms(method, mnemonic, code):
    got = encode(lambda a: getattr(a, method)())
    assert got.hex() == code
    assert decode_one(got).mnemonic == mnemonic


@pytest.mark.parametrize("build,mnemonic", [
    (lambda a: a.scasb(repne=True), "repne scasb"), (lambda a: a.stosq(rep=True), "rep stosq"),
    (lambda a: a.movsq(rep=True), "rep movsq"), (lambda a: a.stosb(rep=True), "rep stosb"),
])
def test_repeated_string_forms_put_rep_before_rex(build, mnemonic):
    insn = decode_one(encode(build))
    assert insn.mnemonic == mnemonic


# ---------------------------------------------------------------------- the traps

@pytest.mark.parametrize("r", [SPL, BPL, SIL, DIL])
def test_spl_to_dil_take_an_empty_rex(r):
    code = check("mov", r, AL, size=8)
    assert code[0] == 0x40, "without REX, 4..7 would be ah, ch, dh, bh"
    check("movzx", EAX, r)


@pytest.mark.parametrize("high", [AH, CH, DH, BH])
@pytest.mark.parametrize("other", [SPL, SIL, DIL, R8B])
def test_ah_to_bh_cannot_meet_a_rex_prefix(high, other):
    with pytest.raises(AsmError, match="REX prefix"):
        encode(lambda a: a.mov(high, other))
    with pytest.raises(AsmError, match="REX prefix"):
        encode(lambda a: a.mov(byte[R8], high))
    with pytest.raises(AsmError, match="REX prefix"):
        encode(lambda a: a.movzx(RAX, high))


@given(st.sampled_from([AH, CH, DH, BH]), st.sampled_from(REGS8[:4]))
def test_ah_to_bh_still_work_without_rex(high, low):
    assert len(check("mov", high, low, size=8)) == 2
    check("add", byte[RBX + 1], high, size=8)


@pytest.mark.parametrize("base,code", [
    (R12, "418b0424"), (R13, "418b4500"), (RSP, "8b0424"), (RBP, "8b4500"),
    (R12D, "67418b0424"), (R13D, "67418b4500"),
])
def test_r12_and_r13_as_bases_behave_as_rsp_and_rbp(base, code):
    got = check("mov", EAX, dword[base])
    assert got.hex() == code
    check("mov", EAX, dword[base + R12 * 2] if base.size == 64 else dword[base + R12D * 2])


def test_r12_is_a_fine_index_but_rsp_is_not():
    check("mov", EAX, dword[RAX + R12 * 8])
    with pytest.raises(AsmError, match="rsp cannot be an index"):
        Mem(RAX, RSP, 1)


def rip_targets(build):
    """Assemble; return each instruction and where its RIP-relative operand points."""
    a = Assembler(bits=64)
    labels = build(a)
    text, _ = a.link(BASES)
    insns = list(CS.disasm(text, TEXT))
    assert sum(i.size for i in insns) == len(text)
    out = []
    for insn in insns:
        mems = [o.mem for o in insn.operands if o.type == X.X86_OP_MEM]
        assert mems and insn.reg_name(mems[0].base) == "rip", f"{insn.mnemonic} {insn.op_str}"
        out.append((insn, insn.address + insn.size + mems[0].disp))
    return out, {k: a.address_of(v, BASES) for k, v in labels.items()}


@pytest.mark.parametrize("emit,tail", [
    (lambda a, t: a.mov(dword[rip(t)], 0x12345678), 4),
    (lambda a, t: a.mov(qword[rip(t)], -2), 4),
    (lambda a, t: a.mov(byte[rip(t)], 7), 1),
    (lambda a, t: a.cmp(byte[rip(t)], 0x41), 1),
    (lambda a, t: a.add(dword[rip(t)], 1), 1),
    (lambda a, t: a.add(qword[rip(t)], 1000), 4),
    (lambda a, t: a.test(dword[rip(t)], 0x100), 4),
    (lambda a, t: a.shl(dword[rip(t)], 3), 1),
    (lambda a, t: a.lea(RSI, rip(t)), 0),
    (lambda a, t: a.mov(R8, qword[rip(t)]), 0),
    (lambda a, t: a.push(qword[rip(t)]), 0),
    (lambda a, t: a.call(qword[rip(t)]), 0),
])
@pytest.mark.parametrize("where", ["data", "bss", "text"])
def test_rip_relative_fixups_count_from_the_end_of_the_instruction(emit, tail, where):
    """disp32 is relative to the next instruction, which lies past any immediate that
    follows the displacement (SDM vol. 2, 2.2.1.6): the fixup must know the full length."""
    def build(a):
        target = {"data": lambda: a.data(b"\0" * 64, "t"), "bss": lambda: a.reserve(64, "t"),
                  "text": lambda: a.label("t")}[where]()
        emit(a, target + 8)
        emit(a, target)
        if where == "text":
            a.bind(target)
            for _ in range(16):
                a.nop()
        return {"t": target}

    if where == "text":  # the nops after the label are not rip-relative: read the first two
        a = Assembler(bits=64)
        labels = build(a)
        text, _ = a.link(BASES)
        insns = list(CS.disasm(text, TEXT))[:2]
        where_t = a.address_of(labels["t"], BASES)
        targets = [i.address + i.size + next(o.mem.disp for o in i.operands
                                             if o.type == X.X86_OP_MEM) for i in insns]
        assert targets == [where_t + 8, where_t]
        return
    got, labels = rip_targets(build)
    assert [t for _, t in got] == [labels["t"] + 8, labels["t"]]
    if tail:
        insn = got[0][0]
        assert insn.operands[-1].type == X.X86_OP_IMM, "the immediate follows the disp32"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["mov_imm", "cmp8", "lea", "add64"]),
                          st.integers(0, 3), st.integers(-64, 64)), min_size=1, max_size=30))
def test_rip_relative_fixups_in_any_sequence(ops):
    def build(a):
        cells = [a.reserve(128, f"c{i}") for i in range(4)]
        for kind, cell, addend in ops:
            t = cells[cell] + addend
            {"mov_imm": lambda: a.mov(dword[rip(t)], addend),
             "cmp8": lambda: a.cmp(byte[rip(t)], addend & 0xFF),
             "lea": lambda: a.lea(R13, rip(t)),
             "add64": lambda: a.add(qword[rip(t)], addend * 1000)}[kind]()
        return {i: c for i, c in enumerate(cells)}

    got, labels = rip_targets(build)
    assert [t for _, t in got] == [labels[cell] + addend for _, cell, addend in ops]


def test_absolute_addresses_take_the_sib_form_not_rip():
    code = check("mov", EAX, dword[0x1000])
    assert code.hex() == "8b042500100000", "mod=00 rm=101 would be rip-relative"
    a = Assembler(bits=64)
    buf = a.reserve(16, "buf")
    a.mov(ECX, dword[buf + 4])
    a.mov(byte[RBX + buf], AL)
    text, _ = a.link(BASES)
    first, second = CS.disasm(text, TEXT)
    assert operand(first, first.operands[1]) == ("mem", None, None, 1, BSS + 4, 32)
    assert operand(second, second.operands[0]) == ("mem", "rbx", None, 1, BSS, 8)


@pytest.mark.parametrize("build,fits", [
    (lambda a, t: a.mov(ESI, t), 1 << 32),  # zero-extended: below 4 GiB
    (lambda a, t: a.dd(t), 1 << 32),
    (lambda a, t: a.mov(EAX, dword[t]), 1 << 31),  # disp32 is sign-extended: below 2 GiB
    (lambda a, t: a.push(t), 1 << 31),
    (lambda a, t: a.mov(qword[RBX], t), 1 << 31),
    (lambda a, t: a.mov(RSI, t), 1 << 64),  # imm64
    (lambda a, t: a.dq(t), 1 << 64),
    (lambda a, t: a.lea(RSI, rip(t)), 1 << 64),  # anywhere within 2 GiB of the code
])
@pytest.mark.parametrize("data_at", [0x7FFFF000, 0x80000000, 0xFFFFF000, 0x100000000])
def test_addresses_that_do_not_fit_their_field_are_errors(build, fits, data_at):
    a = Assembler(bits=64)
    t = a.data(b"x" * 16, "t")
    build(a, t)
    bases = {"text": data_at - 0x1000, "data": data_at, "bss": data_at + 0x1000}
    if data_at < fits:
        a.link(bases)
    else:
        with pytest.raises(AsmError, match="'t'"):
            a.link(bases)


# ---------------------------------------------------------------------- branches

def program(build):
    a = Assembler(bits=64)
    labels = build(a)
    text, _ = a.link(BASES)
    insns = list(CS.disasm(text, TEXT))
    assert sum(i.size for i in insns) == len(text)
    return insns, {k: a.address_of(v, BASES) for k, v in labels.items()}


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
    assert insns[0].operands[0].imm == where["t"]
    assert insns[0].size == (5 if kind == "call" else 2 if short else {"jmp": 5, "jcc": 6}[kind])


@pytest.mark.parametrize("op,size,mnemonic", [("jecxz", 3, "jecxz"), ("jrcxz", 2, "jrcxz"),
                                              ("loop", 2, "loop")])
@pytest.mark.parametrize("gap", [0, 127, 128])
def test_short_only_branches(op, size, mnemonic, gap):
    def build(a):
        t = a.label("t")
        getattr(a, op)(t)
        for _ in range(gap):
            a.nop()
        a.bind(t)
        return {"t": t}

    if gap > 127:
        with pytest.raises(AsmError, match=f"{op} to 't' is out of reach"):
            program(build)
        return
    insns, where = program(build)
    assert insns[0].mnemonic == mnemonic and insns[0].size == size
    assert insns[0].operands[0].imm == where["t"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("insns"), st.integers(1, 20)),
    st.tuples(st.just("jmp"), st.integers(0, 9)),
    st.tuples(st.just("jcc"), st.integers(0, 9)),
    st.tuples(st.just("bind"), st.integers(0, 9)),
), min_size=1, max_size=40))
def test_relaxation_reaches_every_label_with_the_shortest_forms(ops):
    """The relaxation of test_x86, with REX-prefixed instructions of 3 to 10 bytes between."""
    filler = [lambda a: a.mov(R15, 1 << 40), lambda a: a.add(R8D, 1),
              lambda a: a.mov(qword[R12 + R13 * 8 + 0x1000], -1), lambda a: a.push(R9)]

    def build(a):
        labels = [a.label(f"l{i}") for i in range(10)]
        bound = set()
        for kind, arg in ops:
            if kind == "insns":
                for i in range(arg):
                    filler[i % len(filler)](a)
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
            if insn.size > 2:
                assert not -128 <= target - (insn.address + 2) <= 127


# ---------------------------------------------------------------------- refusals

@pytest.mark.parametrize("build,fragment", [
    (lambda a: a.mov(RAX, 1), "64-bit register"),
    (lambda a: a.mov(EAX, R8D), "REX prefix"),
    (lambda a: a.mov(SIL, AL), "REX prefix"),
    (lambda a: a.add(EAX, dword[RBX]), "64-bit addressing"),
    (lambda a: a.lea(EAX, rip(0)), "64-bit addressing"),
    (lambda a: a.push(RAX), "only 32-bit"),
    (lambda a: a.syscall(), "bits=64"),
    (lambda a: a.cqo(), "REX prefix"),
    (lambda a: a.jrcxz(a.label()), "bits=64"),
    (lambda a: a.add(dword[EBX], 1 << 32), "32 bits"),
])
def test_32_bit_code_refuses_64_bit_forms(build, fragment):
    a = Assembler()
    with pytest.raises(AsmError, match=fragment):
        build(a)


@pytest.mark.parametrize("build,fragment", [
    (lambda a: a.push(EAX), "only 64-bit"),
    (lambda a: a.pop(dword[RBX]), "qword"),
    (lambda a: a.add(RAX, 0xFFFFFFFF), "sign-extended"),
    (lambda a: a.mov(qword[RBX], 0x80000000), "sign-extended"),
    (lambda a: a.push(0x80000000), "sign-extended"),
    (lambda a: a.mov(EAX, dword[RBX + 0x80000000]), "sign-extended"),
    (lambda a: a.shl(RAX, 64), "0..63"),
    (lambda a: a.jmp(ECX), "64-bit operand"),
    (lambda a: a.mov(EAX, dword[RBX + ECX]), "two sizes"),
    (lambda a: Mem(RIP, RAX), "rip takes no index"),
    (lambda a: a.movsxd(EAX, ECX), "64-bit register"),
    (lambda a: Assembler(bits=16), "32 or 64"),
])
def test_64_bit_code_refuses(build, fragment):
    a = Assembler(bits=64)
    with pytest.raises(AsmError, match=fragment):
        build(a)


def test_registers_have_capstones_names_and_intel_numbers():
    for regs in (REGS64, REGS32_64, REGS8_REX):
        assert [r.num for r in regs] == list(range(16))
        for r in regs:
            assert CS.reg_name(getattr(X, f"X86_REG_{r.name.upper()}")) == r.name
    assert (R8.num, R8D.num, R8B.num, R13.num, R15.num) == (8, 8, 8, 13, 15)
    assert (SPL.rex, AH.high, ECX.rex, ESP.high, RBP.size, RSI.size) == \
        (True, True, False, False, 64, 64)
    assert RCX.name == "rcx" and RBX.num == 3 and BPL.num == 5 and DIL.num == 7 and CH.num == 5
    assert DH.num == 6 and EBX.num == 3 and ESP.num == 4 and R12.num == 12 and R13D.num == 13
