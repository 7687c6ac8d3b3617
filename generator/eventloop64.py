"""The server program for x86-64: :mod:`generator.eventloop`'s event loop, instruction for
instruction where the architectures agree, one Python line per machine instruction.

The behaviour is the i386 program's, byte for byte on the wire (its docstring describes
it: the routing, keep-alive, pipelining, the three deadlines, draining, the accept4 pause,
max-connections, workers); the data (responses, route table, names) comes from the same
:func:`generator.program_data.program_data`.  What x86-64 changes:

- **the system call** (arch/x86/entry/entry_64.S): ``syscall``, with its own numbers
  (:class:`generator.linux.x86_64`, from syscall_64.tbl), the arguments in rdi, rsi, rdx,
  r10, r8, r9, and rcx and r11 clobbered (rip and rflags are saved there).  ``syscall`` is
  already the fast entry, so there is no vDSO to look for, as the i386 program does for
  ``__kernel_vsyscall``.  The fd of the connection at hand stays in ebx, as on i386, and
  the slot in rdi: a call that takes the fd first saves rdi around ``mov edi, ebx``;
- **no signal(2)**: SIGPIPE is ignored with ``rt_sigaction(SIGPIPE, &act, NULL, 8)``,
  ``act`` being the kernel's struct sigaction for x86-64 (include/linux/signal_types.h,
  ``struct sigaction`` without __ARCH_HAS_IRIX_SIGACTION): handler, flags, restorer, mask,
  8 bytes each; no SA_RESTORER is needed for SIG_IGN, which is never delivered;
- **getrlimit** (97) takes 64-bit limits already (i386 needs ugetrlimit);
- **struct layouts**: ``struct timespec`` and ``struct iovec`` are two 8-byte fields each
  (16 bytes); ``struct epoll_event`` is packed to 12 bytes, as on i386
  (include/uapi/linux/eventpoll.h, EPOLL_PACKED on x86-64); the slot's three iovecs take
  48 bytes, so its state moves to offset 56 (the slot is 64 bytes either way);
- **sched_getaffinity** wants a length that is a multiple of sizeof(long) (kernel/sched/
  core.c): 120 bytes of mask, up to 960 CPUs;
- **addresses**: the image and its bss lie below 4 GiB (base 0x400000), so a 32-bit
  register holds a pointer into them and ``mov esi, label`` (which zero-extends) loads
  one; memory is addressed through the 64-bit registers ([rdi + 8]), which need no
  address-size prefix; the stack lies above 4 GiB and is addressed through rsp only.
  A pointer stored in a struct (an iovec's base) is written as its low dword: the high
  one is zero in bss and never written.  ``inc``/``dec`` of a register take two bytes
  here (40..4F are REX prefixes); ``jrcxz`` replaces ``jecxz`` where rcx was last written
  as ecx (a 32-bit write clears the upper half).
"""

from __future__ import annotations

import struct

from . import elf
from .errors import ConfigError
from .program_data import (
    ACCEPT_BACKOFF_NS, FIRST_CLIENT_FD, HEAD, HTTP_10, IOVECS, MAX_EVENTS, OTHER, SLOT_SHIFT,
    WAIT_MS, C, D, W, program_data,
)
from .linux import (
    AF_INET, CLOCK_MONOTONIC, EAGAIN, ECONNABORTED, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL,
    EPOLL_CTL_MOD, EPOLLEXCLUSIVE, EPOLLIN, EPOLLOUT, RLIMIT_NOFILE, SHUT_WR, SIG_IGN, SIGPIPE,
    SO_REUSEADDR, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, STDERR_FILENO,
)
from .linux import x86_64 as sys64
from .site import CONNECTION_CLOSE, Site
from .x86 import (
    AL, DL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, R8, R10, R10D, RAX, RBP, RBX, RCX, RDI, RDX, RSI,
    RSP, Assembler, Label, Mem, byte, dword, qword, rip,
)

# The slot of a connection (64 bytes, as on i386): three 16-byte iovecs push the state to 56.
DEADLINE, HAVE, IOV, STATE = 0, 4, 8, 56
IOV_LEN = 8                       # iov_len's offset in a struct iovec
IOV_SIZE = 16
#: Offsets in the block of variables: listen_fd, epfd, now, paused, swept, timespec (16
#: bytes here), event (a packed struct epoll_event), the request being parsed: its first
#: byte, the byte after its head, how many bytes follow its head.
_OFFSETS = (0, 4, 8, 12, 16, 20, 36, 48, 52, 56)
GLOBALS = 60
#: The mask sched_getaffinity fills: a multiple of sizeof(long), which x86-64's requires.
AFFINITY_BYTES = 120


