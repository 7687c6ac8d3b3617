"""Decoders of the process, identity, limit, time and random calls (src/exit.c, src/uid.c,
src/resource.c, src/time.c, src/prctl.c, src/ldt.c, ...): exit, exit_group, getpid, getppid,
gettid, set_thread_area, nanosleep, uname, getresuid, getresgid, getgroups, getrlimit,
setrlimit, prlimit64, getrandom, set_robust_list, prctl, clock_gettime, clock_getres,
gettimeofday, time, sched_getaffinity, sched_setaffinity (src/affinity.c).
"""

from __future__ import annotations

import struct

from .. import linux as L
from .decode_file import _enter_int, _enter_nothing, _path
from .decode_signal import _signal
from .format import (
    _NONE, _U32, _UDECIMAL, STRING_LIMIT, Pending, _addr, _d, _Enter, _Exit, _flag_table, _flags,
    _hex_str, _id, _Memory, _s32, _table, _u, _x, _x08, _xval, quote,
)

_RESOURCES = _table(
    "RLIMIT_CPU RLIMIT_FSIZE RLIMIT_DATA RLIMIT_STACK RLIMIT_CORE RLIMIT_RSS RLIMIT_NPROC "
    "RLIMIT_NOFILE RLIMIT_MEMLOCK RLIMIT_AS RLIMIT_LOCKS RLIMIT_SIGPENDING RLIMIT_MSGQUEUE "
    "RLIMIT_NICE RLIMIT_RTPRIO RLIMIT_RTTIME")
_GETRANDOM_FLAGS = _flag_table("GRND_NONBLOCK GRND_RANDOM GRND_INSECURE")
_CLOCKNAMES = _table(
    "CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_PROCESS_CPUTIME_ID CLOCK_THREAD_CPUTIME_ID "
    "CLOCK_MONOTONIC_RAW CLOCK_REALTIME_COARSE CLOCK_MONOTONIC_COARSE CLOCK_BOOTTIME "
    "CLOCK_REALTIME_ALARM CLOCK_BOOTTIME_ALARM CLOCK_SGI_CYCLE CLOCK_TAI")
_CPUCLOCKNAMES = _table("CPUCLOCK_PROF CPUCLOCK_VIRT CPUCLOCK_SCHED")


_NGROUPS_MAX = 65536


def _user_desc(mem: _Memory, address: int) -> str:
    """print_user_desc (src/ldt.c) for i386's struct user_desc (asm/ldt.h); no ``lm`` field,
    which strace shows only for 64-bit processes."""
    data = mem.fetch(address, 16)
    if data is None:
        return _addr(address)
    entry, base, limit, bits = struct.unpack("<IIII", data)
    return (f"{{entry_number={_id(entry)}, base_addr={_x08(base)}, limit={_x08(limit)}, "
            f"seg_32bit={bits & 1}, contents={bits >> 1 & 3}, read_exec_only={bits >> 3 & 1}, "
            f"limit_in_pages={bits >> 4 & 1}, seg_not_present={bits >> 5 & 1}, "
            f"useable={bits >> 6 & 1}}}")


def _enter_set_thread_area(p: Pending, mem: _Memory) -> bool:
    p.text += _user_desc(mem, p.args[0])
    return False


def _exit_set_thread_area(p: Pending, mem: _Memory, ret: int) -> str | None:
    """The kernel writes the GDT slot it chose into entry_number; strace shows it after."""
    if mem.failed:
        return None
    entry = mem.int32(p.args[0])
    return None if entry is None else f"entry_number={entry & _U32}"


