"""Signal delivery for one i386 process: what Linux does on the way back to user mode.

``get_signal`` (kernel/signal.c) picks the next pending, unblocked signal (the synchronous
ones, SIGSEGV SIGBUS SIGILL SIGTRAP SIGFPE SIGSYS, first, then the lowest number) and acts on
its disposition: ignored, it is dropped; default, the process ends (or nothing happens, for
SIGCHLD SIGCONT SIGURG SIGWINCH); a handler, ``handle_signal`` (arch/x86/kernel/signal.c)
builds a frame on the user stack with ``ia32_setup_rt_frame`` (SA_SIGINFO) or
``ia32_setup_frame`` (arch/x86/kernel/signal_32.c) and points the CPU at the handler.
``sys_sigreturn`` and ``sys_rt_sigreturn`` (same file) undo it.

The frames, byte for byte (arch/x86/include/asm/sigframe.h, a 64-bit kernel's ia32 ones)::

    struct sigframe_ia32 {              /* 732 bytes */
        u32 pretcode;                   /*   0 */
        int sig;                        /*   4 */
        struct sigcontext_32 sc;        /*   8, 88 bytes */
        struct _fpstate_32 fpstate_unused;  /*  96, 624 bytes */
        unsigned int extramask[1];      /* 720 */
        char retcode[8];                /* 724 */
    };
    struct rt_sigframe_ia32 {           /* 268 bytes */
        u32 pretcode, sig, pinfo, puc;  /*   0 */
        compat_siginfo_t info;          /*  16, 128 bytes */
        struct ucontext_ia32 uc;        /* 144: flags, link, stack (12), mcontext (88), sigmask (8) */
        char retcode[8];                /* 260 */
    };

Where the frame goes (``get_sigframe``): below the interrupted esp, or at the top of the
sigaltstack for SA_ONSTACK; first the FPU state (``fpu__alloc_mathframe``: the fxsave image
64-byte aligned, the 112-byte i387 header below it), then the frame, with esp aligned as
``((sp + 4) & -16) - 4`` so the handler sees the ABI's alignment after its return address.

Choices, each where Linux depends on the machine:

* The CPU modelled has FXSR and no XSAVE, so the FPU area is 512 + 112 bytes and uc_flags is
  0; a host with XSAVE (AVX) reserves more and puts the frame lower by that much, with the
  same layout relative to it.  The saved FPU state is the reset state (fcw 0x37f, mxcsr
  0x1f80), and sigreturn does not load the FPU: the harness's x87/SSE state is not
  tracked across a handler.
* There is no vDSO, so without SA_RESTORER the return address is the frame's own
  ``retcode`` (``popl %eax; movl $119,%eax; int $0x80`` or ``movl $173,%eax; int $0x80``),
  as ``ia32_setup_frame`` does when ``mm->context.vdso`` is unset.  It runs only where the
  stack is executable; C libraries always pass SA_RESTORER.
* The legacy i386 stack switch (ss other than __USER_DS) never applies: user code runs with
  __USER_DS.
* Signals only come from the process itself (kill, tgkill, SIGPIPE, faults), so no blocking
  call is ever interrupted and SA_RESTART has nothing to restart.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import linux as L
from ..errors import HarnessError
from .abi import SIG_DFL, SIG_IGN, IGNORED_BY_DEFAULT

if TYPE_CHECKING:
    from .process import Kernel

#: The CPU registers a frame saves, by name, as the machine's cpu_state() gives them.
REGISTERS = ("gs", "fs", "es", "ds", "edi", "esi", "ebp", "esp", "ebx", "edx", "ecx", "eax",
             "eip", "cs", "eflags", "ss")

SIGCONTEXT = struct.Struct("<4I8I3I" "I" "I" "I" "I" "III")  # 88 bytes
SIGCONTEXT_SIZE = SIGCONTEXT.size
FPSTATE_SIZE = 624  # struct _fpstate_32
SIGINFO_SIZE = 128  # compat_siginfo_t
SIGFRAME_SIZE = 4 + 4 + SIGCONTEXT_SIZE + FPSTATE_SIZE + 4 + 8  # 732
RT_SIGFRAME_SIZE = 16 + SIGINFO_SIZE + 20 + SIGCONTEXT_SIZE + 8 + 8  # 268
RT_INFO = 16
RT_UC = RT_INFO + SIGINFO_SIZE  # 144
RT_UC_STACK = RT_UC + 8
RT_UC_MCONTEXT = RT_UC + 20
RT_UC_SIGMASK = RT_UC_MCONTEXT + SIGCONTEXT_SIZE  # 252
RT_RETCODE = RT_UC_SIGMASK + 8  # 260
SF_SC = 8
SF_EXTRAMASK = SF_SC + SIGCONTEXT_SIZE + FPSTATE_SIZE  # 720
SF_RETCODE = SF_EXTRAMASK + 4  # 724
#: sizeof(struct fxregs_state) and of the i387 header (struct fregs_state) below it.
FXSAVE_SIZE = 512
FREGS_SIZE = 112

#: movl $__NR_rt_sigreturn, %eax; int $0x80 (rt_retcode), and popl %eax; movl
#: $__NR_sigreturn, %eax; int $0x80 (retcode), signal_32.c.
RT_RETCODE_BYTES = b"\xb8" + struct.pack("<I", L.SYS_rt_sigreturn) + b"\xcd\x80\x00"
RETCODE_BYTES = b"\x58\xb8" + struct.pack("<I", L.SYS_sigreturn) + b"\xcd\x80"

_ALL = (1 << L.NSIG) - 1
#: SIGKILL and SIGSTOP can be neither blocked nor caught.
UNBLOCKABLE = 1 << (L.SIGKILL - 1) | 1 << (L.SIGSTOP - 1)


def bit(sig: int) -> int:
    return 1 << (sig - 1)


@dataclass
class SigAction:
    """struct k_sigaction for i386: sa_handler, sa_flags, sa_restorer, sa_mask (64 bits)."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


