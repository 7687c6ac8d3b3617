"""The i386 system call table: number -> name -> handler, with a support level and a note.

One table per architecture, as gVisor's sentry keeps them (pkg/sentry/syscalls/linux/
linux64.go): the handlers are written once, by subsystem, in the ``sys_*`` modules and named
as Linux names them; the table says which number reaches which, how faithfully, and why.
The README's list of what is modelled is generated from here (:func:`markdown`), so it
cannot drift from the code.  Any number not in the table returns -ENOSYS and is recorded.

Numbers and names: arch/x86/entry/syscalls/syscall_32.tbl (via :mod:`harness.linux`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import linux as L
from . import (
    sys_eventfd, sys_exec, sys_file, sys_fork, sys_fs, sys_identity, sys_itimer, sys_mm,
    sys_pipe, sys_poll, sys_prctl, sys_process, sys_random, sys_rlimit, sys_sched, sys_signal,
    sys_socket, sys_stat, sys_thread, sys_time, sys_tls, sys_utsname,
)

#: Support levels, as gVisor's compatibility docs name them.
FULL = "full"  # Linux's semantics and errnos for every argument the harness can be given
PARTIAL = "partial"  # the common uses, as the note says; the rest answers as the note says


@dataclass(frozen=True)
class Syscall:
    number: int
    handler: Callable[..., object]
    support: str
    note: str = ""

    @property
    def name(self) -> str:
        return L.SYSCALL_NAMES[self.number]


TABLE: tuple[Syscall, ...] = (
    Syscall(L.SYS_exit, sys_process.sys_exit, FULL,
            "one thread is the whole process; every fd is closed (FIN, or RST with unread data)"),
    Syscall(L.SYS_exit_group, sys_process.sys_exit, FULL, "as exit"),
    Syscall(L.SYS_fork, sys_fork.sys_fork, FULL,
            "a process with a copy of memory; at most 64 per guest, then EAGAIN"),
    Syscall(L.SYS_vfork, sys_fork.sys_vfork, PARTIAL, "as fork: the parent does not wait"),
    Syscall(L.SYS_clone, sys_fork.sys_clone, PARTIAL,
            "fork's, vfork's and posix_spawn's flags; threads ENOSYS"),
    Syscall(L.SYS_wait4, sys_fork.sys_wait4, PARTIAL, "rusage zero; no stopped children"),
    Syscall(L.SYS_waitpid, sys_fork.sys_waitpid, PARTIAL, "as wait4"),
    Syscall(L.SYS_waitid, sys_fork.sys_waitid, PARTIAL,
            "P_ALL, P_PID, P_PGID; WEXITED, WNOHANG, WNOWAIT; no stopped children"),
    Syscall(L.SYS_execve, sys_exec.sys_execve, PARTIAL,
            "a static i386 ELF of the --root tree; scripts ENOEXEC"),
    Syscall(L.SYS_read, sys_file.sys_read, FULL, "stdin, sockets"),
    Syscall(L.SYS_write, sys_file.sys_write, FULL, "stdout, stderr, sockets; EPIPE raises SIGPIPE"),
    Syscall(L.SYS_close, sys_file.sys_close, FULL),
    Syscall(L.SYS_brk, sys_mm.sys_brk, FULL,
            "mm/mmap.c's rules: refuses to grow into (or within a page of) another mapping; "
            "shrinking unmaps"),
    Syscall(L.SYS_signal, sys_signal.sys_signal, FULL, "SA_ONESHOT | SA_NOMASK, as i386's"),
    Syscall(L.SYS_rt_sigaction, sys_signal.sys_rt_sigaction, FULL,
            "handlers run; SA_SIGINFO, SA_RESTORER, SA_RESETHAND, SA_NODEFER, SA_ONSTACK"),
    Syscall(L.SYS_rt_sigprocmask, sys_signal.sys_rt_sigprocmask, FULL),
    Syscall(L.SYS_set_thread_area, sys_tls.sys_set_thread_area, FULL,
            "GDT entries 12-14, as a 64-bit kernel gives a 32-bit task"),
    Syscall(L.SYS_nanosleep, sys_time.sys_nanosleep, FULL, "on the virtual clock"),
    Syscall(L.SYS_alarm, sys_itimer.sys_alarm, FULL, "SIGALRM on the virtual clock"),
    Syscall(L.SYS_setitimer, sys_itimer.sys_setitimer, PARTIAL,
            "ITIMER_REAL on the virtual clock; ITIMER_VIRTUAL and ITIMER_PROF never expire"),
    Syscall(L.SYS_getitimer, sys_itimer.sys_getitimer, PARTIAL,
            "ITIMER_REAL on the virtual clock; ITIMER_VIRTUAL and ITIMER_PROF never expire"),
    Syscall(L.SYS_pause, sys_itimer.sys_pause, FULL),
    Syscall(L.SYS_socketcall, sys_socket.sys_socketcall, FULL,
            "the multiplexer of old binaries, arguments copied as net/socket.c does"),
    Syscall(L.SYS_socket, sys_socket.sys_socket, PARTIAL, "AF_INET SOCK_STREAM (TCP)"),
    Syscall(L.SYS_socketpair, sys_socket.sys_socketpair, PARTIAL,
            "AF_UNIX SOCK_STREAM; SOCK_DGRAM and SOCK_SEQPACKET are not modelled"),
    Syscall(L.SYS_bind, sys_socket.sys_bind, FULL),
    Syscall(L.SYS_connect, sys_socket.sys_connect, PARTIAL,
            "ECONNREFUSED: no server exists outside the guest"),
    Syscall(L.SYS_listen, sys_socket.sys_listen, FULL, "backlog as net.core.somaxconn caps it"),
    Syscall(L.SYS_accept4, sys_socket.sys_accept4, FULL, "SO_RCVTIMEO on the virtual clock"),
    Syscall(L.SYS_getsockopt, sys_socket.sys_getsockopt, FULL),
    Syscall(L.SYS_setsockopt, sys_socket.sys_setsockopt, FULL),
    Syscall(L.SYS_getsockname, sys_socket.sys_getsockname, FULL),
    Syscall(L.SYS_getpeername, sys_socket.sys_getpeername, FULL),
    Syscall(L.SYS_sendto, sys_socket.sys_sendto, FULL, "EPIPE raises SIGPIPE"),
    Syscall(L.SYS_recvfrom, sys_socket.sys_recvfrom, FULL, "SO_RCVTIMEO on the virtual clock"),
    Syscall(L.SYS_shutdown, sys_socket.sys_shutdown, FULL),
    # memory
    Syscall(L.SYS_mmap2, sys_mm.sys_mmap2, PARTIAL,
            "anonymous memory (private, shared, MAP_FIXED, MAP_FIXED_NOREPLACE, hints) placed "
            "top-down as Linux places a 32-bit process's, randomisation off; a file descriptor "
            "gets the errno its file would (EBADF, EACCES, ENODEV); 2 GiB of guest memory "
            "at most"),
    Syscall(L.SYS_mmap, sys_mm.sys_old_mmap, PARTIAL,
            "the old mmap: its six arguments in a struct, the offset in bytes; as mmap2"),
    Syscall(L.SYS_munmap, sys_mm.sys_munmap, FULL),
    Syscall(L.SYS_mprotect, sys_mm.sys_mprotect, FULL,
            "enforced: a forbidden access raises SIGSEGV with SEGV_ACCERR"),
    Syscall(L.SYS_mremap, sys_mm.sys_mremap, FULL,
            "in place or moved; MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP"),
    Syscall(L.SYS_madvise, sys_mm.sys_madvise, PARTIAL,
            "MADV_DONTNEED zeroes private pages; hints accepted and ignored; "
            "the guard pages of MADV_GUARD_INSTALL are refused (EINVAL)"),

    # signals
    Syscall(L.SYS_sigaction, sys_signal.sys_sigaction, FULL, "struct old_sigaction"),
    Syscall(L.SYS_sigprocmask, sys_signal.sys_sigprocmask, FULL, "the first 32 signals"),
    Syscall(L.SYS_rt_sigpending, sys_signal.sys_rt_sigpending, FULL),
    Syscall(L.SYS_sigaltstack, sys_signal.sys_sigaltstack, FULL),
    Syscall(L.SYS_sigreturn, sys_signal.sys_sigreturn, PARTIAL,
            "every register and the mask; the FPU state is not restored"),
    Syscall(L.SYS_rt_sigreturn, sys_signal.sys_rt_sigreturn, PARTIAL,
            "every register, the mask and the altstack; the FPU state is not restored"),
    Syscall(L.SYS_kill, sys_signal.sys_kill, FULL,
            "the only process is pid 1000, its own group; other pids ESRCH"),
    Syscall(L.SYS_tkill, sys_signal.sys_tkill, FULL, "the only thread is tid 1000"),
    Syscall(L.SYS_tgkill, sys_signal.sys_tgkill, FULL, "the only thread is 1000 in group 1000"),
    Syscall(L.SYS_getpid, sys_signal.sys_getpid, FULL, "1000"),
    Syscall(L.SYS_getppid, sys_signal.sys_getppid, FULL, "999"),
    Syscall(L.SYS_gettid, sys_signal.sys_gettid, FULL, "1000, the pid: one thread"),

    # process, identity, time and files
    Syscall(L.SYS_readv, sys_file.sys_readv, FULL,
            "one read of the total, scattered; UIO_MAXIOV; blocks as read does"),
    Syscall(L.SYS_writev, sys_file.sys_writev, FULL,
            "one write of the gathered bytes; EPIPE raises SIGPIPE"),
    Syscall(L.SYS_ioctl, sys_file.sys_ioctl, FULL,
            "FIONREAD, FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX; terminal requests ENOTTY "
            "(no fd is a terminal)"),
    Syscall(L.SYS_fcntl, sys_file.sys_fcntl, PARTIAL, "as fcntl64"),
    Syscall(L.SYS_fcntl64, sys_file.sys_fcntl64, PARTIAL,
            "F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD, F_GETFL/F_SETFL, F_GETOWN/F_SETOWN, "
            "F_GETSIG, F_GETPIPE_SZ; locks, leases, seals EINVAL"),
    Syscall(L.SYS_fstat64, sys_stat.sys_fstat64, FULL,
            "the standard streams are pipes, sockets on sockfs; fixed devices and inodes"),
    Syscall(L.SYS_stat64, sys_stat.sys_stat64, FULL,
            "paths in the --root tree with the host's stat; no tree: ENOENT"),
    Syscall(L.SYS_lstat64, sys_stat.sys_lstat64, FULL, "as stat64"),
    Syscall(L.SYS_fstatat64, sys_stat.sys_fstatat64, FULL, "as stat64; AT_EMPTY_PATH"),
    Syscall(L.SYS_statx, sys_stat.sys_statx, PARTIAL,
            "as stat64; basic stats only (no btime), mount id 0 for tree files"),
    Syscall(L.SYS_getcwd, sys_stat.sys_getcwd, FULL, "the virtual cwd in the tree"),
    Syscall(L.SYS_readlink, sys_stat.sys_readlink, FULL,
            "links in the tree; /proc/self/exe (the program's path)"),
    Syscall(L.SYS_readlinkat, sys_stat.sys_readlinkat, FULL, "as readlink"),
    # the read-only file tree (--root)
    Syscall(L.SYS_open, sys_fs.sys_open, FULL,
            "read-only tree: writing, O_TRUNC, O_CREAT of a new name EROFS; devices EACCES"),
    Syscall(L.SYS_openat, sys_fs.sys_openat, FULL, "as open"),
    Syscall(L.SYS_lseek, sys_fs.sys_lseek, FULL, "ESPIPE on pipes and sockets"),
    Syscall(L.SYS__llseek, sys_fs.sys__llseek, FULL, "as lseek, 64-bit"),
    Syscall(L.SYS_pread64, sys_fs.sys_pread64, FULL, "tree files; ESPIPE otherwise"),
    Syscall(L.SYS_getdents64, sys_fs.sys_getdents64, PARTIAL,
            "the host's order after . and ..; d_off is an entry index"),
    Syscall(L.SYS_access, sys_fs.sys_access, FULL, "W_OK EROFS"),
    Syscall(L.SYS_faccessat, sys_fs.sys_faccessat, FULL, "as access"),
    Syscall(L.SYS_chdir, sys_fs.sys_chdir, FULL, "a virtual cwd in the tree"),
    Syscall(L.SYS_fchdir, sys_fs.sys_fchdir, FULL),
    Syscall(L.SYS_sendfile, sys_fs.sys_sendfile, FULL,
            "from a tree file to a socket or stdout; 32-bit offset pointer"),
    Syscall(L.SYS_sendfile64, sys_fs.sys_sendfile64, FULL, "as sendfile, 64-bit offset"),
    Syscall(L.SYS_uname, sys_utsname.sys_uname, FULL,
            "fixed: Linux, webelf, 6.1.0-webelf, x86_64"),
    Syscall(L.SYS_getuid, sys_identity.sys_getuid, FULL, "16-bit"),
    Syscall(L.SYS_getgid, sys_identity.sys_getgid, FULL, "16-bit"),
    Syscall(L.SYS_geteuid, sys_identity.sys_getuid, FULL, "16-bit"),
    Syscall(L.SYS_getegid, sys_identity.sys_getgid, FULL, "16-bit"),
    Syscall(L.SYS_getgroups, sys_identity.sys_getgroups, FULL, "no supplementary groups"),
    Syscall(L.SYS_getresuid, sys_identity.sys_getresuid, FULL, "16-bit"),
    Syscall(L.SYS_getresgid, sys_identity.sys_getresgid, FULL, "16-bit"),
    Syscall(L.SYS_getuid32, sys_identity.sys_getuid32, FULL,
            "0 on a privileged network (the default), else 1000"),
    Syscall(L.SYS_getgid32, sys_identity.sys_getgid32, FULL, "as getuid32"),
    Syscall(L.SYS_geteuid32, sys_identity.sys_getuid32, FULL, "as getuid32"),
    Syscall(L.SYS_getegid32, sys_identity.sys_getgid32, FULL, "as getuid32"),
    Syscall(L.SYS_getgroups32, sys_identity.sys_getgroups32, FULL, "no supplementary groups"),
    Syscall(L.SYS_getresuid32, sys_identity.sys_getresuid32, FULL),
    Syscall(L.SYS_getresgid32, sys_identity.sys_getresgid32, FULL),
    Syscall(L.SYS_setrlimit, sys_rlimit.sys_setrlimit, FULL, "RLIMIT_NOFILE moves the fd limit"),
    Syscall(L.SYS_getrlimit, sys_rlimit.sys_getrlimit, FULL, "clamped at 0x7fffffff"),
    Syscall(L.SYS_ugetrlimit, sys_rlimit.sys_ugetrlimit, FULL, "a fresh Debian process's limits"),
    Syscall(L.SYS_prlimit64, sys_rlimit.sys_prlimit64, FULL, "this process only (ESRCH)"),
    Syscall(L.SYS_getrandom, sys_random.sys_getrandom, FULL,
            "deterministic: a stream keyed by the AT_RANDOM bytes"),
    Syscall(L.SYS_set_tid_address, sys_thread.sys_set_tid_address, FULL),
    Syscall(L.SYS_set_robust_list, sys_thread.sys_set_robust_list, FULL),
    Syscall(L.SYS_eventfd, sys_eventfd.sys_eventfd, FULL),
    Syscall(L.SYS_eventfd2, sys_eventfd.sys_eventfd2, FULL),
    Syscall(L.SYS_pipe, sys_pipe.sys_pipe, FULL, "64 KiB, PIPE_BUF-atomic writes"),
    Syscall(L.SYS_pipe2, sys_pipe.sys_pipe2, PARTIAL,
            "O_CLOEXEC, O_NONBLOCK; O_DIRECT accepted, the pipe stays a byte stream"),
    Syscall(L.SYS_dup, sys_pipe.sys_dup, FULL),
    Syscall(L.SYS_dup2, sys_pipe.sys_dup2, FULL),
    Syscall(L.SYS_dup3, sys_pipe.sys_dup3, FULL),
    Syscall(L.SYS_prctl, sys_prctl.sys_prctl, PARTIAL,
            "PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_SET_DUMPABLE; other options EINVAL"),
    Syscall(L.SYS_rseq, sys_thread.sys_rseq, PARTIAL,
            "ENOSYS, as before Linux 4.18; C libraries then run without it"),
    Syscall(L.SYS_time, sys_time.sys_time, FULL, "virtual clock from 2024-01-01T00:00:00Z"),
    Syscall(L.SYS_gettimeofday, sys_time.sys_gettimeofday, FULL, "virtual clock"),
    Syscall(L.SYS_clock_gettime, sys_time.sys_clock_gettime, FULL, "virtual clock"),
    Syscall(L.SYS_clock_getres, sys_time.sys_clock_getres, FULL),
    Syscall(L.SYS_clock_gettime64, sys_time.sys_clock_gettime64, FULL, "virtual clock"),
    Syscall(L.SYS_clock_getres_time64, sys_time.sys_clock_getres_time64, FULL),
    # readiness (sys_poll)
    Syscall(L.SYS_poll, sys_poll.sys_poll, FULL, "timeouts on the virtual clock"),
    Syscall(L.SYS_ppoll, sys_poll.sys_ppoll, FULL, "the signal mask is checked, not applied"),
    Syscall(L.SYS_ppoll_time64, sys_poll.sys_ppoll_time64, FULL, "as ppoll"),
    Syscall(L.SYS_select, sys_poll.sys_old_select, FULL, "old_select: the arguments in memory"),
    Syscall(L.SYS__newselect, sys_poll.sys_newselect, FULL, "timeouts on the virtual clock"),
    Syscall(L.SYS_pselect6, sys_poll.sys_pselect6, FULL, "as ppoll"),
    Syscall(L.SYS_pselect6_time64, sys_poll.sys_pselect6_time64, FULL, "as ppoll"),
    Syscall(L.SYS_epoll_create, sys_poll.sys_epoll_create, FULL),
    Syscall(L.SYS_epoll_create1, sys_poll.sys_epoll_create1, FULL),
    Syscall(L.SYS_epoll_ctl, sys_poll.sys_epoll_ctl, PARTIAL,
            "EPOLLET, EPOLLONESHOT; no ELOOP check for nested sets"),
    Syscall(L.SYS_epoll_wait, sys_poll.sys_epoll_wait, FULL, "packed 12-byte epoll_event"),
    Syscall(L.SYS_epoll_pwait, sys_poll.sys_epoll_pwait, FULL, "as ppoll"),
    # scheduling (sys_sched)
    Syscall(L.SYS_sched_getaffinity, sys_sched.sys_sched_getaffinity, FULL,
            "the compat call: Network.ncpus CPUs (2 unless told), all online; "
            "cpumask_size() as an off-stack-cpumask kernel's, 8 bytes up to 64 CPUs"),
    Syscall(L.SYS_sched_setaffinity, sys_sched.sys_sched_setaffinity, FULL,
            "a mask with at least one of the CPUs; read by getaffinity, inherited by fork"),
    Syscall(L.SYS_sched_yield, sys_sched.sys_sched_yield, FULL,
            "0; the scheduler's slices go on as before"),

)

#: socketcall(2)'s calls, each the same handler as its direct call.
SOCKETCALLS = sys_socket.SOCKETCALLS


def markdown() -> str:
    """The README's table of modelled calls, one row per number, in number order."""
    rows = ["| number | call | support | notes |", "|---|---|---|---|"]
    for entry in sorted(TABLE, key=lambda e: e.number):
        note = entry.note.replace("|", "\\|")  # a flag union must not split the cell
        rows.append(f"| {entry.number} | `{entry.name}` | {entry.support} | {note} |")
    return "\n".join(rows)
