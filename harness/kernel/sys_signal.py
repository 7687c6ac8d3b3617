"""Signals: dispositions, the mask, sending, the alternate stack and the return from a
handler (kernel/signal.c, arch/x86/kernel/signal_32.c), and the identity calls a sender
needs (getpid, getppid, gettid; kernel/sys.c).

A 32-bit process on a 64-bit kernel reaches the compat versions of these calls
(``compat_sys_rt_sigaction`` and friends): the structures are the i386 ones, 32-bit pointers
and a 64-bit sigset_t in two words.  Delivery itself is in :mod:`.sigframe`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .abi import IGNORED_BY_DEFAULT, SIG_DFL, SIG_IGN, s32
from .sigframe import (
    DEFAULT_ACTION, RT_SIGFRAME_SIZE, RT_UC_MCONTEXT, RT_UC_SIGMASK, RT_UC_STACK,
    SF_EXTRAMASK, SF_SC, SIGCONTEXT_SIZE, SIGFRAME_SIZE, UNBLOCKABLE, SigAction, SigInfo, bit,
    force, on_sig_stack, restore_sigcontext, sas_ss_flags,
)

if TYPE_CHECKING:
    from .process import Kernel

#: struct compat_sigaction: handler, flags, restorer, 64-bit mask.
SIGACTION = struct.Struct("<IIIQ")
#: struct compat_old_sigaction: handler, 32-bit mask, flags, restorer.
OLD_SIGACTION = struct.Struct("<IIII")
#: compat_stack_t: ss_sp, ss_flags, ss_size.
STACK_T = struct.Struct("<IiI")
SIGSET_SIZE = L.NSIG_BYTES
#: The sa_flags do_sigaction keeps (UAPI_SA_FLAGS, include/linux/signal_types.h, with x86's
#: SA_RESTORER); any other bit reads back as 0, so a program can probe for support.
UAPI_SA_FLAGS = (L.SA_NOCLDSTOP | L.SA_NOCLDWAIT | L.SA_SIGINFO | L.SA_ONSTACK | L.SA_RESTART
                 | L.SA_NODEFER | L.SA_RESETHAND | L.SA_EXPOSE_TAGBITS | L.SA_RESTORER)
_U32 = 0xFFFFFFFF


def _valid(sig: int) -> bool:
    """valid_signal: 0 (no signal, an existence check) to _NSIG."""
    return 0 <= sig <= L.NSIG


def do_sigaction(k: Kernel, sig: int, new: SigAction | None) -> SigAction | int:
    """do_sigaction: the old action, or -EINVAL.  SIGKILL and SIGSTOP cannot be changed;
    unknown flag bits are dropped; setting a disposition that ignores the signal discards
    it if pending."""
    if not 1 <= sig <= L.NSIG or (new is not None and sig in (L.SIGKILL, L.SIGSTOP)):
        return -L.EINVAL
    old = k.sigactions.get(sig, DEFAULT_ACTION)
    old = SigAction(old.handler, old.flags & UAPI_SA_FLAGS, old.restorer, old.mask)
    if new is not None:
        new.flags &= UAPI_SA_FLAGS
        new.mask &= ~UNBLOCKABLE
        k.sigactions[sig] = new
        if new.handler == SIG_IGN or (new.handler == SIG_DFL and sig in IGNORED_BY_DEFAULT):
            k.sigpending &= ~bit(sig)
            k.siginfo.pop(sig, None)
            k.recalc_signals()
    return old


def sys_signal(k: Kernel, sig: int, handler: int, *_: int) -> int:
    """signal(2) as sys_signal: SA_ONESHOT | SA_NOMASK, an empty mask, the old handler
    returned (it may look like an error: SIG_ERR is -1)."""
    old = do_sigaction(k, s32(sig), SigAction(handler, L.SA_ONESHOT | L.SA_NOMASK))
    return old if isinstance(old, int) else s32(old.handler)


def sys_rt_sigaction(k: Kernel, sig: int, act: int, oact: int, size: int, *_: int) -> int:
    """rt_sigaction(2), compat_sys_rt_sigaction: sigsetsize must be 8; the new action is
    read before anything is checked (EFAULT first), the old one written back whole."""
    if size != SIGSET_SIZE:
        return -L.EINVAL
    new = None
    if act:
        layout = k.abi.sigaction  # SIGACTION for i386, 8-byte fields on x86-64
        raw = k.copy_in(act, layout.size)
        if raw.__class__ is int:
            return raw
        handler, flags, restorer, mask = layout.unpack(raw)
        new = SigAction(handler, flags, restorer, mask)
    old = do_sigaction(k, s32(sig), new)
    if isinstance(old, int):
        return old
    if oact:
        return k.copy_out(oact, k.abi.sigaction.pack(old.handler, old.flags, old.restorer,
                                                     old.mask))
    return 0


def sys_sigaction(k: Kernel, sig: int, act: int, oact: int, *_: int) -> int:
    """The old sigaction(2) (67), compat_sys_sigaction: struct old_sigaction with a 32-bit
    mask; the old action's mask is its low word."""
    new = None
    if act:
        raw = k.copy_in(act, OLD_SIGACTION.size)
        if raw.__class__ is int:
            return raw
        handler, mask, flags, restorer = OLD_SIGACTION.unpack(raw)
        new = SigAction(handler, flags, restorer, mask)
    old = do_sigaction(k, s32(sig), new)
    if isinstance(old, int):
        return old
    if oact:
        return k.copy_out(oact, OLD_SIGACTION.pack(old.handler, old.mask & _U32, old.flags,
                                                   old.restorer))
    return 0


