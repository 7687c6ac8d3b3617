"""The harness's Python API: one guest process on a fake network, driven like a test would.

::

    from harness import Guest

    guest = Guest.load("site.elf")
    guest.start()                          # runs until it waits in accept4
    response = guest.request(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    assert response.startswith(b"HTTP/1.1 200 ")

For finer control, :meth:`Guest.connect` returns the client end of a connection
(:class:`harness.net.Client`: ``send``, ``shutdown_write``, ``close``, ``reset``,
``recv_all``) and :meth:`Guest.run` runs the guest until it waits again.

Clients that misbehave, as real ones do, to see that a server survives them::

    client = guest.connect()
    guest.fragment(client, request, 1)     # one byte at a time, the guest running between
    guest.stall(5)                         # 5 s of silence on the virtual clock
    client.shutdown_write()                # half-close: FIN, and keep reading
    client.reset()                         # RST, at any point: before accept, mid-request,
                                           # mid-response
    guest.run()

``stall`` never sleeps: it moves :attr:`Network.now` and resumes the guest, so a read
waiting under SO_RCVTIMEO gives up with EAGAIN as it would after that long on Linux.  The
guest's own calls can be made to fail with ``Guest(program, faults=["write=EPIPE@1"])``
(:mod:`harness.faults` has the syntax).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from .errors import GuestTimeout, HarnessError
from .faults import Fault, Faults
from .machine import DEFAULT_MAX_SECONDS, DEFAULT_MAX_SYSCALLS, Machine
from .kernel.files import FdTable
from .net import Client, Network, format_ip
from .kernel import Kernel, Stop
from .kernel.fs import Tree

#: What ``webelf run`` sends when no request file is given: what curl sends for ``/``.
DEFAULT_REQUEST = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: webelf\r\n"
                   b"Accept: */*\r\n\r\n")

#: How many times one request may wake the guest before the harness gives up on it: a
#: guest that keeps waiting on something else would otherwise be resumed forever.  Waits
#: for the client to read (a write that filled the connection) are not counted: the client
#: reads at once, and the time the guest spends writing counts as one run (see request).
_MAX_WAKES = 64

#: The most of one response :meth:`Guest.request` collects in memory (give it a ``sink``
#: to stream more).
RESPONSE_LIMIT = 64 << 20

#: A sink: a callable taking bytes, or a binary file (written, then flushed).
Sink = object


class Guest:
    """A static i386 or x86-64 Linux ELF running in the emulator, with its own fake network."""

    def __init__(
        self,
        program: bytes,
        *,
        argv: Sequence[str] = ("guest",),
        envp: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        stdin: bytes = b"",
        strict: bool = False,
        max_instructions: int | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        max_syscalls: int = DEFAULT_MAX_SYSCALLS,
        strace: Callable[[str], None] | None = None,
        trace: Callable[[str], None] | None = None,
        record: bool = False,
        coverage: bool = False,
        network: Network | None = None,
        faults: Iterable[Fault | str] | Faults | None = None,
        exe_path: str = "/guest",
        stdout: Sink | None = None,
        stderr: Sink | None = None,
        root: str | os.PathLike | None = None,
    ) -> None:
        """``stdout`` and ``stderr`` say where the guest's fd 1 and fd 2 go: a callable
        taking the bytes of each write, or a binary file (flushed after each write), gets
        them as the guest writes them; by default they are collected in :attr:`stdout` and
        :attr:`stderr`, up to :data:`~harness.kernel.files.STD_CAPACITY` (64 MiB) each.  Past that
        the guest's pipe is full, as a pipe nobody reads: the write sleeps and the guest
        stops, blocked in ``write`` on that fd (:meth:`take_stdout` reads the pipe)."""
        if env is not None:
            if envp:
                raise HarnessError("give the environment as env or as envp, not both")
            envp = environ_strings(env)
        self.network = network if network is not None else Network()
        self.kernel = Kernel(self.network, strict=strict, strace=strace, record=record,
                             stdin=bytes(stdin), faults=faults)
        self.kernel.exe_path = exe_path  # what /proc/self/exe names, and the task's name
        if root is not None:  # the read-only file tree the guest sees as "/"
            try:
                self.kernel.tree = Tree(root)
            except OSError as exc:
                raise HarnessError(f"--root {root}: not a directory ({exc})") from None
        self.machine = Machine(program, self.kernel, argv=argv, envp=envp,
                               max_instructions=max_instructions, max_seconds=max_seconds,
                               max_syscalls=max_syscalls, trace=trace,
                               coverage=coverage)
        self.last_stop: Stop | None = None
        #: How many bytes the last :meth:`request` received (streamed or returned).
        self.response_size = 0
        fds = self.kernel.fds
        fds.stdout.stream_to(stdout)
        fds.stderr.stream_to(stderr)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> Guest:
        """Load the ELF at ``path``; ``argv`` defaults to ``[path]``.  The other keywords are
        the constructor's: ``env={"A": "1"}`` (or ``envp=["A=1"]``), ``stdin=b"..."`` (what
        fd 0 reads before end of file), ``strace``, ``faults``..."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise HarnessError(f"cannot read {path}: {exc.strerror or exc}") from None
        kwargs.setdefault("argv", (str(path),))
        kwargs.setdefault("exe_path", os.path.abspath(path))
        return cls(data, **kwargs)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Free the guest's emulator and memory now (idempotent).  A guest that is dropped
        is closed as it goes (:meth:`__del__`), so a loop that makes and drops guests holds
        one at a time; ``with Guest(...) as guest:`` closes at the end of the block.  What
        the guest wrote, its exit status and its network stay readable."""
        machine = self.__dict__.get("machine")
        if machine is not None:
            machine.close()
            tasks = self.kernel.tasks
            if tasks is not None:
                tasks.close()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # The machine is a reference cycle (machine.close says why): without this, its
        # memory would wait for the cyclic garbage collector.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free
            pass

    # ------------------------------------------------------------------ running

    def run(self) -> Stop:
        """Run until the guest exits or waits; raises GuestFault or GuestTimeout."""
        tasks = self.kernel.tasks
        if tasks is None:
            self.last_stop = self.machine.run()
            if self.kernel.tasks is not None:  # it forked
                self.last_stop = self.kernel.tasks.run()
        else:  # several processes: harness.kernel.task's scheduler
            self.last_stop = tasks.run()
        return self.last_stop

    def _fds_of(self, stop: Stop) -> FdTable:
        """The fd table of the process that made ``stop``."""
        tasks = self.kernel.tasks
        return self.kernel.fds if tasks is None else tasks.reporter.fds

    def start(self) -> Stop:
        """Run from the entry point until the guest first waits (or exits)."""
        return self.run()

    def stall(self, seconds: float) -> Stop:
        """Let ``seconds`` pass with nobody sending anything, then run the guest.

        The network's virtual clock moves (:meth:`Network.advance`: pending connections time
        out too), so a call waiting under SO_RCVTIMEO that has now waited its timeout returns
        EAGAIN when the guest resumes; nothing really sleeps.  A guest that has exited stays
        so.
        """
        self.network.advance(seconds)
        return self.run()

    def fragment(self, client: Client, data: bytes,
                 sizes: int | Sequence[int] = 1) -> Stop | None:
        """Send ``data`` in pieces, running the guest after each, as a slow or hostile client
        whose request arrives over many segments (read(2) returns what has arrived, so the
        guest must read again).  ``sizes`` is one piece length, or the lengths in turn with
        whatever is left as a last piece.  Stops early if the guest exits or closes the
        connection; returns where the guest last stopped (None if it never ran).
        """
        if isinstance(sizes, int):
            sizes = [sizes] * len(data)
        lengths = list(sizes)
        if any(n < 1 for n in lengths):
            raise HarnessError("fragment sizes must be at least 1 byte")
        pieces, at = [], 0
        for n in lengths:
            if at < len(data):
                pieces.append(data[at:at + n])
                at += n
        if at < len(data):
            pieces.append(data[at:])
        stop = self.last_stop
        for piece in pieces:
            if self.exited or client.closed_by_peer:
                break
            client.send(piece)
            stop = self.run()
        return stop

    def _holds(self, client: Client) -> bool:
        """Whether a live process of the guest has an fd on ``client``'s connection."""
        tasks = self.kernel.tasks
        if tasks is None:  # one process: the usual case, and the fuzzer's hot path
            return any(getattr(f, "peer", None) is client for f in self.kernel.fds._files)
        return any(getattr(f, "peer", None) is client for p in tasks.procs.values()
                   if p.status is None for f in p.kernel.fds._files)

    def next_deadline(self) -> float | None:
        """The earliest time, on the network's clock, at which a waiting process of the guest
        gives up by itself (a receive timeout, a poll or sleep timeout, an alarm); None if
        every one waits for ever (or has exited).  A driver that follows the wall clock
        (``webelf serve``) sleeps until then unless something arrives first."""
        tasks = self.kernel.tasks
        if tasks is None:
            return self.kernel.timeout_at
        times = [at for p in tasks.procs.values()
                 if p.status is None and (at := p.kernel.timeout_at) is not None]
        return min(times, default=None)

    @property
    def exited(self) -> bool:
        return self.machine.exit_status is not None

    @property
    def exit_status(self) -> int | None:
        return self.machine.exit_status

    @property
    def waiting_in_accept(self) -> bool:
        """Whether the guest waits for a connection: in accept(2), or, as an event loop
        does, in poll, select or epoll_wait while it listens."""
        stop = self.last_stop
        if stop is None or stop.reason != "blocked":
            return False
        return stop.syscall in ("accept4", "accept") or (
            stop.syscall in _POLLS and bool(self.network.listening()))

    @property
    def stdout(self) -> bytes:
        """What the guest wrote to fd 1 and is still collected (nothing when streamed)."""
        return bytes(self.kernel.fds.stdout.output)

    @property
    def stderr(self) -> bytes:
        """What the guest wrote to fd 2 and is still collected (nothing when streamed)."""
        return bytes(self.kernel.fds.stderr.output)

    def take_stdout(self) -> bytes:
        """Read the guest's stdout pipe: what it holds, which makes room for a guest that
        waits to write (run it again to let it go on)."""
        return self.kernel.fds.stdout.take()

    def take_stderr(self) -> bytes:
        """Read the guest's stderr pipe, as :meth:`take_stdout`."""
        return self.kernel.fds.stderr.take()

    @property
    def calls(self) -> list[tuple[str, int]]:
        """(syscall name, return value) of every completed call (needs ``record=True``)."""
        if self.kernel.calls is None:
            raise HarnessError("system calls are recorded only with record=True")
        return self.kernel.calls

    # ------------------------------------------------------------------ network

    def listening(self) -> list[tuple[str, int]]:
        """The (address, port) pairs the guest listens on, in the order it started."""
        return [(format_ip(ip), port) for ip, port in self.network.listening()]

    def port(self, choose: int | None = None) -> int:
        """The port to talk to: ``choose`` if the guest listens there, else its only one."""
        ports = [port for _, port in self.listening()]
        if choose is not None:
            if choose not in ports:
                raise HarnessError(f"the guest does not listen on port {choose} "
                                   f"(it listens on {_ports_text(ports)})")
            return choose
        if not ports:
            raise HarnessError("the guest does not listen on any port")
        if len(set(ports)) > 1:
            raise HarnessError(f"the guest listens on several ports ({_ports_text(ports)}); "
                               "choose one with --port")
        return ports[0]

    def connect(self, port: int | None = None) -> Client:
        """Open a connection to the guest, as a client on 127.0.0.1 would."""
        return self.network.connect(self.port(port))

    def request(self, data: bytes, port: int | None = None, *, sink: Sink | None = None,
                limit: int = RESPONSE_LIMIT, split: Sequence[int] = ()) -> bytes:
        """Send ``data`` on a new connection and return every byte the guest sends back.

        The guest runs until it has closed the connection, as a polite client sees it:
        when the guest waits to read more than ``data`` holds, the client closes its
        sending side, as ``nc -N`` does, so the guest reads end of file; when the guest has
        finished sending (its FIN arrived) and still reads, for instance to drain before
        closing, the client takes the response and closes.  Returns early, with what
        arrived, if the guest exits or waits for something else.

        The client reads as the guest writes: a guest whose write filled the connection
        (:meth:`harness.net.Socket.room`) waits in it, or in poll, select or epoll_wait
        for room (EPOLLOUT), the client takes the bytes, and the guest goes on.  A guest of
        several processes is followed to whichever of them holds the connection.  Those
        runs and the reading count as one against the time budget (wall-clock time since
        the guest last waited for anything else): the guest never waited for anything but
        a reader that reads at once, so a guest that writes without end raises
        GuestTimeout.  The response is returned, up to ``limit`` bytes
        (more is a HarnessError naming the limit), or, with ``sink`` (a callable or binary
        file), handed to the sink as it arrives and not kept (then b"" is returned).
        :attr:`response_size` counts the bytes either way.

        ``split`` sends the request in pieces, as TCP segments may deliver it: each offset
        in it (ascending, inside ``data``) ends a piece, and the guest runs after each piece
        but the last, so it reads the request in as many reads (a fuzzer's splits).
        """
        return self.exchange(self.connect(port), data, sink=sink, limit=limit, split=split)

    def exchange(self, client: Client, data: bytes, *, sink: Sink | None = None,
                 limit: int = RESPONSE_LIMIT, split: Sequence[int] = ()) -> bytes:
        """:meth:`request` on a connection already open: ``client``, from :meth:`connect`,
        that the guest may have accepted and waits to read (a fuzzer's snapshot is taken
        there: :class:`harness.fuzz.Fuzzer`).  The client sends ``data`` now, as one that
        connected earlier and sends when it is ready."""
        client.close_on_eof = True
        client.keep = False
        at = 0
        for cut in split:
            if at < cut < len(data) and not self.exited:
                client.send(data[at:cut])
                self.run()
                at = cut
        client.send(data[at:])
        parts: list[bytes] = []
        self.response_size = 0
        if sink is not None and not callable(sink):
            file = sink

            def sink(chunk: bytes) -> None:
                file.write(chunk)
                file.flush()

        def take() -> None:
            chunk = client.recv_all()
            if not chunk:
                return
            self.response_size += len(chunk)
            if sink is not None:
                sink(chunk)
                return
            if self.response_size > limit:
                raise HarnessError(f"the response is longer than {limit:,} bytes, the most "
                                   "a request collects (stream it with a sink)")
            parts.append(chunk)

        writing_since = None  # when the guest last waited for anything but this reader
        wakes = 0
        while wakes < _MAX_WAKES:
            if self.exited:
                break
            started = time.monotonic()
            stop = self.run()
            blocked = stop.reason == "blocked"
            if (blocked and stop.syscall in _WRITES
                    and getattr(self._fds_of(stop).get(stop.fd), "peer", None) is client
                    or blocked and stop.syscall in _POLLS and client.available()
                    and not client.closed_by_peer and _full(client)
                    and self._holds(client)):
                # It waits to write to this client (in write, or in poll/select/epoll for
                # room, EPOLLOUT), which reads what came: the guest goes on.
                if writing_since is None:
                    writing_since = started
                elif time.monotonic() - writing_since >= self.machine.max_seconds:
                    raise GuestTimeout(self.machine.eip, "int 0x80",
                                       f"time budget of {self.machine.max_seconds:g} s")
                take()
                continue
            writing_since = None
            wakes += 1
            wake_at = self.next_deadline()
            if stop.syscall in _SLEEPS and wake_at is not None:
                # Nothing else happens in this world until the guest wakes: let the
                # virtual clock jump there, as a discrete-event simulation would.
                self.network.advance(max(0.0, wake_at - self.network.now))
                continue
            if stop.reason == "blocked" and stop.syscall in _POLLS:
                # A multiplexing guest waits in poll/select/epoll for no one fd (Stop.fd is
                # -1): if it (any of its processes: a worker may hold the connection
                # another process waits beside) still holds this connection, the client
                # does what it does for a read on it (takes what arrived, half-closes,
                # closes after the FIN); otherwise, with a timeout, the clock jumps there
                # as for nanosleep.
                if not self._holds(client):
                    if wake_at is None or client.closed_by_peer:
                        break
                    self.network.advance(max(0.0, wake_at - self.network.now))
                    continue
                take()   # what came (a write that had room): no run is needed for it
                if client.closed_by_peer:
                    client.close()
                elif not client.fin_sent:
                    client.shutdown_write()
                elif wake_at is not None:
                    self.network.advance(max(0.0, wake_at - self.network.now))
                else:
                    break
                continue
            if stop.reason == "exited" or stop.syscall not in _READS:
                break
            if getattr(self._fds_of(stop).get(stop.fd), "peer", None) is not client:
                break  # it waits on another connection: this one is over
            if client.closed_by_peer:
                take()
                client.close()
            elif not client.fin_sent:
                client.shutdown_write()
            else:
                break
        take()
        client.close()
        return b"".join(parts)


