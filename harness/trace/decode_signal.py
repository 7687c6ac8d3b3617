"""Decoders of the signal calls (src/signal.c): signal, sigaction, rt_sigaction, sigprocmask,
rt_sigprocmask, rt_sigpending, kill, tkill, tgkill, sigreturn, rt_sigreturn, sigaltstack;
and the signal, mask and handler printers other decoders and lines use.
"""

from __future__ import annotations

import struct

from .. import linux as L
from .format import (
    _HEX, _U32, _UDECIMAL, Pending, _addr, _d, _Enter, _Exit, _flag_table, _flags, _Memory, _s32,
    _table, _u, _x, _xval,
)

# SIG_ERR is in strace's table as a 64-bit (unsigned long) -1, which a 32-bit handler never
# equals, so a 32-bit SIG_ERR prints as the address 0xffffffff there too.
_SA_HANDLERS = _table("SIG_DFL SIG_IGN")
_SIGACT_FLAGS = _flag_table(
    "SA_RESTORER SA_ONSTACK SA_RESTART SA_INTERRUPT SA_NODEFER SA_RESETHAND SA_SIGINFO "
    "SA_NOCLDSTOP SA_NOCLDWAIT")
_SIGPROCMASK_CMDS = _table("SIG_BLOCK SIG_UNBLOCK SIG_SETMASK")


# --- signals (src/signal.c, src/printsiginfo.c) -----------------------------------------------


def _signame(signo: int) -> str | None:
    """strace's signame: SIGRTMIN for 32 and SIGRT_n above it (the kernel's numbering)."""
    if 0 < signo < L.SIGRTMIN:
        return L.SIGNAL_NAMES.get(signo)
    if signo == L.SIGRTMIN:
        return "SIGRTMIN"
    if L.SIGRTMIN < signo <= L.NSIG:
        return f"SIGRT_{signo - L.SIGRTMIN}"
    return None


def _signal(signo: int) -> str:
    """printsignal: the name, or the number."""
    signo = _s32(signo)
    return _signame(signo) or str(signo)


def _sigmask(data: bytes) -> str:
    """sprintsigmask_n: ``[INT TERM]``; a mask with 2/3 of its bits set prints inverted,
    ``~[KILL STOP]``, listing the signals it leaves out."""
    words = (min(len(data), L.NSIG_BYTES) + 3) // 4
    data = data[: words * 4].ljust(words * 4, b"\0")
    bits = words * 32
    mask = int.from_bytes(data, "little")
    prefix = ""
    if bin(mask).count("1") >= bits * 2 // 3:
        mask = ~mask & ((1 << bits) - 1)
        prefix = "~"
    names = []
    for bit in range(bits):
        if mask >> bit & 1:
            name = _signame(bit + 1)
            names.append(name[3:] if name is not None else str(bit + 1))
    return prefix + "[" + " ".join(names) + "]"


def _sigset(mem: _Memory, address: int, length: int) -> str:
    """print_sigset_addr_len: a sigset of 4 to NSIG_BYTES bytes, else just its address."""
    length &= _U32
    if length < 4 or length > L.NSIG_BYTES:
        return _addr(address)
    data = mem.fetch(address, length)
    return _sigmask(data) if data is not None else _addr(address)


def _sa_handler(handler: int) -> str:
    name = _SA_HANDLERS.get(handler & _U32)
    return name if name is not None else _addr(handler)


#: struct new_sigaction32 {handler, flags, restorer, mask[2]}: the kernel's i386 ``struct
#: sigaction`` (arch/x86/include/asm/signal.h); x86-64's has 8-byte words ("<QQQ").
SIGACTION_I386 = struct.Struct("<III")


def _sigaction(mem: _Memory, address: int, words: struct.Struct = SIGACTION_I386) -> str:
    """decode_new_sigaction: {handler, flags, restorer} as ``words``, then the 8-byte mask."""
    data = mem.fetch(address, words.size + 8)
    if data is None:
        return _addr(address)
    handler, flags, restorer = words.unpack_from(data)
    text = (f"{{sa_handler={_sa_handler(handler)}, "
            f"sa_mask={_sigmask(data[words.size:words.size + 8])}, "
            f"sa_flags={_flags(_SIGACT_FLAGS, flags & _U32, 'SA_???')}")
    if flags & L.SA_RESTORER:
        text += f", sa_restorer={_addr(restorer)}"
    return text + "}"


