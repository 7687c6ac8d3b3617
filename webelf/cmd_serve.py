"""``webelf serve``: the guest's listening ports bridged to real sockets on this machine,
with an access-log line per response, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse

from harness import GuestFault, HarnessError

from .common import (
    EXIT_NO_LISTENER, EXIT_OK, EXIT_SIGNAL_BASE, UsageError, _exited, _guest, _GuestOutput,
    _own_stdin, _stderr_line, _stdout_line, _unmodelled,
)
from .options import _env_pair, guest_options


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf serve``'s options; --port's help says what it means here."""
    serve = sub.add_parser(
        "serve", help="serve an ELF's site on a real port, for any browser to open",
        usage="webelf serve ELF [options] [--] [ARG...]",
        description=(
            "Run a static i386 or x86-64 Linux ELF in the emulator and bridge each port it "
            "listens on "
            "to a real socket on this machine, so a browser or curl on any OS can talk to "
            "it. Each real connection becomes a connection on the guest's fake network; "
            "bytes, half-closes and resets pass both ways, and a slow client slows the guest "
            "as on Linux. The guest's clock follows the wall clock. The host port is the "
            "guest's own when free, else one the OS picks (--port chooses). Prints the URL "
            "to open, then one access-log line per response on stdout, in the Common Log "
            "Format (client, time, request line, status, body bytes). ARGs, --env and "
            "the guest's stdin, stdout and stderr are as for webelf run."),
        epilog=("exit status: 0 stopped by Ctrl-C or SIGTERM; the guest's own when it exits; "
                "1 cannot listen on the host port, or the guest listens on no port; 2 bad "
                "usage; 124 time or instruction budget used up; 125 not a static i386 or "
                "x86-64 ELF; 128+N killed by signal N."))
    guest_options(serve)
    serve.add_argument("args", metavar="ARG", nargs="*",
                       help="the guest's arguments, after argv[0] (ELF as given)")
    serve.add_argument("--host", metavar="ADDR", default="127.0.0.1",
                       help="dotted IPv4 address of this machine to listen on (default: "
                            "127.0.0.1, this machine only; another, such as 0.0.0.0, lets "
                            "other machines in, and says so)")
    serve.add_argument("--env", metavar="NAME=VALUE", type=_env_pair, action="append",
                       default=[], help="a variable of the guest's environment; repeatable")
    serve.add_argument("--strace", action="store_true",
                       help="print each system call to stderr, in strace's format")
    serve.set_defaults(func=_serve)
    for action in serve._actions:  # noqa: SLF001 - argparse keeps no public handle
        if action.dest == "port":
            action.help = ("the TCP port to listen on here, 1..65535 (default: the guest's "
                           "own port when it is free, else one the OS picks)")
    return serve


def _host(text: str) -> str:
    """--host: a dotted IPv4 address; one that is not loopback gets a warning line."""
    import ipaddress

    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise UsageError(f"--host {text!r} is not a dotted IPv4 address") from None
    if not address.is_loopback:
        _stderr_line(f"webelf: warning: listening on {text}: other machines can reach the "
                     "guest (the default, 127.0.0.1, is this machine only)")
    return str(address)


def _serve(args: argparse.Namespace) -> int:
    import time

    from harness.bridge import Bridge, BridgeError, listen
    from harness.net import Network, format_ip

    host = _host(args.host)
    output = _GuestOutput()
    network = Network(epoch_ns=time.time_ns())  # CLOCK_REALTIME is the wall clock's
    guest = _guest(args, stdin=_own_stdin(), stdout=output.stdout, stderr=output.stderr,
                   network=network)
    if args.strace:
        guest.kernel.strace = output.line
    sockets = []
    try:
        started = time.monotonic()  # the guest's clock starts at 0 now
        guest.start()
        if guest.exited:
            return _exited(guest)
        targets = network.listening()
        if not targets:
            raise HarnessError("the guest does not listen on any port")
        if args.port is not None and len(targets) > 1:
            raise UsageError("the guest listens on ports " + ", ".join(
                str(port) for _, port in targets) + ": --port chooses one host port, so "
                "leave it out to bridge each to its own")
        notes = []
        for ip, port in targets:
            if args.port is not None:
                sock = listen(host, args.port)
            else:
                try:
                    sock = listen(host, port)
                except BridgeError:  # taken here (or privileged): one the OS picks
                    sock = listen(host, 0)
            sockets.append(sock)
            here = sock.getsockname()[1]
            notes.append(f"the guest's {format_ip(ip)}:{port}" if here != port else "")
        with Bridge(guest, zip(sockets, targets), log=_stdout_line, started=started) as bridge:
            shown = "127.0.0.1" if host == "0.0.0.0" else host
            for sock, note in zip(sockets, notes):
                aside = f"{note}; " if note else ""
                _stdout_line(f"webelf: serving {args.elf} at http://{shown}:"
                             f"{sock.getsockname()[1]}/ ({aside}Ctrl-C stops)")
            sockets = []
            bridge.serve()
        return _exited(guest)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: how serve is meant to end
        return EXIT_OK
    except BridgeError as exc:
        _stderr_line(f"webelf: {exc}")
        return EXIT_NO_LISTENER
    except GuestFault as exc:
        _stderr_line(f"webelf: guest killed by {exc}")
        _unmodelled(guest)
        return EXIT_SIGNAL_BASE + exc.signal
    finally:
        for sock in sockets:
            sock.close()
        guest.close()