def _full(client: Client) -> bool:
    """Whether the guest's end of ``client``'s connection has no room to write (no
    POLLOUT: :meth:`harness.net.Socket.poll`): only then can the client's reading wake a
    guest that waits in poll, select or epoll."""
    peer = client.peer
    return peer is not None and peer.room() <= 0


def environ_strings(env: Mapping[str, str]) -> list[str]:
    """``{"A": "1"}`` as the ``NAME=VALUE`` strings execve(2) passes, in the mapping's order;
    a NAME that is empty or holds ``=`` (or a NUL anywhere) is refused, as no process could
    receive it."""
    strings = []
    for name, value in env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise HarnessError(f"not an environment variable: {name!r}={value!r}")
        strings.append(f"{name}={value}")
    return strings


#: The calls a guest reads a connection with, by the names Stop reports.
_READS = frozenset({"read", "recvfrom", "recv"})
#: The calls a guest sleeps in until a time (or, pause, an alarm): the clock jumps there.
_SLEEPS = frozenset({"nanosleep", "pause"})
#: The calls a guest waits in for any of many fds.
_POLLS = frozenset({"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6",
                    "pselect6_time64", "epoll_wait", "epoll_pwait"})
#: The calls a guest writes a connection with.
_WRITES = frozenset({"write", "writev", "sendto", "send"})


def _ports_text(ports: Sequence[int]) -> str:
    return ", ".join(map(str, ports)) or "none"
