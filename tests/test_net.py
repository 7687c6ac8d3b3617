"""The fake network's rules, one test per rule, each checked against what Linux does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import NetError
from harness.linux import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EACCES,
    EAFNOSUPPORT,
    EAGAIN,
    EBADF,
    ECONNREFUSED,
    ECONNRESET,
    EDOM,
    EINVAL,
    EMFILE,
    ENOPROTOOPT,
    ENOTCONN,
    ENOTSOCK,
    EOPNOTSUPP,
    EPIPE,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    ETIMEDOUT,
    INADDR_ANY,
    INADDR_LOOPBACK,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_PEEK,
    MSG_WAITALL,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_ACCEPTCONN,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVTIMEO_OLD,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_TYPE,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    SOL_SOCKET,
    SOMAXCONN,
    TCP_KEEPCNT,
    TCP_NODELAY,
)
from harness.net import (
    WOULD_BLOCK,
    Network,
    Socket,
    State,
    format_ip,
    ip_address,
    pack_sockaddr_in,
    parse_sockaddr_in,
    raises_sigpipe,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
PORT = 8080


def i32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)


def listener(fds, port=PORT, backlog=16, ip=INADDR_ANY, reuse=False, reuseport=False):
    fd = fds.socket(AF_INET, SOCK_STREAM, 0)
    sock = fds.sock(fd)
    if reuse:
        assert sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, i32(1)) == 0
    if reuseport:
        assert sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, i32(1)) == 0
    assert sock.bind(ip, port) == 0
    assert sock.listen(backlog) == 0
    return fd


@pytest.fixture
def net():
    return Network()


@pytest.fixture
def fds(net):
    return net.fdtable()


def accepted(net, fds, request=REQUEST, **connect):
    """A listener on PORT, a client that sent ``request``, and the guest's fd for it."""
    lfd = listener(fds)
    client = net.connect(PORT, **connect)
    if request:
        client.send(request)
    fd = fds.accept4(lfd)
    assert fd >= 0
    return client, fd


# -- reset on close with unread data (RFC 2525 2.17, __tcp_close) ------------------------------


def test_close_after_reading_everything_sends_fin(net, fds):
    client, fd = accepted(net, fds)
    assert fds.read(fd, 1024) == REQUEST
    assert fds.write(fd, RESPONSE) == len(RESPONSE)
    assert fds.close(fd) == 0
    assert client.closed_by_peer and not client.was_reset
    assert client.recv_all() == RESPONSE


def test_close_with_unread_request_bytes_sends_rst(net, fds):
    client, fd = accepted(net, fds)
    assert fds.read(fd, 10) == REQUEST[:10]
    fds.write(fd, RESPONSE)
    fds.close(fd)
    assert client.was_reset and client.closed_by_peer
    # A Linux client keeps what had arrived before the RST (tcp_reset purges only the write
    # queue), then its next send reports the reset once, then EPIPE.
    assert client.received == RESPONSE
    with pytest.raises(NetError) as first:
        client.send(b"more")
    with pytest.raises(NetError) as second:
        client.send(b"more")
    assert (first.value.errno, second.value.errno) == (ECONNRESET, EPIPE)


def test_reset_discards_what_an_rfc793_client_had_not_read(net, fds):
    client, fd = accepted(net, fds, discard_on_reset=True)
    fds.read(fd, 3)
    fds.write(fd, RESPONSE)
    assert client.recv(9) == RESPONSE[:9]
    fds.close(fd)
    assert client.was_reset
    assert client.received == RESPONSE[:9]
    assert client.recv_all() == b""


def test_a_discarding_client_keeps_everything_after_a_clean_close(net, fds):
    client, fd = accepted(net, fds, discard_on_reset=True)
    fds.read(fd, 1024)
    fds.write(fd, RESPONSE)
    fds.close(fd)
    assert not client.was_reset
    assert client.recv_all() == RESPONSE


def test_zero_linger_close_sends_rst_without_unread_data(net, fds):
    client, fd = accepted(net, fds)
    sock = fds.get(fd)
    assert sock.setsockopt(SOL_SOCKET, SO_LINGER, i32(1) + i32(0)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_LINGER, 8) == i32(1) + i32(0)
    fds.read(fd, 1024)
    fds.close(fd)
    assert client.was_reset


