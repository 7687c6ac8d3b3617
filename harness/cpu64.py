"""The CPU an x86-64 Linux task runs on, as the machine drives unicorn's 64-bit mode.

Entry to the kernel is the ``syscall`` instruction (0F 05), which unicorn hands to a
``UC_HOOK_INSN`` hook for ``UC_X86_INS_SYSCALL`` (qemu's ``helper_syscall``, replaced by
unicorn's hook) without doing any of the instruction's own work.  The machine does it:

* the number is in rax, the arguments in rdi, rsi, rdx, r10, r8, r9, the result goes to rax
  (arch/x86/entry/entry_64.S, ``entry_SYSCALL_64``);
* the CPU's SYSCALL writes the address of the next instruction to rcx and rflags to r11
  (Intel SDM, SYSCALL), and Linux returns with both as they were set (``sysretq``, or iret
  with pt_regs' rcx and r11), so after every call rcx = rip + 2 and r11 = rflags;
* in the hook, rip is the ``syscall`` instruction's own address, and unicorn adds the
  instruction's length (2) to rip *after* the hook returns (unicorn's ``helper_syscall``:
  ``env->eip += next_eip_addend``), also to a rip the hook wrote.  So a call that moves rip
  (a signal handler, a restart) writes its target less 2 (:data:`SYSCALL_LEN`); a parked
  call keeps the ``syscall`` instruction's address, as ``int 0x80``'s parking does.

``arch_prctl`` sets the fs and gs bases through unicorn's FS_BASE and GS_BASE registers.
And as on Linux:

* the guest runs at CPL 3 with Linux's segments (:class:`Cpu64`), so privileged
  instructions fault as on the real CPU;
* ``int 0x80`` from a 64-bit program goes, as on Linux, to the ia32 compat table with the
  low 32 bits of the i386 argument registers (:meth:`harness.machine.Machine._compat_syscall`,
  :meth:`harness.kernel.Kernel.compat_syscall`).
"""

from __future__ import annotations

import struct

from unicorn import Uc
from unicorn.x86_const import (
    UC_X86_REG_CS,
    UC_X86_REG_DS,
    UC_X86_REG_EFLAGS,
    UC_X86_REG_ES,
    UC_X86_REG_FS,
    UC_X86_REG_FS_BASE,
    UC_X86_REG_GDTR,
    UC_X86_REG_GS,
    UC_X86_REG_GS_BASE,
    UC_X86_REG_R8,
    UC_X86_REG_R9,
    UC_X86_REG_R10,
    UC_X86_REG_R11,
    UC_X86_REG_R12,
    UC_X86_REG_R13,
    UC_X86_REG_R14,
    UC_X86_REG_R15,
    UC_X86_REG_RAX,
    UC_X86_REG_RBP,
    UC_X86_REG_RBX,
    UC_X86_REG_RCX,
    UC_X86_REG_RDI,
    UC_X86_REG_RDX,
    UC_X86_REG_RIP,
    UC_X86_REG_RSI,
    UC_X86_REG_RSP,
    UC_X86_REG_SS,
)

from . import linux as L
from .cpu import GDT_LIMIT, Cpu, flat_descriptor
from .elf import PAGE_SIZE

#: The length of ``syscall`` (0F 05), which unicorn adds to rip after the hook.
SYSCALL_LEN = 2
#: rax, then the six argument registers, then rip and rflags: one uc_reg_read_batch.
SYSCALL_REGS = (UC_X86_REG_RAX, UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX,
                UC_X86_REG_R10, UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_RIP,
                UC_X86_REG_EFLAGS)
#: What SYSCALL clobbers: rcx (the return address) and r11 (rflags).
CLOBBERED = (UC_X86_REG_RCX, UC_X86_REG_R11)
#: The address emu_start is told to stop at: not canonical, never mapped.
NEVER = 1 << 47
#: Every register a 64-bit signal frame would save (struct sigcontext_64's order, less the
#: fault fields), by name, with its unicorn id.
STATE_REGS = {
    "r8": UC_X86_REG_R8, "r9": UC_X86_REG_R9, "r10": UC_X86_REG_R10, "r11": UC_X86_REG_R11,
    "r12": UC_X86_REG_R12, "r13": UC_X86_REG_R13, "r14": UC_X86_REG_R14,
    "r15": UC_X86_REG_R15, "rdi": UC_X86_REG_RDI, "rsi": UC_X86_REG_RSI,
    "rbp": UC_X86_REG_RBP, "rbx": UC_X86_REG_RBX, "rdx": UC_X86_REG_RDX,
    "rax": UC_X86_REG_RAX, "rcx": UC_X86_REG_RCX, "rsp": UC_X86_REG_RSP,
    "rip": UC_X86_REG_RIP, "eflags": UC_X86_REG_EFLAGS, "cs": UC_X86_REG_CS,
    "ss": UC_X86_REG_SS, "fs_base": UC_X86_REG_FS_BASE, "gs_base": UC_X86_REG_GS_BASE,
}
SEGMENT_BASES = {"fs": UC_X86_REG_FS_BASE, "gs": UC_X86_REG_GS_BASE}
#: rflags of a new task: IF and the always-set bit 1 (``start_thread_common``).
INITIAL_RFLAGS = 0x202