def _set_blocked(k: Kernel, how: int, value: int, low_word: bool = False) -> int:
    """sigprocmask's three operations on the blocked set (SIGKILL and SIGSTOP never
    blocked); SIG_SETMASK of the old call replaces only the low word."""
    if how == L.SIG_BLOCK:
        mask = k.sigmask | value
    elif how == L.SIG_UNBLOCK:
        mask = k.sigmask & ~value
    elif how == L.SIG_SETMASK:
        mask = (k.sigmask & ~_U32 | value) if low_word else value
    else:
        return -L.EINVAL
    k.sigmask = mask & ~UNBLOCKABLE
    k.recalc_signals()
    return 0


def sys_rt_sigprocmask(k: Kernel, how: int, set_: int, oset: int, size: int, *_: int) -> int:
    """rt_sigprocmask(2): the old mask is written after the change, as it was before it."""
    if size != SIGSET_SIZE:
        return -L.EINVAL
    old = k.sigmask
    if set_:
        raw = k.copy_in(set_, SIGSET_SIZE)
        if raw.__class__ is int:
            return raw
        err = _set_blocked(k, s32(how), int.from_bytes(raw, "little"))
        if err:
            return err
    if oset:
        return k.copy_out(oset, old.to_bytes(SIGSET_SIZE, "little"))
    return 0


def sys_sigprocmask(k: Kernel, how: int, set_: int, oset: int, *_: int) -> int:
    """The old sigprocmask(2) (126): one 32-bit word, the first 32 signals."""
    old = k.sigmask & _U32
    if set_:
        raw = k.copy_in(set_, 4)
        if raw.__class__ is int:
            return raw
        err = _set_blocked(k, s32(how), int.from_bytes(raw, "little"), low_word=True)
        if err:
            return err
    if oset:
        return k.copy_out(oset, old.to_bytes(4, "little"))
    return 0


def sys_rt_sigpending(k: Kernel, uset: int, size: int, *_: int) -> int:
    """rt_sigpending(2): the pending signals that are blocked (the others were delivered),
    ``size`` bytes of them; more than 8 is EINVAL."""
    if size > SIGSET_SIZE:
        return -L.EINVAL
    pending = k.sigpending & k.sigmask
    return k.copy_out(uset, pending.to_bytes(SIGSET_SIZE, "little")[:size]) if size else 0


