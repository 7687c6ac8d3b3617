"""Linux constants, each under the name Linux gives it, each defined once.

Everything here is a number a reader can grep for in the kernel or the man pages: syscall
numbers, errno values, signal numbers, socket constants.  No other harness module spells a
number from this file; they import the name.  Nothing here imports anything, so every module
can use it.

Sources, all from Linux 6.1 unless noted (the uapi headers as ``make headers_install``
ships them; the kernel-internal ones from the kernel tree):

* syscall numbers: ``arch/x86/entry/syscalls/syscall_32.tbl`` as ``asm/unistd_32.h``;
* socketcall(2) call numbers: ``include/uapi/linux/net.h``, argument counts ``net/socket.c``;
* errno: ``include/uapi/asm-generic/errno-base.h`` and ``errno.h`` (x86 uses the generic
  table); the texts are glibc 2.36's ``strerror``, what ``perror`` and strace print;
* signals: ``arch/x86/include/uapi/asm/signal.h``; texts are glibc's ``strsignal``;
* sockets: ``include/linux/socket.h``, ``include/linux/net.h``,
  ``include/uapi/asm-generic/socket.h``, ``include/uapi/linux/in.h``,
  ``include/uapi/linux/tcp.h``, ``include/uapi/asm-generic/fcntl.h``;
* TCP internals: ``include/net/tcp.h``, ``include/net/sock.h``, ``net/core/sock.c``,
  ``net/ipv4/af_inet.c`` and the sysctl defaults in ``Documentation/networking/ip-sysctl.rst``.

The values are those an i386 process sees, which on a 64-bit x86 kernel (where the
differential tests run) are the same.  Where i386 and x86-64 differ (syscall numbers,
``SO_RCVTIMEO``), the i386 value is the one here.
"""

# ---------------------------------------------------------------------------------------------
# i386 syscall numbers, the whole table: an unknown number still gets a name in traces and in
# UnsupportedSyscall.  Generated from asm/unistd_32.h (Linux 6.1): ``__NR_x`` is ``SYS_x``.
# ---------------------------------------------------------------------------------------------

