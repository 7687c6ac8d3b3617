"""The host: :class:`Network`, who holds which port, who listens where, and the clock.

One per emulated host, shared by every process on it, as the processes of one Linux host
share its network namespace.  It keeps the tables bind(2) is checked against (the bound
sockets by port, as ``inet_csk_get_port``'s bind hash; the ports TIME_WAIT still holds),
sends an outside connect to its listener, and keeps the virtual clock: pending SYNs time
out and port holds expire only when :meth:`Network.advance` moves it, so runs are
reproducible.  It also holds what the host's fd tables share (``shared``, ``watchers``)
and the host's fixed facts (``ncpus``, ``epoch_ns``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NetError
from ..linux import (
    ECONNREFUSED,
    ENETUNREACH,
    ETIMEDOUT,
    INADDR_ANY,
    INADDR_LOOPBACK,
    INR_OPEN_CUR,
    IP_LOCAL_PORT_RANGE,
    SK_RMEM_MAX,
    SK_WMEM_MAX,
    SOMAXCONN,
    TCP_SYN_RETRIES,
    TCP_TIMEOUT_INIT,
)
from .addresses import _is_local, format_ip, ip_address
from .client import Client

if TYPE_CHECKING:
    from .socket import Socket

#: 2024-01-01T00:00:00Z, the wall-clock time at which a network's clock starts by default.
REALTIME_EPOCH_NS = 1_704_067_200 * 1_000_000_000
#: How many CPUs a network's host has unless told (Network's ``ncpus``), and the most it may
#: have: strace sizes the masks it prints at 128 bytes (1024 CPUs) unless the kernel needs
#: more (src/affinity.c get_cpuset_size), and the harness's decoder keeps to that size.
DEFAULT_NCPUS = 2
MAX_NCPUS = 1024

_SYN_TIMEOUT = TCP_TIMEOUT_INIT * (2 ** (TCP_SYN_RETRIES + 1) - 1)  # 127 s
_EPHEMERAL_LOW, _EPHEMERAL_HIGH = IP_LOCAL_PORT_RANGE


class Network:
    """The host's TCP state: who holds which port, who listens where, and a virtual clock.

    ``privileged`` makes the guest act with CAP_NET_BIND_SERVICE and CAP_NET_ADMIN (ports
    below 1024, SO_PRIORITY above 6), as root in a container would; ``somaxconn``,
    ``wmem_max`` and ``rmem_max`` are the sysctls of those names.  ``epoch_ns`` is the
    wall-clock time (CLOCK_REALTIME, in nanoseconds since 1970) at which ``now`` was 0:
    2024-01-01T00:00:00Z by default, so that runs are reproducible.

    ``ncpus`` is how many CPUs the host has (nr_cpu_ids), every one online and in every new
    process's affinity mask (sched_getaffinity(2), :mod:`harness.kernel.sys_sched`): a
    fixed number, not the real machine's, so that a guest that sizes itself by its CPUs
    (a server's ``--workers auto``) does the same on every machine.  The default,
    :data:`DEFAULT_NCPUS` (2), is the smallest machine on which such a guest forks workers,
    so the code that runs them is exercised; 1 to :data:`MAX_NCPUS`.
    """

    __slots__ = ("now", "epoch_ns", "privileged", "somaxconn", "wmem_max", "rmem_max", "ncpus",
                 "_ports", "_listeners", "_timewait", "_next_bind_port", "_next_client_port",
                 "shared", "watchers")

    def __init__(self, *, privileged: bool = True, somaxconn: int = SOMAXCONN,
                 wmem_max: int = SK_WMEM_MAX, rmem_max: int = SK_RMEM_MAX,
                 epoch_ns: int = REALTIME_EPOCH_NS, ncpus: int = DEFAULT_NCPUS) -> None:
        if not 1 <= ncpus <= MAX_NCPUS:
            raise ValueError(f"ncpus must be 1 to {MAX_NCPUS}, not {ncpus}")
        self.now = 0.0
        self.ncpus = ncpus
        self.epoch_ns = epoch_ns
        self.privileged = privileged
        self.somaxconn = somaxconn
        self.wmem_max = wmem_max
        self.rmem_max = rmem_max
        self._ports: dict[int, list[Socket]] = {}
        self._listeners: dict[tuple[int, int], list[Socket]] = {}
        self._timewait: dict[int, dict[tuple[int, bool, bool], float]] = {}
        self._next_bind_port = _EPHEMERAL_LOW | 1
        self._next_client_port = _EPHEMERAL_LOW
        #: id(open file) -> how many fd tables hold it, for files fork shared (FdTable.fork).
        self.shared: dict[int, int] = {}
        #: id(open file) -> the epoll sets watching it, told when the file is released
        #: (eventpoll_release, from __fput: FdTable._fput), wherever its last fd was.
        self.watchers: dict[int, list] = {}

    def fdtable(self, *, limit: int = INR_OPEN_CUR, stdin: bytes = b""):
        """A new process's fd table on this host (:class:`harness.kernel.files.FdTable`)."""
        from ..kernel.files import FdTable  # the kernel's, which builds on this package

        return FdTable(self, limit=limit, stdin=stdin)

    def listening(self) -> list[tuple[int, int]]:
        """The ``(ip, port)`` addresses some socket listens on, in the order they started."""
        return list(self._listeners)

    def connect(self, port: int, ip: int | str = INADDR_LOOPBACK, *,
                discard_on_reset: bool = False) -> Client:
        """Connect from outside to ``ip:port``.

        A listener bound to that address wins over one bound to INADDR_ANY.  Raises NetError
        ECONNREFUSED when nothing listens (the host answers the SYN with RST) and
        ENETUNREACH for an address outside 127.0.0.0/8.  A full backlog is not an error: the
        client is returned ``pending`` (see :mod:`harness.net`).
        """
        if ip.__class__ is str:
            ip = ip_address(ip)
        if not _is_local(ip):
            raise NetError(ENETUNREACH, f"connect to {format_ip(ip)}:{port}")
        listeners = self._listeners.get((ip, port)) or self._listeners.get((INADDR_ANY, port))
        if not listeners:
            raise NetError(ECONNREFUSED, f"connect to {format_ip(ip)}:{port}")
        listener = listeners[0]
        client = Client(self, (INADDR_LOOPBACK, self._client_port()), (ip, port),
                        discard_on_reset)
        if len(listener.queue) > listener.backlog:
            client.deadline = self.now + _SYN_TIMEOUT
            client._listener = listener
            listener.pending.append(client)
        else:
            listener._establish(client)
        return client

    def advance(self, seconds: float) -> None:
        """Move the virtual clock: pending connections time out, port holds expire, and a
        guest call waiting under SO_RCVTIMEO that has waited its timeout returns EAGAIN
        when the guest next runs (the syscall layer keeps that deadline)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        now = self.now = self.now + seconds
        for listeners in self._listeners.values():
            for listener in listeners:
                pending = listener.pending
                while pending and pending[0].deadline <= now:
                    pending.popleft()._refused(ETIMEDOUT)
        for port in list(self._timewait):
            holds = self._timewait[port]
            for key in [k for k, until in holds.items() if until <= now]:
                del holds[key]
            if not holds:
                del self._timewait[port]

    # -- ports ----------------------------------------------------------------------------

    def _hold(self, sock: Socket, seconds: float) -> None:
        ip, port = sock.local
        holds = self._timewait.get(port)
        if holds is None:
            holds = self._timewait[port] = {}
        holds[(ip, sock.reuseaddr, sock.reuseport)] = self.now + seconds

    def _unhold_port(self, sock: Socket, port: int) -> None:
        owners = self._ports.get(port)
        if owners is not None and sock in owners:
            owners.remove(sock)
            if not owners:
                del self._ports[port]

    def _port_free(self, port: int) -> bool:
        if port in self._ports:
            return False
        holds = self._timewait.get(port)
        return not holds or all(until <= self.now for until in holds.values())

    def _free_port(self) -> int:
        """An ephemeral port nobody holds, odd ones first, or 0 when none is left."""
        for parity in (1, 0):
            first = _EPHEMERAL_LOW + (parity - _EPHEMERAL_LOW) % 2
            count = (_EPHEMERAL_HIGH - first) // 2 + 1
            offset = (self._next_bind_port - first) // 2 if parity else 0
            for i in range(count):
                port = first + 2 * ((offset + i) % count)
                if self._port_free(port):
                    if parity:
                        self._next_bind_port = first + 2 * ((offset + i + 1) % count)
                    return port
        return 0

    def _client_port(self) -> int:
        """The next even ephemeral port no guest socket holds (any, if they all are)."""
        port = self._next_client_port
        for _ in range((_EPHEMERAL_HIGH - _EPHEMERAL_LOW) // 2):
            if port not in self._ports:
                break
            port = port + 2 if port + 2 <= _EPHEMERAL_HIGH else _EPHEMERAL_LOW
        self._next_client_port = port + 2 if port + 2 <= _EPHEMERAL_HIGH else _EPHEMERAL_LOW
        return port