def sys_sigaltstack(k: Kernel, uss: int, uoss: int, *_: int) -> int:
    """sigaltstack(2), do_compat_sigaltstack and do_sigaltstack: EFAULT reading the new
    stack; EPERM while running on the current one; EINVAL for an ss_flags other than 0,
    SS_ONSTACK or SS_DISABLE (SS_AUTODISARM may be added); ENOMEM below MINSIGSTKSZ; the old
    stack is written only on success."""
    new = None
    if uss:
        raw = k.copy_in(uss, k.abi.stack_t.size)
        if raw.__class__ is int:
            return raw
        new = k.abi.stack_t.unpack(raw)
    sp = k.cpu.stack_pointer()
    old = (k.altstack_sp, sas_ss_flags(k, sp) | (k.altstack_flags & L.SS_FLAG_BITS),
           k.altstack_size)
    if new is not None:
        err = _set_altstack(k, new, sp)
        if err:
            return err
    if uoss:
        return k.copy_out(uoss, k.abi.stack_t.pack(*old))
    return 0


def _set_altstack(k: Kernel, new: tuple[int, int, int], sp: int) -> int:
    ss_sp, ss_flags, ss_size = new
    if on_sig_stack(k, sp):
        return -L.EPERM
    flags = ss_flags & _U32
    mode = flags & ~L.SS_FLAG_BITS
    if mode not in (L.SS_DISABLE, L.SS_ONSTACK, 0):
        return -L.EINVAL
    if (k.altstack_sp, k.altstack_size, k.altstack_flags) == (ss_sp, ss_size, flags):
        return 0
    if mode == L.SS_DISABLE:
        ss_sp = ss_size = 0
    elif ss_size < L.MINSIGSTKSZ:
        return -L.ENOMEM
    k.altstack_sp, k.altstack_size, k.altstack_flags = ss_sp, ss_size, flags
    return 0


# ------------------------------------------------------------------ sending


def _send(k: Kernel, sig: int, code: int) -> int:
    """check_kill_permission's signal check, then the send (signal 0 only checks)."""
    if not _valid(sig):
        return -L.EINVAL
    if sig:
        k.deliver(sig, code)
    return 0


def sys_kill(k: Kernel, pid: int, sig: int, *_: int) -> int:
    """kill(2), kill_something_info: pid > 0 names a process (this one, or ESRCH); 0 is the
    caller's process group and -pgid a group (this process leads its own, pgid = pid);
    -1 is every process but the caller and init, of which the harness's world has none the
    guest may signal (ESRCH).  A bad signal is EINVAL once a target exists.  Another process
    of the guest (a child, its parent) gets the signal with the sender's pid and uid; one
    asleep in a call is woken as Linux wakes it (Kernel.interrupts).  Same uid everywhere,
    so check_kill_permission always allows it."""
    pid, sig = s32(pid), s32(sig)
    if pid > 0:
        if pid == k.pid:
            return _send(k, sig, L.SI_USER)
        target = k.tasks.procs.get(pid) if k.tasks is not None else None
        if target is None or target.status is not None and not target.zombie:
            return -L.ESRCH
        if not _valid(sig):
            return -L.EINVAL
        if sig and not target.zombie:  # a zombie exists (kill succeeds) but has no signals
            target.kernel.deliver(sig, L.SI_USER, SigInfo(sig, L.SI_USER, k.pid, k.uid))
        return 0
    if pid == -1 or pid == -(1 << 31):
        return -L.ESRCH
    if pid == 0 or -pid == k.pid:
        return _send(k, sig, L.SI_USER)
    return -L.ESRCH


def sys_tkill(k: Kernel, tid: int, sig: int, *_: int) -> int:
    """tkill(2): EINVAL for tid <= 0, ESRCH for a thread that is not this one."""
    tid = s32(tid)
    if tid <= 0:
        return -L.EINVAL
    return _send(k, s32(sig), L.SI_TKILL) if tid == k.tid else -L.ESRCH