SYS_restart_syscall = 0
SYS_exit = 1
SYS_fork = 2
SYS_read = 3
SYS_write = 4
SYS_open = 5
SYS_close = 6
SYS_waitpid = 7
SYS_creat = 8
SYS_link = 9
SYS_unlink = 10
SYS_execve = 11
SYS_chdir = 12
SYS_time = 13
SYS_mknod = 14
SYS_chmod = 15
SYS_lchown = 16
SYS_break = 17
SYS_oldstat = 18
SYS_lseek = 19
SYS_getpid = 20
SYS_mount = 21
SYS_umount = 22
SYS_setuid = 23
SYS_getuid = 24
SYS_stime = 25
SYS_ptrace = 26
SYS_alarm = 27
SYS_oldfstat = 28
SYS_pause = 29
SYS_utime = 30
SYS_stty = 31
SYS_gtty = 32
SYS_access = 33
SYS_nice = 34
SYS_ftime = 35
SYS_sync = 36
SYS_kill = 37
SYS_rename = 38
SYS_mkdir = 39
SYS_rmdir = 40
SYS_dup = 41
SYS_pipe = 42
SYS_times = 43
SYS_prof = 44
SYS_brk = 45
SYS_setgid = 46
SYS_getgid = 47
SYS_signal = 48
SYS_geteuid = 49
SYS_getegid = 50
SYS_acct = 51
SYS_umount2 = 52
SYS_lock = 53
SYS_ioctl = 54
SYS_fcntl = 55
SYS_mpx = 56
SYS_setpgid = 57
SYS_ulimit = 58
SYS_oldolduname = 59
SYS_umask = 60
SYS_chroot = 61
SYS_ustat = 62
SYS_dup2 = 63
SYS_getppid = 64
SYS_getpgrp = 65
SYS_setsid = 66
SYS_sigaction = 67
SYS_sgetmask = 68
SYS_ssetmask = 69
SYS_setreuid = 70
SYS_setregid = 71
SYS_sigsuspend = 72
SYS_sigpending = 73
SYS_sethostname = 74
SYS_setrlimit = 75
SYS_getrlimit = 76
SYS_getrusage = 77
SYS_gettimeofday = 78
SYS_settimeofday = 79
SYS_getgroups = 80
SYS_setgroups = 81
SYS_select = 82
SYS_symlink = 83
SYS_oldlstat = 84
SYS_readlink = 85
SYS_uselib = 86
SYS_swapon = 87
SYS_reboot = 88
SYS_readdir = 89
SYS_mmap = 90
SYS_munmap = 91
SYS_truncate = 92
SYS_ftruncate = 93
SYS_fchmod = 94
SYS_fchown = 95
SYS_getpriority = 96
SYS_setpriority = 97
SYS_profil = 98
SYS_statfs = 99
SYS_fstatfs = 100
SYS_ioperm = 101
SYS_socketcall = 102
SYS_syslog = 103
SYS_setitimer = 104
SYS_getitimer = 105
SYS_stat = 106
SYS_lstat = 107
SYS_fstat = 108
SYS_olduname = 109
SYS_iopl = 110
SYS_vhangup = 111
SYS_idle = 112
SYS_vm86old = 113
SYS_wait4 = 114
SYS_swapoff = 115
SYS_sysinfo = 116
SYS_ipc = 117
SYS_fsync = 118
SYS_sigreturn = 119
SYS_clone = 120
SYS_setdomainname = 121
SYS_uname = 122
SYS_modify_ldt = 123
SYS_adjtimex = 124
SYS_mprotect = 125
SYS_sigprocmask = 126
SYS_create_module = 127
SYS_init_module = 128
SYS_delete_module = 129
SYS_get_kernel_syms = 130
SYS_quotactl = 131
SYS_getpgid = 132
SYS_fchdir = 133
SYS_bdflush = 134
SYS_sysfs = 135
SYS_personality = 136
SYS_afs_syscall = 137
SYS_setfsuid = 138
SYS_setfsgid = 139
SYS__llseek = 140
SYS_getdents = 141
SYS__newselect = 142
SYS_flock = 143
SYS_msync = 144
SYS_readv = 145
SYS_writev = 146
SYS_getsid = 147
SYS_fdatasync = 148
SYS__sysctl = 149
SYS_mlock = 150
SYS_munlock = 151
SYS_mlockall = 152
SYS_munlockall = 153
SYS_sched_setparam = 154
SYS_sched_getparam = 155
SYS_sched_setscheduler = 156
SYS_sched_getscheduler = 157
SYS_sched_yield = 158
SYS_sched_get_priority_max = 159
SYS_sched_get_priority_min = 160
SYS_sched_rr_get_interval = 161
SYS_nanosleep = 162
SYS_mremap = 163
SYS_setresuid = 164
SYS_getresuid = 165
SYS_vm86 = 166
SYS_query_module = 167
SYS_poll = 168
SYS_nfsservctl = 169
SYS_setresgid = 170
SYS_getresgid = 171
SYS_prctl = 172
SYS_rt_sigreturn = 173
SYS_rt_sigaction = 174
SYS_rt_sigprocmask = 175
SYS_rt_sigpending = 176
SYS_rt_sigtimedwait = 177
SYS_rt_sigqueueinfo = 178
SYS_rt_sigsuspend = 179
SYS_pread64 = 180
SYS_pwrite64 = 181
SYS_chown = 182
SYS_getcwd = 183
SYS_capget = 184
SYS_capset = 185
SYS_sigaltstack = 186
SYS_sendfile = 187
SYS_getpmsg = 188
SYS_putpmsg = 189
SYS_vfork = 190
SYS_ugetrlimit = 191
SYS_mmap2 = 192
SYS_truncate64 = 193
SYS_ftruncate64 = 194
SYS_stat64 = 195
SYS_lstat64 = 196
SYS_fstat64 = 197
SYS_lchown32 = 198
SYS_getuid32 = 199
SYS_getgid32 = 200
SYS_geteuid32 = 201
SYS_getegid32 = 202
SYS_setreuid32 = 203
SYS_setregid32 = 204
SYS_getgroups32 = 205
SYS_setgroups32 = 206
SYS_fchown32 = 207
SYS_setresuid32 = 208
SYS_getresuid32 = 209
SYS_setresgid32 = 210
SYS_getresgid32 = 211
SYS_chown32 = 212
SYS_setuid32 = 213
SYS_setgid32 = 214
SYS_setfsuid32 = 215
SYS_setfsgid32 = 216
SYS_pivot_root = 217
SYS_mincore = 218
SYS_madvise = 219
SYS_getdents64 = 220
SYS_fcntl64 = 221
SYS_gettid = 224
SYS_readahead = 225
SYS_setxattr = 226
SYS_lsetxattr = 227
SYS_fsetxattr = 228
SYS_getxattr = 229
SYS_lgetxattr = 230
SYS_fgetxattr = 231
SYS_listxattr = 232
SYS_llistxattr = 233
SYS_flistxattr = 234
SYS_removexattr = 235
SYS_lremovexattr = 236
SYS_fremovexattr = 237
SYS_tkill = 238
SYS_sendfile64 = 239
SYS_futex = 240
SYS_sched_setaffinity = 241
SYS_sched_getaffinity = 242
SYS_set_thread_area = 243
SYS_get_thread_area = 244
SYS_io_setup = 245
SYS_io_destroy = 246
SYS_io_getevents = 247
SYS_io_submit = 248
SYS_io_cancel = 249
SYS_fadvise64 = 250
SYS_exit_group = 252
SYS_lookup_dcookie = 253
SYS_epoll_create = 254
SYS_epoll_ctl = 255
SYS_epoll_wait = 256
SYS_remap_file_pages = 257
SYS_set_tid_address = 258
SYS_timer_create = 259
SYS_timer_settime = 260
SYS_timer_gettime = 261
SYS_timer_getoverrun = 262
SYS_timer_delete = 263
SYS_clock_settime = 264
SYS_clock_gettime = 265
SYS_clock_getres = 266
SYS_clock_nanosleep = 267
SYS_statfs64 = 268
SYS_fstatfs64 = 269
SYS_tgkill = 270
SYS_utimes = 271
SYS_fadvise64_64 = 272
SYS_vserver = 273
SYS_mbind = 274
SYS_get_mempolicy = 275
SYS_set_mempolicy = 276
SYS_mq_open = 277
SYS_mq_unlink = 278
SYS_mq_timedsend = 279
SYS_mq_timedreceive = 280
SYS_mq_notify = 281
SYS_mq_getsetattr = 282
SYS_kexec_load = 283
SYS_waitid = 284
SYS_add_key = 286
SYS_request_key = 287
SYS_keyctl = 288
SYS_ioprio_set = 289
SYS_ioprio_get = 290
SYS_inotify_init = 291
SYS_inotify_add_watch = 292
SYS_inotify_rm_watch = 293
SYS_migrate_pages = 294
SYS_openat = 295
SYS_mkdirat = 296
SYS_mknodat = 297
SYS_fchownat = 298
SYS_futimesat = 299
SYS_fstatat64 = 300
SYS_unlinkat = 301
SYS_renameat = 302
SYS_linkat = 303
SYS_symlinkat = 304
SYS_readlinkat = 305
SYS_fchmodat = 306
SYS_faccessat = 307
SYS_pselect6 = 308
SYS_ppoll = 309
SYS_unshare = 310
SYS_set_robust_list = 311
SYS_get_robust_list = 312
SYS_splice = 313
SYS_sync_file_range = 314
SYS_tee = 315
SYS_vmsplice = 316
SYS_move_pages = 317
SYS_getcpu = 318
SYS_epoll_pwait = 319
SYS_utimensat = 320
SYS_signalfd = 321
SYS_timerfd_create = 322
SYS_eventfd = 323
SYS_fallocate = 324
SYS_timerfd_settime = 325
SYS_timerfd_gettime = 326
SYS_signalfd4 = 327
SYS_eventfd2 = 328
SYS_epoll_create1 = 329
SYS_dup3 = 330
SYS_pipe2 = 331
SYS_inotify_init1 = 332
SYS_preadv = 333
SYS_pwritev = 334
SYS_rt_tgsigqueueinfo = 335
SYS_perf_event_open = 336
SYS_recvmmsg = 337
SYS_fanotify_init = 338
SYS_fanotify_mark = 339
SYS_prlimit64 = 340
SYS_name_to_handle_at = 341
SYS_open_by_handle_at = 342
SYS_clock_adjtime = 343
SYS_syncfs = 344
SYS_sendmmsg = 345
SYS_setns = 346
SYS_process_vm_readv = 347
SYS_process_vm_writev = 348
SYS_kcmp = 349
SYS_finit_module = 350
SYS_sched_setattr = 351
SYS_sched_getattr = 352
SYS_renameat2 = 353
SYS_seccomp = 354
SYS_getrandom = 355
SYS_memfd_create = 356
SYS_bpf = 357
SYS_execveat = 358
SYS_socket = 359
SYS_socketpair = 360
SYS_bind = 361
SYS_connect = 362
SYS_listen = 363
SYS_accept4 = 364
SYS_getsockopt = 365
SYS_setsockopt = 366
SYS_getsockname = 367
SYS_getpeername = 368
SYS_sendto = 369
SYS_sendmsg = 370
SYS_recvfrom = 371
SYS_recvmsg = 372
SYS_shutdown = 373
SYS_userfaultfd = 374
SYS_membarrier = 375
SYS_mlock2 = 376
SYS_copy_file_range = 377
SYS_preadv2 = 378
SYS_pwritev2 = 379
SYS_pkey_mprotect = 380
SYS_pkey_alloc = 381
SYS_pkey_free = 382
SYS_statx = 383
SYS_arch_prctl = 384
SYS_io_pgetevents = 385
SYS_rseq = 386
SYS_semget = 393
SYS_semctl = 394
SYS_shmget = 395
SYS_shmctl = 396
SYS_shmat = 397
SYS_shmdt = 398
SYS_msgget = 399
SYS_msgsnd = 400
SYS_msgrcv = 401
SYS_msgctl = 402
SYS_clock_gettime64 = 403
SYS_clock_settime64 = 404
SYS_clock_adjtime64 = 405
SYS_clock_getres_time64 = 406
SYS_clock_nanosleep_time64 = 407
SYS_timer_gettime64 = 408
SYS_timer_settime64 = 409
SYS_timerfd_gettime64 = 410
SYS_timerfd_settime64 = 411
SYS_utimensat_time64 = 412
SYS_pselect6_time64 = 413
SYS_ppoll_time64 = 414
SYS_io_pgetevents_time64 = 416
SYS_recvmmsg_time64 = 417
SYS_mq_timedsend_time64 = 418
SYS_mq_timedreceive_time64 = 419
SYS_semtimedop_time64 = 420
SYS_rt_sigtimedwait_time64 = 421
SYS_futex_time64 = 422
SYS_sched_rr_get_interval_time64 = 423
SYS_pidfd_send_signal = 424
SYS_io_uring_setup = 425
SYS_io_uring_enter = 426
SYS_io_uring_register = 427
SYS_open_tree = 428
SYS_move_mount = 429
SYS_fsopen = 430
SYS_fsconfig = 431
SYS_fsmount = 432
SYS_fspick = 433
SYS_pidfd_open = 434
SYS_clone3 = 435
SYS_close_range = 436
SYS_openat2 = 437
SYS_pidfd_getfd = 438
SYS_faccessat2 = 439
SYS_process_madvise = 440
SYS_epoll_pwait2 = 441
SYS_mount_setattr = 442
SYS_quotactl_fd = 443
SYS_landlock_create_ruleset = 444
SYS_landlock_add_rule = 445
SYS_landlock_restrict_self = 446
SYS_memfd_secret = 447
SYS_process_mrelease = 448
SYS_futex_waitv = 449
SYS_set_mempolicy_home_node = 450

SYSCALL_NAMES: dict[int, str] = {
    value: name[4:] for name, value in list(globals().items()) if name.startswith("SYS_")
}
"""Syscall number -> name as strace prints it (``accept4``, ``_newselect``)."""