DEFAULT_ACTION = SigAction()


@dataclass
class SigInfo:
    """The siginfo fields the harness's signals carry (compat_siginfo_t)."""

    signo: int
    code: int = L.SI_USER
    pid: int = 0
    uid: int = 0
    addr: int | None = None
    #: SIGCHLD from the kernel: the child's exit code or killing signal (_sigchld).
    status: int | None = None

    def pack(self) -> bytes:
        head = struct.pack("<iii", self.signo, 0, self.code)
        if self.code <= 0:  # from a process: _kill {si_pid, si_uid}
            body = struct.pack("<iI", self.pid, self.uid)
        elif self.status is not None:  # _sigchld {si_pid, si_uid, si_status, utime, stime}
            body = struct.pack("<iIiii", self.pid, self.uid, self.status, 0, 0)
        elif self.addr is not None:  # a fault: _sigfault {si_addr}
            body = struct.pack("<I", self.addr & 0xFFFFFFFF)
        else:
            body = b""
        return (head + body).ljust(SIGINFO_SIZE, b"\0")


#: The x86 exception vectors (arch/x86/include/asm/trapnr.h) a fault's sigcontext names.
X86_TRAP_DE, X86_TRAP_BP, X86_TRAP_OF, X86_TRAP_UD, X86_TRAP_GP, X86_TRAP_PF = 0, 3, 4, 6, 13, 14
#: Page fault error code bits (arch/x86/include/asm/trap_pf.h): present, write, user, fetch.
X86_PF_PROT, X86_PF_WRITE, X86_PF_USER, X86_PF_INSTR = 1, 2, 4, 16


def fault_arch(info: SigInfo, write: bool = False, fetch: bool = False) -> tuple[int, int, int]:
    """The (trapno, err, cr2) Linux keeps in ``current->thread`` for a fault signal
    (set_signal_archinfo), which setup_sigcontext copies into the frame."""
    sig, code = info.signo, info.code
    if sig == L.SIGSEGV and code in (L.SEGV_MAPERR, L.SEGV_ACCERR):
        err = X86_PF_USER | (X86_PF_PROT if code == L.SEGV_ACCERR else 0)
        err |= X86_PF_WRITE if write else X86_PF_INSTR if fetch else 0
        return X86_TRAP_PF, err, info.addr or 0
    trapno = {L.SIGFPE: X86_TRAP_DE, L.SIGTRAP: X86_TRAP_BP, L.SIGILL: X86_TRAP_UD}.get(
        sig, X86_TRAP_GP)
    return trapno, 0, 0


@dataclass
class Terminate:
    """get_signal's verdict: the default action ends the process with ``info.signo``."""

    info: SigInfo


class StoppedByJobControl(HarnessError):
    """A stop signal's default action: the process would wait for a SIGCONT nobody can
    send; the harness models no job control and says so in one line."""

    def __str__(self) -> str:
        sig = self.args[0]
        return (f"the guest was stopped by {L.SIGNAL_NAMES.get(sig, sig)}; "
                "job control is not modelled")


def _fxsave_reset() -> bytes:
    """The FPU as a new process has it (fninit, and MXCSR's power-on 0x1f80), as fxsave
    stores it: fcw 0x37f, empty abridged tag word, mxcsr_mask 0xffff."""
    head = struct.pack("<HHBBHIIIII", 0x37F, 0, 0, 0, 0, 0, 0, 0, 0x1F80, 0xFFFF)
    return head.ljust(FXSAVE_SIZE, b"\0")


