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
Choices, each a difference from the real CPU:

* unicorn runs the guest at its own privilege level (CPL 0, long mode, flat segments): the
  privileged instructions an x86-64 program has no business running (``hlt``, ``cli``,
  ``in``, ``out``, ``wrmsr``) are not turned into #GP as the i386 CPU (:mod:`harness.cpu`)
  turns them;
* ``int 0x80`` from a 64-bit program, which Linux sends to the ia32 compat table, is not
  modelled: the run stops with a one-line error.
"""

from __future__ import annotations

from unicorn.x86_const import (
    UC_X86_REG_CS,
    UC_X86_REG_EFLAGS,
    UC_X86_REG_FS_BASE,
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