# ---------------------------------------------------------------------------------------------
# socketcall(2): the multiplexer through which i386 programs made every socket call until
# Linux 4.3 gave each its own number, and still make accept, send and recv, which have none.
# ``call`` selects the operation; ``args`` points at that many 32-bit words.  include/uapi/linux/net.h names these SYS_SOCKET ...
# SYS_SENDMMSG; here they are SOCKETCALL_SOCKET ... so that they cannot be confused with
# SYS_socket (359) and friends, which differ from them only in case.
# ---------------------------------------------------------------------------------------------

SOCKETCALL_SOCKET = 1
SOCKETCALL_BIND = 2
SOCKETCALL_CONNECT = 3
SOCKETCALL_LISTEN = 4
SOCKETCALL_ACCEPT = 5
SOCKETCALL_GETSOCKNAME = 6
SOCKETCALL_GETPEERNAME = 7
SOCKETCALL_SOCKETPAIR = 8
SOCKETCALL_SEND = 9
SOCKETCALL_RECV = 10
SOCKETCALL_SENDTO = 11
SOCKETCALL_RECVFROM = 12
SOCKETCALL_SHUTDOWN = 13
SOCKETCALL_SETSOCKOPT = 14
SOCKETCALL_GETSOCKOPT = 15
SOCKETCALL_SENDMSG = 16
SOCKETCALL_RECVMSG = 17
SOCKETCALL_ACCEPT4 = 18
SOCKETCALL_RECVMMSG = 19
SOCKETCALL_SENDMMSG = 20

SOCKETCALL_NAMES: dict[int, str] = {
    value: name[11:].lower() for name, value in list(globals().items())
    if name.startswith("SOCKETCALL_")
}
"""socketcall call number -> the name of the syscall it stands for (``accept``, ``recv``)."""

SOCKETCALL_NARGS: tuple[int, ...] = (0, 3, 3, 3, 2, 3, 3, 3, 4, 4, 4, 6, 6, 2, 5, 5, 3, 3, 4, 5, 4)
"""How many argument words socketcall copies for each call: ``nargs[]`` in net/socket.c
(``nas[]`` in the compat path, the same counts).  A call outside 1..20 is -EINVAL."""

# ---------------------------------------------------------------------------------------------
# errno.  A syscall fails by returning -errno in eax; errno 41 and 58 are unused (they are the
# aliases EWOULDBLOCK and EDEADLOCK).
# ---------------------------------------------------------------------------------------------

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
ENOTBLK = 15
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
ETXTBSY = 26
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EMLINK = 31
EPIPE = 32
EDOM = 33
ERANGE = 34
EDEADLK = 35
ENAMETOOLONG = 36
ENOLCK = 37
ENOSYS = 38
ENOTEMPTY = 39
ELOOP = 40
ENOMSG = 42
EIDRM = 43
ECHRNG = 44
EL2NSYNC = 45
EL3HLT = 46
EL3RST = 47
ELNRNG = 48
EUNATCH = 49
ENOCSI = 50
EL2HLT = 51
EBADE = 52
EBADR = 53
EXFULL = 54
ENOANO = 55
EBADRQC = 56
EBADSLT = 57
EBFONT = 59
ENOSTR = 60
ENODATA = 61
ETIME = 62
ENOSR = 63
ENONET = 64
ENOPKG = 65
EREMOTE = 66
ENOLINK = 67
EADV = 68
ESRMNT = 69
ECOMM = 70
EPROTO = 71
EMULTIHOP = 72
EDOTDOT = 73
EBADMSG = 74
EOVERFLOW = 75
ENOTUNIQ = 76
EBADFD = 77
EREMCHG = 78
ELIBACC = 79
ELIBBAD = 80
ELIBSCN = 81
ELIBMAX = 82
ELIBEXEC = 83
EILSEQ = 84
ERESTART = 85
ESTRPIPE = 86
EUSERS = 87
ENOTSOCK = 88
EDESTADDRREQ = 89
EMSGSIZE = 90
EPROTOTYPE = 91
ENOPROTOOPT = 92
EPROTONOSUPPORT = 93
ESOCKTNOSUPPORT = 94
EOPNOTSUPP = 95
EPFNOSUPPORT = 96
EAFNOSUPPORT = 97
EADDRINUSE = 98
EADDRNOTAVAIL = 99
ENETDOWN = 100
ENETUNREACH = 101
ENETRESET = 102
ECONNABORTED = 103
ECONNRESET = 104
ENOBUFS = 105
EISCONN = 106
ENOTCONN = 107
ESHUTDOWN = 108
ETOOMANYREFS = 109
ETIMEDOUT = 110
ECONNREFUSED = 111
EHOSTDOWN = 112
EHOSTUNREACH = 113
EALREADY = 114
EINPROGRESS = 115
ESTALE = 116
EUCLEAN = 117
ENOTNAM = 118
ENAVAIL = 119
EISNAM = 120
EREMOTEIO = 121
EDQUOT = 122
ENOMEDIUM = 123
EMEDIUMTYPE = 124
ECANCELED = 125
ENOKEY = 126
EKEYEXPIRED = 127
EKEYREVOKED = 128
EKEYREJECTED = 129
EOWNERDEAD = 130
ENOTRECOVERABLE = 131
ERFKILL = 132
EHWPOISON = 133

ERRNO_NAMES: dict[int, str] = {
    value: name for name, value in list(globals().items()) if name[0] == "E" and name.isupper()
}
"""errno -> its canonical name; 11 is EAGAIN and 35 EDEADLK, as strace prints them."""

EWOULDBLOCK = EAGAIN
EDEADLOCK = EDEADLK
ENOTSUP = EOPNOTSUPP  # glibc's name (bits/errno.h); the kernel has only EOPNOTSUPP

