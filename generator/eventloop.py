"""The server program: an epoll event loop with keep-alive, pipelining, deadlines and
workers, one Python line per machine instruction.

It replaced a program that answered one connection at a time, which a client trickling
its head owned until its idle timeout.  This one never waits for one client.  Every
socket is non-blocking and registered with one ``epoll`` instance (epoll(7)); the loop
waits in ``epoll_wait`` for whatever is ready and does only what can be done at once:

1. setup: SIGPIPE ignored; the soft RLIMIT_NOFILE raised to the hard limit (so the table
   of connections, not the 1,024 fds a process starts with, sets the limit); socket
   (``SOCK_NONBLOCK``), SO_REUSEADDR, bind, listen; a failure writes
   ``<call>() failed: errno <n>`` and exits 1; then the URL to stderr (issue 9: a user
   must know where to point the browser);
2. with ``workers`` > 1 (or ``auto``: the CPUs ``sched_getaffinity`` allows), the process
   becomes a supervisor: it forks that many workers, which share the listening socket, and
   ``wait4``\\ s for ever, forking a new worker for each that dies (after 100 ms, so a worker
   that cannot start is no fork loop);
3. each worker: ``epoll_create1``, the listening socket registered with EPOLLEXCLUSIVE (one
   worker is woken per connection, not all: epoll_ctl(2)), then the loop.  Each turn reads
   CLOCK_MONOTONIC's seconds once; when they change, every connection whose deadline has
   passed is closed (a 1 s sweep, so deadlines are whole seconds, late by up to one).

Per connection, a slot indexed by its fd (fds are the lowest free, so slots stay dense):

========  ======================================================================
deadline  CLOCK_MONOTONIC second after which the connection is closed (0: free)
have      bytes of an unfinished head kept in the slot's own buffer
iov[3]    what is left to write: three struct iovec, handed to ``writev`` as they are
state     W (1): waiting for EPOLLOUT; C (2): close after this response; D (4): draining
========  ======================================================================

A readable connection is read into one shared buffer (so an idle slot's buffer pages are
never touched); a head that has not ended is copied to the slot's buffer and the next read
appends there.  Deadlines: the **head deadline** (``header_timeout``, from the first byte of
a head, however slowly the rest trickles), the **idle deadline** (``idle_timeout``, between
requests on a kept-alive connection), the **send deadline** (``send_timeout``, while a
response waits for EPOLLOUT; a client that never reads is dropped, and nobody else waits
for it meanwhile).

**Keep-alive** (RFC 9112 section 9.3): an HTTP/1.1 request keeps the connection open unless
its Connection header lists ``close`` (in any case); an HTTP/1.0 request closes it unless it
lists ``keep-alive`` (and not ``close``); methods other than GET and HEAD (whose bodies
this server does not read), 400 and 431 close it.  Every stored response ends its head with
``Connection: close``; a kept-alive answer is written as three iovecs -- the head up to
that line, nothing (or ``Connection: keep-alive`` for HTTP/1.0, whose client would
otherwise wait for the close: RFC 9112 appendix C.2.2), the rest from the blank line on
-- so every answer comes from the same bytes.  Pipelined requests (RFC 9112 section 9.3.2)
are answered in order: what follows a head is kept and parsed once the response is
written, and nothing more is read while a response waits for EPOLLOUT.  A closing answer is
followed by ``shutdown(SHUT_WR)`` and draining until the client's end of file (or the idle
deadline), so the close is never a reset that could cost the client its response.

At most ``max_connections`` connections per worker: one that would exceed it is closed as
soon as it is accepted.  Routing and the request line are as in :mod:`generator.server`.

The same program for x86-64 is :mod:`generator.eventloop64`; the data both hold (responses,
route table, strings, names) is written by :func:`program_data`, here.
"""

from __future__ import annotations

import struct

from . import elf
from .errors import ConfigError
from .linux import (
    AF_INET, CLOCK_MONOTONIC, EAGAIN, ECONNABORTED, EINTR, EPOLL_CTL_ADD, EPOLL_CTL_DEL,
    EPOLL_CTL_MOD, EPOLLEXCLUSIVE, EPOLLIN, EPOLLOUT, RLIMIT_NOFILE, SHUT_WR, SIG_IGN, SIGPIPE,
    SO_REUSEADDR, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, STDERR_FILENO, SYS_accept4, SYS_bind,
    SYS_clock_gettime, SYS_close, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_wait, SYS_exit,
    SYS_fork, SYS_listen, SYS_nanosleep, SYS_read, SYS_sched_getaffinity, SYS_setrlimit,
    SYS_setsockopt, SYS_shutdown, SYS_signal, SYS_socket, SYS_ugetrlimit, SYS_wait4, SYS_write,
    SYS_writev,
)
from .program_data import (
    ACCEPT_BACKOFF_NS, FIRST_CLIENT_FD, HEAD, HTTP_10, IOVECS, MAX_EVENTS, OTHER, SLOT_SHIFT,
    WAIT_MS, C, D, W, program_data,
)
from .site import CONNECTION_CLOSE, Site
from .x86 import AL, DL, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, Assembler, Label, Mem, byte, dword