def _fregs_header() -> bytes:
    """struct fregs_state as convert_from_fxsr fills it from the reset state: cwd, swd and
    twd with their high halves set (twd all-empty), no last instruction, status 0, magic
    X86_FXSR_MAGIC (0)."""
    env = struct.pack("<7I", 0xFFFF037F, 0xFFFF0000, 0xFFFFFFFF, 0, 0, 0, 0xFFFF0000)
    return (env + bytes(80) + struct.pack("<HH", 0, 0)).ljust(FREGS_SIZE, b"\0")


_MATH_FRAME = _fregs_header() + _fxsave_reset()


def on_sig_stack(k: Kernel, sp: int) -> bool:
    """on_sig_stack (include/linux/sched/signal.h): SS_AUTODISARM makes it always false."""
    if k.altstack_flags & L.SS_AUTODISARM:
        return False
    return sp > k.altstack_sp and sp - k.altstack_sp <= k.altstack_size


def sas_ss_flags(k: Kernel, sp: int) -> int:
    if not k.altstack_size:
        return L.SS_DISABLE
    return L.SS_ONSTACK if on_sig_stack(k, sp) else 0


# ------------------------------------------------------------------------- get_signal


def next_signal(k: Kernel) -> int | None:
    """next_signal: the synchronous signals first, then the lowest number."""
    ready = k.sigpending & ~k.sigmask
    if not ready:
        return None
    for sig in (L.SIGSEGV, L.SIGBUS, L.SIGILL, L.SIGTRAP, L.SIGFPE, L.SIGSYS):
        if ready & bit(sig):
            return sig
    return (ready & -ready).bit_length()


def handle_signals(k: Kernel, state: dict[str, int]) -> Terminate | None:
    """Deliver every pending, unblocked signal to the process whose registers are ``state``
    (changed in place to what the process resumes with); a Terminate if one kills it.

    Like exit_to_user_mode_loop, this runs until no signal is left to deliver, so two
    signals stack two frames and the later one's handler runs first."""
    while True:
        sig = next_signal(k)
        if sig is None:
            k.recalc_signals()
            return None
        k.sigpending &= ~bit(sig)
        info = k.siginfo.pop(sig, None) or SigInfo(sig)
        if k.strace is not None:
            from ..trace import signal_line

            k.strace(signal_line(sig, info.code, info.addr, pid=info.pid, uid=info.uid,
                                 status=info.status))
        action = k.sigactions.get(sig, DEFAULT_ACTION)
        if action.handler == SIG_IGN:
            continue
        if action.handler == SIG_DFL:
            if sig in IGNORED_BY_DEFAULT:
                continue
            if sig in L.SIG_STOP:
                raise StoppedByJobControl(sig)
            k.recalc_signals()
            return Terminate(info)
        if action.flags & L.SA_RESETHAND:  # SA_ONESHOT, in get_signal
            k.sigactions[sig] = SigAction(SIG_DFL, action.flags, action.restorer, action.mask)
        if not setup_frame(k, sig, action, info, state):
            # signal_setup_done(failed): force_sigsegv; a SIGSEGV handler that cannot be
            # reached gives way to the default action.
            if sig == L.SIGSEGV:
                k.sigactions[sig] = DEFAULT_ACTION
            force(k, SigInfo(L.SIGSEGV, L.SI_KERNEL))
            continue
        blocked = k.sigmask | action.mask
        if not action.flags & L.SA_NODEFER:
            blocked |= bit(sig)
        k.sigmask = blocked & ~UNBLOCKABLE


def force(k: Kernel, info: SigInfo) -> None:
    """force_sig_info: a signal the process cannot refuse (a fault, a bad frame): if it is
    blocked or ignored, it is unblocked and its handler reset to SIG_DFL, so it kills."""
    sig = info.signo
    action = k.sigactions.get(sig, DEFAULT_ACTION)
    if k.sigmask & bit(sig) or action.handler == SIG_IGN:
        k.sigmask &= ~bit(sig)
        k.sigactions[sig] = SigAction(SIG_DFL, action.flags, action.restorer, action.mask)
    k.sigpending |= bit(sig)
    k.siginfo[sig] = info
    k.recalc_signals()


# ------------------------------------------------------------------------- frames


def _sigcontext(state: dict[str, int], oldmask: int, fpstate: int, trapno: int = 0,
                err: int = 0, cr2: int = 0) -> bytes:
    """setup_sigcontext (signal_32.c): segments, general registers, trap number, eip, cs,
    eflags, esp at the signal, ss, the FPU state pointer, the low mask word, cr2."""
    s = state
    return SIGCONTEXT.pack(s["gs"], s["fs"], s["es"], s["ds"], s["edi"], s["esi"], s["ebp"],
                           s["esp"], s["ebx"], s["edx"], s["ecx"], s["eax"], trapno, err,
                           s["eip"], s["cs"], s["eflags"], s["esp"], s["ss"], fpstate,
                           oldmask & 0xFFFFFFFF, cr2)


