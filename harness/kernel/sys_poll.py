"""Readiness: poll, ppoll, select, pselect6 (fs/select.c) and epoll (fs/eventpoll.c).

Every object in the fd table says which events are ready with ``poll()`` (the POLL* bits
of :mod:`harness.linux`; an object without one is always ready, DEFAULT_POLLMASK).  A call
that finds nothing ready and may wait parks the guest (BLOCK); the machine runs it again
whenever the world may have changed, so it simply looks again.  Timeouts are on the
network's virtual clock (``k.deadline``, as nanosleep keeps it): 0 returns at once, a
negative poll/epoll timeout or a NULL timespec waits for ever.

A signal for the process (another process's kill, an alarm) ends the wait with EINTR,
whatever SA_RESTART says: signal(7) lists these calls among those never restarted
(Kernel.interrupts).  Not modelled: POLLPRI / out-of-band data (never pending), nested epoll
loop checks (ELOOP).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .. import linux as L
from .abi import BLOCK, CLOCK_SLACK, NO_DEADLINE, s32

if TYPE_CHECKING:
    from .process import Kernel

#: fs/select.c: what makes an fd readable, writable, exceptional for select.
POLLIN_SET = L.POLLRDNORM | L.POLLRDBAND | L.POLLIN | L.POLLHUP | L.POLLERR
POLLOUT_SET = L.POLLWRBAND | L.POLLWRNORM | L.POLLOUT | L.POLLERR
POLLEX_SET = L.POLLPRI


def poll_mask(f: object) -> int:
    """vfs_poll: the file's ready events, DEFAULT_POLLMASK for a file that cannot wait."""
    poll = getattr(f, "poll", None)
    return L.DEFAULT_POLLMASK if poll is None else poll()


def _wait(k: Kernel, deadline: float | None) -> object:
    """Nothing is ready: 0 once the deadline has passed, else BLOCK until it has
    (``deadline`` None is for ever; on a re-run ``k.deadline`` already holds it)."""
    if k.deadline is None:
        k.deadline = NO_DEADLINE if deadline is None else deadline
    if k.network.now + CLOCK_SLACK >= k.deadline:
        k.deadline = None
        return 0
    k.blocked_fd = -1
    return BLOCK


def _ms_deadline(k: Kernel, timeout: int) -> float | None:
    timeout = s32(timeout)
    if timeout < 0:
        return None
    return k.network.now + timeout / 1000


def _timespec_deadline(k: Kernel, tsp: int, wide: bool) -> float | None | int:
    """A struct timespec (old_timespec32, or __kernel_timespec when ``wide``) as a
    deadline: None for a NULL pointer, -EFAULT, -EINVAL when not a valid time
    (poll_select_set_timeout: timespec64_valid)."""
    if not tsp:
        return None
    raw = k.copy_in(tsp, 16 if wide else 8)
    if raw.__class__ is int:
        return raw
    sec, nsec = struct.unpack("<qq" if wide else "<ii", raw)
    if sec < 0 or not 0 <= nsec < L.NSEC_PER_SEC:
        return -L.EINVAL
    return k.network.now + sec + nsec / 1e9


def _sigmask(k: Kernel, sigmask: int, sigsetsize: int) -> int:
    """set_user_sigmask's checks: a sigset of the wrong size is -EINVAL, a bad one -EFAULT.
    (The mask only matters while a signal could arrive, which cannot happen parked.)"""
    if not sigmask:
        return 0
    if sigsetsize != 8:
        return -L.EINVAL
    raw = k.copy_in(sigmask, 8)
    return raw if raw.__class__ is int else 0


