"""The x86-64 system call table: number -> name -> handler, with a support level and a note.

The same handlers as :mod:`.i386` (one handler per call, two tables), reached by the numbers
of arch/x86/entry/syscalls/syscall_64.tbl (:mod:`harness.linux64`).  Where x86-64's call is
what i386 spells with a suffix (clock_gettime is clock_gettime64's __kernel_timespec,
getuid is getuid32, fcntl is fcntl64, sendfile is sendfile64), the table names the same
handler; where a struct holds longs or pointers the handler takes its layout from
``k.abi`` (:class:`.abi.Abi`); where Linux itself has another entry point (struct stat's
newfstatat, mmap's byte offset, clone's argument order, lseek's and pread64's one-register
offsets) the table names that handler.  A number not in the table returns -ENOSYS and is
recorded, as for i386.

Not in the table (-ENOSYS): every call i386 does not model either, and those only i386 has
(socketcall, the 16-bit ids, the *64 and _time64 variants, mmap2, set_thread_area).
"""

from __future__ import annotations

from .. import linux64 as L64
from . import (
    i386,
    sys_eventfd,
    sys_exec,
    sys_file,
    sys_fork,
    sys_fs,
    sys_identity,
    sys_itimer,
    sys_mm,
    sys_pipe,
    sys_poll,
    sys_prctl,
    sys_process,
    sys_random,
    sys_rlimit,
    sys_sched,
    sys_signal,
    sys_socket,
    sys_stat,
    sys_thread,
    sys_time,
    sys_tls,
    sys_utsname,
)
from .i386 import FULL, PARTIAL


class Syscall(i386.Syscall):
    """An entry of this table: its name is x86-64's."""

    @property
    def name(self) -> str:
        return L64.SYSCALL_NAMES[self.number]