def test_client_close_with_unread_response_resets_the_guest(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    fds.write(fd, b"partial")
    client.send(b"tail")
    client.close()  # "partial" was never taken with recv
    # Linux: the queued bytes are still readable, then ECONNRESET once, then end of file.
    assert fds.read(fd, 1024) == b"tail"
    assert fds.read(fd, 1024) == -ECONNRESET
    assert fds.read(fd, 1024) == b""
    assert fds.write(fd, b"x") == -EPIPE


def test_client_reset_wakes_a_blocked_reader_with_econnreset(net, fds):
    client, fd = accepted(net, fds, request=b"")
    sock = fds.get(fd)
    assert fds.read(fd, 100) is WOULD_BLOCK and not sock.readable
    client.reset()
    assert sock.readable
    assert fds.read(fd, 100) == -ECONNRESET
    assert sock.getpeername() == -ENOTCONN
    assert sock.shutdown(SHUT_RDWR) == -ENOTCONN


# -- EPIPE / SIGPIPE -----------------------------------------------------------------------------


def test_first_write_after_peer_close_succeeds_the_second_is_epipe(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    client.close()
    assert fds.read(fd, 1024) == b""
    assert fds.write(fd, b"one") == 3  # provokes the client's RST
    assert client.was_reset is False  # the client side closed; the RST goes to the guest
    second = fds.write(fd, b"two")
    assert second == -EPIPE and raises_sigpipe(second, 0)
    third = fds.get(fd).send(b"three", MSG_NOSIGNAL)
    assert third == -EPIPE and not raises_sigpipe(third, MSG_NOSIGNAL)
    assert not raises_sigpipe(3, 0)


def test_write_after_own_shutdown_is_epipe(net, fds):
    client, fd = accepted(net, fds)
    sock = fds.get(fd)
    assert sock.shutdown(SHUT_WR) == 0
    assert sock.shutdown(SHUT_WR) == 0
    assert client.closed_by_peer
    assert fds.write(fd, b"x") == -EPIPE


def test_send_on_a_socket_never_connected_is_epipe_and_recv_enotconn(fds):
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.send(b"x") == -EPIPE
    assert sock.recv(10) == -ENOTCONN
    assert sock.read(0) == b""
    assert sock.shutdown(SHUT_WR) == -ENOTCONN
    assert sock.shutdown(3) == -EINVAL


# -- half-close ----------------------------------------------------------------------------------


def test_half_close_guest_reads_eof_and_can_still_send(net, fds):
    client, fd = accepted(net, fds)
    client.shutdown_write()
    assert fds.read(fd, 1024) == REQUEST
    assert fds.read(fd, 1024) == b""  # end of file, not WOULD_BLOCK
    assert fds.write(fd, RESPONSE) == len(RESPONSE)
    assert client.recv_all() == RESPONSE
    assert not client.closed_by_peer
    fds.close(fd)
    assert client.closed_by_peer and not client.was_reset
    with pytest.raises(NetError) as e:
        client.send(b"late")
    assert e.value.errno == EPIPE


def test_guest_shut_rd_reads_eof_once_the_queue_is_empty(net, fds):
    client, fd = accepted(net, fds, request=b"abc")
    sock = fds.get(fd)
    assert sock.shutdown(SHUT_RD) == 0
    assert fds.read(fd, 2) == b"ab"
    assert fds.read(fd, 10) == b"c"
    assert fds.read(fd, 10) == b""
    assert sock.send(b"still") == 5
    assert client.recv_all() == b"still"


def test_data_sent_to_a_guest_that_closed_is_answered_with_rst(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    fds.write(fd, RESPONSE)
    fds.close(fd)
    assert not client.was_reset
    client.send(b"after close")  # accepted locally; the orphan answers with RST
    assert client.was_reset
    assert client.recv_all() == RESPONSE


# -- backlog ------------------------------------------------------------------------------------


def test_connections_are_accepted_in_the_order_they_arrived(net, fds):
    lfd = listener(fds, backlog=8)
    clients = [net.connect(PORT) for _ in range(5)]
    for i, c in enumerate(clients):
        c.send(b"client %d" % i)
    got = []
    for _ in clients:
        fd = fds.accept4(lfd)
        got.append(fds.read(fd, 100))
        assert fds.get(fd).remote == clients[len(got) - 1].local
    assert got == [b"client %d" % i for i in range(5)]
    assert fds.accept4(lfd) is WOULD_BLOCK


def test_backlog_n_queues_n_plus_one_then_syns_wait(net, fds):
    lfd = listener(fds, backlog=1)
    first, second, third = (net.connect(PORT) for _ in range(3))
    assert not first.pending and not second.pending
    assert third.pending
    third.send(b"early")
    assert fds.read(fds.accept4(lfd), 10) is WOULD_BLOCK  # first, no data
    assert not third.pending  # accept made room: the next SYN got in
    fds.accept4(lfd)  # second
    assert fds.read(fds.accept4(lfd), 10) == b"early"


def test_listen_zero_still_queues_one(net, fds):
    listener(fds, backlog=0)
    assert not net.connect(PORT).pending
    assert net.connect(PORT).pending


def test_pending_connection_times_out_after_the_syn_retries(net, fds):
    listener(fds, backlog=0)
    net.connect(PORT)
    waiting = net.connect(PORT)
    net.advance(126)
    assert waiting.pending
    net.advance(1)
    assert not waiting.pending and waiting.error == ETIMEDOUT
    with pytest.raises(NetError) as e:
        waiting.send(b"x")
    assert e.value.errno == ETIMEDOUT


def test_closing_a_listener_resets_its_queue_and_refuses_pending(net, fds):
    lfd = listener(fds, backlog=0)
    queued = net.connect(PORT)
    waiting = net.connect(PORT)
    fds.close(lfd)
    assert queued.was_reset
    assert waiting.error == ECONNREFUSED
    with pytest.raises(NetError) as e:
        net.connect(PORT)
    assert e.value.errno == ECONNREFUSED
    assert net.listening() == []


def test_backlog_is_capped_at_somaxconn(fds):
    sock = fds.sock(listener(fds, backlog=10))
    assert sock.listen(1 << 20) == 0 and sock.backlog == SOMAXCONN
    assert sock.listen(-1) == 0 and sock.backlog == SOMAXCONN
    assert sock.listen(3) == 0 and sock.backlog == 3


def test_shut_rd_on_a_listener_stops_listening(net, fds):
    lfd = listener(fds)
    queued = net.connect(PORT)
    sock = fds.sock(lfd)
    assert sock.shutdown(SHUT_RD) == 0
    assert queued.was_reset
    assert sock.getsockopt(SOL_SOCKET, SO_ACCEPTCONN, 4) == i32(0)
    assert fds.accept4(lfd) == -EINVAL


# -- would block -------------------------------------------------------------------------------


def test_accept_and_read_would_block_unless_nonblocking(net, fds):
    lfd = listener(fds)
    assert fds.accept4(lfd) is WOULD_BLOCK
    assert not fds.sock(lfd).readable
    client = net.connect(PORT)
    assert fds.sock(lfd).readable
    fd = fds.accept4(lfd, SOCK_NONBLOCK)
    assert fds.read(fd, 10) == -EAGAIN  # the new socket got O_NONBLOCK
    blocking = fds.accept4(lfd)
    assert blocking is WOULD_BLOCK
    client.send(b"x")
    assert fds.read(fd, 10) == b"x"


def test_nonblocking_listener_gives_eagain(fds):
    fd = fds.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
    sock = fds.sock(fd)
    assert sock.listen(5) == 0
    assert fds.accept4(fd) == -EAGAIN


def test_recv_flags(net, fds):
    client, fd = accepted(net, fds, request=b"")
    sock = fds.get(fd)
    assert sock.recv(10, MSG_DONTWAIT) == -EAGAIN
    client.send(b"abcdef")
    assert sock.recv(3, MSG_PEEK) == b"abc"
    assert sock.recv(10, MSG_WAITALL) is WOULD_BLOCK
    client.send(b"ghij")
    assert sock.recv(10, MSG_WAITALL) == b"abcdefghij"
    assert sock.rcvtimeo is None
    assert sock.setsockopt(SOL_SOCKET, SO_RCVTIMEO_OLD, i32(-1) + i32(0)) == 0
    assert sock.recv(10) == -EAGAIN  # a negative timeout is a timeout of 0: never wait


def test_accept_on_a_socket_that_does_not_listen(fds):
    fd = fds.socket(AF_INET, SOCK_STREAM, 0)
    assert fds.accept4(fd) == -EINVAL
    assert fds.accept4(fd, 0x1) == -EINVAL
    assert fds.accept4(1) == -ENOTSOCK
    assert fds.accept4(99) == -EBADF


# -- refused -----------------------------------------------------------------------------------


def test_connect_to_a_port_nobody_listens_on_is_refused(net, fds):
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.bind(INADDR_ANY, PORT) == 0  # bound but not listening
    with pytest.raises(NetError) as e:
        net.connect(PORT)
    assert e.value.errno == ECONNREFUSED
    assert "ECONNREFUSED (Connection refused)" in str(e.value)


def test_specific_address_listener_wins_over_wildcard(net, fds):
    wildcard = listener(fds, reuse=True, reuseport=True)
    lone = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert lone.setsockopt(SOL_SOCKET, SO_REUSEADDR, i32(1)) == 0
    # SO_REUSEADDR does not reach past a listener on the wildcard; SO_REUSEPORT does.
    assert lone.bind(ip_address("127.0.0.2"), PORT) == -EADDRINUSE
    specific = listener(fds, ip=ip_address("127.0.0.2"), reuse=True, reuseport=True)
    net.connect(PORT, "127.0.0.2")
    net.connect(PORT, "127.0.0.1")
    assert fds.accept4(specific) >= 0 and fds.accept4(specific) is WOULD_BLOCK
    assert fds.accept4(wildcard) >= 0


# -- file descriptors ------------------------------------------------------------------------


def test_lowest_free_fd_is_reused(fds):
    assert [fds.socket(AF_INET, SOCK_STREAM, 0) for _ in range(4)] == [3, 4, 5, 6]
    assert fds.close(4) == 0 and fds.close(3) == 0
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == 3
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == 4
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == 7
    assert fds.close(1) == 0
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == 1


def test_emfile_at_the_file_limit(net):
    fds = net.fdtable(limit=6)
    assert [fds.socket(AF_INET, SOCK_STREAM, 0) for _ in range(3)] == [3, 4, 5]
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == -EMFILE
    assert fds.socket(AF_INET, 99, 0) == -EINVAL  # the arguments are checked first
    fds.close(5)
    assert fds.socket(AF_INET, SOCK_STREAM, 0) == 5


def test_accept_at_the_limit_is_emfile_and_leaves_the_connection_queued(net):
    fds = net.fdtable(limit=4)
    lfd = listener(fds)
    assert fds.accept4(lfd) == -EMFILE  # even with nothing to accept: the fd comes first
    client = net.connect(PORT)
    client.send(b"hi")
    assert fds.accept4(lfd) == -EMFILE
    fds.close(0)
    fd = fds.accept4(lfd)
    assert fd == 0 and fds.read(fd, 10) == b"hi"


def test_bad_fds(fds):
    assert fds.close(3) == -EBADF
    assert fds.close(-1) == -EBADF
    assert fds.close(2) == 0 and fds.close(2) == -EBADF
    assert fds.read(77, 1) == -EBADF
    assert fds.write(-5, b"x") == -EBADF
    assert fds.sock(0) == -ENOTSOCK
    assert fds.sock(50) == -EBADF


def test_standard_streams(net):
    fds = net.fdtable(stdin=b"input")
    assert fds.write(1, b"out") == 3 and fds.write(2, b"err") == 3
    assert fds.stdout.output == b"out" and fds.stderr.output == b"err"
    assert fds.read(0, 3) == b"inp" and fds.read(0, 10) == b"ut" and fds.read(0, 10) == b""
    assert fds.write(0, b"x") == -EBADF and fds.read(1, 1) == -EBADF


def test_cloexec_flags_are_kept_per_fd(net, fds):
    fd = fds.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)
    assert fds.is_cloexec(fd)
    lfd = listener(fds)
    net.connect(PORT)
    child = fds.accept4(lfd, SOCK_CLOEXEC)
    assert fds.is_cloexec(child) and not fds.is_cloexec(lfd)
    fds.close(fd)
    assert not fds.is_cloexec(fd)


def test_exit_closes_every_fd_and_connections_see_fin(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    fds.close_all()
    assert fds.open_fds() == []
    assert client.closed_by_peer and not client.was_reset


# -- bind ---------------------------------------------------------------------------------------


def test_eaddrinuse_without_reuse(fds):
    listener(fds)
    other = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert other.bind(INADDR_ANY, PORT) == -EADDRINUSE
    assert other.bind(INADDR_LOOPBACK, PORT) == -EADDRINUSE  # the wildcard overlaps it
    assert other.bind(INADDR_LOOPBACK, PORT + 1) == 0


def test_reuseaddr_lets_sockets_share_a_port_until_one_listens(fds):
    a = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    b = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    for s in (a, b):
        assert s.setsockopt(SOL_SOCKET, SO_REUSEADDR, i32(1)) == 0
    assert a.bind(INADDR_LOOPBACK, PORT) == 0
    assert b.bind(INADDR_LOOPBACK, PORT) == 0
    assert a.listen(1) == 0
    assert b.listen(1) == -EADDRINUSE
    assert b.state is State.BOUND


def test_different_loopback_addresses_do_not_conflict(fds):
    listener(fds, ip=INADDR_LOOPBACK)
    other = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert other.bind(ip_address("127.0.0.2"), PORT) == 0


def test_double_bind_is_einval(fds):
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.bind(INADDR_ANY, PORT) == 0
    assert sock.bind(INADDR_ANY, PORT + 1) == -EINVAL
    assert sock.listen(1) == 0
    assert sock.bind(INADDR_ANY, PORT + 2) == -EINVAL


def test_bind_address_and_port_checks(net):
    fds = Network(privileged=False).fdtable()
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.bind(ip_address("10.0.0.1"), PORT) == -EADDRNOTAVAIL
    assert sock.bind(INADDR_ANY, 80) == -EACCES
    assert sock.bind(INADDR_ANY, 1024) == 0
    root = net.fdtable()
    assert root.sock(root.socket(AF_INET, SOCK_STREAM, 0)).bind(INADDR_ANY, 80) == 0


def test_port_zero_picks_an_odd_ephemeral_port(fds):
    first = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    second = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert first.getsockname() == (INADDR_ANY, 0)
    assert first.bind(INADDR_LOOPBACK, 0) == 0
    assert second.bind(INADDR_ANY, 0) == 0
    (ip1, p1), (ip2, p2) = first.getsockname(), second.getsockname()
    assert ip1 == INADDR_LOOPBACK and ip2 == INADDR_ANY
    assert p1 != p2 and all(32768 <= p <= 60999 and p % 2 == 1 for p in (p1, p2))


def test_listen_without_bind_picks_a_port_on_any(net, fds):
    fd = fds.socket(AF_INET, SOCK_STREAM, 0)
    sock = fds.sock(fd)
    assert sock.listen(1) == 0
    ip, port = sock.getsockname()
    assert ip == INADDR_ANY and 32768 <= port <= 60999
    assert net.listening() == [(INADDR_ANY, port)]
    client = net.connect(port)
    child = fds.get(fds.accept4(fd))
    assert child.getsockname() == (INADDR_LOOPBACK, port)
    assert child.getpeername() == client.local and client.local[1] % 2 == 0


def test_a_server_that_closed_first_holds_its_port_for_time_wait(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    fds.close(fd)
    client.close()
    fds.close(3)  # the listener
    again = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert again.bind(INADDR_ANY, PORT) == -EADDRINUSE
    net.advance(59)
    assert again.bind(INADDR_ANY, PORT) == -EADDRINUSE
    net.advance(1)
    assert again.bind(INADDR_ANY, PORT) == 0


def test_an_orphan_waiting_for_the_clients_fin_holds_the_port(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    fds.close(fd)  # FIN_WAIT2 until the client closes, which it never does
    fds.close(3)
    again = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert again.bind(INADDR_ANY, PORT) == -EADDRINUSE
    net.advance(60)
    assert again.bind(INADDR_ANY, PORT) == 0


def test_time_wait_does_not_block_a_server_that_uses_reuseaddr(net, fds):
    lfd = listener(fds, reuse=True)
    client = net.connect(PORT)
    fd = fds.accept4(lfd)
    fds.close(fd)
    client.close()
    fds.close(lfd)
    assert fds.get(listener(fds, reuse=True)).state is State.LISTENING


def test_a_passive_close_holds_no_port(net, fds):
    client, fd = accepted(net, fds)
    fds.read(fd, 1024)
    client.close()
    fds.close(fd)
    fds.close(3)
    again = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert again.bind(INADDR_ANY, PORT) == 0


# -- socket(2) and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "type_", "protocol", "expected"),
    [
        (AF_INET, SOCK_STREAM, 0, 3),
        (AF_INET, SOCK_STREAM, IPPROTO_TCP, 3),
        (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 3),
        (AF_INET, SOCK_STREAM | 0x100, 0, -EINVAL),
        (AF_INET, SOCK_STREAM, IPPROTO_UDP, -EPROTONOSUPPORT),
        (AF_INET, SOCK_STREAM, 263, -EINVAL),
        (AF_INET, SOCK_STREAM, -1, -EINVAL),
        (AF_INET, SOCK_SEQPACKET, 0, -ESOCKTNOSUPPORT),
        (AF_INET, SOCK_DGRAM, 0, -ESOCKTNOSUPPORT),
        (AF_INET, 11, 0, -EINVAL),
        (AF_UNIX, SOCK_STREAM, 0, -EAFNOSUPPORT),
        (AF_INET6, SOCK_STREAM, 0, -EAFNOSUPPORT),
        (46, SOCK_STREAM, 0, -EAFNOSUPPORT),
        (-1, SOCK_STREAM, 0, -EAFNOSUPPORT),
    ],
)
def test_socket_validation(fds, domain, type_, protocol, expected):
    assert fds.socket(domain, type_, protocol) == expected


def test_socket_options(net, fds):
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.setsockopt(SOL_SOCKET, SO_KEEPALIVE, i32(5)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_KEEPALIVE, 4) == i32(1)
    assert sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, b"\x01") == -EINVAL
    assert sock.setsockopt(SOL_SOCKET, 999, i32(1)) == -ENOPROTOOPT
    assert sock.setsockopt(SOL_SOCKET, 999, b"\x01") == -EINVAL  # length is checked first
    assert sock.setsockopt(SOL_SOCKET, SO_TYPE, i32(1)) == -ENOPROTOOPT  # read-only
    assert sock.getsockopt(SOL_SOCKET, SO_TYPE, 4) == i32(SOCK_STREAM)
    assert sock.getsockopt(SOL_SOCKET, SO_TYPE, 2) == i32(SOCK_STREAM)[:2]
    assert sock.getsockopt(SOL_SOCKET, SO_TYPE, -1) == -EINVAL
    assert sock.getsockopt(SOL_SOCKET, 999, 4) == -ENOPROTOOPT
    assert sock.setsockopt(SOL_SOCKET, SO_SNDBUF, i32(1)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(4608)
    assert sock.setsockopt(SOL_SOCKET, SO_SNDBUF, i32(50000)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(100000)
    assert sock.setsockopt(SOL_SOCKET, SO_RCVTIMEO_OLD, i32(1) + i32(2_000_000)) == -EDOM
    assert sock.setsockopt(SOL_SOCKET, SO_RCVTIMEO_OLD, i32(2) + i32(500_000)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_RCVTIMEO_OLD, 8) == i32(2) + i32(500_000)
    assert sock.rcvtimeo == 2.5


def test_tcp_options(fds):
    sock = fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))
    assert sock.getsockopt(IPPROTO_TCP, TCP_NODELAY, 4) == i32(0)
    assert sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, i32(7)) == 0
    assert sock.getsockopt(IPPROTO_TCP, TCP_NODELAY, 1) == b"\x01"
    assert sock.getsockopt(IPPROTO_TCP, TCP_KEEPCNT, 4) == i32(9)
    assert sock.setsockopt(IPPROTO_TCP, TCP_KEEPCNT, i32(200)) == -EINVAL
    assert sock.setsockopt(IPPROTO_TCP, 999, i32(1)) == -ENOPROTOOPT
    assert sock.getsockopt(IPPROTO_TCP, 999, 4) == -ENOPROTOOPT
    assert sock.setsockopt(77, 1, i32(1)) == -ENOPROTOOPT
    assert sock.getsockopt(77, 1, 4) == -EOPNOTSUPP


def test_so_error_reports_a_reset_once(net, fds):
    client, fd = accepted(net, fds, request=b"")
    sock = fds.get(fd)
    client.reset()
    assert sock.getsockopt(SOL_SOCKET, SO_ERROR, 4) == i32(ECONNRESET)
    assert sock.getsockopt(SOL_SOCKET, SO_ERROR, 4) == i32(0)
    assert fds.read(fd, 10) == b""  # the error was consumed; what is left is end of file


def test_children_inherit_listener_options(net, fds):
    lfd = listener(fds)
    assert fds.sock(lfd).setsockopt(IPPROTO_TCP, TCP_NODELAY, i32(1)) == 0
    net.connect(PORT)
    child = fds.get(fds.accept4(lfd))
    assert child.getsockopt(IPPROTO_TCP, TCP_NODELAY, 4) == i32(1)


# -- addresses ----------------------------------------------------------------------------------


def test_sockaddr_in_round_trip():
    raw = pack_sockaddr_in(INADDR_LOOPBACK, PORT)
    assert raw == bytes.fromhex("0200 1f90 7f000001") + bytes(8)
    assert parse_sockaddr_in(raw) == (INADDR_LOOPBACK, PORT)
    assert parse_sockaddr_in(raw[:15]) == -EINVAL
    assert parse_sockaddr_in(b"\x0a\x00" + raw[2:]) == -EAFNOSUPPORT
    assert parse_sockaddr_in(bytes(2) + raw[2:4] + bytes(12)) == (INADDR_ANY, PORT)  # AF_UNSPEC
    assert parse_sockaddr_in(bytes(2) + raw[2:]) == -EAFNOSUPPORT
    assert format_ip(ip_address("10.20.30.40")) == "10.20.30.40"
    with pytest.raises(ValueError):
        ip_address("1.2.3")


def test_client_outside_loopback_is_unreachable(net, fds):
    listener(fds)
    with pytest.raises(NetError, match="ENETUNREACH"):
        net.connect(PORT, "192.0.2.1")


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=0, max_size=40), max_size=12),
    steps=st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=64)),
                   max_size=40),
    peek=st.booleans(),
)
def test_interleaved_sends_and_reads_never_lose_or_reorder_bytes(chunks, steps, peek):
    net = Network()
    fds = net.fdtable()
    client, fd = accepted(net, fds, request=b"")
    sock = fds.get(fd)
    pending = list(chunks)
    got = bytearray()
    for client_turn, size in steps:
        if client_turn and pending:
            client.send(pending.pop(0))
        else:
            if peek:
                peeked = sock.recv(size, MSG_PEEK)
            result = fds.read(fd, size)
            if result is WOULD_BLOCK:
                assert not sock.readable
                continue
            assert 0 < len(result) <= size
            if peek:
                assert peeked == result
            got += result
            assert fds.write(fd, result) == len(result)  # echo back
    for chunk in pending:
        client.send(chunk)
    client.shutdown_write()
    while (result := fds.read(fd, 7)) != b"":
        got += result
        fds.write(fd, result)
    assert bytes(got) == b"".join(chunks)
    fds.close(fd)
    assert client.recv_all() == b"".join(chunks)
    assert not client.was_reset


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.just(None), st.integers(min_value=0, max_value=12)), max_size=60))
def test_fds_are_always_the_lowest_free_one(ops):
    fds = Network().fdtable(limit=10)
    model = {0, 1, 2}
    for op in ops:
        if op is None:
            fd = fds.socket(AF_INET, SOCK_STREAM, 0)
            free = [n for n in range(10) if n not in model]
            assert fd == (free[0] if free else -EMFILE)
            if fd >= 0:
                model.add(fd)
        else:
            assert fds.close(op) == (0 if op in model else -EBADF)
            model.discard(op)
    assert fds.open_fds() == sorted(model)


