"""strace's lines for an x86-64 process: its names, its 64-bit registers and pointers, and the
decoders whose structs hold longs (strace's x86_64 personality, src/linux/x86_64/).

:func:`syscall_enter64` is :func:`.lines.syscall_enter` for x86-64 numbers
(:mod:`harness.linux64`): the name strace prints (``newfstatat``, ``arch_prctl``; there is no
socketcall), arguments cut to 64 bits and pointers printed whole (``0x7ffffffde000``), the
result's errors recognised in 64 bits (:func:`.lines.syscall_exit` reads the width from the
:class:`~.format.Pending`).  A call is decoded by

* a decoder of this module where the x86-64 struct or argument order differs: arch_prctl,
  struct stat (fstat, stat, lstat, newfstatat), mmap's byte offset, clone's order (child_tid
  before tls), struct sigaction and rt_sigreturn's frame, the timespec, timeval, time_t,
  rlimit and stack_t of longs, pread64's one-register offset;
* else the i386 decoder of the same call where its layout is the same for both (sockets,
  read, write, brk, mprotect, prlimit64, epoll, poll, ...), or of the call i386 spells with
  a suffix (clock_gettime is clock_gettime64, getresuid getresuid32, sendfile sendfile64);
  the i386 decoders of structs of longs and pointers read them at the width of the
  process's pointers (``mem.mask``): iovec arrays, execve's argv and envp, fd_set, the
  itimerval of setitimer and getitimer, waitid's siginfo;
* else strace's raw form (hex arguments), as for a call strace does not decode.
"""

from __future__ import annotations

import struct

from .. import linux as L
from .. import linux64 as L64
from .decode_file import (
    _AT_FLAGS,
    _enter_fd_comma,
    _enter_path_comma,
    _mode,
    _path,
    _printfd_or_at,
)
from .decode_mm import _mmap_args
from .decode_process import (
    _RESOURCES,
    _clockname,
    _enter_clone,
    _rlimit,
    _timespec_at,
    sprinttime,
)
from .decode_signal import (
    _sigset,
    rt_sigaction_decoder,
    sigaltstack_decoder,
)
from .format import (
    _HEX,
    _U32,
    _U64,
    _UDECIMAL,
    Pending,
    Read,
    _addr,
    _Enter,
    _Exit,
    _flags,
    _Memory,
    _str,
    _u,
    _x,
    _xval,
)
from .lines import _DECODERS, _MAX_ARGS, _NARGS

#: src/xlat/archvals.in (strace 6.1).
_ARCHVALS = {
    L64.ARCH_SET_GS: "ARCH_SET_GS", L64.ARCH_SET_FS: "ARCH_SET_FS",
    L64.ARCH_GET_FS: "ARCH_GET_FS", L64.ARCH_GET_GS: "ARCH_GET_GS",
    L64.ARCH_GET_CPUID: "ARCH_GET_CPUID", L64.ARCH_SET_CPUID: "ARCH_SET_CPUID",
    L64.ARCH_GET_XCOMP_SUPP: "ARCH_GET_XCOMP_SUPP", L64.ARCH_GET_XCOMP_PERM:
    "ARCH_GET_XCOMP_PERM", L64.ARCH_REQ_XCOMP_PERM: "ARCH_REQ_XCOMP_PERM",
    L64.ARCH_MAP_VDSO_X32: "ARCH_MAP_VDSO_X32", L64.ARCH_MAP_VDSO_32: "ARCH_MAP_VDSO_32",
    L64.ARCH_MAP_VDSO_64: "ARCH_MAP_VDSO_64",
}


def _enter_arch_prctl(p: Pending, mem: _Memory) -> bool:
    """src/linux/x86_64/arch_prctl.c: the code; ARCH_GET_CPUID has no argument; the GET
    codes print the value stored at the address, at exit (printnum_ptr); the others the
    address as PRINT_VAL_X."""
    code = p.args[0] & _U32
    p.text += _xval(_ARCHVALS, code, "ARCH_???")
    if code == L64.ARCH_GET_CPUID:
        return True
    p.text += ", "
    if code in (L64.ARCH_GET_FS, L64.ARCH_GET_GS):
        return False
    p.text += _x(p.args[1])
    return True


def _exit_arch_prctl(p: Pending, mem: _Memory, ret: int) -> None:
    data = mem.fetch(p.args[1], 8)
    p.text += _addr(p.args[1]) if data is None else f"[{_addr(struct.unpack('<Q', data)[0])}]"