#: GDT_ENTRY_DEFAULT_USER_CS (arch/x86/include/asm/segment.h, 64-bit): __USER_CS is 6*8+3.
GDT_ENTRY_DEFAULT_USER_CS = 6
USER_CS = GDT_ENTRY_DEFAULT_USER_CS * 8 + 3
TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
_TRAMPOLINE = TASK_SIZE_MAX + 0x800
_FRAME = TASK_SIZE_MAX + 0xF00
_IRETQ = b"\x48\xcf"


def _long_code_descriptor() -> bytes:
    """GDT_ENTRY_INIT(0xa0fb, 0, 0xfffff): present, DPL 3, execute/read, accessed, with the
    L bit (a 64-bit code segment) and D clear."""
    return bytes([0xFF, 0xFF, 0, 0, 0, 0xFB, 0xAF, 0])


class Cpu64(Cpu):
    """One x86-64 task's descriptor table and the switch of unicorn's long mode to Linux's
    ring 3 (:class:`harness.cpu.Cpu`'s way: a table in a page the guest cannot map, mapped
    only while a segment is loaded, and an ``iretq`` through a one-instruction trampoline).

    The page is the one at TASK_SIZE_MAX, 0x7ffffffff000: the guard page Linux keeps
    between user space and the non-canonical hole, which no mapping of the process may
    reach.  The descriptors are Linux's (arch/x86/kernel/cpu/common.c ``gdt_page``):
    __USER32_CS (0x23), __USER_DS (0x2b) and __USER_CS (0x33, a 64-bit code segment), and
    __KERNEL_DS for the trampoline's own stack.  ``start_thread`` (process_64.c) starts a
    task with cs 0x33, ss 0x2b, ds = es = fs = gs = 0 and rflags 0x202.  From then on
    ``hlt``, ``cli``, ``mov cr0``, ``wrmsr``... raise #GP (SIGSEGV), as on the real CPU.
    """

    base = TASK_SIZE_MAX

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self.gdt = bytearray(PAGE_SIZE)
        self._put(L.GDT_ENTRY_DEFAULT_USER32_CS, flat_descriptor(code=True, dpl=3))
        self._put(L.GDT_ENTRY_DEFAULT_USER_DS, flat_descriptor(code=False, dpl=3))
        self._put(GDT_ENTRY_DEFAULT_USER_CS, _long_code_descriptor())
        self._put(L.GDT_ENTRY_KERNEL_DS, flat_descriptor(code=False, dpl=0))
        self.gdt[_TRAMPOLINE - self.base:_TRAMPOLINE - self.base + 2] = _IRETQ

    def enter_user_mode(self, entry: int, rsp: int) -> None:
        """iretq to ``entry`` with (rip, cs, rflags, rsp, ss) = (entry, __USER_CS, 0x202,
        rsp, __USER_DS), as the kernel's return to a new task does."""
        uc = self._uc
        self._map()
        try:
            uc.reg_write(UC_X86_REG_GDTR, (0, self.base, GDT_LIMIT, 0))
            uc.reg_write(UC_X86_REG_SS, L.KERNEL_DS)
            for reg in (UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS):
                uc.reg_write(reg, 0)
            frame = struct.pack("<5Q", entry, USER_CS, INITIAL_RFLAGS, rsp, L.USER_DS)
            uc.mem_write(_FRAME, frame)
            uc.reg_write(UC_X86_REG_RSP, _FRAME)
            uc.emu_start(_TRAMPOLINE, NEVER, 0, 1)
        finally:
            self._unmap()
        assert uc.reg_read(UC_X86_REG_CS) == USER_CS and uc.reg_read(UC_X86_REG_RIP) == entry
        assert uc.reg_read(UC_X86_REG_SS) == L.USER_DS and uc.reg_read(UC_X86_REG_RSP) == rsp