STRERROR: dict[int, str] = {
    EPERM: 'Operation not permitted',
    ENOENT: 'No such file or directory',
    ESRCH: 'No such process',
    EINTR: 'Interrupted system call',
    EIO: 'Input/output error',
    ENXIO: 'No such device or address',
    E2BIG: 'Argument list too long',
    ENOEXEC: 'Exec format error',
    EBADF: 'Bad file descriptor',
    ECHILD: 'No child processes',
    EAGAIN: 'Resource temporarily unavailable',
    ENOMEM: 'Cannot allocate memory',
    EACCES: 'Permission denied',
    EFAULT: 'Bad address',
    ENOTBLK: 'Block device required',
    EBUSY: 'Device or resource busy',
    EEXIST: 'File exists',
    EXDEV: 'Invalid cross-device link',
    ENODEV: 'No such device',
    ENOTDIR: 'Not a directory',
    EISDIR: 'Is a directory',
    EINVAL: 'Invalid argument',
    ENFILE: 'Too many open files in system',
    EMFILE: 'Too many open files',
    ENOTTY: 'Inappropriate ioctl for device',
    ETXTBSY: 'Text file busy',
    EFBIG: 'File too large',
    ENOSPC: 'No space left on device',
    ESPIPE: 'Illegal seek',
    EROFS: 'Read-only file system',
    EMLINK: 'Too many links',
    EPIPE: 'Broken pipe',
    EDOM: 'Numerical argument out of domain',
    ERANGE: 'Numerical result out of range',
    EDEADLK: 'Resource deadlock avoided',
    ENAMETOOLONG: 'File name too long',
    ENOLCK: 'No locks available',
    ENOSYS: 'Function not implemented',
    ENOTEMPTY: 'Directory not empty',
    ELOOP: 'Too many levels of symbolic links',
    ENOMSG: 'No message of desired type',
    EIDRM: 'Identifier removed',
    ECHRNG: 'Channel number out of range',
    EL2NSYNC: 'Level 2 not synchronized',
    EL3HLT: 'Level 3 halted',
    EL3RST: 'Level 3 reset',
    ELNRNG: 'Link number out of range',
    EUNATCH: 'Protocol driver not attached',
    ENOCSI: 'No CSI structure available',
    EL2HLT: 'Level 2 halted',
    EBADE: 'Invalid exchange',
    EBADR: 'Invalid request descriptor',
    EXFULL: 'Exchange full',
    ENOANO: 'No anode',
    EBADRQC: 'Invalid request code',
    EBADSLT: 'Invalid slot',
    EBFONT: 'Bad font file format',
    ENOSTR: 'Device not a stream',
    ENODATA: 'No data available',
    ETIME: 'Timer expired',
    ENOSR: 'Out of streams resources',
    ENONET: 'Machine is not on the network',
    ENOPKG: 'Package not installed',
    EREMOTE: 'Object is remote',
    ENOLINK: 'Link has been severed',
    EADV: 'Advertise error',
    ESRMNT: 'Srmount error',
    ECOMM: 'Communication error on send',
    EPROTO: 'Protocol error',
    EMULTIHOP: 'Multihop attempted',
    EDOTDOT: 'RFS specific error',
    EBADMSG: 'Bad message',
    EOVERFLOW: 'Value too large for defined data type',
    ENOTUNIQ: 'Name not unique on network',
    EBADFD: 'File descriptor in bad state',
    EREMCHG: 'Remote address changed',
    ELIBACC: 'Can not access a needed shared library',
    ELIBBAD: 'Accessing a corrupted shared library',
    ELIBSCN: '.lib section in a.out corrupted',
    ELIBMAX: 'Attempting to link in too many shared libraries',
    ELIBEXEC: 'Cannot exec a shared library directly',
    EILSEQ: 'Invalid or incomplete multibyte or wide character',
    ERESTART: 'Interrupted system call should be restarted',
    ESTRPIPE: 'Streams pipe error',
    EUSERS: 'Too many users',
    ENOTSOCK: 'Socket operation on non-socket',
    EDESTADDRREQ: 'Destination address required',
    EMSGSIZE: 'Message too long',
    EPROTOTYPE: 'Protocol wrong type for socket',
    ENOPROTOOPT: 'Protocol not available',
    EPROTONOSUPPORT: 'Protocol not supported',
    ESOCKTNOSUPPORT: 'Socket type not supported',
    EOPNOTSUPP: 'Operation not supported',
    EPFNOSUPPORT: 'Protocol family not supported',
    EAFNOSUPPORT: 'Address family not supported by protocol',
    EADDRINUSE: 'Address already in use',
    EADDRNOTAVAIL: 'Cannot assign requested address',
    ENETDOWN: 'Network is down',
    ENETUNREACH: 'Network is unreachable',
    ENETRESET: 'Network dropped connection on reset',
    ECONNABORTED: 'Software caused connection abort',
    ECONNRESET: 'Connection reset by peer',
    ENOBUFS: 'No buffer space available',
    EISCONN: 'Transport endpoint is already connected',
    ENOTCONN: 'Transport endpoint is not connected',
    ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
    ETOOMANYREFS: 'Too many references: cannot splice',
    ETIMEDOUT: 'Connection timed out',
    ECONNREFUSED: 'Connection refused',
    EHOSTDOWN: 'Host is down',
    EHOSTUNREACH: 'No route to host',
    EALREADY: 'Operation already in progress',
    EINPROGRESS: 'Operation now in progress',
    ESTALE: 'Stale file handle',
    EUCLEAN: 'Structure needs cleaning',
    ENOTNAM: 'Not a XENIX named type file',
    ENAVAIL: 'No XENIX semaphores available',
    EISNAM: 'Is a named type file',
    EREMOTEIO: 'Remote I/O error',
    EDQUOT: 'Disk quota exceeded',
    ENOMEDIUM: 'No medium found',
    EMEDIUMTYPE: 'Wrong medium type',
    ECANCELED: 'Operation canceled',
    ENOKEY: 'Required key not available',
    EKEYEXPIRED: 'Key has expired',
    EKEYREVOKED: 'Key has been revoked',
    EKEYREJECTED: 'Key was rejected by service',
    EOWNERDEAD: 'Owner died',
    ENOTRECOVERABLE: 'State not recoverable',
    ERFKILL: 'Operation not possible due to RF-kill',
    EHWPOISON: 'Memory page has hardware error',
}
"""errno -> glibc's ``strerror`` text (what ``perror`` and strace print after the name)."""


def strerror(errno: int) -> str:
    """glibc's text for ``errno``, and glibc's ``Unknown error N`` for a number it lacks."""
    return STRERROR.get(errno) or f"Unknown error {errno}"


# ---------------------------------------------------------------------------------------------
# Signals (arch/x86/include/uapi/asm/signal.h).  A process killed by signal N exits, as the
# shell reports it, with status 128+N.
# ---------------------------------------------------------------------------------------------

SIGHUP = 1
SIGINT = 2
SIGQUIT = 3
SIGILL = 4
SIGTRAP = 5
SIGABRT = 6
SIGBUS = 7
SIGFPE = 8
SIGKILL = 9
SIGUSR1 = 10
SIGSEGV = 11
SIGUSR2 = 12
SIGPIPE = 13
SIGALRM = 14
SIGTERM = 15
SIGSTKFLT = 16
SIGCHLD = 17
SIGCONT = 18
SIGSTOP = 19
SIGTSTP = 20
SIGTTIN = 21
SIGTTOU = 22
SIGURG = 23
SIGXCPU = 24
SIGXFSZ = 25
SIGVTALRM = 26
SIGPROF = 27
SIGWINCH = 28
SIGIO = 29
SIGPWR = 30
SIGSYS = 31

SIGNAL_NAMES: dict[int, str] = {
    value: name for name, value in list(globals().items()) if name.startswith("SIG")
}
"""Signal number -> canonical name (6 is SIGABRT, 29 SIGIO)."""

SIGIOT = SIGABRT
SIGPOLL = SIGIO
SIGRTMIN = 32  # the kernel's; glibc keeps the first few for itself
NSIG = 64  # _NSIG: SIGRTMAX is 64

SIGNAL_DESCRIPTIONS: dict[int, str] = {
    SIGHUP: 'Hangup',
    SIGINT: 'Interrupt',
    SIGQUIT: 'Quit',
    SIGILL: 'Illegal instruction',
    SIGTRAP: 'Trace/breakpoint trap',
    SIGABRT: 'Aborted',
    SIGBUS: 'Bus error',
    SIGFPE: 'Floating point exception',
    SIGKILL: 'Killed',
    SIGUSR1: 'User defined signal 1',
    SIGSEGV: 'Segmentation fault',
    SIGUSR2: 'User defined signal 2',
    SIGPIPE: 'Broken pipe',
    SIGALRM: 'Alarm clock',
    SIGTERM: 'Terminated',
    SIGSTKFLT: 'Stack fault',
    SIGCHLD: 'Child exited',
    SIGCONT: 'Continued',
    SIGSTOP: 'Stopped (signal)',
    SIGTSTP: 'Stopped',
    SIGTTIN: 'Stopped (tty input)',
    SIGTTOU: 'Stopped (tty output)',
    SIGURG: 'Urgent I/O condition',
    SIGXCPU: 'CPU time limit exceeded',
    SIGXFSZ: 'File size limit exceeded',
    SIGVTALRM: 'Virtual timer expired',
    SIGPROF: 'Profiling timer expired',
    SIGWINCH: 'Window changed',
    SIGIO: 'I/O possible',
    SIGPWR: 'Power failure',
    SIGSYS: 'Bad system call',
}
"""Signal number -> glibc's ``strsignal`` text, what a shell prints when a child dies of it."""

# ---------------------------------------------------------------------------------------------
# Sockets
# ---------------------------------------------------------------------------------------------

# Address families (include/linux/socket.h).  AF_MAX is 46 in 6.1 (AF_MCTP is 45).
AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17
AF_MAX = 46

# Socket types (include/linux/net.h, enum sock_type); the type argument of socket(2) carries
# the flags SOCK_NONBLOCK and SOCK_CLOEXEC in its high bits, which are O_NONBLOCK and O_CLOEXEC
# (include/uapi/asm-generic/fcntl.h; x86 uses the generic values).
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5
SOCK_DCCP = 6
SOCK_PACKET = 10
SOCK_MAX = 11
SOCK_TYPE_MASK = 0xF
O_NONBLOCK = 0o4000
O_CLOEXEC = 0o2000000
SOCK_NONBLOCK = O_NONBLOCK
SOCK_CLOEXEC = O_CLOEXEC