def _left(k: Kernel, tsp: int, deadline: float | None, wide: bool, usec: bool = False) -> None:
    """poll_select_finish: the time left is written back (ppoll, pselect6, select), unless
    the timeout was NULL or zero; a failed copy is ignored, as Linux ignores it."""
    if deadline is None or not tsp:
        return
    raw = k.peek(tsp, 16 if wide or usec and k.abi.word == 8 else 8)
    if raw is None or not any(raw):
        return
    left = max(0, round((deadline - k.network.now) * 1e9))
    sec, nsec = divmod(left, L.NSEC_PER_SEC)
    if usec:  # a timeval of the caller's longs
        k.copy_out(tsp, struct.pack("<qq" if k.abi.word == 8 else "<ii", sec, nsec // 1000))
    else:
        k.copy_out(tsp, struct.pack("<qq" if wide else "<ii", sec, nsec))


# --- poll, ppoll -------------------------------------------------------------------------------

def do_poll(k: Kernel, ufds: int, nfds: int, deadline: float | None) -> object:
    """do_sys_poll: -EINVAL past RLIMIT_NOFILE, -EFAULT, then each pollfd's revents: 0 for
    a negative fd, POLLNVAL for a closed one, else the file's events filtered by the asked
    ones plus POLLERR and POLLHUP; the count of non-zero revents, or a wait."""
    if nfds > k.fds.limit:
        return -L.EINVAL
    raw = k.copy_in(ufds, 8 * nfds) if nfds else b""
    if raw.__class__ is int:
        return raw
    out = bytearray(raw)
    count = 0
    get = k.fds.get
    for i in range(nfds):
        fd, events = struct.unpack_from("<ih", raw, 8 * i)
        revents = 0
        if fd >= 0:
            f = get(fd)
            if f is None:
                revents = L.POLLNVAL
            else:
                revents = poll_mask(f) & ((events & 0xFFFF) | L.POLLERR | L.POLLHUP)
        struct.pack_into("<H", out, 8 * i + 6, revents)
        if revents:
            count += 1
    if not count:
        ret = _wait(k, deadline)
        if ret is BLOCK:
            return ret
    k.deadline = None
    if nfds and k.copy_out(ufds, bytes(out)):
        return -L.EFAULT
    return count


def sys_poll(k: Kernel, ufds: int, nfds: int, timeout: int, *_: int) -> object:
    deadline = k.deadline if k.deadline is not None else _ms_deadline(k, timeout)
    return do_poll(k, ufds, nfds, deadline)


def _ppoll(k: Kernel, ufds: int, nfds: int, tsp: int, sigmask: int, sigsetsize: int,
           wide: bool) -> object:
    if k.deadline is None:
        deadline = _timespec_deadline(k, tsp, wide)
        if deadline.__class__ is int:
            return deadline
        err = _sigmask(k, sigmask, sigsetsize)
        if err:
            return err
    else:
        deadline = k.deadline
    ret = do_poll(k, ufds, nfds, None if deadline == NO_DEADLINE else deadline)
    if ret is not BLOCK and ret.__class__ is int and ret >= 0:
        _left(k, tsp, None if deadline == NO_DEADLINE else deadline, wide)
    return ret


def sys_ppoll(k: Kernel, ufds: int, nfds: int, tsp: int, sigmask: int, sigsetsize: int,
              *_: int) -> object:
    return _ppoll(k, ufds, nfds, tsp, sigmask, sigsetsize, False)


def sys_ppoll_time64(k: Kernel, ufds: int, nfds: int, tsp: int, sigmask: int,
                     sigsetsize: int, *_: int) -> object:
    return _ppoll(k, ufds, nfds, tsp, sigmask, sigsetsize, True)


# --- select, pselect6 --------------------------------------------------------------------------

def _max_fds(k: Kernel) -> int:
    """fdt->max_fds: the fd table's size, NR_OPEN_DEFAULT (64 on an x86-64 kernel) and
    grown in steps of 128 (expand_fdtable rounds to a power of two of 1 KiB pages)."""
    size = len(k.fds._files)
    if size <= 64:
        return 64
    n = 128
    while n < size:
        n *= 2
    return n


def do_select(k: Kernel, n: int, inp: int, outp: int, exp: int,
              deadline: float | None) -> object:
    """compat_core_sys_select / do_select: n < 0 is -EINVAL, n is cut to the fd table's
    size, the sets are copied in longs (FDS_BYTES: 32-bit words for i386, 64-bit for
    x86-64) (-EFAULT), an fd set in any of them that is not open is -EBADF; then the fds
    ready in each set are left set and counted."""
    n = s32(n)
    if n < 0:
        return -L.EINVAL
    n = min(n, _max_fds(k))
    word = k.abi.word
    size = (n + 8 * word - 1) // (8 * word) * word
    sets = []
    for ptr in (inp, outp, exp):
        if ptr and size:
            raw = k.copy_in(ptr, size)
            if raw.__class__ is int:
                return raw
            sets.append(int.from_bytes(raw, "little") & ((1 << n) - 1))
        else:
            sets.append(0)
    rin, rout, rex = sets
    every = rin | rout | rex
    get = k.fds.get
    res = [0, 0, 0]
    count = 0
    fd = 0
    while every >> fd:
        bit = 1 << fd
        if every & bit:
            f = get(fd)
            if f is None:
                k.deadline = None
                return -L.EBADF
            mask = poll_mask(f)
            if rin & bit and mask & POLLIN_SET:
                res[0] |= bit
                count += 1
            if rout & bit and mask & POLLOUT_SET:
                res[1] |= bit
                count += 1
            if rex & bit and mask & POLLEX_SET:
                res[2] |= bit
                count += 1
        fd += 1
    if not count:
        ret = _wait(k, deadline)
        if ret is BLOCK:
            return ret
    k.deadline = None
    for ptr, value in zip((inp, outp, exp), res):
        if ptr and size and k.copy_out(ptr, value.to_bytes(size, "little")):
            return -L.EFAULT
    return count


def _select_deadline(k: Kernel, tvp: int) -> float | None | int:
    """select's struct old_timeval32 (i386) or __kernel_old_timeval (x86-64, longs):
    seconds plus microseconds, which may exceed a second (they are carried); a negative
    value is -EINVAL."""
    if not tvp:
        return None
    wide = k.abi.word == 8
    raw = k.copy_in(tvp, 16 if wide else 8)
    if raw.__class__ is int:
        return raw
    sec, usec = struct.unpack("<qq" if wide else "<ii", raw)
    sec += usec // 1_000_000 if usec >= 0 else -((-usec) // 1_000_000)
    usec = usec % 1_000_000 if usec >= 0 else -((-usec) % 1_000_000)
    if sec < 0 or usec < 0:
        return -L.EINVAL
    return k.network.now + sec + usec / 1e6


def sys_newselect(k: Kernel, n: int, inp: int, outp: int, exp: int, tvp: int, *_: int) -> object:
    """_newselect (142), the select(2) of i386 programs."""
    if k.deadline is None:
        deadline = _select_deadline(k, tvp)
        if deadline.__class__ is int:
            return deadline
    else:
        deadline = None if k.deadline == NO_DEADLINE else k.deadline
    ret = do_select(k, n, inp, outp, exp, deadline)
    if ret is not BLOCK and ret >= 0:
        _left(k, tvp, deadline, False, usec=True)
    return ret


def sys_old_select(k: Kernel, args: int, *_: int) -> object:
    """select (82): old_select, whose one argument points at the five (sel_arg_struct)."""
    raw = k.copy_in(args, 20)
    if raw.__class__ is int:
        return raw
    return sys_newselect(k, *struct.unpack("<5I", raw))


def _pselect(k: Kernel, n: int, inp: int, outp: int, exp: int, tsp: int, sig: int,
             wide: bool) -> object:
    if k.deadline is None:
        deadline = _timespec_deadline(k, tsp, wide)
        if deadline.__class__ is int:
            return deadline
        if sig:  # struct { sigset_t *ss; size_t ss_len; }, compat for i386
            word = k.abi.word
            raw = k.copy_in(sig, 2 * word)
            if raw.__class__ is int:
                return raw
            ss, ss_len = struct.unpack("<QQ" if word == 8 else "<II", raw)
            err = _sigmask(k, ss, ss_len)
            if err:
                return err
    else:
        deadline = None if k.deadline == NO_DEADLINE else k.deadline
    ret = do_select(k, n, inp, outp, exp, deadline)
    if ret is not BLOCK and ret >= 0:
        _left(k, tsp, deadline, wide)
    return ret


def sys_pselect6(k: Kernel, n: int, inp: int, outp: int, exp: int, tsp: int,
                 sig: int) -> object:
    return _pselect(k, n, inp, outp, exp, tsp, sig, False)


def sys_pselect6_time64(k: Kernel, n: int, inp: int, outp: int, exp: int, tsp: int,
                        sig: int) -> object:
    return _pselect(k, n, inp, outp, exp, tsp, sig, True)


# --- epoll --------------------------------------------------------------------------------------

_PRIVATE = L.EPOLLWAKEUP | L.EPOLLONESHOT | L.EPOLLET | L.EPOLLEXCLUSIVE
_EXCLUSIVE_OK = (L.POLLIN | L.POLLOUT | L.POLLERR | L.POLLHUP | L.EPOLLWAKEUP | L.EPOLLET
                 | L.EPOLLEXCLUSIVE)


def _arrived(f: object) -> int:
    """How much has ever arrived to read (a count that only grows: bytes into a socket or
    pipe, connections into a listener's queue): what tells an edge-triggered watcher that
    more came while the file was already readable, since each arrival is a wakeup in
    Linux, whatever was read in between (a file that counts none has only its mask's
    edges)."""
    return getattr(f, "arrived", 0)


class _Item:
    """An epitem: the watched file, its fd, the events and data given, and for EPOLLET
    what the file looked like when last checked."""

    __slots__ = ("file", "fd", "events", "data", "seen", "arrived")

    def __init__(self, file: object, fd: int, events: int, data: int) -> None:
        self.file = file
        self.fd = fd
        self.events = events
        self.data = data
        self.seen = 0
        self.arrived = 0


class Epoll:
    """An epoll instance (struct eventpoll): its interest list, keyed by (file, fd) as
    ep_find does, in the order items became ready (a level-triggered item reported goes
    to the back, as ep_send_events puts it back at the tail of the ready list).

    An item stays until EPOLL_CTL_DEL or until its file is released, that is until the last
    fd of the open file closes in every process that holds it (eventpoll_release, called
    from __fput): closing one of two fds of a file, or a forked process's copy, leaves it
    watched, as epoll(7) warns.  So the set registers each file it watches in
    ``Network.watchers``, which the fd tables consult when they release a file
    (FdTable._fput), whichever process added it and whichever closed it last."""

    #: What an ioctl the generic code does not handle answers: ep_eventpoll_ioctl
    #: (fs/eventpoll.c, Linux 6.9 and later, as on the kernel the tests run on) knows only
    #: EPIOCSPARAMS and EPIOCGPARAMS and says -EINVAL to the rest, FIONREAD included.
    unknown_ioctl = -L.EINVAL
    #: An anonymous inode: fstat shows mode 0600 on anon_inodefs (sys_stat.getattr_fd).
    anon_inode = True
    __slots__ = ("items", "nonblock", "watchers", "files")

    def __init__(self, fds: object) -> None:
        self.items: dict[tuple[int, int], _Item] = {}
        self.nonblock = False
        self.watchers: dict[int, list] = fds.network.watchers
        #: id(file) -> how many items of this set watch it (one per fd it was added by).
        self.files: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"<Epoll {[item.fd for item in self.items.values()]}>"

    def add(self, key: tuple[int, int], item: _Item) -> None:
        """ep_insert: a new item; the file learns that this set watches it."""
        self.items[key] = item
        fid = id(item.file)
        count = self.files.get(fid, 0)
        self.files[fid] = count + 1
        if not count:
            self.watchers.setdefault(fid, []).append(self)

    def remove(self, key: tuple[int, int]) -> None:
        """ep_remove: the item goes; the file forgets this set once no item of it is left."""
        item = self.items.pop(key)
        fid = id(item.file)
        count = self.files.pop(fid)
        if count > 1:
            self.files[fid] = count - 1
            return
        sets = self.watchers.get(fid)
        if sets is not None:
            sets.remove(self)
            if not sets:
                del self.watchers[fid]

    def release(self, f: object) -> None:
        """eventpoll_release: ``f`` was released, its items go (the caller has already
        taken this set off ``f``'s watchers)."""
        self.files.pop(id(f), None)
        for key in [key for key, item in self.items.items() if item.file is f]:
            del self.items[key]

    def poll(self) -> int:
        """ep_eventpoll_poll: readable while some item has an event to report."""
        for item in self.items.values():
            if poll_mask(item.file) & item.events & ~_PRIVATE:
                if not item.events & L.EPOLLET or self._edge(item, peek=True):
                    return L.POLLIN | L.POLLRDNORM
        return 0

    def _edge(self, item: _Item, peek: bool = False) -> int:
        mask = poll_mask(item.file) & item.events & ~_PRIVATE
        arrived = _arrived(item.file)
        fire = mask & ~item.seen or (mask & L.POLLIN and arrived > item.arrived)
        if not peek:
            item.seen = mask
            item.arrived = arrived
        return mask if fire else 0

    def collect(self, maxevents: int) -> list[tuple[int, int]]:
        """ep_send_events: up to ``maxevents`` (events, data) pairs, with EPOLLONESHOT
        items disarmed and reported level-triggered ones moved to the back."""
        out = []
        items = self.items
        for item in list(items.values()):
            if len(out) >= maxevents:
                break
            if item.events & L.EPOLLET:
                revents = self._edge(item)
            else:
                revents = poll_mask(item.file) & item.events & ~_PRIVATE
            if not revents:
                continue
            out.append((revents, item.data))
            if item.events & L.EPOLLONESHOT:
                item.events &= _PRIVATE
            elif not item.events & L.EPOLLET:
                key = (id(item.file), item.fd)
                items[key] = items.pop(key)
        return out

    def read(self, count: int) -> int:
        return -L.EINVAL  # no read method: vfs_read's FMODE_CAN_READ check

    def write(self, data: bytes) -> int:
        return -L.EINVAL

    def close(self) -> None:
        """ep_free: the set itself is released; its files forget it."""
        for key in list(self.items):
            self.remove(key)


def _epoll_install(k: Kernel, cloexec: bool) -> int:
    return k.fds.install(Epoll(k.fds), cloexec)


def sys_epoll_create(k: Kernel, size: int, *_: int) -> int:
    """epoll_create(2): size must be positive (-EINVAL), and is otherwise ignored."""
    if s32(size) <= 0:
        return -L.EINVAL
    return _epoll_install(k, False)


def sys_epoll_create1(k: Kernel, flags: int, *_: int) -> int:
    if flags & ~L.EPOLL_CLOEXEC:
        return -L.EINVAL
    return _epoll_install(k, bool(flags))


def sys_epoll_ctl(k: Kernel, epfd: int, op: int, fd: int, event: int, *_: int) -> int:
    """epoll_ctl(2) in do_epoll_ctl's order: the event copied first (-EFAULT, for every op
    but DEL), -EBADF for either fd, -EINVAL when epfd is not an epoll fd or is fd itself,
    the EPOLLEXCLUSIVE rules, then -EEXIST (ADD) or -ENOENT (MOD, DEL).  EPOLLERR and
    EPOLLHUP are always watched."""
    op = s32(op)
    events = data = 0
    if op != L.EPOLL_CTL_DEL:
        raw = k.copy_in(event, 12)
        if raw.__class__ is int:
            return raw
        events, data = struct.unpack("<IQ", raw)
    ep = k.fds.get(epfd)
    target = k.fds.get(fd)
    if ep is None or target is None:
        return -L.EBADF
    if ep.__class__ is not Epoll or epfd == fd:
        return -L.EINVAL
    if op != L.EPOLL_CTL_DEL and events & L.EPOLLEXCLUSIVE:
        if op == L.EPOLL_CTL_MOD:
            return -L.EINVAL
        if op == L.EPOLL_CTL_ADD and (target.__class__ is Epoll or events & ~_EXCLUSIVE_OK):
            return -L.EINVAL
    key = (id(target), fd)
    item = ep.items.get(key)
    if op == L.EPOLL_CTL_ADD:
        if item is not None:
            return -L.EEXIST
        ep.add(key, _Item(target, fd, events | L.POLLERR | L.POLLHUP, data))
        return 0
    if op == L.EPOLL_CTL_DEL:
        if item is None:
            return -L.ENOENT
        ep.remove(key)
        return 0
    if op == L.EPOLL_CTL_MOD:
        if item is None:
            return -L.ENOENT
        if item.events & L.EPOLLEXCLUSIVE:
            return -L.EINVAL
        item.events = events | L.POLLERR | L.POLLHUP
        item.data = data
        item.seen = 0  # ep_modify polls again and queues the item if it is ready
        return 0
    return -L.EINVAL


def _epoll_wait(k: Kernel, epfd: int, events: int, maxevents: int,
                deadline: float | None) -> object:
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > L.EP_MAX_EVENTS:
        return -L.EINVAL
    ep = k.fds.get(epfd)
    if ep is None:
        return -L.EBADF
    if ep.__class__ is not Epoll:
        return -L.EINVAL
    ready = ep.collect(maxevents)
    if not ready:
        ret = _wait(k, deadline)
        if ret is BLOCK:
            return ret
        return 0
    k.deadline = None
    raw = b"".join(struct.pack("<IQ", ev, data) for ev, data in ready)
    if k.copy_out(events, raw):
        return -L.EFAULT
    return len(ready)


def sys_epoll_wait(k: Kernel, epfd: int, events: int, maxevents: int, timeout: int,
                   *_: int) -> object:
    deadline = k.deadline if k.deadline is not None else _ms_deadline(k, timeout)
    if deadline == NO_DEADLINE:
        deadline = None
    return _epoll_wait(k, epfd, events, maxevents, deadline)


def sys_epoll_pwait(k: Kernel, epfd: int, events: int, maxevents: int, timeout: int,
                    sigmask: int, sigsetsize: int) -> object:
    if k.deadline is None:
        err = _sigmask(k, sigmask, sigsetsize)
        if err:
            return err
    return sys_epoll_wait(k, epfd, events, maxevents, timeout)