def test_socket_type_is_exposed(fds):
    assert isinstance(fds.get(fds.socket(AF_INET, SOCK_STREAM, 0)), Socket)


# -- buffer sizes and flow control (socket(7) SO_SNDBUF/SO_RCVBUF, tcp(7)) -------------------

import socket as _socket  # noqa: E402
import sys as _sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

from harness.linux import SO_RCVBUF, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF  # noqa: E402
from harness.net import LOOPBACK_SNDBUF  # noqa: E402

#: Tiny, ordinary and huge requests, negative ones (read as unsigned: huge) included.
BUFFER_SIZES = [0, 1, 100, 1152, 2303, 2304, 2305, 4608, 5000, 16384, 50000, 106496, 212992,
                212993, 1 << 20, 1 << 22, 1 << 30, 0x7FFFFFFF, -1, -5, -(1 << 31)]


def _fresh_socket(net: Network) -> Socket:
    fds = net.fdtable()
    return fds.sock(fds.socket(AF_INET, SOCK_STREAM, 0))


def _sysctl(name: str) -> int:
    return int(_Path("/proc/sys/net/core", name).read_text())


@pytest.mark.skipif(not _sys.platform.startswith("linux"), reason="Linux's own values")
@pytest.mark.parametrize("size", BUFFER_SIZES)
def test_sndbuf_and_rcvbuf_read_back_as_the_real_kernel_reports_them(size):
    """A native differential: a real socket on this host and the harness's, on a network
    with this host's net.core.wmem_max/rmem_max, given the same SO_SNDBUF and SO_RCVBUF:
    getsockopt must report the same (doubled, clamped to the sysctl, floored at
    SOCK_MIN_SNDBUF/SOCK_MIN_RCVBUF)."""
    net = Network(wmem_max=_sysctl("wmem_max"), rmem_max=_sysctl("rmem_max"))
    sock = _fresh_socket(net)
    with _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM) as real:
        for name in (SO_SNDBUF, SO_RCVBUF):
            real.setsockopt(_socket.SOL_SOCKET, name, size)
            expected = real.getsockopt(_socket.SOL_SOCKET, name)
            assert sock.setsockopt(SOL_SOCKET, name, i32(size)) == 0
            assert sock.getsockopt(SOL_SOCKET, name, 4) == i32(expected), (name, size)