# Protocols and addresses (include/uapi/linux/in.h).  Addresses are host-order integers here:
# 127.0.0.1 is 0x7F000001, what ntohl(sin_addr.s_addr) gives.
IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_MPTCP = 262
IPPROTO_MAX = 263
SOL_IP = 0
SOL_SOCKET = 1
SOL_TCP = 6
INADDR_ANY = 0x00000000
INADDR_LOOPBACK = 0x7F000001
INADDR_BROADCAST = 0xFFFFFFFF
IN_LOOPBACKNET = 127  # the class A network 127.0.0.0/8, all of it local on lo

# SOL_SOCKET options (include/uapi/asm-generic/socket.h, which x86 uses).  i386 programs use
# the _OLD timeouts, which take a struct of two 32-bit words; SO_RCVTIMEO is SO_RCVTIMEO_OLD
# for them (with 32-bit time_t).
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_BSDCOMPAT = 14
SO_REUSEPORT = 15
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO_OLD = 20
SO_SNDTIMEO_OLD = 21
SO_RCVTIMEO = SO_RCVTIMEO_OLD
SO_SNDTIMEO = SO_SNDTIMEO_OLD
SO_BINDTODEVICE = 25
SO_ACCEPTCONN = 30
SO_PROTOCOL = 38
SO_DOMAIN = 39
SO_RCVTIMEO_NEW = 66
SO_SNDTIMEO_NEW = 67

# IPPROTO_TCP options (include/uapi/linux/tcp.h) and the limits tcp_sock_set_keep* enforce
# (include/net/tcp.h MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_CORK = 3
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_SYNCNT = 7
TCP_LINGER2 = 8
TCP_DEFER_ACCEPT = 9
TCP_WINDOW_CLAMP = 10
TCP_INFO = 11
TCP_QUICKACK = 12
TCP_CONGESTION = 13
TCP_FASTOPEN = 23
MAX_TCP_KEEPIDLE = 32767
MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127

# send/recv flags (include/linux/socket.h).
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000

# shutdown(2) how (include/linux/net.h), and the sk_shutdown bits it sets, how + 1
# (include/net/sock.h).
SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2
RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3

# listen(2) caps its backlog at net.core.somaxconn, 4096 since Linux 5.4 (SOMAXCONN,
# include/linux/socket.h).
SOMAXCONN = 4096

# Ports: binding below net.ipv4.ip_unprivileged_port_start (PROT_SOCK, include/net/sock.h)
# needs CAP_NET_BIND_SERVICE; ephemeral ports come from net.ipv4.ip_local_port_range
# (net/ipv4/af_inet.c inet_init_net).
PROT_SOCK = 1024
IP_LOCAL_PORT_RANGE = (32768, 60999)

# Socket buffer sizes (net/core/sock.c, include/net/sock.h, tcp_wmem/tcp_rmem defaults):
# SO_SNDBUF/SO_RCVBUF store twice the value asked for, capped by wmem_max/rmem_max and
# floored at SOCK_MIN_SNDBUF/SOCK_MIN_RCVBUF (these two as measured on x86-64 Linux).
SK_WMEM_MAX = 212992
SK_RMEM_MAX = 212992
SOCK_MIN_SNDBUF = 4608
SOCK_MIN_RCVBUF = 2304
TCP_WMEM_DEFAULT = 16384
TCP_RMEM_DEFAULT = 131072

# TCP timers, in seconds (include/net/tcp.h).  A SYN is retransmitted TCP_SYN_RETRIES times,
# the timeout doubling from TCP_TIMEOUT_INIT, so connect(2) gives up after 1+2+...+64 = 127 s
# with ETIMEDOUT.  TIME_WAIT lasts TCP_TIMEWAIT_LEN; an orphaned FIN_WAIT2 socket lasts
# net.ipv4.tcp_fin_timeout, TCP_FIN_TIMEOUT, the same 60 s.
TCP_TIMEOUT_INIT = 1
TCP_SYN_RETRIES = 6
TCP_TIMEWAIT_LEN = 60
TCP_FIN_TIMEOUT = TCP_TIMEWAIT_LEN
TCP_KEEPALIVE_TIME = 7200
TCP_KEEPALIVE_INTVL = 75
TCP_KEEPALIVE_PROBES = 9

# ---------------------------------------------------------------------------------------------
# File descriptors: RLIMIT_NOFILE is resource 7 (include/uapi/asm-generic/resource.h); a
# process starts with the soft limit INR_OPEN_CUR and the hard limit INR_OPEN_MAX
# (include/uapi/linux/fs.h), unless its parent raised them.
# ---------------------------------------------------------------------------------------------

RLIMIT_NOFILE = 7
INR_OPEN_CUR = 1024
INR_OPEN_MAX = 4096
STDIN_FILENO = 0
STDOUT_FILENO = 1
STDERR_FILENO = 2

# ---------------------------------------------------------------------------------------------
# Appended for harness/trace/, which prints these names where strace does (its xlat tables list them).
# ---------------------------------------------------------------------------------------------

# Every address family strace names (include/linux/socket.h, AF_UNSPEC .. AF_MCTP).
AF_AX25 = 3
AF_IPX = 4
AF_APPLETALK = 5
AF_NETROM = 6
AF_BRIDGE = 7
AF_ATMPVC = 8
AF_X25 = 9
AF_ROSE = 11
AF_DECnet = 12
AF_NETBEUI = 13
AF_SECURITY = 14
AF_KEY = 15
AF_ASH = 18
AF_ECONET = 19
AF_ATMSVC = 20
AF_RDS = 21
AF_SNA = 22
AF_IRDA = 23
AF_PPPOX = 24
AF_WANPIPE = 25
AF_LLC = 26
AF_IB = 27
AF_MPLS = 28
AF_CAN = 29
AF_TIPC = 30
AF_BLUETOOTH = 31
AF_IUCV = 32
AF_RXRPC = 33
AF_ISDN = 34
AF_PHONET = 35
AF_IEEE802154 = 36
AF_CAIF = 37
AF_ALG = 38
AF_NFC = 39
AF_VSOCK = 40
AF_KCM = 41
AF_QIPCRTR = 42
AF_SMC = 43
AF_XDP = 44
AF_MCTP = 45

# The rest of the IP protocol numbers (include/uapi/linux/in.h, in6.h).
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = 4
IPPROTO_EGP = 8
IPPROTO_PUP = 12
IPPROTO_IDP = 22
IPPROTO_TP = 29
IPPROTO_DCCP = 33
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_RSVP = 46
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_MTP = 92
IPPROTO_BEETPH = 94
IPPROTO_ENCAP = 98
IPPROTO_PIM = 103
IPPROTO_COMP = 108
IPPROTO_L2TP = 115
IPPROTO_SCTP = 132
IPPROTO_MH = 135
IPPROTO_UDPLITE = 136
IPPROTO_MPLS = 137
IPPROTO_ETHERNET = 143
IPPROTO_RAW = 255

# The rest of the socket option levels (include/linux/socket.h).
SOL_UDP = 17
SOL_IPV6 = 41
SOL_ICMPV6 = 58
SOL_CAN_BASE = 100
SOL_CAN_RAW = 101
SOL_SCTP = 132
SOL_UDPLITE = 136
SOL_RAW = 255
SOL_IPX = 256
SOL_AX25 = 257
SOL_ATALK = 258
SOL_NETROM = 259
SOL_ROSE = 260
SOL_DECNET = 261
SOL_X25 = 262
SOL_PACKET = 263
SOL_ATM = 264
SOL_AAL = 265
SOL_IRDA = 266
SOL_NETBEUI = 267
SOL_LLC = 268
SOL_DCCP = 269
SOL_NETLINK = 270
SOL_TIPC = 271
SOL_RXRPC = 272
SOL_PPPOL2TP = 273
SOL_BLUETOOTH = 274
SOL_PNPIPE = 275
SOL_RDS = 276
SOL_IUCV = 277
SOL_CAIF = 278
SOL_ALG = 279
SOL_NFC = 280
SOL_KCM = 281
SOL_TLS = 282
SOL_XDP = 283