def _enter_signal(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_signal(p.args[0])}, {_sa_handler(p.args[1])}"
    return False


def _exit_signal(p: Pending, mem: _Memory, ret: int) -> str | None:
    """The old handler comes back as the result, named when it is SIG_DFL or SIG_IGN."""
    return None if mem.failed else _SA_HANDLERS.get(ret & _U32)


def rt_sigaction_decoder(words: struct.Struct = SIGACTION_I386) -> tuple:
    """rt_sigaction's (enter, exit) decoders for a struct sigaction laid out as ``words``."""

    def enter(p: Pending, mem: _Memory) -> bool:
        p.text += f"{_signal(p.args[0])}, {_sigaction(mem, p.args[1], words)}, "
        return False

    def leave(p: Pending, mem: _Memory, ret: int) -> None:
        p.text += f"{_sigaction(mem, p.args[2], words)}, {_u(p.args[3])}"

    return enter, leave


_enter_rt_sigaction, _exit_rt_sigaction = rt_sigaction_decoder()


def _enter_rt_sigprocmask(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += (f"{_xval(_SIGPROCMASK_CMDS, a[0], 'SIG_???')}, "
               f"{_sigset(mem, a[1], a[3])}, ")
    return False


def _exit_rt_sigprocmask(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += f"{_sigset(mem, p.args[2], p.args[3])}, {_u(p.args[3])}"


# --- decoders of the signal calls (kill, tgkill, sigreturn, ...) -----------------------------

_SIGALTSTACK_FLAGS = _flag_table("SS_ONSTACK SS_DISABLE SS_AUTODISARM")
#: Where strace finds the mask a sigreturn restores, from esp at the call (src/linux/i386/
#: arch_sigreturn.c: sigcontext's oldmask, then extramask after the 624-byte fpstate;
#: src/rt_sigreturn.c: the rt frame's uc_sigmask, 4 + 128 + 20 + 88 + 8 bytes above esp).
_SC_OLDMASK = 80
_SC_EXTRAMASK = 88 + 624
_RT_SIGMASK = 3 * 4 + 128 + 20 + 88


def _enter_kill(p: Pending, mem: _Memory) -> bool:
    """kill(pid, sig) and tkill(tid, sig): printpid, printsignal."""
    p.text += f"{_d(p.args[0])}, {_signal(p.args[1])}"
    return True


def _enter_tgkill(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, {_d(p.args[1])}, {_signal(p.args[2])}"
    return True


def _enter_sigreturn(p: Pending, mem: _Memory) -> bool:
    """sigreturn({mask=[...]}): the low word from sc.oldmask, the high from extramask; the
    process's esp comes as a seventh argument (the harness passes it)."""
    esp = p.args[6] if len(p.args) > 6 else 0
    frame = mem.umoven(esp, _SC_EXTRAMASK + 4)
    if frame is None:
        p.text += f"{{mask={_x(esp)}}}"
    else:
        p.text += "{mask=" + _sigmask(frame[_SC_OLDMASK:_SC_OLDMASK + 4]
                                      + frame[_SC_EXTRAMASK:_SC_EXTRAMASK + 4]) + "}"
    return True


def _enter_rt_sigreturn(p: Pending, mem: _Memory) -> bool:
    """rt_sigreturn({mask=[...]}): print_sigset_addr of the frame's uc_sigmask."""
    esp = p.args[6] if len(p.args) > 6 else 0
    p.text += "{mask=" + _sigset(mem, esp + _RT_SIGMASK, L.NSIG_BYTES) + "}"
    return True


def _old_sigaction(mem: _Memory, address: int) -> str:
    """decode_old_sigaction: struct old_sigaction32 {handler, mask (one word), flags,
    restorer}, printed as the new one is."""
    data = mem.fetch(address, 16)
    if data is None:
        return _addr(address)
    handler, _mask, flags, restorer = struct.unpack("<IIII", data)
    text = (f"{{sa_handler={_sa_handler(handler)}, sa_mask={_sigmask(data[4:8])}, "
            f"sa_flags={_flags(_SIGACT_FLAGS, flags, 'SA_???')}")
    if flags & L.SA_RESTORER:
        text += f", sa_restorer={_addr(restorer)}"
    return text + "}"


def _enter_sigaction(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_signal(p.args[0])}, {_old_sigaction(mem, p.args[1])}, "
    return False


def _exit_sigaction(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _old_sigaction(mem, p.args[2])


def _enter_sigprocmask(p: Pending, mem: _Memory) -> bool:
    """The old sigprocmask: sets of current_wordsize (4) bytes, no size argument."""
    p.text += (f"{_xval(_SIGPROCMASK_CMDS, p.args[0], 'SIG_???')}, "
               f"{_sigset(mem, p.args[1], 4)}, ")
    return False


def _exit_sigprocmask(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _sigset(mem, p.args[2], 4)


def _enter_rt_sigpending(p: Pending, mem: _Memory) -> bool:
    return False


def _exit_rt_sigpending(p: Pending, mem: _Memory, ret: int) -> None:
    """rt_sigpending: everything at exit; the set is an address after a failure."""
    a = p.args
    text = _addr(a[0]) if mem.failed else _sigset(mem, a[0], a[1])
    p.text += f"{text}, {_u(a[1])}"


#: stack_t (include/uapi/asm-generic/signal.h): ss_sp, ss_flags, ss_size, as i386 lays
#: it out; x86-64's is "<Qi4xQ" (harness/trace/x86_64.py passes it).
STACK_T_I386 = struct.Struct("<III")


def _stack_t(mem: _Memory, address: int, layout: struct.Struct = STACK_T_I386) -> str:
    """print_stack_t: {ss_sp=..., ss_flags=..., ss_size=...}."""
    data = mem.fetch(address, layout.size)
    if data is None:
        return _addr(address)
    sp, flags, size = layout.unpack(data)
    return (f"{{ss_sp={_addr(sp)}, ss_flags={_flags(_SIGALTSTACK_FLAGS, flags, 'SS_???')}, "
            f"ss_size={size}}}")


def sigaltstack_decoder(layout: struct.Struct = STACK_T_I386) -> tuple:
    """sigaltstack's (enter, exit) decoders for a stack_t laid out as ``layout``."""

    def enter(p: Pending, mem: _Memory) -> bool:
        p.text += _stack_t(mem, p.args[0], layout) + ", "
        return False

    def leave(p: Pending, mem: _Memory, ret: int) -> None:
        p.text += _stack_t(mem, p.args[1], layout)

    return enter, leave


_enter_sigaltstack, _exit_sigaltstack = sigaltstack_decoder()


#: The signal calls strace decodes: name -> (enter, exit, how the result prints).
DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "signal": (_enter_signal, _exit_signal, _HEX),
    "rt_sigaction": (_enter_rt_sigaction, _exit_rt_sigaction, _UDECIMAL),
    "rt_sigprocmask": (_enter_rt_sigprocmask, _exit_rt_sigprocmask, _UDECIMAL),
    "kill": (_enter_kill, None, _UDECIMAL),
    "tkill": (_enter_kill, None, _UDECIMAL),
    "tgkill": (_enter_tgkill, None, _UDECIMAL),
    "sigreturn": (_enter_sigreturn, None, _UDECIMAL),
    "rt_sigreturn": (_enter_rt_sigreturn, None, _UDECIMAL),
    "sigaction": (_enter_sigaction, _exit_sigaction, _UDECIMAL),
    "sigprocmask": (_enter_sigprocmask, _exit_sigprocmask, _UDECIMAL),
    "rt_sigpending": (_enter_rt_sigpending, _exit_rt_sigpending, _UDECIMAL),
    "sigaltstack": (_enter_sigaltstack, _exit_sigaltstack, _UDECIMAL),
}