@pytest.mark.parametrize("size, sndbuf, rcvbuf", [
    (0, SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF),
    (3000, 6000, 6000),
    (212992, 425984, 425984),
    (212993, 425984, 425984),      # clamped to the default wmem_max/rmem_max first
    (-1, 425984, 425984),          # min_t(u32, ...): a negative size is huge
])
def test_sndbuf_and_rcvbuf_with_the_default_sysctls(size, sndbuf, rcvbuf):
    sock = _fresh_socket(Network())
    assert sock.setsockopt(SOL_SOCKET, SO_SNDBUF, i32(size)) == 0
    assert sock.setsockopt(SOL_SOCKET, SO_RCVBUF, i32(size)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(sndbuf)
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF, 4) == i32(rcvbuf)


def test_the_doubled_size_stays_an_int_however_large_wmem_max_is():
    """``val = min_t(int, val, INT_MAX / 2)`` before doubling."""
    net = Network(wmem_max=1 << 40, rmem_max=1 << 40)
    sock = _fresh_socket(net)
    assert sock.setsockopt(SOL_SOCKET, SO_SNDBUF, i32(-1)) == 0
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(0x7FFFFFFE)


def test_a_connection_grows_its_send_buffer_unless_it_was_set(net, fds):
    """Measured on Linux 6.18 over loopback: a listener reports tcp_wmem's 16384, the
    connection it accepts 3939840 (tcp_sndbuf_expand), unless the listener set SO_SNDBUF
    (SOCK_SNDBUF_LOCK is inherited: the set value stays).  SO_RCVBUF stays as it was."""
    lfd = listener(fds)
    assert fds.sock(lfd).getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(16384)
    net.connect(PORT)
    child = fds.get(fds.accept4(lfd))
    assert child.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(LOOPBACK_SNDBUF)
    assert child.getsockopt(SOL_SOCKET, SO_RCVBUF, 4) == i32(131072)
    assert fds.sock(lfd).setsockopt(SOL_SOCKET, SO_SNDBUF, i32(5000)) == 0
    net.connect(PORT)
    child = fds.get(fds.accept4(lfd))
    assert child.getsockopt(SOL_SOCKET, SO_SNDBUF, 4) == i32(10000)


