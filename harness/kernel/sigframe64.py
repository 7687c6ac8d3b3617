"""Signal frames of an x86-64 process: ``x64_setup_rt_frame`` and ``rt_sigreturn``
(arch/x86/kernel/signal_64.c), as :mod:`.sigframe` has them for i386.

:func:`.sigframe.handle_signals` decides what each signal does; for a handler of an x86-64
process it calls :func:`setup_rt_frame` here.  The frame, byte for byte
(arch/x86/include/asm/sigframe.h, include/uapi/asm-generic/ucontext.h,
arch/x86/include/uapi/asm/sigcontext.h)::

    struct rt_sigframe {                /* 440 bytes */
        char *pretcode;                 /*   0: sa_restorer */
        struct ucontext uc;             /*   8: flags, link, stack_t (24), sigcontext (256),
                                                sigmask (8) */
        struct siginfo info;            /* 312, 128 bytes */
    };

Where it goes (``get_sigframe``): 128 bytes below the interrupted rsp (the ABI's red zone),
or at the top of the sigaltstack for SA_ONSTACK; then the FPU state (``fpu__alloc_mathframe``:
the 512-byte fxsave image, 64-byte aligned), then the frame, with rsp aligned as
``round_down(sp, 16) - 8`` so the handler sees the ABI's alignment after a call.  The handler
runs with rdi = the signal, rsi = &info, rdx = &uc, rax = 0, in 64-bit mode.

Choices, each where Linux depends on the machine, as for i386: the CPU has FXSR and no XSAVE
(uc_flags UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, no UC_FP_XSTATE), the saved FPU state is
the reset state and rt_sigreturn does not load it.  x86-64 has no sigreturn trampoline of the
kernel's: a handler without SA_RESTORER cannot be returned from, and Linux refuses to build
its frame (``x64_setup_rt_frame``: -EFAULT, so the process gets SIGSEGV).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .sigframe import SigAction, SigInfo, force, on_sig_stack, sas_ss_flags

if TYPE_CHECKING:
    from .process import Kernel

#: struct sigcontext (64-bit): r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags,
#: cs, gs, fs, ss, err, trapno, oldmask, cr2, fpstate, reserved1[8].
SIGCONTEXT = struct.Struct("<18Q4H5Q64x")
_GPRS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
         "rdx", "rax", "rcx", "rsp", "rip", "eflags")
UC = 8
UC_STACK = UC + 16
UC_MCONTEXT = UC + 40
UC_SIGMASK = UC_MCONTEXT + SIGCONTEXT.size  # 304
INFO = UC_SIGMASK + 8  # 312
SIGINFO_SIZE = 128
RT_SIGFRAME_SIZE = INFO + SIGINFO_SIZE  # 440
STACK_T = struct.Struct("<Qi4xQ")
#: uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS (arch/x86/include/uapi/asm/ucontext.h).
UC_FLAGS = 0x2 | 0x4
FXSAVE_SIZE = 512
RED_ZONE = 128
#: __USER_CS and __USER_DS of a 64-bit task (arch/x86/include/asm/segment.h).
USER_CS, USER_DS = 0x33, 0x2B
_MASK = (1 << 64) - 1


def _fxsave_reset() -> bytes:
    """The fxsave image of a new task's FPU: fcw 0x37f, mxcsr 0x1f80, mxcsr_mask 0xffff."""
    head = struct.pack("<HHBBHQQII", 0x37F, 0, 0, 0, 0, 0, 0, 0x1F80, 0xFFFF)
    return head.ljust(FXSAVE_SIZE, b"\0")


_FXSAVE = _fxsave_reset()