# The rest of the SOL_SOCKET options (include/uapi/asm-generic/socket.h).  SO_GET_FILTER is
# getsockopt's name for SO_ATTACH_FILTER.
SO_SECURITY_AUTHENTICATION = 22
SO_SECURITY_ENCRYPTION_TRANSPORT = 23
SO_SECURITY_ENCRYPTION_NETWORK = 24
SO_DETACH_FILTER = 27
SO_PEERNAME = 28
SO_TIMESTAMP_OLD = 29
SO_PEERSEC = 31
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PASSSEC = 34
SO_TIMESTAMPNS_OLD = 35
SO_MARK = 36
SO_TIMESTAMPING_OLD = 37
SO_RXQ_OVFL = 40
SO_WIFI_STATUS = 41
SO_PEEK_OFF = 42
SO_NOFCS = 43
SO_LOCK_FILTER = 44
SO_SELECT_ERR_QUEUE = 45
SO_BUSY_POLL = 46
SO_MAX_PACING_RATE = 47
SO_BPF_EXTENSIONS = 48
SO_INCOMING_CPU = 49
SO_ATTACH_BPF = 50
SO_ATTACH_REUSEPORT_CBPF = 51
SO_ATTACH_REUSEPORT_EBPF = 52
SO_CNX_ADVICE = 53
SO_MEMINFO = 55
SO_INCOMING_NAPI_ID = 56
SO_COOKIE = 57
SO_PEERGROUPS = 59
SO_ZEROCOPY = 60
SO_TXTIME = 61
SO_BINDTOIFINDEX = 62
SO_TIMESTAMP_NEW = 63
SO_TIMESTAMPNS_NEW = 64
SO_TIMESTAMPING_NEW = 65
SO_DETACH_REUSEPORT_BPF = 68
SO_PREFER_BUSY_POLL = 69
SO_BUSY_POLL_BUDGET = 70
SO_NETNS_COOKIE = 71
SO_BUF_LOCK = 72
SO_RESERVE_MEM = 73
SO_TXREHASH = 74
SO_RCVMARK = 75
SO_ATTACH_FILTER = 26
SO_GET_FILTER = 26

# The rest of the IPPROTO_TCP options (include/uapi/linux/tcp.h).
TCP_MD5SIG = 14
TCP_COOKIE_TRANSACTIONS = 15
TCP_THIN_LINEAR_TIMEOUTS = 16
TCP_THIN_DUPACK = 17
TCP_USER_TIMEOUT = 18
TCP_REPAIR = 19
TCP_REPAIR_QUEUE = 20
TCP_QUEUE_SEQ = 21
TCP_REPAIR_OPTIONS = 22
TCP_TIMESTAMP = 24
TCP_NOTSENT_LOWAT = 25
TCP_CC_INFO = 26
TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
TCP_REPAIR_WINDOW = 29
TCP_FASTOPEN_CONNECT = 30
TCP_ULP = 31
TCP_MD5SIG_EXT = 32
TCP_FASTOPEN_KEY = 33
TCP_FASTOPEN_NO_COOKIE = 34
TCP_ZEROCOPY_RECEIVE = 35
TCP_INQ = 36
TCP_TX_DELAY = 37

# IPPROTO_IP options (include/uapi/linux/in.h).
IP_TOS = 1
IP_TTL = 2
IP_HDRINCL = 3
IP_OPTIONS = 4
IP_ROUTER_ALERT = 5
IP_RECVOPTS = 6
IP_RETOPTS = 7
IP_PKTINFO = 8
IP_PKTOPTIONS = 9
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_RECVTOS = 13
IP_MTU = 14
IP_FREEBIND = 15
IP_IPSEC_POLICY = 16
IP_XFRM_POLICY = 17
IP_PASSSEC = 18
IP_TRANSPARENT = 19
IP_ORIGDSTADDR = 20
IP_MINTTL = 21
IP_NODEFRAG = 22
IP_CHECKSUM = 23
IP_BIND_ADDRESS_NO_PORT = 24
IP_RECVFRAGSIZE = 25
IP_RECVERR_RFC4884 = 26
IP_MULTICAST_IF = 32
IP_MULTICAST_TTL = 33
IP_MULTICAST_LOOP = 34
IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
IP_UNBLOCK_SOURCE = 37
IP_BLOCK_SOURCE = 38
IP_ADD_SOURCE_MEMBERSHIP = 39
IP_DROP_SOURCE_MEMBERSHIP = 40
IP_MSFILTER = 41
MCAST_JOIN_GROUP = 42
MCAST_BLOCK_SOURCE = 43
MCAST_UNBLOCK_SOURCE = 44
MCAST_LEAVE_GROUP = 45
MCAST_JOIN_SOURCE_GROUP = 46
MCAST_LEAVE_SOURCE_GROUP = 47
MCAST_MSFILTER = 48
IP_MULTICAST_ALL = 49
IP_UNICAST_IF = 50

# IPPROTO_UDP options (include/uapi/linux/udp.h).
UDP_CORK = 1
UDP_ENCAP = 100
UDP_NO_CHECK6_TX = 101
UDP_NO_CHECK6_RX = 102
UDP_SEGMENT = 103
UDP_GRO = 104

# The rest of the send/recv flags (include/linux/socket.h).
MSG_CTRUNC = 0x8
MSG_PROBE = 0x10
MSG_FIN = 0x200
MSG_SYN = 0x400
MSG_CONFIRM = 0x800
MSG_RST = 0x1000
MSG_ERRQUEUE = 0x2000
MSG_WAITFORONE = 0x10000
MSG_SENDPAGE_NOTLAST = 0x20000
MSG_BATCH = 0x40000
MSG_NO_SHARED_FRAGS = 0x80000
MSG_ZEROCOPY = 0x4000000
MSG_FASTOPEN = 0x20000000
MSG_CMSG_CLOEXEC = 0x40000000
MSG_CMSG_COMPAT = 0x80000000

# siginfo si_code values (include/uapi/asm-generic/siginfo.h): who sent a signal, and for the
# fault signals why.  Codes <= 0 mean a process sent it (SI_FROMUSER).
SI_USER = 0
SI_KERNEL = 128
SI_QUEUE = -1
SI_TIMER = -2
SI_MESGQ = -3
SI_ASYNCIO = -4
SI_SIGIO = -5
SI_TKILL = -6
SI_DETHREAD = -7
SI_ASYNCNL = -60

SEGV_MAPERR = 1
SEGV_ACCERR = 2
SEGV_BNDERR = 3
SEGV_PKUERR = 4
SEGV_ACCADI = 5
SEGV_ADIDERR = 6
SEGV_ADIPERR = 7
SEGV_MTEAERR = 8
SEGV_MTESERR = 9

ILL_ILLOPC = 1
ILL_ILLOPN = 2
ILL_ILLADR = 3
ILL_ILLTRP = 4
ILL_PRVOPC = 5
ILL_PRVREG = 6
ILL_COPROC = 7
ILL_BADSTK = 8

FPE_INTDIV = 1
FPE_INTOVF = 2
FPE_FLTDIV = 3
FPE_FLTOVF = 4
FPE_FLTUND = 5
FPE_FLTRES = 6
FPE_FLTINV = 7
FPE_FLTSUB = 8
FPE_FLTUNK = 14
FPE_CONDTRAP = 15

BUS_ADRALN = 1
BUS_ADRERR = 2
BUS_OBJERR = 3
BUS_MCEERR_AR = 4
BUS_MCEERR_AO = 5

TRAP_BRKPT = 1
TRAP_TRACE = 2
TRAP_BRANCH = 3
TRAP_HWBKPT = 4
TRAP_UNK = 5
TRAP_PERF = 6

# Signal dispositions and sigprocmask(2) operations (include/uapi/asm-generic/signal-defs.h);
# SIG_ERR is (void (*)(int)) -1.
SIG_DFL = 0
SIG_IGN = 1
SIG_ERR = 0xFFFFFFFF
SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2
NSIG_BYTES = NSIG // 8  # the kernel's sigset_t: 64 bits, what rt_sigprocmask's sigsetsize must be