def _timespec(mem: _Memory, address: int) -> str:
    """print_timespec32: ``{tv_sec=0, tv_nsec=100000000}``, NULL, or the address."""
    if not address & _U32:
        return "NULL"
    data = mem.fetch(address, 8)
    if data is None:
        return _addr(address)
    sec, nsec = struct.unpack("<ii", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _enter_nanosleep(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_timespec(mem, p.args[0])}, {_addr(p.args[1])}"
    return True


_ITIMERS = _table("ITIMER_REAL ITIMER_VIRTUAL ITIMER_PROF")


def _itimerval(mem: _Memory, address: int) -> str:
    """print_itimerval32 (src/print_timeval.c): ``{it_interval={tv_sec=0, tv_usec=0},
    it_value={tv_sec=1, tv_usec=0}}``, NULL, or the address; an x86-64 process's has
    longs (print_itimerval)."""
    if not address & mem.mask:
        return "NULL"
    wide = mem.mask > _U32
    data = mem.fetch(address, 32 if wide else 16)
    if data is None:
        return _addr(address)
    isec, iusec, vsec, vusec = struct.unpack("<qqqq" if wide else "<iIiI", data)
    return (f"{{it_interval={{tv_sec={isec}, tv_usec={iusec}}}, "
            f"it_value={{tv_sec={vsec}, tv_usec={vusec}}}}}")


def _enter_alarm(p: Pending, mem: _Memory) -> bool:
    """alarm(seconds): an unsigned int."""
    p.text += _u(p.args[0])
    return True


def _enter_setitimer(p: Pending, mem: _Memory) -> bool:
    p.text += (f"{_xval(_ITIMERS, p.args[0] & _U32, 'ITIMER_???')}, "
               f"{_itimerval(mem, p.args[1])}, ")
    return False


def _exit_setitimer(p: Pending, mem: _Memory, ret: int) -> None:
    """The old value is shown only after a success (printaddr otherwise)."""
    address = p.args[2]
    p.text += _addr(address) if ret < 0 or mem.failed else _itimerval(mem, address)


def _enter_getitimer(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_ITIMERS, p.args[0] & _U32, 'ITIMER_???')}, "
    return False


def _exit_getitimer(p: Pending, mem: _Memory, ret: int) -> None:
    address = p.args[1]
    p.text += _addr(address) if ret < 0 or mem.failed else _itimerval(mem, address)


def _enter_none(p: Pending, mem: _Memory) -> bool:
    """getpid(), gettid(), getppid(): no arguments."""
    return True


def _exit_uname(p: Pending, mem: _Memory, ret: int) -> None:
    """sys_uname: sysname and nodename, then ``...`` (the default abbreviation)."""
    address = p.args[0]
    data = mem.fetch(address, 6 * (L.NEW_UTS_LEN + 1))
    if data is None:
        p.text += _addr(address)
        return
    field = L.NEW_UTS_LEN + 1
    names = []
    for index in range(2):
        raw = data[index * field:(index + 1) * field]
        text = quote(raw, nul_terminated=True)
        names.append(text if b"\0" in raw else text + "...")
    p.text += f"{{sysname={names[0]}, nodename={names[1]}, ...}}"


def _ids_at(mem: _Memory, pointers: tuple[int, ...], size: int) -> str:
    out = []
    for pointer in pointers:
        data = mem.fetch(pointer, size)
        if data is None:
            out.append(_addr(pointer))
        else:
            value = int.from_bytes(data, "little")
            out.append("[-1]" if value == (1 << 8 * size) - 1 else f"[{value}]")
    return ", ".join(out)