#: auxv's entry for the vDSO's system call entry point (include/uapi/asm/auxvec.h).
AT_SYSINFO = 32
#: Where an i386 process's memory ends on a 32-bit kernel (TASK_SIZE, PAGE_OFFSET's default
#: 3G/1G split: arch/x86/Kconfig VMSPLIT_3G); the stack lies below it.  The image and its
#: bss must end well below, so the check leaves the stack's 8 MiB RLIMIT_STACK too.
I386_USER_END = 0xC0000000 - (8 << 20)

# The slot of a connection: offsets of its fields (64 bytes: SLOT_SHIFT).
DEADLINE, HAVE, IOV, STATE = 0, 4, 8, 32
#: Offsets in the block of variables: listen_fd, epfd, now (the monotonic second of this
#: turn), paused (accept4 failed: the listener is unwatched), swept (the second last
#: swept), timespec, event (a struct epoll_event for epoll_ctl), and the request being
#: parsed: its first byte, the byte after its head, how many bytes follow its head; and
#: how to enter the kernel.
_OFFSETS = (0, 4, 8, 12, 16, 20, 28, 40, 44, 48, 52)
GLOBALS = 56


def assemble(site: Site, config) -> tuple[Assembler, Label]:
    """The event-loop program for ``site`` under ``config`` (a ServerConfig)."""
    a = Assembler()
    bufsize = config.buffer_size
    stride_shift = max(bufsize - 1, 1).bit_length()   # each slot's buffer: a power of two
    max_fd = config.max_connections + FIRST_CLIENT_FD
    close_len = len(CONNECTION_CLOSE)

    # ------------------------------------------------------------------ data
    d = program_data(a, site, config, struct.pack("<ii", 0, ACCEPT_BACKOFF_NS))
    routes, http_1, http_scheme, connection = d.routes, d.http_1, d.http_scheme, d.connection
    not_allowed_entry, bad_request_entry, too_large_entry = (
        d.not_allowed_entry, d.bad_request_entry, d.too_large_entry)
    keep_alive_line, backoff, sockaddr, name, failed, banner = (
        d.keep_alive_line, d.backoff, d.sockaddr, d.name, d.failed, d.banner)
    int80 = a.label("int80")

    # ------------------------------------------------------------------ bss
    # The worker's variables, in one block: from the loop on, ebp holds its address, so an
    # access is [ebp + disp8] (3 bytes) rather than [disp32] (6).
    block = a.reserve(GLOBALS, "globals")
    listen_fd, epfd, now, paused, swept, timespec, event, cur_start, cur_end, cur_left, vsys = (
        block + offset for offset in _OFFSETS)
    r_listen_fd, r_epfd, r_now, r_paused, r_swept, r_timespec, r_event, r_cur_start, \
        r_cur_end, r_cur_left, r_vsys = (EBP + offset for offset in _OFFSETS)
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

    def kernel() -> None:
        """Enter the kernel on a hot path: through the vDSO's __kernel_vsyscall when the
        kernel gave one (AT_SYSINFO), else int 0x80."""
        a.call(dword[r_vsys])

    # ------------------------------------------------------------------ setup
    a.bind(start)                 # the auxiliary vector follows argv and envp on the
    a.mov(EAX, dword[ESP])        #   stack (fs/binfmt_elf.c create_elf_tables): find
    a.lea(ESI, Mem(ESP, EAX, 4, 8))  # AT_SYSINFO, the vDSO's __kernel_vsyscall, which
    skip_env, next_aux, no_vdso = L("skip_env"), L("next_aux"), L("no_vdso")
    a.bind(skip_env)              #   enters with sysenter or syscall: far cheaper than
    a.lodsd()                     #   int 0x80 on a 64-bit kernel (arch/x86/entry/
    a.test(EAX, EAX)              #   vdso/vdso32/system_call.S)
    a.j("nz", skip_env)
    a.mov(EDX, int80)             # (none: int 0x80 it is)
    a.bind(next_aux)
    a.lodsd()                     # a_type
    a.test(EAX, EAX)
    a.j("z", no_vdso)             # AT_NULL: the end
    a.cmp(EAX, AT_SYSINFO)
    a.lodsd()                     # a_val
    a.j("ne", next_aux)
    a.xchg(EAX, EDX)
    a.bind(no_vdso)
    a.mov(dword[vsys], EDX)
    a.push(SYS_signal)            # signal(SIGPIPE, SIG_IGN): a reset peer must not kill us
    a.pop(EAX)
    a.push(SIGPIPE)
    a.pop(EBX)
    a.push(SIG_IGN)
    a.pop(ECX)
    a.int_(0x80)

    a.mov(EAX, SYS_ugetrlimit)    # ugetrlimit(RLIMIT_NOFILE, &lim), then setrlimit with
    a.push(RLIMIT_NOFILE)         #   the soft limit raised to the hard one: the 1,024 fds a
    a.pop(EBX)                    #   process starts with would run out before the table of
    a.push(EAX)                   #   connections does (max_connections + 5 fds), and the
    a.push(EAX)                   #   next connection must be closed, not left waiting
    a.mov(ECX, ESP)               #   (lim: on the stack; a failure leaves the limit as
    a.int_(0x80)                  #   it was)
    a.mov(EAX, dword[ESP + 4])
    a.mov(dword[ESP], EAX)
    a.push(SYS_setrlimit)
    a.pop(EAX)
    a.int_(0x80)

    a.mov(EBP, name["socket"])
    a.mov(EAX, SYS_socket)        # socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
    a.push(AF_INET)
    a.pop(EBX)
    a.mov(ECX, SOCK_STREAM | SOCK_NONBLOCK)
    a.cdq()
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)
    a.xchg(EAX, EBX)              # ebx = the listening socket

    a.add(EBP, 7)             # ebp -> "setsockopt", the next name
    a.mov(EAX, SYS_setsockopt)    # setsockopt(ebx, SOL_SOCKET, SO_REUSEADDR, &1, 4)
    a.push(SOL_SOCKET)
    a.pop(ECX)
    a.push(SO_REUSEADDR)
    a.pop(EDX)
    a.push(1)
    a.mov(ESI, ESP)
    a.push(4)
    a.pop(EDI)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)

    a.add(EBP, 11)             # ebp -> "bind", the next name
    a.mov(EAX, SYS_bind)          # bind(ebx, &sockaddr, sizeof sockaddr)
    a.mov(ECX, sockaddr)
    a.push(16)
    a.pop(EDX)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)

    a.add(EBP, 5)             # ebp -> "listen", the next name
    a.mov(EAX, SYS_listen)        # listen(ebx, backlog)
    if config.backlog < 128:
        a.push(config.backlog)
        a.pop(ECX)
    else:
        a.mov(ECX, config.backlog)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)
    a.mov(dword[listen_fd], EBX)
    a.push(SYS_write)             # write(2, banner, its length): where to point a browser
    a.pop(EAX)                    #   (whatever it returns: a closed stderr is no failure)
    a.push(STDERR_FILENO)
    a.pop(EBX)
    a.mov(ECX, http_scheme)
    a.push(len(banner))
    a.pop(EDX)
    a.int_(0x80)

    workers = config.workers
    supervise = L("supervise") if workers != 1 else None
    if workers == "auto":         # sched_getaffinity(0, sizeof shared, shared): the CPUs
        a.mov(EAX, SYS_sched_getaffinity)  # this process may run on, one bit each
        a.xor(EBX, EBX)
        a.push(124)               #   (124 bytes of mask: up to 992 CPUs; sched_getaffinity
        a.pop(ECX)                #   needs room for nr_cpu_ids bits, the CPUs possible here)
        a.mov(EDX, shared)
        a.int_(0x80)
        a.xchg(EAX, ECX)          # ecx = bytes of mask (a failure: no bytes, one worker)
        a.mov(ESI, shared)
        a.xor(EDI, EDI)           # edi = the number of bits set
        count_byte, count_bit, counted = L("count_byte"), L("count_bit"), L("counted")
        a.bind(count_byte)
        a.test(ECX, ECX)
        a.j("le", counted)
        a.lodsb()
        a.bind(count_bit)
        a.shr(AL, 1)
        a.adc(EDI, 0)
        a.test(AL, AL)
        a.j("nz", count_bit)
        a.dec(ECX)
        a.jmp(count_byte)
        a.bind(counted)
    elif workers != 1:
        a.mov(EDI, workers)
    if workers != 1:
        a.cmp(EDI, 1)
        a.j("be", serve)          # one worker: this process serves
    a.jmp(supervise if workers != 1 else serve)

    # ------------------------------------------------------------------ die
    a.bind(ctl_die := L("ctl_die"))  # the listener's epoll_ctl failed (ebp: the variables)
    a.mov(EBP, name["epoll_ctl"])
    a.bind(die)                   # eax = -errno, ebp = the name of the call that failed
    a.neg(EAX)
    a.mov(EDI, errline)
    a.mov(ESI, EBP)
    a.movzx(ECX, byte[ESI])
    a.inc(ESI)
    a.rep_movsb()
    a.mov(ESI, failed)
    a.movzx(ECX, byte[ESI])
    a.inc(ESI)
    a.rep_movsb()
    a.xor(ECX, ECX)
    a.push(10)
    a.pop(EBX)
    a.bind(digits)
    a.xor(EDX, EDX)
    a.div(EBX)
    a.push(EDX)
    a.inc(ECX)
    a.test(EAX, EAX)
    a.j("nz", digits)
    a.bind(emit)
    a.pop(EAX)
    a.add(AL, ord("0"))
    a.stosb()
    a.dec(ECX)
    a.j("nz", emit)
    a.mov(AL, ord("\n"))
    a.stosb()
    a.mov(ECX, errline)
    a.mov(EDX, EDI)
    a.sub(EDX, ECX)
    a.push(SYS_write)             # write(2, errline, edx): the whole line at once
    a.pop(EAX)
    a.push(STDERR_FILENO)
    a.pop(EBX)
    a.int_(0x80)
    a.push(SYS_exit)              # exit(1)
    a.pop(EAX)
    a.mov(EBX, EAX)
    a.int_(0x80)

    # ------------------------------------------------------------------ the supervisor
    if workers != 1:  # one worker needs no supervisor, so the program holds none
        fork_one, reap, fork_later = L("fork_one"), L("reap"), L("fork_later")
        a.bind(supervise)             # edi = workers still to start
        a.bind(fork_one)
        a.push(SYS_fork)              # fork(): the child serves, the parent starts the next
        a.pop(EAX)
        a.int_(0x80)
        a.test(EAX, EAX)
        a.j("z", serve)
        a.j("s", fork_later)          # EAGAIN, ENOMEM: try again in a while
        a.dec(EDI)
        a.j("nz", fork_one)
        a.bind(reap)
        a.push(SYS_wait4)             # wait4(-1, NULL, 0, NULL): a worker ended
        a.pop(EAX)
        a.or_(EBX, -1)
        a.xor(ECX, ECX)
        a.cdq()
        a.xor(ESI, ESI)
        a.int_(0x80)
        a.test(EAX, EAX)
        a.j("s", reap)
        a.inc(EDI)                    # one more to start
        a.bind(fork_later)
        a.mov(EAX, SYS_nanosleep)     # nanosleep(&backoff, NULL), so a worker that cannot
        a.mov(EBX, backoff)           #   start is no fork loop
        a.xor(ECX, ECX)
        a.int_(0x80)
        a.jmp(fork_one)

    # ------------------------------------------------------------------ a worker
    a.bind(serve)
    a.add(EBP, 7)             # ebp -> "epoll_create1", the next name
    a.mov(EAX, SYS_epoll_create1)  # epoll_create1(0)
    a.xor(EBX, EBX)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", die)
    a.mov(EBP, block)             # ebp -> the variables, from here on
    a.mov(dword[r_epfd], EAX)
    a.call(watch_listener)
    a.test(EAX, EAX)
    a.j("s", ctl_die)

    a.bind(loop)
    a.mov(EAX, SYS_epoll_wait)    # epoll_wait(epfd, events, MAX_EVENTS, WAIT_MS)
    a.mov(EBX, dword[r_epfd])
    a.mov(ECX, events)
    a.push(MAX_EVENTS)
    a.pop(EDX)
    a.mov(ESI, WAIT_MS)
    kernel()
    a.xchg(EAX, EDI)              # edi = ready fds (negative: EINTR, none)
    a.mov(EAX, SYS_clock_gettime)  # clock_gettime(CLOCK_MONOTONIC, &timespec)
    a.push(CLOCK_MONOTONIC)
    a.pop(EBX)
    a.lea(ECX, r_timespec)
    kernel()
    a.test(EAX, EAX)              # a failed read keeps the last second and sweeps nothing;
    a.j("z", clock_read := L("clock_read"))  # before the first there is none: then the
    a.mov(ECX, dword[r_now])      #   turn's events wait for the next turn (epoll reports
    a.jecxz(loop)                 #   them again: level-triggered), so no deadline is set
    a.jmp(no_sweep)               #   from a second that was never read
    a.bind(clock_read)
    a.mov(EAX, dword[r_timespec])
    a.mov(dword[r_now], EAX)
    a.cmp(EAX, dword[r_swept])
    a.j("e", no_sweep)
    a.xchg(dword[r_swept], EAX)   # a new second: close what has outlived its deadline --
    a.test(EAX, EAX)              #   unless it is the first second read, before which no
    a.j("z", no_sweep)            #   connection can have been accepted (1,029 empty slots)
    a.push(EDI)
    a.call(sweep)
    a.pop(EDI)
    a.bind(no_sweep)
    a.mov(ESI, events)
    a.bind(next_event)
    a.dec(EDI)
    a.j("s", loop)
    a.mov(EBX, dword[ESI + 4])    # the fd, from the event's data
    a.push(ESI)
    a.push(EDI)
    a.cmp(EBX, dword[r_listen_fd])
    a.j("ne", not_listener)
    a.call(accept_all)
    a.jmp(done)
    a.bind(not_listener)
    a.call(handle)
    a.bind(done)
    a.pop(EDI)
    a.pop(ESI)
    a.add(ESI, 12)
    a.jmp(next_event)

    # ------------------------------------------------------------------ helpers
    a.bind(int80)                 # the kernel's entry without a vDSO
    a.int_(0x80)
    a.ret()

    a.bind(slot_of)               # edi = the slot of fd ebx
    a.mov(EDI, EBX)
    a.shl(EDI, SLOT_SHIFT)
    a.add(EDI, slots)
    a.ret()

    a.bind(buf_of)                # edi = the buffer of fd ebx
    a.mov(EDI, EBX)
    a.shl(EDI, stride_shift)
    a.add(EDI, bufs)
    a.ret()

    a.bind(ctl)                   # epoll_ctl(epfd, ecx, edx, {eax, edx}); eax = result
    a.mov(dword[r_event], EAX)
    a.mov(dword[r_event + 4], EDX)
    a.push(EBX)
    a.mov(EBX, dword[r_epfd])
    a.lea(ESI, r_event)
    a.mov(EAX, SYS_epoll_ctl)
    a.int_(0x80)
    a.pop(EBX)
    a.ret()

    a.bind(sweep)                 # close every connection whose deadline has passed
    a.cmp(byte[r_paused], 0)        # and watch the listener again if accept4 paused it
    a.j("e", sweep_start := L("sweep_start"))
    a.call(watch_listener)
    a.test(EAX, EAX)              # (watched again: done; else again next second)
    a.j("s", sweep_start)
    a.dec(byte[r_paused])
    a.bind(sweep_start)
    a.mov(EBX, max_fd - 1)
    a.bind(sweep_next)
    a.call(slot_of)
    a.mov(EAX, dword[EDI + DEADLINE])
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
    a.mov(EAX, SYS_accept4)       # accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK)
    a.mov(EBX, dword[r_listen_fd])
    a.xor(ECX, ECX)
    a.cdq()
    a.mov(ESI, SOCK_NONBLOCK)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("s", accept_failed)
    a.xchg(EAX, EBX)              # ebx = the client
    a.cmp(EBX, max_fd)
    a.j("ae", refuse)             # over --max-connections: closed at once
    a.call(slot_of)
    a.mov(EAX, dword[r_now])        # the head deadline runs from the connection's start
    a.add(EAX, config.header_timeout)
    a.mov(dword[EDI + DEADLINE], EAX)
    a.xor(EAX, EAX)
    a.mov(dword[EDI + HAVE], EAX)
    a.mov(dword[EDI + STATE], EAX)
    a.push(EPOLL_CTL_ADD)         # epoll_ctl(epfd, ADD, client, {EPOLLIN, client})
    a.pop(ECX)
    a.mov(EDX, EBX)
    a.inc(EAX)                    # EPOLLIN
    a.call(ctl)
    a.test(EAX, EAX)
    a.j("ns", accept_all)
    a.call(close_conn)            # it cannot be watched (ENOMEM): closed
    a.jmp(accept_all)
    a.bind(refuse)
    a.push(SYS_close)             # close(ebx)
    a.pop(EAX)
    a.int_(0x80)
    a.jmp(accept_all)
    a.bind(accept_failed)
    a.cmp(EAX, -EAGAIN)
    a.j("e", done_ret := L("accept_done"))
    a.cmp(EAX, -ECONNABORTED)     # a client that reset before it was accepted: go on
    a.j("e", accept_all)
    a.inc(byte[r_paused])           # EMFILE, ENFILE, ENOMEM...: a failure that lasts must not
    a.push(EPOLL_CTL_DEL)         #   become a busy loop, nor slow the connections there
    a.pop(ECX)                    #   are: stop watching the listener until the next
    a.mov(EDX, dword[r_listen_fd])  #   second's sweep (epoll_ctl(epfd, DEL, listen_fd))
    a.jmp(ctl)
    a.bind(done_ret)
    a.ret()

    a.bind(watch_listener)        # epoll_ctl(epfd, ADD, listen_fd, {EPOLLIN|EXCLUSIVE})
    a.mov(EAX, EPOLLIN | EPOLLEXCLUSIVE)
    a.push(EPOLL_CTL_ADD)
    a.pop(ECX)
    a.mov(EDX, dword[r_listen_fd])
    a.jmp(ctl)

    # ------------------------------------------------------------------ a connection
    a.bind(handle)                # ebx = a client that is ready
    a.call(slot_of)
    a.cmp(dword[EDI + DEADLINE], 0)
    a.j("e", done_ret)            # closed earlier in this turn
    a.mov(AL, byte[EDI + STATE])
    a.test(AL, W)
    a.j("nz", write_out)          # EPOLLOUT: write what is left
    a.test(AL, D)
    a.j("z", read_in)
    a.bind(drain)                 # after a closing response: read and throw away
    a.push(SYS_read)              # read(ebx, shared, bufsize)
    a.pop(EAX)
    a.mov(ECX, shared)
    a.mov(EDX, bufsize)
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("g", done_ret)
    a.cmp(EAX, -EAGAIN)
    a.j("e", done_ret)
    a.jmp(close_conn)             # end of file, or an error: now it may close

    a.bind(read_in)
    a.mov(EDX, dword[EDI + HAVE])
    a.mov(ESI, shared)            # a new head is read into the shared buffer,
    a.test(EDX, EDX)
    a.j("z", read_at)
    a.call(buf_of)                # the rest of one that had not ended into its own
    a.mov(ESI, EDI)
    a.bind(read_at)
    a.lea(ECX, Mem(ESI, EDX, 1, 0))
    a.neg(EDX)
    a.add(EDX, bufsize)
    a.push(SYS_read)              # read(ebx, esi + have, bufsize - have)
    a.pop(EAX)
    kernel()
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
    a.cmp(dword[EDI + HAVE], 0)   # end of file: after a head that never ended, 400
    a.j("e", close_conn)
    a.and_(dword[r_cur_left], 0)
    a.xor(EDX, EDX)
    a.jmp(bad_request)

    a.bind(got)
    a.mov(ECX, dword[EDI + HAVE])
    a.test(ECX, ECX)
    a.j("nz", keep_partial)       # the head deadline runs from its first byte
    a.mov(EDX, dword[r_now])
    a.add(EDX, config.header_timeout)
    a.mov(dword[EDI + DEADLINE], EDX)
    a.bind(keep_partial)
    a.add(ECX, EAX)               # esi = the head's first byte, ecx = the bytes there

    a.bind(process)               # one request at esi, ecx bytes of it (and after it)
    a.mov(dword[r_cur_start], ESI)
    a.mov(EDI, ESI)
    a.push(ECX)
    a.bind(next_lf)               # the head ends at LF LF or LF CR LF
    a.mov(AL, ord("\n"))
    a.jecxz(incomplete)
    a.scasb(repne=True)
    a.j("ne", incomplete)
    a.jecxz(incomplete)
    a.cmp(byte[EDI], ord("\n"))
    a.j("e", lf_lf)
    a.cmp(byte[EDI], ord("\r"))
    a.j("ne", next_lf)
    a.cmp(ECX, 2)
    a.j("b", incomplete)
    a.cmp(byte[EDI + 1], ord("\n"))
    a.j("ne", next_lf)
    a.inc(EDI)
    a.dec(ECX)
    a.bind(lf_lf)
    a.inc(EDI)
    a.dec(ECX)
    a.mov(dword[r_cur_end], EDI)    # edi = the byte after the head
    a.mov(dword[r_cur_left], ECX)   # ecx = the bytes after it
    a.pop(ECX)
    a.jmp(complete)

    a.bind(incomplete)
    a.pop(ECX)                    # the whole of it, which has not ended
    a.and_(dword[r_cur_left], 0)
    a.mov(DL, C)                  # (a 431 closes)
    a.cmp(ECX, bufsize)
    a.mov(EDI, too_large_entry)   # it fills the buffer: 431
    a.j("ae", respond)
    a.call(buf_of)                # keep it in the slot's own buffer
    a.cmp(ESI, EDI)
    a.j("e", same_place := L("same_place"))
    a.push(ECX)
    a.rep_movsb()
    a.pop(ECX)
    a.bind(same_place)
    a.call(slot_of)
    a.mov(dword[EDI + HAVE], ECX)
    a.ret()

    # ------------------------------------------------------------------ the request line
    a.bind(complete)              # edx: 0 GET, 4 HEAD (the entry's field), 1 other; | 2 close
    a.mov(ESI, dword[r_cur_start])
    a.xor(EDX, EDX)
    a.cmp(dword[ESI], int.from_bytes(b"GET ", "little"))
    a.j("ne", not_get)
    a.add(ESI, 4)
    a.jmp(target)
    a.bind(not_get)
    a.cmp(dword[ESI], int.from_bytes(b"HEAD", "little"))
    a.j("ne", other_method)
    a.cmp(byte[ESI + 4], ord(" "))
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
    a.cmp(byte[ESI], ord("/"))
    a.j("e", origin_form)
    a.mov(EDI, http_scheme)
    a.push(len(b"http://"))
    a.pop(ECX)
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
    a.lea(ECX, ESI + -1)
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
    a.pop(ECX)
    a.pop(EDI)
    a.bind(bad_request)
    a.or_(DL, C)                  # a 400 closes: what follows is not read as a request
    a.mov(EDI, bad_request_entry)
    a.jmp(respond)
    a.bind(not_allowed)
    a.mov(EDI, not_allowed_entry)
    a.jmp(respond)

    a.bind(version)
    a.push(EDI)                   # the path and its length, for the routing
    a.push(ECX)
    a.mov(EDI, http_1)
    a.push(7)
    a.pop(ECX)
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
    a.dec(ESI)                    # esi -> the LF that ends the request line
    a.bind(line_ok)

    a.bind(header_line)           # Connection: close, in any case, among the headers
    a.mov(EDI, ESI)
    a.mov(ECX, dword[r_cur_end])
    a.sub(ECX, ESI)
    a.j("le", headers_done)
    a.mov(AL, ord("\n"))
    a.scasb(repne=True)
    a.j("ne", headers_done)
    a.mov(ESI, EDI)               # esi = a header line
    a.mov(EDI, connection)
    a.push(len(b"connection:"))
    a.pop(ECX)
    a.bind(header_name)
    a.lodsb()
    a.or_(AL, 0x20)
    a.scasb()
    a.j("ne", header_line)
    a.dec(ECX)
    a.j("nz", header_name)
    a.bind(header_space)          # its value, a list of options: is "close" among them,
    a.mov(EAX, dword[ESI])        #   or "keep-alive" (which keeps an HTTP/1.0 connection:
    a.or_(EAX, 0x20202020)        #   RFC 9112 section 9.3; "close" wins over it)
    a.cmp(EAX, int.from_bytes(b"keep", "little"))
    a.j("ne", not_keep := L("not_keep"))
    a.cmp(byte[ESI + 4], ord("-"))  # ("keep-": no other connection option starts so)
    a.j("ne", not_keep)
    a.and_(DL, ~C & 0xFF)
    a.bind(not_keep)
    a.cmp(EAX, int.from_bytes(b"clos", "little"))
    a.j("ne", next_value_byte := L("next_value_byte"))
    a.mov(AL, byte[ESI + 4])
    a.or_(AL, 0x20)
    a.cmp(AL, ord("e"))
    a.j("e", close_asked := L("close_asked"))
    a.bind(next_value_byte)
    a.lodsb()
    a.cmp(AL, ord("\n"))
    a.j("ne", header_space)
    a.dec(ESI)                    # esi -> the LF: the next line's search starts there
    a.jmp(header_line)
    a.bind(close_asked)
    a.or_(DL, C)
    a.bind(headers_done)
    a.pop(ECX)
    a.pop(EDI)
    a.test(DL, 1)
    a.j("nz", not_allowed)

    # ------------------------------------------------------------------ routing
    a.mov(ESI, EDI)               # esi = the path, ecx = its length
    a.mov(EDI, routes)
    a.bind(next_route)
    a.movzx(EAX, byte[EDI])
    a.inc(EDI)
    a.test(EAX, EAX)
    a.j("z", respond)             # the end of the table: edi is at the 404 entry
    a.cmp(EAX, ECX)
    a.j("ne", skip_route)
    a.push(ECX)
    a.push(ESI)
    a.push(EDI)
    a.cmpsb(repe=True)
    a.pop(EDI)
    a.pop(ESI)
    a.pop(ECX)
    a.j("e", found)
    a.bind(skip_route)
    a.lea(EDI, Mem(EDI, EAX, 1, 12))
    a.jmp(next_route)
    a.bind(found)
    a.add(EDI, EAX)
    a.jmp(respond)

    # ------------------------------------------------------------------ the response
    a.bind(respond)               # edi -> the entry; dl: the request's flags
    a.mov(EAX, dword[EDI])        # eax = the response's bytes
    a.mov(ECX, dword[EDI + 4])    # ecx = how many a GET gets
    a.mov(ESI, dword[EDI + 8])    # esi = its head's length
    a.test(DL, HEAD)
    a.j("z", keep_alive)
    a.mov(ECX, ESI)               # a HEAD gets the head
    a.bind(keep_alive)
    a.call(slot_of)               # the slot's three iovecs: the head up to its Connection
    a.mov(dword[EDI + IOV], EAX)  #   line, the keep-alive line, the rest
    a.mov(dword[EDI + IOV + 8], keep_alive_line)
    a.test(DL, C | OTHER)         # closing (a 405 too: its body, if any, is not read)
    a.j("nz", closing := L("closing"))
    a.cmp(dword[Mem(EAX, ESI, 1, -(close_len + 2))], int.from_bytes(b"Conn", "little"))
    a.j("ne", closing)            # a head without the Connection line is sent as it is
    a.lea(EAX, Mem(EAX, ESI, 1, -2))  # kept alive: the head up to its Connection line,
    a.sub(ECX, ESI)               #   then from the blank line on; between them, for an
    a.inc(ECX)                    #   HTTP/1.0 request (which asked for keep-alive, or it
    a.inc(ECX)                    #   would be closing), Connection: keep-alive (RFC 9112
    a.sub(ESI, close_len + 2)     #   appendix C.2.2)
    a.and_(EDX, HTTP_10)
    a.lea(EDX, Mem(EDX, EDX, 2, 0))  # 8 * 3 = its length, or 0
    a.push(0)
    a.jmp(store)
    a.bind(closing)
    a.xor(ESI, ESI)               # closing: the whole of it, in the last iovec
    a.xor(EDX, EDX)
    a.push(C)
    a.bind(store)
    a.mov(dword[EDI + IOV + 4], ESI)
    a.mov(dword[EDI + IOV + 12], EDX)
    a.mov(dword[EDI + IOV + 16], EAX)
    a.mov(dword[EDI + IOV + 20], ECX)
    a.pop(dword[EDI + STATE])
    a.mov(ECX, dword[r_cur_left])   # what follows the head waits in the slot's buffer
    a.mov(dword[EDI + HAVE], ECX)
    a.mov(ESI, dword[r_cur_end])
    a.call(buf_of)
    a.rep_movsb()
    a.call(slot_of)

    a.bind(write_out)             # writev(ebx, the slot's iovecs, 3)
    a.mov(EAX, SYS_writev)
    a.lea(ECX, EDI + IOV)
    a.push(IOVECS)
    a.pop(EDX)
    kernel()
    a.test(EAX, EAX)
    a.j("s", write_failed)
    a.mov(ESI, ECX)               # take the eax bytes written off the iovecs, in order
    a.push(IOVECS)
    a.pop(ECX)
    a.bind(next_iov := L("next_iov"))
    a.mov(EDX, dword[ESI + 4])
    a.cmp(EDX, EAX)
    a.j("be", whole := L("whole"))
    a.mov(EDX, EAX)               # edx = what this iovec gave
    a.bind(whole)
    a.add(dword[ESI], EDX)
    a.sub(dword[ESI + 4], EDX)
    a.sub(EAX, EDX)
    a.add(ESI, 8)
    a.loop(next_iov)
    a.cmp(dword[ESI + -4], EAX)   # the last iovec is never empty: when it is, all went
    a.j("e", written)
    a.bind(wait_out)              # the socket's buffer is full: wait for EPOLLOUT, and
    a.mov(EAX, dword[r_now])        #   read nothing more meanwhile; the send deadline runs
    a.add(EAX, config.send_timeout)  # from the last write that moved bytes (as nginx's
    a.mov(dword[EDI + DEADLINE], EAX)  # send_timeout: between two writes, not in all)
    a.test(byte[EDI + STATE], W)
    a.j("nz", waiting := L("waiting"))
    a.or_(byte[EDI + STATE], W)
    a.push(EPOLLOUT)              # epoll_ctl(epfd, MOD, ebx, {EPOLLOUT, ebx})
    a.pop(EAX)
    a.push(EPOLL_CTL_MOD)
    a.pop(ECX)
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
    a.bind(close_conn)            # close(ebx), and free its slot (edi) (here, where most
    a.and_(dword[EDI + DEADLINE], 0)  # jumps to it come from)
    a.push(SYS_close)
    a.pop(EAX)
    a.int_(0x80)
    a.ret()

    a.bind(written)               # the whole response went out
    a.test(byte[EDI + STATE], W)
    a.j("z", resume)
    a.push(EPOLLIN)               # epoll_ctl(epfd, MOD, ebx, {EPOLLIN, ebx}): read again
    a.pop(EAX)
    a.push(EPOLL_CTL_MOD)
    a.pop(ECX)
    a.mov(EDX, EBX)
    a.call(ctl)
    a.test(EAX, EAX)              # it cannot be watched for reading: it cannot be served
    a.j("s", close_conn)
    a.bind(resume)
    a.mov(EAX, dword[r_now])
    a.test(byte[EDI + STATE], C)
    a.j("z", deadline_set)
    a.mov(byte[EDI + STATE], D)   # closing: shutdown(ebx, SHUT_WR), then drain until the
    a.add(EAX, config.idle_timeout)  # client's end of file, at most the idle timeout
    a.mov(dword[EDI + DEADLINE], EAX)
    a.mov(EAX, SYS_shutdown)
    a.push(SHUT_WR)
    a.pop(ECX)
    a.int_(0x80)
    a.ret()
    a.bind(deadline_set)
    a.and_(byte[EDI + STATE], 0)
    a.mov(ECX, dword[EDI + HAVE])
    a.add(EAX, config.idle_timeout)
    a.jecxz(idle := L("idle"))
    a.add(EAX, config.header_timeout - config.idle_timeout)
    a.bind(idle)
    a.mov(dword[EDI + DEADLINE], EAX)
    a.jecxz(done_again := L("done_again"))
    a.call(buf_of)                # a pipelined request follows: answer it now
    a.mov(ESI, EDI)
    a.jmp(process)
    a.bind(done_again)
    a.ret()

    layout = elf.plan(a.text_size, a.data_section.size, a.bss.size)
    if layout.bss_vaddr + a.bss.size > I386_USER_END:
        raise ConfigError(
            f"{config.max_connections} connections with {bufsize}-byte buffers need "
            f"{a.bss.size} bytes of memory: an i386 process's memory ends at 3 GiB (on a "
            "32-bit kernel), with its stack; lower --max-connections or the buffer size")
    return a, start