# sigaction sa_flags (include/uapi/asm-generic/signal-defs.h, arch/x86/include/uapi/asm/signal.h
# for SA_RESTORER).  SA_INTERRUPT is glibc's historical no-op (bits/sigaction.h); strace names it.
SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_UNSUPPORTED = 0x00000400
SA_EXPOSE_TAGBITS = 0x00000800
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_INTERRUPT = 0x20000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
SA_NOMASK = SA_NODEFER
SA_ONESHOT = SA_RESETHAND

# A syscall's return value is an error when it lies in [-MAX_ERRNO, -1] (include/linux/err.h).
MAX_ERRNO = 4095

# Kernel-internal errno values (include/linux/errno.h).  User space never sees them as errno,
# but a tracer does: a syscall interrupted by a signal returns ERESTARTSYS and friends in eax
# until the kernel restarts it or turns it into EINTR.
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ENOIOCTLCMD = 515
ERESTART_RESTARTBLOCK = 516
EPROBE_DEFER = 517
EOPENSTALE = 518
EBADHANDLE = 521
ENOTSYNC = 522
EBADCOOKIE = 523
ENOTSUPP = 524
ETOOSMALL = 525
ESERVERFAULT = 526
EBADTYPE = 527
EJUKEBOX = 528
EIOCBQUEUED = 529
ERECALLCONFLICT = 530

KERNEL_ERRNO_NAMES: dict[int, str] = {
    value: name for name, value in list(globals().items())
    if name[0] == "E" and name.isupper() and isinstance(value, int) and 512 <= value <= MAX_ERRNO
}
"""Kernel-internal errno (512 and up) -> name; ERRNO_NAMES holds only what user space sees."""

# ---------------------------------------------------------------------------------------------
# Thread-local storage: set_thread_area(2) fills one of three GDT slots.  For a 32-bit
# process on a 64-bit kernel they are entries 12..14 (arch/x86/include/asm/segment.h,
# GDT_ENTRY_TLS_MIN under CONFIG_X86_64); a selector is entry * 8 + 3 (RPL 3).
# ---------------------------------------------------------------------------------------------

GDT_ENTRY_TLS_MIN = 12
GDT_ENTRY_TLS_ENTRIES = 3

# The flat user segments of a 32-bit task on a 64-bit kernel (arch/x86/include/asm/segment.h,
# CONFIG_X86_64): GDT_ENTRY_DEFAULT_USER32_CS is 4 and GDT_ENTRY_DEFAULT_USER_DS 5, so the
# selectors a compat process runs with are __USER32_CS = 0x23 and __USER_DS = 0x2b.
GDT_ENTRY_DEFAULT_USER32_CS = 4
GDT_ENTRY_DEFAULT_USER_DS = 5
GDT_ENTRY_KERNEL_DS = 3
GDT_ENTRIES = 16
KERNEL_DS = GDT_ENTRY_KERNEL_DS * 8
USER32_CS = GDT_ENTRY_DEFAULT_USER32_CS * 8 + 3
USER_DS = GDT_ENTRY_DEFAULT_USER_DS * 8 + 3

# include/uapi/linux/limits.h: the longest path getname() copies, NUL included.
PATH_MAX = 4096

# --- memory: mmap, mprotect, mremap (added with the memory calls) -----------------------------

# include/uapi/asm-generic/mman-common.h, mman.h and linux/mman.h, as i386 has them.
PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_DROPPABLE = 0x08
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40
MAP_ABOVE4G = 0x80
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_FILE = 0
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000
MAP_HUGE_SHIFT = 26
MAP_HUGE_MASK = 0x3F
#: The flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK in include/linux/mman.h).
LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE
                   | MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED
                   | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB)

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_DONTDUMP = 16
MADV_DODUMP = 17
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_DONTNEED_LOCKED = 24
MADV_COLLAPSE = 25
MADV_HWPOISON = 100
MADV_SOFT_OFFLINE = 101
MADV_GUARD_INSTALL = 102
MADV_GUARD_REMOVE = 103

