"""Whole lines: a syscall's (:func:`syscall_enter`, :func:`syscall_exit`,
:func:`strace_line`), and the process's ``+++ exited``, ``+++ killed`` and ``--- SIG`` lines.
Each syscall's arguments are printed by the decoder its subsystem's module lists.
"""

from __future__ import annotations

import struct

from .. import linux as L
from . import decode_file, decode_fs, decode_mm, decode_process, decode_signal, decode_socket
from . import decode_poll
from .decode_signal import _signal, _signame
from .format import (
    _FD, _HEX, _NONE, _U32, _UDECIMAL, Pending, Read, _addr, _align, _d, _Enter, _error, _Exit,
    _Memory, _s32, _table, _x,
)

# si_code names for signal_line (src/xlat/siginfo_codes.in, segv_codes.in, ...).
_SI_CODES = _table(
    "SI_USER SI_KERNEL SI_QUEUE SI_TIMER SI_MESGQ SI_ASYNCIO SI_SIGIO SI_TKILL SI_DETHREAD "
    "SI_ASYNCNL")
_SIGNAL_SI_CODES = {
    L.SIGSEGV: _table("SEGV_MAPERR SEGV_ACCERR SEGV_BNDERR SEGV_PKUERR SEGV_ACCADI "
                      "SEGV_ADIDERR SEGV_ADIPERR SEGV_MTEAERR SEGV_MTESERR"),
    L.SIGILL: _table("ILL_ILLOPC ILL_ILLOPN ILL_ILLADR ILL_ILLTRP ILL_PRVOPC ILL_PRVREG "
                     "ILL_COPROC ILL_BADSTK"),
    L.SIGFPE: _table("FPE_INTDIV FPE_INTOVF FPE_FLTDIV FPE_FLTOVF FPE_FLTUND FPE_FLTRES "
                     "FPE_FLTINV FPE_FLTSUB FPE_FLTUNK FPE_CONDTRAP"),
    L.SIGBUS: _table("BUS_ADRALN BUS_ADRERR BUS_OBJERR BUS_MCEERR_AR BUS_MCEERR_AO"),
    L.SIGTRAP: _table("TRAP_BRKPT TRAP_TRACE TRAP_BRANCH TRAP_HWBKPT TRAP_UNK TRAP_PERF"),
    L.SIGCHLD: _table("CLD_EXITED CLD_KILLED CLD_DUMPED CLD_TRAPPED CLD_STOPPED CLD_CONTINUED"),
}


# How many arguments strace prints for each i386 syscall number (the nargs column of
# src/linux/i386/syscallent.h and the common tables it includes); '-' marks a number with no
# syscall, which strace prints as syscall_0xNN with all six argument registers.
_NARGS = (
    "01033313221311323023051101412022221002221111011020012033022111220003012231222222"
    "22122312431222232342232332222110014116105213133232141123151153523331112210223101"
    "12253355333350442432553222245502633222300002222333333111123333--0455544433322224"
    "63311215335-141445134211222433326565341552345-5453203244345343453433651236644636"
    "4321642421321554552645321426653345332353433245533636321336664215264------3433312"
    "453222242424465-65554462426435253322343456543421254"
)
_MAX_ARGS = 6


_DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    **decode_file.DECODERS, **decode_mm.DECODERS, **decode_signal.DECODERS,
    **decode_socket.DECODERS, **decode_process.DECODERS, **decode_poll.DECODERS,
    **decode_fs.DECODERS,
}


def _raw_args(args: tuple[int, ...], count: int) -> str:
    """printargs: each argument in hex, as ``strace -e raw=`` prints any syscall."""
    return ", ".join(_x(value & _U32) for value in (tuple(args) + (0,) * count)[:count])


# --- the public line builders -----------------------------------------------------------------


def syscall_enter(nr: int, args: tuple[int, ...], read: Read, arch: str = "i386") -> Pending:
    """What strace prints when syscall ``nr`` enters, from guest memory as it is now;
    ``arch`` "x86_64" reads ``nr`` and ``args`` as an x86-64 process's (:mod:`.x86_64`).

    A socketcall (102) is resolved into the call it multiplexes, its arguments read from the
    array ``args[1]`` points at, exactly as strace's decode_socket_subcall does; if the call
    number is out of range or the array unreadable, it stays a socketcall.
    """
    if arch == "x86_64":
        from .x86_64 import syscall_enter64

        return syscall_enter64(nr, args, read)
    args = tuple(value & _U32 for value in args)
    mem = _Memory(read)
    name = L.SYSCALL_NAMES.get(nr) if 0 <= nr < len(_NARGS) and _NARGS[nr] != "-" else None
    if nr == L.SYS_socketcall and len(args) >= 2:
        call = _s32(args[0])
        if 1 <= call < len(L.SOCKETCALL_NARGS):
            count = L.SOCKETCALL_NARGS[call]
            words = mem.umoven(args[1], 4 * count)
            if words is not None:
                name = L.SOCKETCALL_NAMES[call]
                args = struct.unpack(f"<{count}I", words)
    if name is None:
        return Pending(nr, f"syscall_{nr & _U32:#x}", args,
                       f"syscall_{nr & _U32:#x}({_raw_args(args, _MAX_ARGS)}",
                       True, _UDECIMAL)
    decoder = _DECODERS.get(name)
    pending = Pending(nr, name, args, name + "(", True, _UDECIMAL)
    if decoder is None:
        resolved = nr == L.SYS_socketcall and name != "socketcall"
        pending.text += _raw_args(args, len(args) if resolved else int(_NARGS[nr]))
        return pending
    enter, _exit, pending.rval = decoder
    pending.args = args + (0,) * (_MAX_ARGS - len(args))
    pending.decoded = enter(pending, mem)
    return pending