def _write(k: Kernel, address: int, data: bytes) -> bool:
    return address >= 0 and k.copy_out(address, data) == 0


def setup_frame(k: Kernel, sig: int, action: SigAction, info: SigInfo,
                state: dict[str, int]) -> bool:
    """ia32_setup_rt_frame or ia32_setup_frame, and the register changes of handle_signal;
    False when the frame cannot be written (the caller forces SIGSEGV)."""
    if "rip" in state:  # an x86-64 process: its rt_sigframe (arch/x86/kernel/signal_64.c)
        from .sigframe64 import setup_rt_frame

        return setup_rt_frame(k, sig, action, info, state)
    rt = bool(action.flags & L.SA_SIGINFO)
    size = RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE
    sp = state["esp"]
    nested = on_sig_stack(k, sp)
    entering = False
    if action.flags & L.SA_ONSTACK and sas_ss_flags(k, sp) == 0:
        sp = k.altstack_sp + k.altstack_size
        entering = True
    buf_fx = (sp - FXSAVE_SIZE) & ~63 & 0xFFFFFFFF
    fpstate = buf_fx - FREGS_SIZE
    frame = ((fpstate - size + 4) & -16) - 4
    if (nested or entering) and not (frame > k.altstack_sp
                                     and frame - k.altstack_sp <= k.altstack_size):
        return False  # get_sigframe: overflowing the alternate stack is a bogus address
    if not _write(k, fpstate, _MATH_FRAME):
        return False
    oldmask = k.sigmask
    sc = _sigcontext(state, oldmask, fpstate, *k.fault_arch)
    if rt:
        restorer = action.restorer if action.flags & L.SA_RESTORER else frame + RT_RETCODE
        # unsafe_compat_save_altstack: the flags as stored, not sas_ss_flags(sp).
        stack = struct.pack("<III", k.altstack_sp, k.altstack_flags, k.altstack_size)
        data = (struct.pack("<IiII", restorer, sig, frame + RT_INFO, frame + RT_UC)
                + info.pack() + struct.pack("<II", 0, 0) + stack + sc
                + struct.pack("<Q", oldmask) + RT_RETCODE_BYTES)
        edx, ecx = frame + RT_INFO, frame + RT_UC
    else:
        restorer = action.restorer if action.flags & L.SA_RESTORER else frame + SF_RETCODE
        data = (struct.pack("<Ii", restorer, sig) + sc + bytes(FPSTATE_SIZE)
                + struct.pack("<I", oldmask >> 32) + RETCODE_BYTES)
        edx = ecx = 0
    assert len(data) == size
    if not _write(k, frame, data):
        return False
    if k.altstack_flags & L.SS_AUTODISARM and entering:
        k.altstack_sp = k.altstack_size = 0
        k.altstack_flags = L.SS_DISABLE
    state.update(esp=frame, eip=action.handler, eax=sig, edx=edx, ecx=ecx,
                 eflags=state["eflags"] & ~(L.X86_EFLAGS_DF | L.X86_EFLAGS_RF | L.X86_EFLAGS_TF))
    if state["cs"] == L.USER32_CS:  # the flat user segments, reloaded (signal_32.c)
        state.update(ds=L.USER_DS, es=L.USER_DS, ss=L.USER_DS)
    return True


# ------------------------------------------------------------------------- sigreturn


def restore_sigcontext(state: dict[str, int], sc: bytes) -> dict[str, int]:
    """ia32_restore_sigcontext: every general register and eip from the frame, the four data
    segments, cs and ss with RPL 3, and only the FIX_EFLAGS bits of eflags."""
    (gs, fs, es, ds, edi, esi, ebp, esp, ebx, edx, ecx, eax, _trapno, _err, eip, cs, eflags,
     _esp_at_signal, ss, _fpstate, _oldmask, _cr2) = SIGCONTEXT.unpack(sc)
    new = dict(state)
    new.update(gs=gs & 0xFFFF, fs=fs & 0xFFFF, es=es & 0xFFFF, ds=ds & 0xFFFF, edi=edi,
               esi=esi, ebp=ebp, esp=esp, ebx=ebx, edx=edx, ecx=ecx, eax=eax, eip=eip,
               cs=(cs | 3) & 0xFFFF, ss=(ss | 3) & 0xFFFF,
               eflags=(state["eflags"] & ~L.FIX_EFLAGS) | (eflags & L.FIX_EFLAGS))
    return new