# The layout of a 32-bit process on a 64-bit kernel, address randomisation off.
#: stack_guard_gap (mm/mmap.c): 256 pages kept free below a VM_GROWSDOWN mapping.
STACK_GUARD_GAP = 256 << 12
#: mmap_base() (arch/x86/mm/mmap.c): TASK_SIZE less a gap of RLIMIT_STACK (8 MiB) plus
#: stack_guard_gap, clamped to at least SIZE_128M: 0xFFFFE000 - 128 MiB.
MMAP_BASE = 0xFFFFE000 - (128 << 20)
#: mmap_legacy_base for a compat task: __TASK_UNMAPPED_BASE(IA32_PAGE_OFFSET), the
#: bottom-up search's start when the top-down one finds no room.
TASK_UNMAPPED_BASE = (0xFFFFE000 // 3 + 0xFFF) & ~0xFFF
#: What Linux 6.18 maps below mmap_base at exec (map_vdso): [vvar] 4 pages,
#: [vvar_vclock] 2 and [vdso] 2, the highest 8 pages under MMAP_BASE.
VDSO_SIZE = 8 << 12


# --- signals: sigaction flags, frames (added with signal delivery) ----------------------------

# sigaltstack(2) (include/uapi/linux/signal.h, arch/x86/include/uapi/asm/signal.h): ss_flags,
# and the smallest stack a 32-bit task may install (COMPAT_MINSIGSTKSZ, asm/signal.h).
SS_ONSTACK = 1
SS_DISABLE = 2
SS_AUTODISARM = 1 << 31
SS_FLAG_BITS = SS_AUTODISARM
MINSIGSTKSZ = 2048

# The eflags bits a signal handler's frame may change on sigreturn (FIX_EFLAGS in
# arch/x86/kernel/signal_32.c) and those handle_signal clears for the handler
# (arch/x86/kernel/signal.c); arch/x86/include/uapi/asm/processor-flags.h.
X86_EFLAGS_CF = 0x00000001
X86_EFLAGS_PF = 0x00000004
X86_EFLAGS_AF = 0x00000010
X86_EFLAGS_ZF = 0x00000040
X86_EFLAGS_SF = 0x00000080
X86_EFLAGS_TF = 0x00000100
X86_EFLAGS_DF = 0x00000400
X86_EFLAGS_OF = 0x00000800
X86_EFLAGS_RF = 0x00010000
X86_EFLAGS_AC = 0x00040000
FIX_EFLAGS = (X86_EFLAGS_AC | X86_EFLAGS_OF | X86_EFLAGS_DF | X86_EFLAGS_TF | X86_EFLAGS_SF
              | X86_EFLAGS_ZF | X86_EFLAGS_AF | X86_EFLAGS_PF | X86_EFLAGS_CF | X86_EFLAGS_RF)

# ucontext uc_flags (arch/x86/include/uapi/asm/ucontext.h): set by ia32_setup_rt_frame only
# when the CPU has XSAVE.
UC_FP_XSTATE = 0x1

# The signals whose default action dumps core (sig_kernel_coredump, include/linux/signal.h)
# and those that stop the process (sig_kernel_stop); synchronous ones are dequeued first
# (SYNCHRONOUS_MASK, kernel/signal.c).
SIG_COREDUMP = frozenset({SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGSEGV, SIGBUS, SIGSYS,
                          SIGXCPU, SIGXFSZ})
SIG_STOP = frozenset({SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
SIG_SYNCHRONOUS = frozenset({SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS})


# --- process, identity, time and files (added with those calls) -------------------------------


# utsname (include/uapi/linux/utsname.h): struct new_utsname is six __NEW_UTS_LEN + 1 fields.
NEW_UTS_LEN = 64

# struct iovec arrays (include/uapi/linux/uio.h): at most UIO_MAXIOV entries per call.
UIO_MAXIOV = 1024

# Resource limits (include/uapi/asm-generic/resource.h; RLIMIT_NOFILE is above, with the
# fd table).  RLIM_INFINITY is ~0 of the ABI's rlim_t; the old getrlimit(2) of i386 clamps
# it to 0x7fffffff (COMPAT_RLIM_OLD_INFINITY, kernel/sys.c).
RLIMIT_CPU = 0
RLIMIT_FSIZE = 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_CORE = 4
RLIMIT_RSS = 5
RLIMIT_NPROC = 6
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_LOCKS = 10
RLIMIT_SIGPENDING = 11
RLIMIT_MSGQUEUE = 12
RLIMIT_NICE = 13
RLIMIT_RTPRIO = 14
RLIMIT_RTTIME = 15
RLIM_NLIMITS = 16
RLIM64_INFINITY = 0xFFFFFFFFFFFFFFFF
RLIM_INFINITY = 0xFFFFFFFF
COMPAT_RLIM_OLD_INFINITY = 0x7FFFFFFF

# getrandom(2) flags (include/uapi/linux/random.h).
GRND_NONBLOCK = 0x0001
GRND_RANDOM = 0x0002
GRND_INSECURE = 0x0004

# Clocks (include/uapi/linux/time.h).  A negative id is a CPU clock of a pid or thread
# (include/linux/posix-timers.h): CPUCLOCK_PID(id) = ~(id >> 3), bit 2 per-thread, bits 0-1
# the kind; the kind 3 is CLOCKFD (a dynamic clock from an fd).
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_SGI_CYCLE = 10
CLOCK_TAI = 11
CPUCLOCK_PROF = 0
CPUCLOCK_VIRT = 1
CPUCLOCK_SCHED = 2
CPUCLOCK_PERTHREAD_MASK = 4
CLOCKFD = 3
CLOCKFD_MASK = 7
NSEC_PER_SEC = 1_000_000_000

# ioctl requests (include/uapi/asm-generic/ioctls.h; x86 uses the generic numbers).
TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TCGETA = 0x5405
TCSETA = 0x5406
TCSETAW = 0x5407
TCSETAF = 0x5408
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIOASYNC = 0x5452
TIOCGPTN = 0x80045430

# fcntl(2) commands and file status flags (include/uapi/asm-generic/fcntl.h, the i386 values:
# O_LARGEFILE is 0100000 there, O_DIRECT 040000).
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_SETOWN = 8
F_GETOWN = 9
F_SETSIG = 10
F_GETSIG = 11
F_GETLK64 = 12
F_SETLK64 = 13
F_SETLKW64 = 14
F_SETOWN_EX = 15
F_GETOWN_EX = 16
F_GETOWNER_UIDS = 17
F_OFD_GETLK = 36
F_OFD_SETLK = 37
F_OFD_SETLKW = 38
F_SETLEASE = 1024
F_GETLEASE = 1025
F_NOTIFY = 1026
F_CANCELLK = 1029
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
F_ADD_SEALS = 1033
F_GET_SEALS = 1034
FD_CLOEXEC = 1
O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2
O_ACCMODE = 3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_DSYNC = 0o10000
FASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_PATH = 0o10000000
__O_SYNC = 0o4000000
O_SYNC = __O_SYNC | O_DSYNC
__O_TMPFILE = 0o20000000
O_TMPFILE = __O_TMPFILE | O_DIRECTORY
# What F_SETFL may change (SETFL_MASK, fs/fcntl.c).
SETFL_MASK = O_APPEND | O_NONBLOCK | FASYNC | O_DIRECT | O_NOATIME

# File types and the *at() flags (include/uapi/linux/stat.h, include/uapi/linux/fcntl.h).
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000
AT_STATX_SYNC_AS_STAT = 0x0000
AT_STATX_FORCE_SYNC = 0x2000
AT_STATX_DONT_SYNC = 0x4000
AT_RECURSIVE = 0x8000
AT_EACCESS = 0x200

# statx(2) (include/uapi/linux/stat.h).
STATX_TYPE = 0x0001
STATX_MODE = 0x0002
STATX_NLINK = 0x0004
STATX_UID = 0x0008
STATX_GID = 0x0010
STATX_ATIME = 0x0020
STATX_MTIME = 0x0040
STATX_CTIME = 0x0080
STATX_INO = 0x0100
STATX_SIZE = 0x0200
STATX_BLOCKS = 0x0400
STATX_BASIC_STATS = 0x07FF
STATX_BTIME = 0x0800
STATX_MNT_ID = 0x1000
STATX_DIOALIGN = 0x2000
STATX_ALL = 0x0FFF
STATX__RESERVED = 0x80000000
STATX_ATTR_COMPRESSED = 0x00000004
STATX_ATTR_IMMUTABLE = 0x00000010
STATX_ATTR_APPEND = 0x00000020
STATX_ATTR_NODUMP = 0x00000040
STATX_ATTR_ENCRYPTED = 0x00000800
STATX_ATTR_AUTOMOUNT = 0x00001000
STATX_ATTR_MOUNT_ROOT = 0x00002000
STATX_ATTR_VERITY = 0x00100000
STATX_ATTR_DAX = 0x00200000

# prctl(2) options (include/uapi/linux/prctl.h) and the task name's size (include/linux/sched.h).
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
SUID_DUMP_DISABLE = 0
SUID_DUMP_USER = 1
TASK_COMM_LEN = 16

# ---------------------------------------------------------------------------------------------
# Readiness: poll(2) events (include/uapi/asm-generic/poll.h, which x86 uses), select(2)'s
# fd_set size (include/uapi/linux/posix_types.h) and epoll(7) (include/uapi/linux/eventpoll.h).
# ---------------------------------------------------------------------------------------------
POLLIN = 0x0001
POLLPRI = 0x0002
POLLOUT = 0x0004
POLLERR = 0x0008
POLLHUP = 0x0010
POLLNVAL = 0x0020
POLLRDNORM = 0x0040
POLLRDBAND = 0x0080
POLLWRNORM = 0x0100
POLLWRBAND = 0x0200
POLLMSG = 0x0400
POLLREMOVE = 0x1000
POLLRDHUP = 0x2000
#: What a file that cannot wait is (DEFAULT_POLLMASK, include/linux/poll.h): always ready.
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
__FD_SETSIZE = 1024
EPOLL_CLOEXEC = O_CLOEXEC
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
#: ep_max_events: the most events one epoll_wait may ask for.
EP_MAX_EVENTS = 0x7FFFFFFF // 12

# --- The read-only file tree (issue 10, part 3) -----------------------------------------------
# lseek(2) whence (include/uapi/linux/fs.h), access(2) modes (include/linux/fcntl.h).
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4
F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4
# linux_dirent64's d_type (include/linux/fs_types.h): the S_IFMT bits >> 12.
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12
# path limits (include/uapi/linux/limits.h, include/linux/namei.h)
NAME_MAX = 255
MAXSYMLINKS = 40

# eventfd(2) flags (include/linux/eventfd.h): EFD_CLOEXEC and EFD_NONBLOCK are the O_ flags.
EFD_SEMAPHORE = 1
EFD_CLOEXEC = O_CLOEXEC
EFD_NONBLOCK = O_NONBLOCK
# An anonymous inode (fs/anon_inodes.c: epoll, eventfd): one inode for all, mode 0600 with no
# type bits, on the anon_inodefs device, as on the kernel the tests ran on.
ANON_INODE_DEV = (0, 16)
ANON_INODE_INO = 26

# ---------------------------------------------------------------- processes (issue 10, item 1)
# SIGCHLD's si_code (include/uapi/asm-generic/siginfo.h).
CLD_EXITED = 1
CLD_KILLED = 2
# clone(2) flags (include/uapi/linux/sched.h), in strace's order; the low byte is the signal
# the child sends its parent when it exits (CSIGNAL).
CSIGNAL = 0x000000FF
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
# wait4(2) options (include/uapi/linux/wait.h).
WNOHANG = 0x00000001
WUNTRACED = 0x00000002
WSTOPPED = WUNTRACED
WEXITED = 0x00000004
WCONTINUED = 0x00000008
WNOWAIT = 0x01000000
__WNOTHREAD = 0x20000000
__WALL = 0x40000000
__WCLONE = 0x80000000
# SIGCHLD's other si_codes.
CLD_DUMPED = 3
CLD_TRAPPED = 4
CLD_STOPPED = 5
CLD_CONTINUED = 6
# waitid(2)'s idtype (include/uapi/linux/wait.h).
P_ALL = 0
P_PID = 1
P_PGID = 2
P_PIDFD = 3


# Interval timers (include/uapi/linux/time.h): setitimer(2)'s ``which``.
ITIMER_REAL = 0
ITIMER_VIRTUAL = 1
ITIMER_PROF = 2