def _small_buffers(net, fds, sndbuf=SOCK_MIN_SNDBUF // 2, rcvbuf=8192):
    """A connection whose socket may queue SOCK_MIN_SNDBUF + rcvbuf / 2 unread bytes."""
    client, fd = accepted(net, fds, request=b"")
    sock = fds.get(fd)
    assert sock.setsockopt(SOL_SOCKET, SO_SNDBUF, i32(sndbuf)) == 0
    client.rcvbuf = rcvbuf
    return client, sock


def test_a_blocking_write_queues_what_fits_then_waits_for_the_reader(net, fds):
    client, sock = _small_buffers(net, fds)
    room = SOCK_MIN_SNDBUF + 4096
    assert sock.room() == room
    data = bytes(range(256)) * 100  # 25600 bytes: three times the room, and more
    assert sock.write(data) is WOULD_BLOCK
    assert len(client.rx) == room and sock.room() == 0
    assert sock.write(data) is WOULD_BLOCK  # run again without a read: no progress
    got = client.recv()
    while (ret := sock.write(data)) is WOULD_BLOCK:  # the syscall, run again each time
        got += client.recv()
    assert ret == len(data)  # the whole count, once every byte is queued
    got += client.recv()
    assert got == data
    assert sock.write(b"next") == 4 and client.recv() == b"next"


def test_a_non_blocking_write_returns_what_fitted_then_eagain(net, fds):
    client, sock = _small_buffers(net, fds)
    room = sock.room()
    assert sock.send(b"a" * (room + 10), MSG_DONTWAIT) == room
    assert sock.send(b"b", MSG_DONTWAIT) == -EAGAIN
    sock.nonblock = True
    assert sock.write(b"b") == -EAGAIN
    assert client.recv(100) == b"a" * 100
    assert sock.write(b"c" * 500) == 100
    assert client.recv() == b"a" * (room - 100) + b"c" * 100


def test_a_reset_ends_the_wait_with_the_bytes_already_queued(net, fds):
    """tcp_sendmsg: an error that ends the wait returns what was copied; the error stays
    for the next call."""
    client, sock = _small_buffers(net, fds)
    room = sock.room()
    assert sock.write(b"x" * (room + 1000)) is WOULD_BLOCK
    client.reset()
    assert sock.write(b"x" * (room + 1000)) == room
    assert sock.write(b"y") == -ECONNRESET
    assert sock.write(b"y") == -EPIPE


def test_a_client_that_lets_go_of_what_it_read_holds_only_the_unread(net, fds):
    client, sock = _small_buffers(net, fds)
    client.keep = False
    for _ in range(50):
        while sock.write(b"z" * 1000) is WOULD_BLOCK:
            assert client.recv(3000) == b"z" * 3000
        assert len(client.rx) <= SOCK_MIN_SNDBUF + 4096  # 50000 bytes went through
