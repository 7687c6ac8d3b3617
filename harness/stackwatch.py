"""The stack-overflow diagnosis of a crash: :class:`StackWatch`, an instruction hook that
sees a function read back a value saved on its stack that something wrote over.

One stack overflow faults wherever the bytes written over the stack send it (a return to
an address made of input bytes, into the middle of a function, or a callee-saved register
overwritten and dereferenced later in ``strstr``), each a different faulting instruction.
The fuzzer keys a crash by the bug rather than by where it showed (:mod:`harness.fuzz`),
so the first time it sees a symptom it runs the input once more under this hook, which
remembers what each ``push`` and ``call`` wrote to the stack and sees a ``ret``, ``leave``
or callee-saved ``pop`` read back something else: what a stack protector's canary would
tell, without recompiling.  A hook on every instruction makes that run slow (a few ms),
so the fuzzer places it for that one run and remembers the answer.

Kept apart from the fuzzer because it is x86's calling conventions (which registers a
callee preserves, what ``call``, ``leave`` and ``ret`` do to the stack), where the fuzzer
needs only the answer: whose frame was overwritten, and which instruction read it back.
"""

from __future__ import annotations

from unicorn import UcError
from unicorn.x86_const import UC_X86_REG_EBP, UC_X86_REG_ESP, UC_X86_REG_RBP, UC_X86_REG_RSP

from .edges import BLOCK_CFUNC
from .trace import _capstone


class StackWatch:
    """An instruction hook that sees a stack overflow when a function reads back what it
    saved: each value a ``push`` or a ``call`` writes to the stack is remembered by its
    address, and a ``pop`` into a register the callee must preserve (ebx, esi, edi, ebp;
    rbx, rbp, r12-r15), a ``leave`` or a ``ret`` that reads another value there means
    something wrote over it in between: a buffer below it ran over, the way a stack
    protector's canary would tell.  ``smashed`` is the first such read: (the entry of the
    function whose frame it is, from the calls seen since the run began, or None; the
    address of the instruction that read it).  Only pops into preserved registers count:
    a pop into a scratch register may drop an argument the callee was free to change."""

    def __init__(self, machine) -> None:
        self.smashed: tuple[int | None, int] | None = None
        wide = machine.wide
        uc = machine.uc
        width = 8 if wide else 4
        sp, bp = (UC_X86_REG_RSP, UC_X86_REG_RBP) if wide else (UC_X86_REG_ESP, UC_X86_REG_EBP)
        preserved = (("rbx", "rbp", "r12", "r13", "r14", "r15") if wide
                     else ("ebx", "esi", "edi", "ebp"))
        decoder = _capstone(wide)
        kinds: dict[int, str] = {}
        saved: dict[int, tuple[int, int | None]] = {}  # slot -> (value, function)
        frames: list[tuple[int, int]] = []              # (return address's slot, entry)
        pending: list[tuple[str, int]] = []             # a push or call to read after it

        def read(slot: int) -> int | None:
            try:
                return int.from_bytes(uc.mem_read(slot, width), "little")
            except UcError:
                return None

        def kind_at(address: int) -> str:
            kind = ""
            try:
                code = bytes(uc.mem_read(address, 15))
            except UcError:
                code = b""
            for _at, _size, mnemonic, operands in decoder.disasm_lite(code, address, 1):
                if mnemonic in ("call", "push", "ret", "leave"):
                    kind = mnemonic
                elif mnemonic == "pop" and operands in preserved:
                    kind = "pop"
            kinds[address] = kind
            return kind

        def on_code(_uch: int, address: int, _size: int, _user: int) -> None:
            if pending:  # the push or call before this instruction has written its slot
                kind, slot = pending.pop()
                value = read(slot)
                if kind == "call":
                    frames.append((slot, address))
                if value is not None:
                    saved[slot] = (value, address if kind == "call" else
                                   frames[-1][1] if frames else None)
            kind = kinds.get(address)
            if kind is None:
                kind = kind_at(address)
            if not kind:
                return
            if kind in ("push", "call"):
                pending.append((kind, uc.reg_read(sp) - width))
                return
            slot = uc.reg_read(bp if kind == "leave" else sp)
            entry = saved.pop(slot, None)
            if entry is not None and self.smashed is None and read(slot) != entry[0]:
                self.smashed = (entry[1], address)
            if kind == "ret":
                while frames and frames[-1][0] <= slot:
                    frames.pop()

        self.callback = BLOCK_CFUNC(on_code)