TABLE: tuple[Syscall, ...] = (
    Syscall(L64.SYS_read, sys_file.sys_read, FULL, "stdin, sockets"),
    Syscall(L64.SYS_write, sys_file.sys_write, FULL,
            "stdout, stderr, sockets; EPIPE raises SIGPIPE"),
    Syscall(L64.SYS_close, sys_file.sys_close, FULL),
    Syscall(L64.SYS_readv, sys_file.sys_readv, FULL, "16-byte struct iovec"),
    Syscall(L64.SYS_writev, sys_file.sys_writev, FULL, "16-byte struct iovec"),
    Syscall(L64.SYS_ioctl, sys_file.sys_ioctl, FULL, "as i386: no fd is a terminal"),
    Syscall(L64.SYS_fcntl, sys_file.sys_fcntl64, PARTIAL, "as i386's fcntl64"),
    Syscall(L64.SYS_exit, sys_process.sys_exit, FULL, "as i386"),
    Syscall(L64.SYS_exit_group, sys_process.sys_exit, FULL, "as exit"),
    Syscall(L64.SYS_fork, sys_fork.sys_fork, FULL, "the 64-bit CPU state copied"),
    Syscall(L64.SYS_vfork, sys_fork.sys_vfork, PARTIAL, "as fork: the parent does not wait"),
    Syscall(L64.SYS_clone, sys_fork.sys_clone_64, PARTIAL,
            "x86-64 argument order (child_tid before tls); fork's flags, threads ENOSYS"),
    Syscall(L64.SYS_wait4, sys_fork.sys_wait4, PARTIAL, "144-byte rusage, zero"),
    Syscall(L64.SYS_waitid, sys_fork.sys_waitid, PARTIAL,
            "as i386's, siginfo's fields at x86-64's offsets; no stopped children"),
    Syscall(L64.SYS_execve, sys_exec.sys_execve, PARTIAL,
            "a static i386 or x86-64 ELF of the --root tree; scripts ENOEXEC"),
    Syscall(L64.SYS_brk, sys_mm.sys_brk, FULL, "a static-pie's starts at ELF_ET_DYN_BASE"),
    Syscall(L64.SYS_mmap, sys_mm.sys_mmap, PARTIAL,
            "as i386's mmap2, the offset in bytes; top-down from 0x7ffff7fff000"),
    Syscall(L64.SYS_munmap, sys_mm.sys_munmap, FULL),
    Syscall(L64.SYS_mprotect, sys_mm.sys_mprotect, FULL),
    Syscall(L64.SYS_mremap, sys_mm.sys_mremap, FULL),
    Syscall(L64.SYS_madvise, sys_mm.sys_madvise, PARTIAL, "as i386"),
    Syscall(L64.SYS_arch_prctl, sys_tls.sys_arch_prctl, PARTIAL,
            "ARCH_SET_FS/GS, ARCH_GET_FS/GS through the CPU's FS_BASE/GS_BASE; "
            "ARCH_GET_CPUID 1; the rest EINVAL (no CPUID faulting, AMX, shadow stacks)"),
    Syscall(L64.SYS_rt_sigaction, sys_signal.sys_rt_sigaction, FULL,
            "8-byte fields; handlers run on x86-64's rt_sigframe (SA_RESTORER required, "
            "as on Linux); SA_SIGINFO, SA_RESETHAND, SA_NODEFER, SA_ONSTACK"),
    Syscall(L64.SYS_rt_sigreturn, sys_signal.sys_rt_sigreturn_64, PARTIAL,
            "every general register, the mask and the altstack; the FPU state is not "
            "restored"),
    Syscall(L64.SYS_rt_sigprocmask, sys_signal.sys_rt_sigprocmask, FULL),
    Syscall(L64.SYS_rt_sigpending, sys_signal.sys_rt_sigpending, FULL),
    Syscall(L64.SYS_sigaltstack, sys_signal.sys_sigaltstack, FULL, "24-byte stack_t"),
    Syscall(L64.SYS_kill, sys_signal.sys_kill, FULL, "as i386"),
    Syscall(L64.SYS_tkill, sys_signal.sys_tkill, FULL),
    Syscall(L64.SYS_tgkill, sys_signal.sys_tgkill, FULL),
    Syscall(L64.SYS_getpid, sys_signal.sys_getpid, FULL),
    Syscall(L64.SYS_getppid, sys_signal.sys_getppid, FULL),
    Syscall(L64.SYS_gettid, sys_signal.sys_gettid, FULL),
    Syscall(L64.SYS_nanosleep, sys_time.sys_nanosleep, FULL, "__kernel_timespec"),
    Syscall(L64.SYS_pause, sys_itimer.sys_pause, FULL),
    Syscall(L64.SYS_alarm, sys_itimer.sys_alarm, FULL, "SIGALRM on the virtual clock"),
    Syscall(L64.SYS_setitimer, sys_itimer.sys_setitimer, PARTIAL,
            "32-byte itimerval; ITIMER_REAL on the virtual clock, the CPU timers never expire"),
    Syscall(L64.SYS_getitimer, sys_itimer.sys_getitimer, PARTIAL, "as setitimer"),
    # files
    Syscall(L64.SYS_fstat, sys_stat.sys_newfstat, FULL, "144-byte struct stat"),
    Syscall(L64.SYS_stat, sys_stat.sys_newstat, FULL, "as fstat; paths in the --root tree"),
    Syscall(L64.SYS_lstat, sys_stat.sys_newlstat, FULL, "as stat"),
    Syscall(L64.SYS_newfstatat, sys_stat.sys_newfstatat, FULL, "as stat; AT_EMPTY_PATH"),
    Syscall(L64.SYS_statx, sys_stat.sys_statx, PARTIAL, "as i386"),
    Syscall(L64.SYS_getcwd, sys_stat.sys_getcwd, FULL),
    Syscall(L64.SYS_readlink, sys_stat.sys_readlink, FULL, "/proc/self/exe"),
    Syscall(L64.SYS_readlinkat, sys_stat.sys_readlinkat, FULL),
    Syscall(L64.SYS_open, sys_fs.sys_open, FULL, "read-only tree"),
    Syscall(L64.SYS_openat, sys_fs.sys_openat, FULL, "as open"),
    Syscall(L64.SYS_lseek, sys_fs.sys_lseek_64, FULL, "64-bit offset"),
    Syscall(L64.SYS_pread64, sys_fs.sys_pread64_64, FULL, "the offset in one register"),
    Syscall(L64.SYS_getdents64, sys_fs.sys_getdents64, PARTIAL, "as i386"),
    Syscall(L64.SYS_access, sys_fs.sys_access, FULL),
    Syscall(L64.SYS_faccessat, sys_fs.sys_faccessat, FULL),
    Syscall(L64.SYS_chdir, sys_fs.sys_chdir, FULL),
    Syscall(L64.SYS_fchdir, sys_fs.sys_fchdir, FULL),
    Syscall(L64.SYS_sendfile, sys_fs.sys_sendfile64, FULL, "64-bit offset"),
    Syscall(L64.SYS_pipe, sys_pipe.sys_pipe, FULL),
    Syscall(L64.SYS_pipe2, sys_pipe.sys_pipe2, PARTIAL, "as i386"),
    Syscall(L64.SYS_dup, sys_pipe.sys_dup, FULL),
    Syscall(L64.SYS_dup2, sys_pipe.sys_dup2, FULL),
    Syscall(L64.SYS_dup3, sys_pipe.sys_dup3, FULL),
    Syscall(L64.SYS_eventfd, sys_eventfd.sys_eventfd, FULL),
    Syscall(L64.SYS_eventfd2, sys_eventfd.sys_eventfd2, FULL),
    # identity, limits, process state
    Syscall(L64.SYS_uname, sys_utsname.sys_uname, FULL, "x86_64"),
    Syscall(L64.SYS_getuid, sys_identity.sys_getuid32, FULL, "32-bit ids"),
    Syscall(L64.SYS_getgid, sys_identity.sys_getgid32, FULL),
    Syscall(L64.SYS_geteuid, sys_identity.sys_getuid32, FULL),
    Syscall(L64.SYS_getegid, sys_identity.sys_getgid32, FULL),
    Syscall(L64.SYS_getgroups, sys_identity.sys_getgroups32, FULL),
    Syscall(L64.SYS_getresuid, sys_identity.sys_getresuid32, FULL),
    Syscall(L64.SYS_getresgid, sys_identity.sys_getresgid32, FULL),
    Syscall(L64.SYS_getrlimit, sys_rlimit.sys_ugetrlimit, FULL, "unsigned longs, unclamped"),
    Syscall(L64.SYS_setrlimit, sys_rlimit.sys_setrlimit, FULL),
    Syscall(L64.SYS_prlimit64, sys_rlimit.sys_prlimit64, FULL),
    Syscall(L64.SYS_getrandom, sys_random.sys_getrandom, FULL),
    Syscall(L64.SYS_set_tid_address, sys_thread.sys_set_tid_address, FULL),
    Syscall(L64.SYS_set_robust_list, sys_thread.sys_set_robust_list, FULL),
    Syscall(L64.SYS_rseq, sys_thread.sys_rseq, PARTIAL, "ENOSYS, as before Linux 4.18"),
    Syscall(L64.SYS_prctl, sys_prctl.sys_prctl, PARTIAL, "as i386"),
    Syscall(L64.SYS_time, sys_time.sys_time, FULL, "8-byte time_t"),
    Syscall(L64.SYS_gettimeofday, sys_time.sys_gettimeofday, FULL, "16-byte timeval"),
    Syscall(L64.SYS_clock_gettime, sys_time.sys_clock_gettime64, FULL, "__kernel_timespec"),
    Syscall(L64.SYS_clock_getres, sys_time.sys_clock_getres_time64, FULL),
    # readiness
    Syscall(L64.SYS_poll, sys_poll.sys_poll, FULL),
    Syscall(L64.SYS_ppoll, sys_poll.sys_ppoll_time64, FULL, "__kernel_timespec"),
    Syscall(L64.SYS_select, sys_poll.sys_newselect, FULL,
            "fd_set in 64-bit longs, a timeval of longs"),
    Syscall(L64.SYS_pselect6, sys_poll.sys_pselect6_time64, FULL,
            "__kernel_timespec; the sigset argument of longs"),
    Syscall(L64.SYS_epoll_create, sys_poll.sys_epoll_create, FULL),
    Syscall(L64.SYS_epoll_create1, sys_poll.sys_epoll_create1, FULL),
    Syscall(L64.SYS_epoll_ctl, sys_poll.sys_epoll_ctl, PARTIAL, "packed 12-byte epoll_event"),
    Syscall(L64.SYS_epoll_wait, sys_poll.sys_epoll_wait, FULL, "packed 12-byte epoll_event"),
    Syscall(L64.SYS_epoll_pwait, sys_poll.sys_epoll_pwait, FULL),
    Syscall(L64.SYS_sched_getaffinity, sys_sched.sys_sched_getaffinity, FULL,
            "the native call: lengths in 8-byte longs"),
    Syscall(L64.SYS_sched_setaffinity, sys_sched.sys_sched_setaffinity, FULL,
            "the native call: the bytes as given"),
    Syscall(L64.SYS_sched_yield, sys_sched.sys_sched_yield, FULL),
    # sockets: x86-64 never had socketcall
    Syscall(L64.SYS_socket, sys_socket.sys_socket, PARTIAL, "AF_INET SOCK_STREAM (TCP)"),
    Syscall(L64.SYS_socketpair, sys_socket.sys_socketpair, PARTIAL, "AF_UNIX SOCK_STREAM"),
    Syscall(L64.SYS_bind, sys_socket.sys_bind, FULL),
    Syscall(L64.SYS_connect, sys_socket.sys_connect, PARTIAL, "ECONNREFUSED"),
    Syscall(L64.SYS_listen, sys_socket.sys_listen, FULL),
    Syscall(L64.SYS_accept, sys_socket.sys_accept, FULL),
    Syscall(L64.SYS_accept4, sys_socket.sys_accept4, FULL),
    Syscall(L64.SYS_getsockopt, sys_socket.sys_getsockopt, FULL),
    Syscall(L64.SYS_setsockopt, sys_socket.sys_setsockopt, FULL),
    Syscall(L64.SYS_getsockname, sys_socket.sys_getsockname, FULL),
    Syscall(L64.SYS_getpeername, sys_socket.sys_getpeername, FULL),
    Syscall(L64.SYS_sendto, sys_socket.sys_sendto, FULL, "EPIPE raises SIGPIPE"),
    Syscall(L64.SYS_recvfrom, sys_socket.sys_recvfrom, FULL),
    Syscall(L64.SYS_shutdown, sys_socket.sys_shutdown, FULL),
)


def markdown() -> str:
    """The README's table of modelled x86-64 calls, one row per number, in number order."""
    rows = ["| number | call | support | notes |", "|---|---|---|---|"]
    for entry in sorted(TABLE, key=lambda e: e.number):
        note = entry.note.replace("|", "\\|")
        rows.append(f"| {entry.number} | `{entry.name}` | {entry.support} | {note} |")
    return "\n".join(rows)