def _stat(mem: _Memory, address: int) -> str:
    """print_struct_stat, abbreviated, from x86-64's struct stat (144 bytes: st_mode at 24,
    st_rdev at 40, st_size at 48)."""
    data = mem.fetch(address, 144)
    if data is None:
        return _addr(address)
    mode = struct.unpack_from("<I", data, 24)[0]
    if mode & L.S_IFMT in (L.S_IFCHR, L.S_IFBLK):
        rdev = struct.unpack_from("<Q", data, 40)[0]
        major = (rdev >> 8 & 0xFFF) | (rdev >> 32 & ~0xFFF)
        minor = (rdev & 0xFF) | (rdev >> 12 & ~0xFF)
        last = f"st_rdev=makedev({major:#x}, {minor:#x})"
    else:
        last = f"st_size={struct.unpack_from('<q', data, 48)[0]}"
    return f"{{st_mode={_mode(mode)}, {last}, ...}}"


def _exit_fstat(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _stat(mem, p.args[1])


def _enter_newfstatat(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_printfd_or_at(p.args[0])}, {_path(mem, p.args[1])}, "
    return False


def _exit_newfstatat(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += f"{_stat(mem, p.args[2])}, {_flags(_AT_FLAGS, p.args[3], 'AT_???')}"


def _enter_mmap(p: Pending, mem: _Memory) -> bool:
    """x86-64's mmap: six registers, the offset in bytes."""
    p.text += _mmap_args(p.args, p.args[5])
    return True


def _enter_clone64(p: Pending, mem: _Memory) -> bool:
    """src/clone.c with x86-64's order (flags, stack, parent_tid, child_tid, tls)."""
    a = p.args
    p.args = (a[0], a[1], a[2], a[4], a[3]) + a[5:]
    return _enter_clone(p, mem)


_enter_rt_sigaction, _exit_rt_sigaction = rt_sigaction_decoder(struct.Struct("<QQQ"))


#: uc_sigmask's place above rsp at rt_sigreturn (src/linux/x86_64/arch_rt_sigframe.c: the
#: frame is 8 below rsp; pretcode, then ucontext's flags, link, stack_t and sigcontext).
_RT_SIGMASK = -8 + 8 + 8 + 8 + 24 + 256


def _enter_rt_sigreturn(p: Pending, mem: _Memory) -> bool:
    rsp = p.args[6] if len(p.args) > 6 else 0
    p.text += "{mask=" + _sigset(mem, rsp + _RT_SIGMASK, L.NSIG_BYTES) + "}"
    return True


def _exit_clock(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _timespec_at(mem, p.args[1], True)


def _enter_clock(p: Pending, mem: _Memory) -> bool:
    p.text += _clockname(p.args[0]) + ", "
    return False


def _enter_nanosleep(p: Pending, mem: _Memory) -> bool:
    req = "NULL" if not p.args[0] else _timespec_at(mem, p.args[0], True)
    p.text += f"{req}, {_addr(p.args[1])}"
    return True


def _exit_gettimeofday(p: Pending, mem: _Memory, ret: int) -> None:
    tv, tz = p.args[0], p.args[1]
    data = mem.fetch(tv, 16)
    if data is None:
        text = _addr(tv)
    else:
        sec, usec = struct.unpack("<qq", data)
        text = f"{{tv_sec={sec}, tv_usec={usec}}}"
    data = mem.fetch(tz, 8)
    if data is None:
        text += ", " + _addr(tz)
    else:
        west, dst = struct.unpack("<ii", data)
        text += f", {{tz_minuteswest={west}, tz_dsttime={dst}}}"
    p.text += text


def _exit_time(p: Pending, mem: _Memory, ret: int) -> str | None:
    address = p.args[0]
    data = mem.fetch(address, 8)
    if data is None:
        p.text += _addr(address)
    else:
        value = struct.unpack("<q", data)[0]
        stamp = sprinttime(value)
        p.text += f"[{value}{f' /* {stamp} */' if stamp else ''}]"
    return None if mem.failed else sprinttime(ret)


def _enter_getrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_RESOURCES, p.args[0] & _U32, 'RLIMIT_???')}, "
    return False


def _exit_getrlimit(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _rlimit(mem, p.args[1], True)


def _enter_setrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += (f"{_xval(_RESOURCES, p.args[0] & _U32, 'RLIMIT_???')}, "
               f"{_rlimit(mem, p.args[1], True)}")
    return True


#: x86-64's stack_t: an 8-byte ss_sp, an int ss_flags (padded), an 8-byte ss_size.
_enter_sigaltstack, _exit_sigaltstack = sigaltstack_decoder(struct.Struct("<Qi4xQ"))


def _exit_pread64(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[1]) if mem.failed else _str(mem, a[1], ret)
    pos = a[3] - (1 << 64) if a[3] >> 63 else a[3]
    p.text += f"{buf}, {_u(a[2])}, {pos}"


_OWN: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "arch_prctl": (_enter_arch_prctl, _exit_arch_prctl, _UDECIMAL),
    "fstat": (_enter_fd_comma, _exit_fstat, _UDECIMAL),
    "stat": (_enter_path_comma, _exit_fstat, _UDECIMAL),
    "lstat": (_enter_path_comma, _exit_fstat, _UDECIMAL),
    "newfstatat": (_enter_newfstatat, _exit_newfstatat, _UDECIMAL),
    "mmap": (_enter_mmap, None, _HEX),
    "clone": (_enter_clone64, None, _UDECIMAL),
    "rt_sigaction": (_enter_rt_sigaction, _exit_rt_sigaction, _UDECIMAL),
    "rt_sigreturn": (_enter_rt_sigreturn, None, _UDECIMAL),
    "clock_gettime": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_getres": (_enter_clock, _exit_clock, _UDECIMAL),
    "nanosleep": (_enter_nanosleep, None, _UDECIMAL),
    "gettimeofday": (_DECODERS["gettimeofday"][0], _exit_gettimeofday, _UDECIMAL),
    "time": (_DECODERS["time"][0], _exit_time, _UDECIMAL),
    "getrlimit": (_enter_getrlimit, _exit_getrlimit, _UDECIMAL),
    "setrlimit": (_enter_setrlimit, None, _UDECIMAL),
    "sigaltstack": (_enter_sigaltstack, _exit_sigaltstack, _UDECIMAL),
    "pread64": (_enter_fd_comma, _exit_pread64, _UDECIMAL),
}
#: x86-64 name -> the i386 decoder of the same layout under another name.
_ALIASES = {"getgroups": "getgroups32", "getresuid": "getresuid32",
            "getresgid": "getresgid32", "sendfile": "sendfile64", "fcntl": "fcntl64",
            "select": "_newselect"}
#: Calls of both whose i386 decoder reads a struct x86-64 lays out otherwise: printed raw.
_RAW = frozenset({"set_thread_area"})
_I386_NUMBERS = {name: nr for nr, name in L.SYSCALL_NAMES.items()}


def decoder_of(name: str) -> tuple[_Enter, _Exit | None, str] | None:
    """The decoder an x86-64 call ``name`` is printed with, or None for the raw form."""
    own = _OWN.get(name)
    if own is not None:
        return own
    if name in _RAW:
        return None
    return _DECODERS.get(_ALIASES.get(name, name))


def _nargs(name: str) -> int:
    """How many arguments strace's raw form prints: the i386 call's of the same name, or
    all six for a call i386 does not have."""
    nr = _I386_NUMBERS.get(_ALIASES.get(name, name))
    if nr is None or nr >= len(_NARGS) or _NARGS[nr] == "-":
        return _MAX_ARGS
    return int(_NARGS[nr])


def _raw(args: tuple[int, ...], count: int) -> str:
    return ", ".join(_x(value) for value in (tuple(args) + (0,) * count)[:count])


def syscall_enter64(nr: int, args: tuple[int, ...], read: Read) -> Pending:
    """:func:`.lines.syscall_enter` for an x86-64 process (see the module docstring)."""
    args = tuple(value & _U64 for value in args)
    mem = _Memory(read, mask=_U64)
    name = L64.SYSCALL_NAMES.get(nr)
    if name is None:
        stub = f"syscall_{nr & _U64:#x}"
        return Pending(nr, stub, args, f"{stub}({_raw(args, _MAX_ARGS)}", True, _UDECIMAL,
                       mask=_U64)
    decoder = decoder_of(name)
    pending = Pending(nr, name, args, name + "(", True, _UDECIMAL, mask=_U64, decoder=decoder)
    if decoder is None:
        pending.text += _raw(args, _nargs(name))
        return pending
    enter, _exit, pending.rval = decoder
    pending.args = args + (0,) * (_MAX_ARGS - len(args))
    pending.decoded = enter(pending, mem)
    return pending