def _exit_getresuid32(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _ids_at(mem, p.args[:3], 4)


def _exit_getresuid16(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _ids_at(mem, p.args[:3], 2)


def _enter_getgroups(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_getgroups(p: Pending, mem: _Memory, ret: int) -> None:
    size = 2 if p.name == "getgroups" else 4
    address, count = p.args[1], ret & _U32
    if count > _NGROUPS_MAX or mem.failed and address:
        p.text += _addr(address)
        return
    if not address:
        p.text += "NULL"
        return
    if not count:
        p.text += "[]"
        return
    items = []
    for index in range(min(count, STRING_LIMIT + 1)):
        data = mem.fetch(address + size * index, size)
        if data is None:
            if index == 0:
                p.text += _addr(address)
                return
            items.append(f"... /* {_addr(address + size * index)} */")
            break
        if index == STRING_LIMIT:
            items.append("...")
            break
        value = int.from_bytes(data, "little")
        items.append("-1" if value == (1 << 8 * size) - 1 else str(value))
    p.text += "[" + ", ".join(items) + "]"


def _rlim(value: int, wide: bool) -> str:
    """print_rlim64_t / print_rlim32_t: the infinity by name, multiples of 1024 as N*1024."""
    if value == (L.RLIM64_INFINITY if wide else L.RLIM_INFINITY):
        return "RLIM64_INFINITY" if wide else "RLIM_INFINITY"
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def _rlimit(mem: _Memory, address: int, wide: bool) -> str:
    data = mem.fetch(address, 16 if wide else 8)
    if data is None:
        return _addr(address)
    cur, high = struct.unpack("<QQ" if wide else "<II", data)
    return f"{{rlim_cur={_rlim(cur, wide)}, rlim_max={_rlim(high, wide)}}}"


def _enter_getrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_RESOURCES, p.args[0], 'RLIMIT_???')}, "
    return False


def _exit_getrlimit(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _rlimit(mem, p.args[1], False)


def _enter_setrlimit(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_xval(_RESOURCES, p.args[0], 'RLIMIT_???')}, {_rlimit(mem, p.args[1], False)}"
    return True


def _enter_prlimit64(p: Pending, mem: _Memory) -> bool:
    a = p.args
    p.text += (f"{_d(a[0])}, {_xval(_RESOURCES, a[1], 'RLIMIT_???')}, "
               f"{_rlimit(mem, a[2], True)}, ")
    return False


def _exit_prlimit64(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _rlimit(mem, p.args[3], True)


def _exit_getrandom(p: Pending, mem: _Memory, ret: int) -> None:
    a = p.args
    buf = _addr(a[0]) if mem.failed else _hex_str(mem, a[0], ret)
    p.text += f"{buf}, {_u(a[1])}, {_flags(_GETRANDOM_FLAGS, a[2], 'GRND_???')}"


def _enter_set_robust_list(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_addr(p.args[0])}, {_u(p.args[1])}"
    return True


_PR_OPTIONS = _table("PR_SET_PDEATHSIG PR_GET_PDEATHSIG PR_GET_DUMPABLE PR_SET_DUMPABLE "
                     "PR_SET_NAME PR_GET_NAME")
_PR_DUMPABLE = _table("SUID_DUMP_DISABLE SUID_DUMP_USER")


def _enter_prctl(p: Pending, mem: _Memory) -> bool:
    """src/prctl.c: the option by name; PR_SET_NAME's string, PR_GET_NAME's after the call,
    PR_SET_DUMPABLE's value by name; other options' four arguments in hex."""
    a = p.args
    p.text += _xval(_PR_OPTIONS, a[0], "PR_???")
    if a[0] == L.PR_GET_NAME:
        p.text += ", "
        return False
    if a[0] == L.PR_GET_DUMPABLE:
        return False  # the result is named after the call
    if a[0] == L.PR_SET_NAME:
        p.text += ", " + _path(mem, a[1], L.TASK_COMM_LEN - 1)
    elif a[0] == L.PR_SET_DUMPABLE:
        p.text += ", " + _xval(_PR_DUMPABLE, a[1], "SUID_DUMP_???")
    else:
        p.text += ", " + ", ".join(_x(v) for v in a[1:5])
    return True


def _exit_prctl(p: Pending, mem: _Memory, ret: int) -> str | None:
    if p.args[0] == L.PR_GET_DUMPABLE:
        return None if mem.failed else _PR_DUMPABLE.get(ret)
    p.text += _addr(p.args[1]) if mem.failed else _path(mem, p.args[1], L.TASK_COMM_LEN - 1)
    return None


def _clockname(clock: int) -> str:
    """printclockname: a CPU clock as MAKE_PROCESS_CPUCLOCK(pid, kind), an fd clock as
    FD_TO_CLOCKID(fd), else the CLOCK_ name."""
    clock = _s32(clock)
    if clock < 0:
        if clock & L.CLOCKFD_MASK == L.CLOCKFD:
            return f"FD_TO_CLOCKID({~(clock >> 3)})"
        maker = ("MAKE_THREAD_CPUCLOCK" if clock & L.CPUCLOCK_PERTHREAD_MASK
                 else "MAKE_PROCESS_CPUCLOCK")
        kind = _xval(_CPUCLOCKNAMES, clock & L.CLOCKFD_MASK, "CPUCLOCK_???")
        return f"{maker}({~(clock >> 3)}, {kind})"
    return _xval(_CLOCKNAMES, clock, "CLOCK_???")


def _timespec_at(mem: _Memory, address: int, wide: bool) -> str:
    data = mem.fetch(address, 16 if wide else 8)
    if data is None:
        return _addr(address)
    sec, nsec = struct.unpack("<qQ" if wide else "<iI", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _enter_clock(p: Pending, mem: _Memory) -> bool:
    p.text += _clockname(p.args[0]) + ", "
    return False


def _exit_clock(p: Pending, mem: _Memory, ret: int) -> None:
    p.text += _timespec_at(mem, p.args[1], p.name.endswith("64"))


def _exit_gettimeofday(p: Pending, mem: _Memory, ret: int) -> None:
    tv, tz = p.args[0], p.args[1]
    data = mem.fetch(tv, 8)
    text = _addr(tv) if data is None else "{tv_sec=%d, tv_usec=%d}" % struct.unpack("<ii", data)
    data = mem.fetch(tz, 8)
    text += ", " + (_addr(tz) if data is None
                    else "{tz_minuteswest=%d, tz_dsttime=%d}" % struct.unpack("<ii", data))
    p.text += text


def sprinttime(seconds: int) -> str | None:
    """strace's sprinttime: local time as ``%FT%T%z``; None for 0 (strace prints nothing)."""
    import time as _time

    if seconds == 0:
        return None
    try:
        tm = _time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return None
    return _time.strftime("%Y-%m-%dT%H:%M:%S%z", tm)


def _exit_time(p: Pending, mem: _Memory, ret: int) -> str | None:
    address = p.args[0]
    data = mem.fetch(address, 4)
    if data is None:
        p.text += _addr(address)
    else:
        value = struct.unpack("<i", data)[0]
        stamp = sprinttime(value)
        p.text += f"[{value}{f' /* {stamp} */' if stamp else ''}]"
    if mem.failed:
        return None
    return sprinttime(_s32(ret))


#: The process, identity, time and random calls strace decodes: name -> (enter, exit, how the result prints).
_CLONE_FLAGS = _flag_table(
    "CLONE_VM CLONE_FS CLONE_FILES CLONE_SIGHAND CLONE_PIDFD CLONE_PTRACE CLONE_VFORK "
    "CLONE_PARENT CLONE_THREAD CLONE_NEWNS CLONE_SYSVSEM CLONE_SETTLS CLONE_PARENT_SETTID "
    "CLONE_CHILD_CLEARTID CLONE_DETACHED CLONE_UNTRACED CLONE_CHILD_SETTID CLONE_NEWCGROUP "
    "CLONE_NEWUTS CLONE_NEWIPC CLONE_NEWUSER CLONE_NEWPID CLONE_NEWNET CLONE_IO")
_WAIT4_OPTIONS = _flag_table("WNOHANG WUNTRACED WEXITED WCONTINUED WNOWAIT __WNOTHREAD "
                             "__WALL __WCLONE")


def _enter_clone(p: Pending, mem: _Memory) -> bool:
    """src/clone.c on i386 (flags, stack, parent_tid, tls, child_tid): child_stack, the
    flags with the exit signal last, then the pointers the flags use."""
    flags, stack, ptid, tls, ctid = p.args[:5]
    rest = flags & ~L.CSIGNAL
    shown = _flags(_CLONE_FLAGS, rest, "CLONE_???") if rest else ""
    if flags & L.CSIGNAL:
        sig = _signal(flags & L.CSIGNAL)
        shown = f"{shown}|{sig}" if shown else sig
    p.text += f"child_stack={_addr(stack)}, flags={shown or '0'}"
    if rest & (L.CLONE_PARENT_SETTID | L.CLONE_PIDFD):
        p.text += f", parent_tid={_addr(ptid)}"
    if rest & L.CLONE_SETTLS:
        p.text += f", tls={_addr(tls)}"
    if rest & (L.CLONE_CHILD_SETTID | L.CLONE_CHILD_CLEARTID):
        p.text += f", child_tidptr={_addr(ctid)}"
    return True


def _status_text(status: int) -> str:
    """printstatus (src/wait.c): the macro form a C programmer would test."""
    sig = status & 0x7F
    if sig == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {status >> 8 & 0xFF}}}]"
    if sig != 0x7F:
        core = " && WCOREDUMP(s)" if status & 0x80 else ""
        return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {_signal(sig)}{core}}}]"
    return f"[{status:#x}]"