def siginfo_bytes(info: SigInfo) -> bytes:
    """siginfo_t as an x86-64 process reads it: the union at offset 16, 8-byte aligned
    (include/uapi/asm-generic/siginfo.h)."""
    head = struct.pack("<iii4x", info.signo, 0, info.code)
    if info.code <= 0:  # _kill
        body = struct.pack("<iI", info.pid, info.uid)
    elif info.status is not None:  # _sigchld: pid, uid, status, utime, stime
        body = struct.pack("<iIi4xqq", info.pid, info.uid, info.status, 0, 0)
    elif info.addr is not None:  # _sigfault
        body = struct.pack("<Q", info.addr & _MASK)
    else:
        body = b""
    return (head + body).ljust(SIGINFO_SIZE, b"\0")


def setup_rt_frame(k: Kernel, sig: int, action: SigAction, info: SigInfo,
                   state: dict[str, int]) -> bool:
    """x64_setup_rt_frame and handle_signal's register changes; False when the frame cannot
    be written (the caller forces SIGSEGV)."""
    if not action.flags & L.SA_RESTORER:
        return False
    sp = state["rsp"] - RED_ZONE
    nested = on_sig_stack(k, state["rsp"])
    entering = False
    if action.flags & L.SA_ONSTACK and sas_ss_flags(k, state["rsp"]) == 0:
        sp = k.altstack_sp + k.altstack_size
        entering = True
    fpstate = (sp - FXSAVE_SIZE) & ~63
    frame = ((fpstate - RT_SIGFRAME_SIZE) & ~15) - 8
    if (nested or entering) and not (frame > k.altstack_sp
                                     and frame - k.altstack_sp <= k.altstack_size):
        return False
    if frame < 0 or k.copy_out(fpstate, _FXSAVE):
        return False
    oldmask = k.sigmask
    trapno, err, cr2 = k.fault_arch
    sc = SIGCONTEXT.pack(*(state[r] & _MASK for r in _GPRS), USER_CS, 0, 0, USER_DS, err,
                         trapno, oldmask & _MASK, cr2, fpstate)
    stack = STACK_T.pack(k.altstack_sp, k.altstack_flags, k.altstack_size)
    data = (struct.pack("<QQQ", action.restorer, UC_FLAGS, 0) + stack + sc
            + struct.pack("<Q", oldmask) + siginfo_bytes(info))
    assert len(data) == RT_SIGFRAME_SIZE
    if k.copy_out(frame, data):
        return False
    if k.altstack_flags & L.SS_AUTODISARM and entering:
        k.altstack_sp = k.altstack_size = 0
        k.altstack_flags = L.SS_DISABLE
    state.update(rsp=frame, rip=action.handler, rdi=sig, rax=0, rsi=frame + INFO,
                 rdx=frame + UC,
                 eflags=state["eflags"] & ~(L.X86_EFLAGS_DF | L.X86_EFLAGS_RF | L.X86_EFLAGS_TF))
    return True


def rt_sigreturn(k: Kernel) -> tuple[dict[str, int], int, tuple[int, int, int]] | None:
    """What rt_sigreturn reads back (the frame starts 8 below rsp: the handler's ``ret``
    popped pretcode): the registers restore_sigcontext gives (only the FIX_EFLAGS bits of
    rflags come from the frame), the mask, and the saved stack_t; None for a frame that
    cannot be read (badframe: SIGSEGV)."""
    state = k.cpu.cpu_state()
    frame = state["rsp"] - 8
    raw = k.copy_in(frame, RT_SIGFRAME_SIZE) if frame >= 0 else -L.EFAULT
    if raw.__class__ is int:
        force(k, SigInfo(L.SIGSEGV, L.SI_KERNEL))
        return None
    values = SIGCONTEXT.unpack_from(raw, UC_MCONTEXT)
    new = dict(state)
    new.update(zip(_GPRS, values[:18], strict=True))
    new["eflags"] = (state["eflags"] & ~L.FIX_EFLAGS) | (values[17] & L.FIX_EFLAGS)
    mask = int.from_bytes(raw[UC_SIGMASK:UC_SIGMASK + 8], "little")
    return new, mask, STACK_T.unpack_from(raw, UC_STACK)