def sys_tgkill(k: Kernel, tgid: int, tid: int, sig: int, *_: int) -> int:
    """tgkill(2): EINVAL for tgid or tid <= 0, ESRCH unless both name this thread."""
    tgid, tid = s32(tgid), s32(tid)
    if tid <= 0 or tgid <= 0:
        return -L.EINVAL
    if tid != k.tid or tgid != k.pid:
        return -L.ESRCH
    return _send(k, s32(sig), L.SI_TKILL)


def sys_getpid(k: Kernel, *_: int) -> int:
    """getpid(2): the thread group id."""
    return k.pid


def sys_getppid(k: Kernel, *_: int) -> int:
    return k.ppid


def sys_gettid(k: Kernel, *_: int) -> int:
    return k.tid


# ------------------------------------------------------------------ the way back


def _bad_frame(k: Kernel) -> int:
    """signal_fault: a frame that cannot be read kills with SIGSEGV; eax is left alone."""
    force(k, SigInfo(L.SIGSEGV, L.SI_KERNEL))
    return s32(k.cpu.cpu_state()["eax"])


def _restore(k: Kernel, state: dict[str, int], sc: bytes, mask: int) -> dict[str, int]:
    k.sigmask = mask & ~UNBLOCKABLE
    k.recalc_signals()
    new = restore_sigcontext(state, sc)
    k.cpu.set_cpu_state(new)
    return new


def sys_rt_sigreturn(k: Kernel, *_: int) -> int:
    """rt_sigreturn(2) (173): the handler's ``ret`` popped pretcode, so the frame starts 4
    below esp; the mask, every register and the alternate stack come back from its ucontext,
    and the result is the restored eax (the machine stores it, as the kernel does)."""
    state = k.cpu.cpu_state()
    frame = (state["esp"] - 4) & _U32
    raw = k.copy_in(frame, RT_SIGFRAME_SIZE)
    if raw.__class__ is int:
        return _bad_frame(k)
    mask = int.from_bytes(raw[RT_UC_SIGMASK:RT_UC_SIGMASK + 8], "little")
    new = _restore(k, state, raw[RT_UC_MCONTEXT:RT_UC_MCONTEXT + SIGCONTEXT_SIZE], mask)
    # restore_altstack: do_sigaltstack with the saved stack_t, its errors ignored.
    _set_altstack(k, STACK_T.unpack_from(raw, RT_UC_STACK), new["esp"])
    return s32(new["eax"])


def sys_rt_sigreturn_64(k: Kernel, *_: int) -> int:
    """rt_sigreturn(2) of an x86-64 process (15; arch/x86/kernel/signal_64.c): the mask,
    every general register and the alternate stack from the frame 8 below rsp
    (:mod:`.sigframe64`); the result is the restored rax.  An unreadable frame raises
    SIGSEGV and leaves rax alone."""
    from .sigframe64 import rt_sigreturn

    restored = rt_sigreturn(k)
    if restored is None:
        return k.cpu.cpu_state()["rax"]
    new, mask, stack = restored
    k.sigmask = mask & ~UNBLOCKABLE
    k.recalc_signals()
    k.cpu.set_cpu_state(new)
    _set_altstack(k, stack, new["rsp"])
    return new["rax"]


def sys_sigreturn(k: Kernel, *_: int) -> int:
    """sigreturn(2) (119): the return code popped pretcode and sig, so the frame starts 8
    below esp; the mask is sc.oldmask and extramask, the registers come from sc."""
    state = k.cpu.cpu_state()
    frame = (state["esp"] - 8) & _U32
    raw = k.copy_in(frame, SIGFRAME_SIZE)
    if raw.__class__ is int:
        return _bad_frame(k)
    sc = raw[SF_SC:SF_SC + SIGCONTEXT_SIZE]
    mask = struct.unpack_from("<I", sc, 80)[0] | struct.unpack_from("<I", raw, SF_EXTRAMASK)[0] << 32
    new = _restore(k, state, sc, mask)
    return s32(new["eax"])