def _enter_wait4(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, "
    return False


def _exit_wait4(p: Pending, mem: _Memory, ret: int) -> None:
    """The status only when a child was reaped (a positive result); the options; wait4's
    rusage, as an address (a reaped child's is all zeros here)."""
    a = p.args
    word = mem.int32(a[1]) if a[1] and not mem.failed and ret else None
    p.text += (_status_text(word & _U32) if word is not None else _addr(a[1])) + ", "
    p.text += _flags(_WAIT4_OPTIONS, a[2], "W???")
    if p.name == "wait4":
        p.text += f", {_addr(a[3])}"


_IDTYPES = _table("P_ALL P_PID P_PGID P_PIDFD")


def _enter_waitid(p: Pending, mem: _Memory) -> bool:
    """src/wait.c: the idtype, then the id as an int."""
    p.text += f"{_IDTYPES.get(p.args[0] & _U32) or _x(p.args[0] & _U32) + ' /* P_??? */'}, "
    p.text += f"{_d(p.args[1])}, "
    return False


def _exit_waitid(p: Pending, mem: _Memory, ret: int) -> None:
    """printsiginfo_at: NULL, the address after a failure, ``{}`` when si_signo is 0 (WNOHANG
    found none), else SIGCHLD's fields (printsigchld, the CPU times as memory holds them);
    then the options and the rusage (its address: only NULL is decoded here)."""
    a = p.args
    wide = mem.mask > _U32  # an x86-64 siginfo: the union at 16, clock_t of 8 bytes
    data = mem.fetch(a[2], 48 if wide else 32) if a[2] else None
    if not a[2] & mem.mask:
        p.text += "NULL, "
    elif data is None:
        p.text += f"{_addr(a[2])}, "
    else:
        from .lines import _SI_CODES, _SIGNAL_SI_CODES
        signo, _errno, code, pid, uid, status, utime, stime = struct.unpack(
            "<iii4xiIi4xqq" if wide else "<iiiiIiii", data)
        if signo == 0:
            p.text += "{}, "
        else:
            name = _signal(signo)
            code_name = _SI_CODES.get(code) or _SIGNAL_SI_CODES.get(signo, {}).get(code)
            shown = _signal(status) if code in (L.CLD_KILLED, L.CLD_DUMPED) else str(status)
            p.text += (f"{{si_signo={name}, si_code={code_name or _x(code & _U32)}, "
                       f"si_pid={pid}, si_uid={uid}, si_status={shown}, si_utime={utime}, "
                       f"si_stime={stime}}}, ")
    p.text += _flags(_WAIT4_OPTIONS, a[3], "W???") + f", {_addr(a[4])}"


def _words(mem: _Memory, address: int, most: int) -> tuple[list[int], bool]:
    """The pointers of a NULL-terminated array, at most ``most``; and whether a read failed."""
    words: list[int] = []
    size = 8 if mem.mask > _U32 else 4  # the process's pointers
    while len(words) < most:
        raw = mem.umoven(address + size * len(words), size)
        if raw is None:
            return words, True
        word = int.from_bytes(raw, "little")
        if not word:
            break
        words.append(word)
    return words, False


def _argv(mem: _Memory, address: int) -> str:
    """printargv (src/execve.c): the strings, STRING_LIMIT of them then ``...``; the address
    when the array cannot be read at all."""
    if not address & mem.mask:
        return "NULL"
    words, failed = _words(mem, address, STRING_LIMIT + 1)
    if failed and not words:
        return _addr(address)
    shown = [_path(mem, w, STRING_LIMIT) for w in words[:STRING_LIMIT]]
    if len(words) > STRING_LIMIT or failed:
        shown.append("...")
    return "[" + ", ".join(shown) + "]"


def _envc(mem: _Memory, address: int) -> str:
    """printargc: the address and how many pointers it holds, as a comment."""
    if not address & mem.mask:
        return "NULL"
    words, _failed = _words(mem, address, 1 << 16)
    return f"{_addr(address)} /* {len(words)} var{'' if len(words) == 1 else 's'} */"


def _enter_execve(p: Pending, mem: _Memory) -> bool:
    """src/execve.c: the path, argv's strings, and envp as its address and count (strace
    without -v)."""
    a = p.args
    p.text += f"{_path(mem, a[0])}, {_argv(mem, a[1])}, {_envc(mem, a[2])}"
    return True


#: get_cpuset_size (src/affinity.c): the mask size strace reads at most, found by probing
#: sched_getaffinity(0, size, NULL) from 128 bytes up until it stops failing with EINVAL,
#: so 128 bytes while the host has at most 1024 CPUs, as a harness network always has.
_CPUSET_SIZE = 128


def _affinity_list(mem: _Memory, address: int, length: int) -> str:
    """print_affinitylist (src/affinity.c): the CPUs whose bits are set, space-separated,
    from the first min(len, 128) bytes, and `...` when ``len`` is longer than the bytes
    read (rounded up to a word); ``[]`` for a zero length, the address when unreadable."""
    if mem.exiting and mem.failed or not address & _U32:
        return _addr(address)
    if not length:
        return "[]"
    count = min(length, _CPUSET_SIZE)
    data = mem.umoven(address, count)
    if data is None:
        return _addr(address)
    bits = int.from_bytes(data, "little")
    shown = [str(cpu) for cpu in range(8 * count) if bits >> cpu & 1]
    if -(-count // 4) * 4 < length:
        shown.append("...")
    return "[" + " ".join(shown) + "]"


def _enter_sched_setaffinity(p: Pending, mem: _Memory) -> bool:
    """SYS_FUNC(sched_setaffinity): the pid, the length, the mask as it is on entry."""
    a = p.args
    p.text += f"{_d(a[0])}, {_u(a[1])}, {_affinity_list(mem, a[2], a[1] & _U32)}"
    return True


def _enter_sched_getaffinity(p: Pending, mem: _Memory) -> bool:
    p.text += f"{_d(p.args[0])}, {_u(p.args[1])}, "
    return False


def _exit_sched_getaffinity(p: Pending, mem: _Memory, ret: int) -> None:
    """The mask after the call, as long as the result says the kernel wrote."""
    p.text += _affinity_list(mem, p.args[2], ret)


DECODERS: dict[str, tuple[_Enter, _Exit | None, str]] = {
    "execve": (_enter_execve, None, _UDECIMAL),
    "exit": (_enter_int, None, _NONE),
    "clone": (_enter_clone, None, _UDECIMAL),
    "wait4": (_enter_wait4, _exit_wait4, _UDECIMAL),
    "waitpid": (_enter_wait4, _exit_wait4, _UDECIMAL),
    "waitid": (_enter_waitid, _exit_waitid, _UDECIMAL),
    "exit_group": (_enter_int, None, _NONE),
    "nanosleep": (_enter_nanosleep, None, _UDECIMAL),
    "alarm": (_enter_alarm, None, _UDECIMAL),
    "setitimer": (_enter_setitimer, _exit_setitimer, _UDECIMAL),
    "getitimer": (_enter_getitimer, _exit_getitimer, _UDECIMAL),
    "pause": (_enter_none, None, _UDECIMAL),
    "set_thread_area": (_enter_set_thread_area, _exit_set_thread_area, _UDECIMAL),
    "getpid": (_enter_none, None, _UDECIMAL),
    "getppid": (_enter_none, None, _UDECIMAL),
    "gettid": (_enter_none, None, _UDECIMAL),
    "uname": (_enter_nothing, _exit_uname, _UDECIMAL),
    "getresuid32": (_enter_nothing, _exit_getresuid32, _UDECIMAL),
    "getresgid32": (_enter_nothing, _exit_getresuid32, _UDECIMAL),
    "getresuid": (_enter_nothing, _exit_getresuid16, _UDECIMAL),
    "getresgid": (_enter_nothing, _exit_getresuid16, _UDECIMAL),
    "getgroups32": (_enter_getgroups, _exit_getgroups, _UDECIMAL),
    "getgroups": (_enter_getgroups, _exit_getgroups, _UDECIMAL),
    "getrlimit": (_enter_getrlimit, _exit_getrlimit, _UDECIMAL),
    "ugetrlimit": (_enter_getrlimit, _exit_getrlimit, _UDECIMAL),
    "setrlimit": (_enter_setrlimit, None, _UDECIMAL),
    "prlimit64": (_enter_prlimit64, _exit_prlimit64, _UDECIMAL),
    "getrandom": (_enter_nothing, _exit_getrandom, _UDECIMAL),
    "set_robust_list": (_enter_set_robust_list, None, _UDECIMAL),
    "prctl": (_enter_prctl, _exit_prctl, _UDECIMAL),
    "clock_gettime": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_gettime64": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_getres": (_enter_clock, _exit_clock, _UDECIMAL),
    "clock_getres_time64": (_enter_clock, _exit_clock, _UDECIMAL),
    "gettimeofday": (_enter_nothing, _exit_gettimeofday, _UDECIMAL),
    "time": (_enter_nothing, _exit_time, _UDECIMAL),
    "sched_getaffinity": (_enter_sched_getaffinity, _exit_sched_getaffinity, _UDECIMAL),
    "sched_setaffinity": (_enter_sched_setaffinity, None, _UDECIMAL),
}