def syscall_exit(pending: Pending, ret: int | None, read: Read) -> str:
    """Finish the line ``pending`` started, for result ``ret`` and memory as it is after.

    ``ret`` is eax as the guest sees it (a negative errno on failure) or None when the call
    never returned: exit and exit_group always, anything else when the process died inside
    it, which strace shows as ``<unfinished ...>``.
    """
    text = pending.text
    if ret is None or pending.rval == _NONE:
        if not pending.decoded:
            text += " <unfinished ...>"
        return _align(text + ")") + "= ?"
    mask = pending.mask
    ret &= mask
    failed = ret > mask - L.MAX_ERRNO
    aux = None
    if not pending.decoded:
        decoder = pending.decoder or _DECODERS[pending.name]
        mem = _Memory(read, exiting=True, failed=failed, mask=mask)
        assert decoder[1] is not None
        aux = decoder[1](pending, mem, ret)
        text = pending.text
    line = _align(text + ")")
    if failed:
        line += _error(mask + 1 - ret)
    elif pending.rval == _HEX:
        line += "= " + _x(ret)
    elif pending.rval == _FD:
        line += "= " + _d(ret)
    else:
        line += "= " + str(ret)
    return line + (f" ({aux})" if aux else "")


def strace_line(nr: int, args: tuple[int, ...], ret: int | None, read: Read,
                arch: str = "i386") -> str:
    """One line as ``strace -o FILE`` prints syscall ``nr`` with ``args`` returning ``ret``.

    ``read`` reads guest memory after the call (see the module docstring for the few
    syscalls where memory before the call matters).  No trailing newline.
    """
    return syscall_exit(syscall_enter(nr, args, read, arch), ret, read)


def exit_line(status: int) -> str:
    """``+++ exited with 1 +++``: the process called exit or exit_group (print_exited)."""
    return f"+++ exited with {status & 0xFF} +++"


def killed_line(signo: int, core_dumped: bool = False) -> str:
    """``+++ killed by SIGSEGV +++``: a signal ended the process (print_signalled)."""
    name = _signame(signo) or str(signo)
    return f"+++ killed by {name} {'(core dumped) ' if core_dumped else ''}+++"


def signal_line(signo: int, code: int, addr: int | None = None, *, pid: int = 0,
                uid: int = 0, status: int | None = None) -> str:
    """``--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---``: a signal
    delivered to the process (print_stopped and printsiginfo, src/printsiginfo.c).

    ``code`` is si_code (SEGV_MAPERR, SI_KERNEL, ...); fault signals (SIGSEGV, SIGBUS, SIGILL,
    SIGFPE, SIGTRAP) show si_addr; a signal sent by a process (si_code <= 0) shows the
    sender's ``pid`` and ``uid``; SIGCHLD from the kernel shows the child's ``pid``, ``uid``
    and exit ``status`` (or signal), and its CPU times, which the harness keeps at 0.
    """
    name = _signame(signo) or str(signo)
    code_name = _SI_CODES.get(code) or _SIGNAL_SI_CODES.get(signo, {}).get(code)
    fields = [f"si_signo={name}", f"si_code={code_name or _x(code & _U32)}"]
    if code <= 0:
        fields += [f"si_pid={pid}", f"si_uid={uid}"]
    elif signo == L.SIGCHLD and status is not None:
        shown = _signal(status) if code in (L.CLD_KILLED, L.CLD_DUMPED) else str(status)
        fields += [f"si_pid={pid}", f"si_uid={uid}", f"si_status={shown}", "si_utime=0",
                   "si_stime=0"]
    elif signo in (L.SIGSEGV, L.SIGBUS, L.SIGILL, L.SIGFPE, L.SIGTRAP):
        fields.append(f"si_addr={_addr(addr or 0)}")
    return f"--- {name} {{{', '.join(fields)}}} ---"