def assemble(site: Site, config) -> tuple[Assembler, Label]:
    """The x86-64 event-loop program for ``site`` under ``config`` (a ServerConfig)."""
    a = Assembler(bits=64)
    bufsize = config.buffer_size
    stride_shift = max(bufsize - 1, 1).bit_length()   # each slot's buffer: a power of two
    max_fd = config.max_connections + FIRST_CLIENT_FD
    close_len = len(CONNECTION_CLOSE)

    # ------------------------------------------------------------------ data
    d = program_data(a, site, config, struct.pack("<qq", 0, ACCEPT_BACKOFF_NS))
    routes, http_1, http_scheme, connection = d.routes, d.http_1, d.http_scheme, d.connection
    not_allowed_entry, bad_request_entry, too_large_entry = (
        d.not_allowed_entry, d.bad_request_entry, d.too_large_entry)
    keep_alive_line, backoff, sockaddr, name, failed, banner = (
        d.keep_alive_line, d.backoff, d.sockaddr, d.name, d.failed, d.banner)

    # ------------------------------------------------------------------ bss
    # The worker's variables, in one block: from the loop on, rbp holds its address, so an
    # access is [rbp + disp8] (3 bytes).
    block = a.reserve(GLOBALS, "globals")
    listen_fd = block
    r_listen_fd, r_epfd, r_now, r_paused, r_swept, r_timespec, r_event, r_cur_start, \
        r_cur_end, r_cur_left = (RBP + offset for offset in _OFFSETS)
    events = a.reserve(12 * MAX_EVENTS, "events")
    errline = a.reserve(64, "errline")
    shared = a.reserve(bufsize + 16, "shared")  # +16: the header scan may look 4 bytes past
    slots = a.reserve(max_fd << SLOT_SHIFT, "slots")
    bufs = a.reserve((max_fd << stride_shift) + 16, "bufs")

    L = a.label
    start, die, digits, emit, serve = L("_start"), L("die"), L("digits"), L("emit"), L("serve")
    loop, no_sweep, next_event, sweep, sweep_next, sweep_skip = (
        L("loop"), L("no_sweep"), L("next_event"), L("sweep"), L("sweep_next"), L("sweep_skip"))
    slot_of, buf_of, ctl, close_conn = L("slot_of"), L("buf_of"), L("ctl"), L("close_conn")
    watch_listener = L("watch_listener")
    accept_all, accept_failed, refuse, handle, not_listener = (
        L("accept_all"), L("accept_failed"), L("refuse"), L("handle"), L("not_listener"))
    read_in, read_at, got, eof, drain, process, done = (
        L("read_in"), L("read_at"), L("got"), L("eof"), L("drain"), L("process"), L("done"))
    next_lf, incomplete, complete, lf_lf, keep_partial = (
        L("next_lf"), L("incomplete"), L("complete"), L("lf_lf"), L("keep_partial"))
    origin_form, authority, authority_end = L("origin_form"), L("authority"), L("authority_end")
    not_get, other_method, method_letter, target = (
        L("not_get"), L("other_method"), L("method_letter"), L("target"))
    path_char, path_end, skip_query, version, line_ok = (
        L("path_char"), L("path_end"), L("skip_query"), L("version"), L("line_ok"))
    header_line, header_name, header_space, headers_done = (
        L("header_line"), L("header_name"), L("header_space"), L("headers_done"))
    next_route, skip_route, found = L("next_route"), L("skip_route"), L("found")
    not_allowed, bad_request, respond, keep_alive, store = (
        L("not_allowed"), L("bad_request"), L("respond"), L("keep_alive"), L("store"))
    write_out, write_failed, wait_out, written = (
        L("write_out"), L("write_failed"), L("wait_out"), L("written"))
    resume, deadline_set = L("resume"), L("deadline_set")

    # ------------------------------------------------------------------ setup
    a.bind(start)                 # rt_sigaction(SIGPIPE, &act, NULL, 8): a reset peer must
    a.mov(ESI, errline)           #   not kill us.  act: the kernel's struct sigaction,
    a.mov(byte[RSI], SIG_IGN)     #   handler, flags, restorer, mask, 8 bytes each (kernel/
    a.push(sys64.SYS_rt_sigaction)  # signal.c, do_sigaction), in errline's bytes, zero
    a.pop(RAX)                    #   until then but for the handler, SIG_IGN
    a.push(SIGPIPE)
    a.pop(RDI)
    a.xor(EDX, EDX)
    a.push(8)                     # sizeof(sigset_t): the kernel's, 64 signals
    a.pop(R10)
    a.syscall()

    a.push(sys64.SYS_getrlimit)   # getrlimit(RLIMIT_NOFILE, &lim), then setrlimit with the
    a.pop(RAX)                    #   soft limit raised to the hard one: the 1,024 fds a
    a.push(RLIMIT_NOFILE)         #   process starts with would run out before the table of
    a.pop(RDI)                    #   connections does (max_connections + 5 fds); lim (two
    a.syscall()                   #   64-bit limits) goes where act was (rsi, kept)
    a.test(EAX, EAX)              # (a failure leaves the limit as it was)
    a.j("nz", no_raise := L("no_raise"))
    a.mov(RAX, qword[RSI + 8])
    a.mov(qword[RSI], RAX)
    a.mov(EAX, sys64.SYS_setrlimit)  # setrlimit(RLIMIT_NOFILE, &lim)
    a.syscall()
    a.bind(no_raise)

    a.mov(EBP, name["socket"])
    a.push(sys64.SYS_socket)      # socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
    a.pop(RAX)
    a.push(AF_INET)
    a.pop(RDI)
    a.mov(ESI, SOCK_STREAM | SOCK_NONBLOCK)
    a.cdq()
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", die)
    a.xchg(EAX, EDI)              # edi = the listening socket, the setup calls' first argument

    a.add(EBP, 7)                 # ebp -> "setsockopt", the next name
    a.push(sys64.SYS_setsockopt)  # setsockopt(edi, SOL_SOCKET, SO_REUSEADDR, &1, 4)
    a.pop(RAX)
    a.push(SOL_SOCKET)
    a.pop(RSI)
    a.push(SO_REUSEADDR)
    a.pop(RDX)
    a.push(1)
    a.mov(R10, RSP)
    a.push(4)
    a.pop(R8)
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", die)

    a.add(EBP, 11)                # ebp -> "bind", the next name
    a.push(sys64.SYS_bind)        # bind(edi, &sockaddr, sizeof sockaddr)
    a.pop(RAX)
    a.mov(ESI, sockaddr)
    a.push(16)
    a.pop(RDX)
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", die)

    a.add(EBP, 5)                 # ebp -> "listen", the next name
    a.push(sys64.SYS_listen)      # listen(edi, backlog)
    a.pop(RAX)
    if config.backlog < 128:
        a.push(config.backlog)
        a.pop(RSI)
    else:
        a.mov(ESI, config.backlog)
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", die)
    a.mov(dword[rip(listen_fd)], EDI)
    a.push(sys64.SYS_write)       # write(2, banner, its length): where to point a browser
    a.pop(RAX)                    #   (whatever it returns: a closed stderr is no failure)
    a.push(STDERR_FILENO)
    a.pop(RDI)
    a.mov(ESI, http_scheme)
    a.push(len(banner))
    a.pop(RDX)
    a.syscall()

    workers = config.workers
    supervise = L("supervise") if workers != 1 else None
    if workers == "auto":         # sched_getaffinity(0, AFFINITY_BYTES, shared): the CPUs
        a.mov(EAX, sys64.SYS_sched_getaffinity)  # this process may run on, one bit each
        a.xor(EDI, EDI)
        a.push(AFFINITY_BYTES)
        a.pop(RSI)
        a.mov(EDX, shared)
        a.syscall()
        a.xchg(EAX, ECX)          # ecx = bytes of mask (a failure: no bytes, one worker)
        a.mov(ESI, shared)
        a.xor(EBX, EBX)           # ebx = the number of bits set
        count_byte, count_bit, counted = L("count_byte"), L("count_bit"), L("counted")
        a.bind(count_byte)
        a.test(ECX, ECX)
        a.j("le", counted)
        a.lodsb()
        a.bind(count_bit)
        a.shr(AL, 1)
        a.adc(EBX, 0)
        a.test(AL, AL)
        a.j("nz", count_bit)
        a.dec(ECX)
        a.jmp(count_byte)
        a.bind(counted)
    elif workers != 1:
        a.mov(EBX, workers)
    if workers != 1:
        a.cmp(EBX, 1)
        a.j("be", serve)          # one worker: this process serves
    a.jmp(supervise if workers != 1 else serve)

    # ------------------------------------------------------------------ die
    a.bind(ctl_die := L("ctl_die"))  # the listener's epoll_ctl failed (ebp: the variables)
    a.mov(EBP, name["epoll_ctl"])
    a.bind(die)                   # eax = -errno, ebp = the name of the call that failed
    a.neg(EAX)
    a.mov(EDI, errline)
    a.mov(ESI, EBP)
    a.movzx(ECX, byte[RSI])
    a.inc(ESI)
    a.rep_movsb()
    a.mov(ESI, failed)
    a.movzx(ECX, byte[RSI])
    a.inc(ESI)
    a.rep_movsb()
    a.xor(ECX, ECX)
    a.push(10)
    a.pop(RBX)
    a.bind(digits)
    a.xor(EDX, EDX)
    a.div(EBX)
    a.push(RDX)
    a.inc(ECX)
    a.test(EAX, EAX)
    a.j("nz", digits)
    a.bind(emit)
    a.pop(RAX)
    a.add(AL, ord("0"))
    a.stosb()
    a.dec(ECX)
    a.j("nz", emit)
    a.mov(AL, ord("\n"))
    a.stosb()
    a.mov(ESI, errline)
    a.mov(EDX, EDI)
    a.sub(EDX, ESI)
    a.push(sys64.SYS_write)       # write(2, errline, edx): the whole line at once
    a.pop(RAX)
    a.push(STDERR_FILENO)
    a.pop(RDI)
    a.syscall()
    a.push(sys64.SYS_exit)        # exit(1)
    a.pop(RAX)
    a.dec(EDI)                    # (edi was 2)
    a.syscall()

    # ------------------------------------------------------------------ the supervisor
    if workers != 1:  # one worker needs no supervisor, so the program holds none
        fork_one, reap, fork_later = L("fork_one"), L("reap"), L("fork_later")
        a.bind(supervise)             # ebx = workers still to start
        a.bind(fork_one)
        a.push(sys64.SYS_fork)        # fork(): the child serves, the parent starts the next
        a.pop(RAX)
        a.syscall()
        a.test(EAX, EAX)
        a.j("z", serve)
        a.j("s", fork_later)          # EAGAIN, ENOMEM: try again in a while
        a.dec(EBX)
        a.j("nz", fork_one)
        a.bind(reap)
        a.push(sys64.SYS_wait4)       # wait4(-1, NULL, 0, NULL): a worker ended
        a.pop(RAX)
        a.or_(EDI, -1)                # (pid_t is an int: the low half of rdi)
        a.xor(ESI, ESI)
        a.cdq()
        a.xor(R10D, R10D)
        a.syscall()
        a.test(EAX, EAX)
        a.j("s", reap)
        a.inc(EBX)                    # one more to start
        a.bind(fork_later)
        a.push(sys64.SYS_nanosleep)   # nanosleep(&backoff, NULL), so a worker that cannot
        a.pop(RAX)                    #   start is no fork loop
        a.mov(EDI, backoff)
        a.xor(ESI, ESI)
        a.syscall()
        a.jmp(fork_one)

    # ------------------------------------------------------------------ a worker
    a.bind(serve)
    a.add(EBP, 7)                 # ebp -> "epoll_create1", the next name
    a.mov(EAX, sys64.SYS_epoll_create1)  # epoll_create1(0)
    a.xor(EDI, EDI)
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", die)
    a.mov(EBP, block)             # rbp -> the variables, from here on
    a.mov(dword[r_epfd], EAX)
    a.call(watch_listener)
    a.test(EAX, EAX)
    a.j("s", ctl_die)

    a.bind(loop)
    a.mov(EAX, sys64.SYS_epoll_wait)  # epoll_wait(epfd, events, MAX_EVENTS, WAIT_MS)
    a.mov(EDI, dword[r_epfd])
    a.mov(ESI, events)
    a.push(MAX_EVENTS)
    a.pop(RDX)
    a.mov(R10D, WAIT_MS)
    a.syscall()
    a.push(RAX)                   # ready fds (negative: EINTR, none)
    a.mov(EAX, sys64.SYS_clock_gettime)  # clock_gettime(CLOCK_MONOTONIC, &timespec)
    a.push(CLOCK_MONOTONIC)
    a.pop(RDI)
    a.lea(ESI, r_timespec)
    a.syscall()
    a.pop(RDI)                    # edi = ready fds
    a.test(EAX, EAX)              # a failed read keeps the last second and sweeps nothing;
    a.j("z", clock_read := L("clock_read"))  # before the first there is none: then the
    a.mov(ECX, dword[r_now])      #   turn's events wait for the next turn (epoll reports
    a.jrcxz(loop)                 #   them again: level-triggered), so no deadline is set
    a.jmp(no_sweep)               #   from a second that was never read
    a.bind(clock_read)
    a.mov(EAX, dword[r_timespec])
    a.mov(dword[r_now], EAX)
    a.cmp(EAX, dword[r_swept])
    a.j("e", no_sweep)
    a.xchg(dword[r_swept], EAX)   # a new second: close what has outlived its deadline --
    a.test(EAX, EAX)              #   unless it is the first second read, before which no
    a.j("z", no_sweep)            #   connection can have been accepted (1,029 empty slots)
    a.push(RDI)
    a.call(sweep)
    a.pop(RDI)
    a.bind(no_sweep)
    a.mov(ESI, events)
    a.bind(next_event)
    a.dec(EDI)
    a.j("s", loop)
    a.mov(EBX, dword[RSI + 4])    # the fd, from the event's data
    a.push(RSI)
    a.push(RDI)
    a.cmp(EBX, dword[r_listen_fd])
    a.j("ne", not_listener)
    a.call(accept_all)
    a.jmp(done)
    a.bind(not_listener)
    a.call(handle)
    a.bind(done)
    a.pop(RDI)
    a.pop(RSI)
    a.add(ESI, 12)
    a.jmp(next_event)

    # ------------------------------------------------------------------ helpers
    a.bind(slot_of)               # rdi = the slot of fd ebx
    a.mov(EDI, EBX)
    a.shl(EDI, SLOT_SHIFT)
    a.add(EDI, slots)
    a.ret()

    a.bind(buf_of)                # rdi = the buffer of fd ebx
    a.mov(EDI, EBX)
    a.shl(EDI, stride_shift)
    a.add(EDI, bufs)
    a.ret()

    a.bind(ctl)                   # epoll_ctl(epfd, esi, edx, {eax, edx}); eax = result
    a.mov(dword[r_event], EAX)    #   (rdi, the slot, is kept)
    a.mov(dword[r_event + 4], EDX)
    a.push(RDI)
    a.mov(EDI, dword[r_epfd])
    a.lea(R10, r_event)
    a.mov(EAX, sys64.SYS_epoll_ctl)
    a.syscall()
    a.pop(RDI)
    a.ret()

    a.bind(sweep)                 # close every connection whose deadline has passed
    a.cmp(byte[r_paused], 0)      # and watch the listener again if accept4 paused it
    a.j("e", sweep_start := L("sweep_start"))
    a.call(watch_listener)
    a.test(EAX, EAX)              # (watched again: done; else again next second)
    a.j("s", sweep_start)
    a.dec(byte[r_paused])
    a.bind(sweep_start)
    a.mov(EBX, max_fd - 1)
    a.bind(sweep_next)
    a.call(slot_of)
    a.mov(EAX, dword[RDI + DEADLINE])
    a.test(EAX, EAX)
    a.j("z", sweep_skip)          # a free slot
    a.cmp(EAX, dword[r_now])
    a.j("ae", sweep_skip)         # not yet: the deadline is this second or later
    a.call(close_conn)
    a.bind(sweep_skip)
    a.dec(EBX)
    a.j("ns", sweep_next)
    a.ret()

    # ------------------------------------------------------------------ accept
    a.bind(accept_all)            # every connection waiting, each non-blocking
    a.mov(EAX, sys64.SYS_accept4)  # accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK)
    a.mov(EDI, dword[r_listen_fd])
    a.xor(ESI, ESI)
    a.cdq()
    a.mov(R10D, SOCK_NONBLOCK)
    a.syscall()
    a.test(EAX, EAX)
    a.j("s", accept_failed)
    a.xchg(EAX, EBX)              # ebx = the client
    a.cmp(EBX, max_fd)
    a.j("ae", refuse)             # over --max-connections: closed at once
    a.call(slot_of)
    a.mov(EAX, dword[r_now])      # the head deadline runs from the connection's start
    a.add(EAX, config.header_timeout)
    a.mov(dword[RDI + DEADLINE], EAX)
    a.xor(EAX, EAX)
    a.mov(dword[RDI + HAVE], EAX)
    a.mov(dword[RDI + STATE], EAX)
    a.push(EPOLL_CTL_ADD)         # epoll_ctl(epfd, ADD, client, {EPOLLIN, client})
    a.pop(RSI)
    a.mov(EDX, EBX)
    a.inc(EAX)                    # EPOLLIN
    a.call(ctl)
    a.test(EAX, EAX)
    a.j("ns", accept_all)
    a.call(close_conn)            # it cannot be watched (ENOMEM): closed
    a.jmp(accept_all)
    a.bind(refuse)
    a.push(sys64.SYS_close)       # close(ebx)
    a.pop(RAX)
    a.mov(EDI, EBX)
    a.syscall()
    a.jmp(accept_all)
    a.bind(accept_failed)
    a.cmp(EAX, -EAGAIN)
    a.j("e", done_ret := L("accept_done"))
    a.cmp(EAX, -ECONNABORTED)     # a client that reset before it was accepted: go on
    a.j("e", accept_all)
    a.inc(byte[r_paused])         # EMFILE, ENFILE, ENOMEM...: a failure that lasts must not
    a.push(EPOLL_CTL_DEL)         #   become a busy loop, nor slow the connections there
    a.pop(RSI)                    #   are: stop watching the listener until the next
    a.mov(EDX, dword[r_listen_fd])  # second's sweep (epoll_ctl(epfd, DEL, listen_fd))
    a.jmp(ctl)
    a.bind(done_ret)
    a.ret()

    a.bind(watch_listener)        # epoll_ctl(epfd, ADD, listen_fd, {EPOLLIN|EXCLUSIVE})
    a.mov(EAX, EPOLLIN | EPOLLEXCLUSIVE)
    a.push(EPOLL_CTL_ADD)
    a.pop(RSI)
    a.mov(EDX, dword[r_listen_fd])
    a.jmp(ctl)

    # ------------------------------------------------------------------ a connection
    a.bind(handle)                # ebx = a client that is ready
    a.call(slot_of)
    a.cmp(dword[RDI + DEADLINE], 0)
    a.j("e", done_ret)            # closed earlier in this turn
    a.mov(AL, byte[RDI + STATE])
    a.test(AL, W)
    a.j("nz", write_out)          # EPOLLOUT: write what is left
    a.test(AL, D)
    a.j("z", read_in)
    a.bind(drain)                 # after a closing response: read and throw away
    a.xor(EAX, EAX)               # read(ebx, shared, bufsize) (SYS_read is 0)
    a.push(RDI)
    a.mov(EDI, EBX)
    a.mov(ESI, shared)
    a.mov(EDX, bufsize)
    a.syscall()
    a.pop(RDI)
    a.test(EAX, EAX)
    a.j("g", done_ret)
    a.cmp(EAX, -EAGAIN)
    a.j("e", done_ret)
    a.jmp(close_conn)             # end of file, or an error: now it may close

    a.bind(read_in)
    a.mov(EDX, dword[RDI + HAVE])
    a.mov(ESI, shared)            # a new head is read into the shared buffer,
    a.test(EDX, EDX)
    a.j("z", read_at)
    a.call(buf_of)                # the rest of one that had not ended into its own
    a.mov(ESI, EDI)
    a.bind(read_at)
    a.push(RSI)                   # (rsi: the head's first byte, again after the call)
    a.add(ESI, EDX)
    a.neg(EDX)
    a.add(EDX, bufsize)
    assert sys64.SYS_read == 0
    a.xor(EAX, EAX)               # read(ebx, rsi + have, bufsize - have)
    a.mov(EDI, EBX)
    a.syscall()
    a.pop(RSI)
    a.call(slot_of)
    a.test(EAX, EAX)
    a.j("g", got)
    a.j("z", eof)
    a.cmp(EAX, -EAGAIN)
    a.j("e", done_ret)
    a.cmp(EAX, -EINTR)
    a.j("e", done_ret)
    a.jmp(close_conn)             # ECONNRESET...: nobody to answer
    a.bind(eof)
    a.cmp(dword[RDI + HAVE], 0)   # end of file: after a head that never ended, 400
    a.j("e", close_conn)
    a.and_(dword[r_cur_left], 0)
    a.xor(EDX, EDX)
    a.jmp(bad_request)

    a.bind(got)
    a.mov(ECX, dword[RDI + HAVE])
    a.test(ECX, ECX)
    a.j("nz", keep_partial)       # the head deadline runs from its first byte
    a.mov(EDX, dword[r_now])
    a.add(EDX, config.header_timeout)
    a.mov(dword[RDI + DEADLINE], EDX)
    a.bind(keep_partial)
    a.add(ECX, EAX)               # rsi = the head's first byte, ecx = the bytes there

    a.bind(process)               # one request at rsi, ecx bytes of it (and after it)
    a.mov(dword[r_cur_start], ESI)
    a.mov(EDI, ESI)
    a.push(RCX)
    a.bind(next_lf)               # the head ends at LF LF or LF CR LF
    a.mov(AL, ord("\n"))
    a.jrcxz(incomplete)
    a.scasb(repne=True)
    a.j("ne", incomplete)
    a.jrcxz(incomplete)
    a.cmp(byte[RDI], ord("\n"))
    a.j("e", lf_lf)
    a.cmp(byte[RDI], ord("\r"))
    a.j("ne", next_lf)
    a.cmp(ECX, 2)
    a.j("b", incomplete)
    a.cmp(byte[RDI + 1], ord("\n"))
    a.j("ne", next_lf)
    a.inc(EDI)
    a.dec(ECX)
    a.bind(lf_lf)
    a.inc(EDI)
    a.dec(ECX)
    a.mov(dword[r_cur_end], EDI)  # edi = the byte after the head
    a.mov(dword[r_cur_left], ECX)  # ecx = the bytes after it
    a.pop(RCX)
    a.jmp(complete)

    a.bind(incomplete)
    a.pop(RCX)                    # the whole of it, which has not ended
    a.and_(dword[r_cur_left], 0)
    a.mov(DL, C)                  # (a 431 closes)
    a.cmp(ECX, bufsize)
    a.mov(EDI, too_large_entry)   # it fills the buffer: 431
    a.j("ae", respond)
    a.call(buf_of)                # keep it in the slot's own buffer
    a.cmp(ESI, EDI)
    a.j("e", same_place := L("same_place"))
    a.push(RCX)
    a.rep_movsb()
    a.pop(RCX)
    a.bind(same_place)
    a.call(slot_of)
    a.mov(dword[RDI + HAVE], ECX)
    a.ret()

    # ------------------------------------------------------------------ the request line
    a.bind(complete)              # edx: 0 GET, 4 HEAD (the entry's field), 1 other; | 2 close
    a.mov(ESI, dword[r_cur_start])
    a.xor(EDX, EDX)
    a.cmp(dword[RSI], int.from_bytes(b"GET ", "little"))
    a.j("ne", not_get)
    a.add(ESI, 4)
    a.jmp(target)
    a.bind(not_get)
    a.cmp(dword[RSI], int.from_bytes(b"HEAD", "little"))
    a.j("ne", other_method)
    a.cmp(byte[RSI + 4], ord(" "))
    a.j("ne", other_method)
    a.mov(DL, 4)
    a.add(ESI, 5)
    a.jmp(target)
    a.bind(other_method)
    a.inc(EDX)
    a.lodsb()
    a.bind(method_letter)
    a.sub(AL, ord("A"))
    a.cmp(AL, ord("Z") - ord("A"))
    a.j("a", bad_request)
    a.lodsb()
    a.cmp(AL, ord(" "))
    a.j("ne", method_letter)

    a.bind(target)
    a.cmp(byte[RSI], ord("/"))
    a.j("e", origin_form)
    a.mov(EDI, http_scheme)
    a.push(len(b"http://"))
    a.pop(RCX)
    a.cmpsb(repe=True)
    a.j("ne", bad_request)
    a.bind(authority)
    a.lodsb()
    a.cmp(AL, ord("/"))
    a.j("e", authority_end)
    a.cmp(AL, ord(" "))
    a.j("a", authority)
    a.jmp(bad_request)
    a.bind(authority_end)
    a.dec(ESI)
    a.bind(origin_form)
    a.mov(EDI, ESI)
    a.bind(path_char)
    a.lodsb()
    a.cmp(AL, ord("?"))
    a.j("e", path_end)
    a.cmp(AL, ord(" "))
    a.j("e", path_end)
    a.j("b", bad_request)
    a.jmp(path_char)
    a.bind(path_end)
    a.lea(ECX, RSI + -1)
    a.sub(ECX, EDI)
    a.cmp(AL, ord(" "))
    a.j("e", version)
    a.bind(skip_query)
    a.lodsb()
    a.cmp(AL, ord(" "))
    a.j("e", version)
    a.j("b", bad_request)
    a.jmp(skip_query)

    a.bind(bad_version := L("bad_version"))  # (here, in the middle: every jump to it is short)
    a.pop(RCX)
    a.pop(RDI)
    a.bind(bad_request)
    a.or_(DL, C)                  # a 400 closes: what follows is not read as a request
    a.mov(EDI, bad_request_entry)
    a.jmp(respond)
    a.bind(not_allowed)
    a.mov(EDI, not_allowed_entry)
    a.jmp(respond)

    a.bind(version)
    a.push(RDI)                   # the path and its length, for the routing
    a.push(RCX)
    a.mov(EDI, http_1)
    a.push(7)
    a.pop(RCX)
    a.cmpsb(repe=True)
    a.j("ne", bad_version)
    a.lodsb()
    a.sub(AL, ord("0"))
    a.cmp(AL, 9)
    a.j("a", bad_version)
    a.test(AL, AL)
    a.j("nz", http_11 := L("http_11"))
    a.or_(DL, C | HTTP_10)        # HTTP/1.0: the connection closes after the response,
                                  #   unless it asks for keep-alive (below)
    a.bind(http_11)
    a.lodsb()
    a.cmp(AL, ord("\r"))         # the line ends with CRLF or a bare LF; a CR alone is not
    a.j("ne", line_end := L("line_end"))  # an end (RFC 9112 section 2.2)
    a.lodsb()
    a.bind(line_end)
    a.cmp(AL, ord("\n"))
    a.j("ne", bad_version)
    a.dec(ESI)                    # rsi -> the LF that ends the request line
    a.bind(line_ok)

    a.bind(header_line)           # Connection: close, in any case, among the headers
    a.mov(EDI, ESI)
    a.mov(ECX, dword[r_cur_end])
    a.sub(ECX, ESI)
    a.j("le", headers_done)
    a.mov(AL, ord("\n"))
    a.scasb(repne=True)
    a.j("ne", headers_done)
    a.mov(ESI, EDI)               # rsi = a header line
    a.mov(EDI, connection)
    a.push(len(b"connection:"))
    a.pop(RCX)
    a.bind(header_name)
    a.lodsb()
    a.or_(AL, 0x20)
    a.scasb()
    a.j("ne", header_line)
    a.dec(ECX)
    a.j("nz", header_name)
    a.bind(header_space)          # its value, a list of options: is "close" among them,
    a.mov(EAX, dword[RSI])        #   or "keep-alive" (which keeps an HTTP/1.0 connection:
    a.or_(EAX, 0x20202020)        #   RFC 9112 section 9.3; "close" wins over it)
    a.cmp(EAX, int.from_bytes(b"keep", "little"))
    a.j("ne", not_keep := L("not_keep"))
    a.cmp(byte[RSI + 4], ord("-"))  # ("keep-": no other connection option starts so)
    a.j("ne", not_keep)
    a.and_(DL, ~C & 0xFF)
    a.bind(not_keep)
    a.cmp(EAX, int.from_bytes(b"clos", "little"))
    a.j("ne", next_value_byte := L("next_value_byte"))
    a.mov(AL, byte[RSI + 4])
    a.or_(AL, 0x20)
    a.cmp(AL, ord("e"))
    a.j("e", close_asked := L("close_asked"))
    a.bind(next_value_byte)
    a.lodsb()
    a.cmp(AL, ord("\n"))
    a.j("ne", header_space)
    a.dec(ESI)                    # rsi -> the LF: the next line's search starts there
    a.jmp(header_line)
    a.bind(close_asked)
    a.or_(DL, C)
    a.bind(headers_done)
    a.pop(RCX)
    a.pop(RDI)
    a.test(DL, OTHER)
    a.j("nz", not_allowed)

    # ------------------------------------------------------------------ routing
    a.mov(ESI, EDI)               # rsi = the path, ecx = its length
    a.mov(EDI, routes)
    a.bind(next_route)
    a.movzx(EAX, byte[RDI])
    a.inc(EDI)
    a.test(EAX, EAX)
    a.j("z", respond)             # the end of the table: rdi is at the 404 entry
    a.cmp(EAX, ECX)
    a.j("ne", skip_route)
    a.push(RCX)
    a.push(RSI)
    a.push(RDI)
    a.cmpsb(repe=True)
    a.pop(RDI)
    a.pop(RSI)
    a.pop(RCX)
    a.j("e", found)
    a.bind(skip_route)
    a.lea(EDI, Mem(RDI, RAX, 1, 12))
    a.jmp(next_route)
    a.bind(found)
    a.add(EDI, EAX)
    a.jmp(respond)

    # ------------------------------------------------------------------ the response
    a.bind(respond)               # rdi -> the entry; dl: the request's flags
    a.mov(EAX, dword[RDI])        # eax = the response's bytes
    a.mov(ECX, dword[RDI + 4])    # ecx = how many a GET gets
    a.mov(ESI, dword[RDI + 8])    # esi = its head's length
    a.test(DL, HEAD)
    a.j("z", keep_alive)
    a.mov(ECX, ESI)               # a HEAD gets the head
    a.bind(keep_alive)
    a.call(slot_of)               # the slot's three iovecs: the head up to its Connection
    a.mov(dword[RDI + IOV], EAX)  #   line, the keep-alive line, the rest
    a.mov(dword[RDI + IOV + IOV_SIZE], keep_alive_line)
    a.test(DL, C | OTHER)         # closing (a 405 too: its body, if any, is not read)
    a.j("nz", closing := L("closing"))
    a.cmp(dword[Mem(RAX, RSI, 1, -(close_len + 2))], int.from_bytes(b"Conn", "little"))
    a.j("ne", closing)            # a head without the Connection line is sent as it is
    a.lea(EAX, Mem(RAX, RSI, 1, -2))  # kept alive: the head up to its Connection line,
    a.sub(ECX, ESI)               #   then from the blank line on; between them, for an
    a.add(ECX, 2)                 #   HTTP/1.0 request (which asked for keep-alive, or it
    a.sub(ESI, close_len + 2)     #   would be closing), Connection: keep-alive (RFC 9112
    a.and_(EDX, HTTP_10)          #   appendix C.2.2)
    a.lea(EDX, Mem(RDX, RDX, 2, 0))  # 8 * 3 = its length, or 0
    a.push(0)
    a.jmp(store)
    a.bind(closing)
    a.xor(ESI, ESI)               # closing: the whole of it, in the last iovec
    a.xor(EDX, EDX)
    a.push(C)
    a.bind(store)
    a.mov(dword[RDI + IOV + IOV_LEN], ESI)
    a.mov(dword[RDI + IOV + IOV_SIZE + IOV_LEN], EDX)
    a.mov(dword[RDI + IOV + 2 * IOV_SIZE], EAX)
    a.mov(dword[RDI + IOV + 2 * IOV_SIZE + IOV_LEN], ECX)
    a.pop(qword[RDI + STATE])
    a.mov(ECX, dword[r_cur_left])  # what follows the head waits in the slot's buffer
    a.mov(dword[RDI + HAVE], ECX)
    a.mov(ESI, dword[r_cur_end])
    a.call(buf_of)
    a.rep_movsb()
    a.call(slot_of)

    a.bind(write_out)             # writev(ebx, the slot's iovecs, 3)
    a.push(sys64.SYS_writev)
    a.pop(RAX)
    a.push(RDI)
    a.lea(ESI, RDI + IOV)
    a.mov(EDI, EBX)
    a.push(IOVECS)
    a.pop(RDX)
    a.syscall()
    a.pop(RDI)
    a.test(EAX, EAX)
    a.j("s", write_failed)
    a.push(IOVECS)                # take the eax bytes written off the iovecs (at rsi), in
    a.pop(RCX)                    #   order
    a.bind(next_iov := L("next_iov"))
    a.mov(EDX, dword[RSI + IOV_LEN])
    a.cmp(EDX, EAX)
    a.j("be", whole := L("whole"))
    a.mov(EDX, EAX)               # edx = what this iovec gave
    a.bind(whole)
    a.add(dword[RSI], EDX)
    a.sub(dword[RSI + IOV_LEN], EDX)
    a.sub(EAX, EDX)
    a.add(ESI, IOV_SIZE)
    a.loop(next_iov)
    a.cmp(dword[RSI + (IOV_LEN - IOV_SIZE)], EAX)  # the last iovec is never empty: when it
    a.j("e", written)             #   is, all went
    a.bind(wait_out)              # the socket's buffer is full: wait for EPOLLOUT, and
    a.mov(EAX, dword[r_now])      #   read nothing more meanwhile; the send deadline runs
    a.add(EAX, config.send_timeout)  # from the last write that moved bytes (as nginx's
    a.mov(dword[RDI + DEADLINE], EAX)  # send_timeout: between two writes, not in all)
    a.test(byte[RDI + STATE], W)
    a.j("nz", waiting := L("waiting"))
    a.or_(byte[RDI + STATE], W)
    a.push(EPOLLOUT)              # epoll_ctl(epfd, MOD, ebx, {EPOLLOUT, ebx})
    a.pop(RAX)
    a.push(EPOLL_CTL_MOD)
    a.pop(RSI)
    a.mov(EDX, EBX)
    a.call(ctl)
    a.test(EAX, EAX)              # it cannot wait for room: closed, rather than retried
    a.j("s", close_conn)          #   on every turn
    a.bind(waiting)
    a.ret()
    a.bind(write_failed)
    a.cmp(EAX, -EAGAIN)
    a.j("e", wait_out)
    a.cmp(EAX, -EINTR)
    a.j("e", write_out)           # EPIPE, ECONNRESET: the client is gone
    a.bind(close_conn)            # close(ebx), and free its slot (rdi) (here, where most
    a.and_(dword[RDI + DEADLINE], 0)  # jumps to it come from)
    a.push(sys64.SYS_close)
    a.pop(RAX)
    a.mov(EDI, EBX)
    a.syscall()
    a.ret()

    a.bind(written)               # the whole response went out
    a.test(byte[RDI + STATE], W)
    a.j("z", resume)
    a.push(EPOLLIN)               # epoll_ctl(epfd, MOD, ebx, {EPOLLIN, ebx}): read again
    a.pop(RAX)
    a.push(EPOLL_CTL_MOD)
    a.pop(RSI)
    a.mov(EDX, EBX)
    a.call(ctl)
    a.test(EAX, EAX)              # it cannot be watched for reading: it cannot be served
    a.j("s", close_conn)
    a.bind(resume)
    a.mov(EAX, dword[r_now])
    a.test(byte[RDI + STATE], C)
    a.j("z", deadline_set)
    a.mov(byte[RDI + STATE], D)   # closing: shutdown(ebx, SHUT_WR), then drain until the
    a.add(EAX, config.idle_timeout)  # client's end of file, at most the idle timeout
    a.mov(dword[RDI + DEADLINE], EAX)
    a.push(sys64.SYS_shutdown)
    a.pop(RAX)
    a.mov(EDI, EBX)
    a.push(SHUT_WR)
    a.pop(RSI)
    a.syscall()
    a.ret()
    a.bind(deadline_set)
    a.and_(byte[RDI + STATE], 0)
    a.mov(ECX, dword[RDI + HAVE])
    a.add(EAX, config.idle_timeout)
    a.jrcxz(idle := L("idle"))
    a.add(EAX, config.header_timeout - config.idle_timeout)
    a.bind(idle)
    a.mov(dword[RDI + DEADLINE], EAX)
    a.jrcxz(done_again := L("done_again"))
    a.call(buf_of)                # a pipelined request follows: answer it now
    a.mov(ESI, EDI)
    a.jmp(process)
    a.bind(done_again)
    a.ret()

    layout = elf.plan(a.text_size, a.data_section.size, a.bss.size, bits=64)
    if layout.bss_vaddr + a.bss.size > 1 << 32:   # a slot's and a buffer's address are
        raise ConfigError(                        #   computed in 32-bit registers
            f"{config.max_connections} connections with {bufsize}-byte buffers need "
            f"{a.bss.size} bytes of memory: the program addresses its memory with 32-bit "
            "pointers, so it must end below 4 GiB")
    return a, start
