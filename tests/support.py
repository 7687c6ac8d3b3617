"""Test helpers: native execution of emitted ELFs, free ports, h11 parsing.

Native tests run the emitted program on the real Linux kernel.  They bind to 127.0.0.1
only, on a port the kernel just handed out as free, and every process they start is
killed and reaped when the test ends, pass or fail.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import h11
import pytest

from generator import Page, ServerConfig, build_server, http_response

LOOPBACK = "127.0.0.1"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Native execution needs a Linux kernel on an x86 CPU (64-bit kernels run i386 ELFs too).
#: WEBELF_NO_NATIVE=1 switches it off on such a host, to see what a macOS, Windows or ARM
#: user gets: every emulated check still runs.
NATIVE_OFF = os.environ.get("WEBELF_NO_NATIVE", "") not in ("", "0")
X86_LINUX = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "i386", "i686",
                                                                          "AMD64")
#: A tiny static i386 ELF that calls exit_group(42): the probe of every native capability.
EXIT42 = FIXTURES / "programs" / "exit42.elf"


def _runs_i386() -> str | None:
    """Why this x86 Linux kernel cannot execute an i386 ELF, or None: a 64-bit kernel built
    without CONFIG_IA32_EMULATION (or booted with ia32_emulation=0) refuses them."""
    try:
        status = subprocess.run([str(EXIT42)], stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=10).returncode
    except OSError as exc:
        return f"this kernel cannot execute i386 ELFs ({exc.strerror}): it needs " \
               "CONFIG_IA32_EMULATION (a 64-bit kernel booted with ia32_emulation=1)"
    except subprocess.TimeoutExpired:
        return "exit42.elf did not exit within 10 s natively"
    if status != 42:
        return f"exit42.elf exited with {status} natively, not 42: i386 ELFs do not run here"
    return None


_NATIVE_PROBLEM = None if NATIVE_OFF or not X86_LINUX else _runs_i386()
NATIVE = not NATIVE_OFF and X86_LINUX and _NATIVE_PROBLEM is None
NATIVE_REASON = ("native execution is switched off by WEBELF_NO_NATIVE" if NATIVE_OFF else
                 f"runs an i386 Linux ELF natively; this host is {sys.platform}/"
                 f"{platform.machine()}, which cannot execute it" if not X86_LINUX else
                 f"runs an i386 Linux ELF natively; {_NATIVE_PROBLEM}" if _NATIVE_PROBLEM else "")
native = pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)

#: x86-64 programs (``ServerConfig(arch="x86_64")``) run natively on an x86-64 Linux kernel
#: only: no i386 kernel or CPU runs them.
X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
NATIVE64 = not NATIVE_OFF and X86_64_LINUX
NATIVE64_REASON = ("native execution is switched off by WEBELF_NO_NATIVE" if NATIVE_OFF else
                   f"runs an x86-64 Linux ELF natively; this host is {sys.platform}/"
                   f"{platform.machine()}, which cannot execute it" if not X86_64_LINUX else "")
native64 = pytest.mark.skipif(not NATIVE64, reason=NATIVE64_REASON)
#: The architectures a program is built for, and whether this host runs each natively.
ARCHES = ("i386", "x86_64")


def native_for(arch: str) -> tuple[bool, str]:
    """Whether this host runs ``arch``'s programs natively, and why not."""
    return (NATIVE64, NATIVE64_REASON) if arch == "x86_64" else (NATIVE, NATIVE_REASON)


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running native server and what it was built from."""

    proc: subprocess.Popen
    port: int
    path: Path
    response: bytes
    page: Page

    def fetch_raw(self, request: bytes | None = None, timeout: float = 5.0) -> bytes:
        """Send one request on a fresh connection and read until the server closes (the
        default request says ``Connection: close``, so the answer is the stored bytes)."""
        request = request or (f"GET / HTTP/1.1\r\nHost: {LOOPBACK}:{self.port}\r\n"
                              "Connection: close\r\n\r\n").encode()
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
            s.sendall(request)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@dataclass
class NativeServers:
    """Starts emitted programs and guarantees they are all stopped afterwards."""

    tmp: Path
    procs: list = field(default_factory=list)
    #: What :meth:`build` and :meth:`start` build for: "i386" or "x86_64".
    arch: str = "i386"

    def build(self, page: Page, port: int | None = None, name: str = "site.elf") -> tuple[Path, bytes, int]:
        port = port or free_port()
        response = http_response(page)
        path = self.tmp / name
        path.write_bytes(build_server(response, ServerConfig(port=port, bind=LOOPBACK,
                                                             arch=self.arch)))
        path.chmod(0o755)
        return path, response, port

    def spawn(self, path: Path, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        return proc

    def start(self, page: Page, port: int | None = None, **kwargs) -> Served:
        path, response, port = self.build(page, port)
        proc = self.spawn(path, **kwargs)
        wait_listening(proc, port)
        return Served(proc, port, path, response, page)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 5.0) -> None:
    """Return once ``port`` accepts connections; fail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()!r}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return  # this empty connection is itself served: it is read as end of file
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing listens on {LOOPBACK}:{port} after {timeout}s")


def parse_response(raw: bytes, method: str = "GET"):
    """Parse one response with h11, as a client that sent ``method /``; returns
    (h11.Response, body) and asserts that no byte follows the framed body."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    response, body = None, b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        elif event is h11.NEED_DATA:
            raise AssertionError("response ended before its Content-Length was reached")
    leftover, _closed = conn.trailing_data
    assert leftover == b"", f"{len(leftover)} bytes after the body that Content-Length framed"
    return response, body


def header(response, name: str) -> bytes | None:
    for key, value in response.headers:
        if key == name.lower().encode():
            return value
    return None


#: The Debian package of each command-line tool the tests use, for the missing-tool message.
PACKAGES = {"ab": "apache2-utils", "chromedriver": "chromium-driver", "readelf": "binutils",
            "ld": "binutils", "objdump": "binutils", "gcc": "gcc-12-multilib"}

#: ``CI=true`` (set by CI services, and by ``.ci/run``): a missing tool is then an
#: installation error and fails the test; anywhere else the test skips and says what to install.
CI = os.environ.get("CI") == "true"


def missing(what: str, remedy: str) -> NoReturn:
    """The one rule for a test whose tool or input is absent: skip, naming ``what`` is missing
    and ``remedy`` (the package to install, or the ``.ci/run`` step that provides it); fail
    instead when ``CI=true``, where the setup is meant to provide everything."""
    message = f"{what} missing: {remedy}"
    if CI:
        pytest.fail(f"{message} (CI=true: a missing tool is an error)")
    pytest.skip(message)


def tool(name: str, package: str | None = None) -> str:
    """Path of a command-line tool the test needs; if absent, :func:`missing` skips (or
    fails under ``CI=true``) naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        missing(name, f"apt-get install {package or PACKAGES.get(name, name)}")
    return path


# ---------------------------------------------------------------------------- capabilities
#
# A test skips on what it cannot do, not on a name missing from PATH: an arm64 host has an
# ``ld`` that cannot link elf_i386, a gcc without multilib has a ``gcc`` that cannot make an
# i386 program, a container may have an ``strace`` that ptrace refuses.  Each capability
# below is probed once per process (each pytest-xdist worker) with a tiny real attempt, and
# the result, or what is missing, is cached.


class Missing(Exception):
    """A capability is absent: ``what`` it is, the ``remedy`` (the Debian package to
    install), and ``why`` the probe failed (the tool's own complaint), if it ran at all."""

    def __init__(self, what: str, remedy: str, why: str = "") -> None:
        super().__init__(what, remedy, why)
        self.what, self.remedy, self.why = what, remedy, why

    def __str__(self) -> str:
        return f"{self.what} missing: {self.remedy}" + (f" ({self.why})" if self.why else "")


def capability(probe):
    """Decorate a probe that returns what the tests use (a path) or raises :class:`Missing`:
    the result is a function that runs the probe once, caches its answer, and returns the
    value or calls :func:`missing` (skip, or fail under ``CI=true``).  ``.probe()`` gives
    the cached value or the Missing without acting on it."""

    @functools.cache
    def cached():
        try:
            return probe()
        except Missing as lack:
            return lack

    @functools.wraps(probe)
    def need():
        value = cached()
        if isinstance(value, Missing):
            missing(value.what, value.remedy + (f" ({value.why})" if value.why else ""))
        return value

    need.probe = cached
    return need


def _is_i386_executable(path: Path) -> bool:
    """ELFCLASS32, little-endian, ET_EXEC, EM_386: what every probe below must produce."""
    try:
        head = path.read_bytes()[:20]
    except OSError:
        return False
    return (len(head) == 20 and head[:6] == b"\x7fELF\x01\x01"
            and int.from_bytes(head[16:18], "little") == 2
            and int.from_bytes(head[18:20], "little") == 3)


def _complaint(result: subprocess.CompletedProcess) -> str:
    """The first line a failed tool printed: the cause (``ld: unrecognised emulation mode:
    elf_i386``), before what follows from it (the emulations listed, collect2's summary)."""
    lines = [line.strip() for line in (result.stderr or b"").decode(errors="replace").splitlines()
             if line.strip()]
    causes = [line for line in lines if any(word in line.lower() for word in _CAUSES)]
    return (causes or lines or [f"exit status {result.returncode}"])[0]


_CAUSES = ("error", "unrecognised", "unrecognized", "cannot", "not found", "no such")


def _attempt(argv: list[str], **kwargs) -> subprocess.CompletedProcess | str:
    """Run one probe command; its CompletedProcess, or why it could not start."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=60, **kwargs)
    except OSError as exc:
        return f"{argv[0]}: {exc.strerror}"
    except subprocess.TimeoutExpired:
        return f"{argv[0]} did not finish within 60 s"


@functools.cache
def _probe_dir() -> Path:
    import atexit
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="webelf-probe-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


#: Linkers that may link elf_i386: the native ld on x86, a cross ld elsewhere (Debian's
#: binutils-i686-linux-gnu provides i686-linux-gnu-ld on every architecture).
I386_LINKERS = ("ld", "i686-linux-gnu-ld", "x86_64-linux-gnu-ld")
#: Only x86-64's own gcc: i686-linux-gnu-gcc defaults to -march=i686 and so makes other code
#: than the ``gcc -m32`` that built the committed fixtures (fixtures/programs/build.sh).
I386_COMPILERS = ("gcc",)




def _multilib_package() -> str:
    """gcc-N-multilib for the installed gcc (the gcc-multilib metapackage conflicts with
    musl-dev:i386 on Debian 12); it exists for x86 hosts only."""
    if not X86_LINUX:
        return "gcc-multilib on an x86-64 host"
    gcc = shutil.which("gcc")
    version = _attempt([gcc, "-dumpversion"]) if gcc else None
    if isinstance(version, subprocess.CompletedProcess) and version.returncode == 0:
        return f"gcc-{version.stdout.decode().strip().split('.')[0]}-multilib"
    return "gcc-multilib"


@capability
def nasm() -> str:
    """nasm, checked by assembling a one-instruction elf32 object."""
    path = shutil.which("nasm")
    if path is None:
        raise Missing("nasm", "apt-get install nasm")
    source = _probe_dir() / "probe.asm"
    source.write_text("BITS 32\nsection .text\nglobal _start\n_start:\n"
                      "        mov eax, 252\n        mov ebx, 42\n        int 0x80\n")
    result = _attempt([path, "-f", "elf32", "-o", str(source.with_suffix(".o")), str(source)])
    if isinstance(result, str) or result.returncode:
        why = result if isinstance(result, str) else _complaint(result)
        raise Missing("nasm -f elf32", "apt-get install nasm", why)
    return path


@capability
def i386_ld() -> str:
    """A linker that links nasm's elf32 object into an i386 executable with ``-m elf_i386``:
    ``ld`` on x86, else a cross linker.  Needs :func:`nasm` (the probe's object is its)."""
    obj = _probe_dir() / "probe.o"
    lack = nasm.probe()
    if isinstance(lack, Missing):
        raise lack
    complaints = []
    for name in I386_LINKERS:
        path = shutil.which(name)
        if path is None:
            continue
        out = _probe_dir() / f"probe-{name}"
        out.unlink(missing_ok=True)  # judge what this attempt wrote, not an earlier one's
        result = _attempt([path, "-m", "elf_i386", "-o", str(out), str(obj)])
        if isinstance(result, subprocess.CompletedProcess) and result.returncode == 0 \
                and _is_i386_executable(out):
            return path
        complaints.append(result if isinstance(result, str) else _complaint(result))
    # binutils on x86 without any ld; a cross linker where an ld cannot link elf_i386
    # (binutils-i686-linux-gnu exists for every Debian architecture).
    package = "binutils" if X86_LINUX and not complaints else "binutils-i686-linux-gnu"
    raise Missing("ld -m elf_i386 (a linker for i386)", f"apt-get install {package}",
                  "; ".join(dict.fromkeys(complaints)))


@capability
def i386_gcc() -> str:
    """A gcc that makes a static i386 executable with ``-m32 -static -nostdlib``: x86's own
    gcc, with multilib."""
    source = _probe_dir() / "probe.c"
    source.write_text("void _start(void) { for (;;); }\n")
    complaints = []
    for name in I386_COMPILERS:
        path = shutil.which(name)
        if path is None:
            continue
        out = _probe_dir() / f"probe-{name}"
        out.unlink(missing_ok=True)  # judge what this attempt wrote, not an earlier one's
        result = _attempt([path, "-m32", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-o",
                           str(out), str(source)])
        if isinstance(result, subprocess.CompletedProcess) and result.returncode == 0 \
                and _is_i386_executable(out):
            return path
        complaints.append(result if isinstance(result, str) else _complaint(result))
    raise Missing("gcc -m32 -static (a compiler for i386)", f"apt-get install {_multilib_package()}",
                  "; ".join(dict.fromkeys(complaints)))


def _native_only() -> None:
    """The capabilities below run an i386 program: without native execution they are not
    missing but impossible, so the test skips (also under CI=true) with NATIVE_REASON."""
    if not NATIVE:
        pytest.skip(NATIVE_REASON)


@capability
def _strace() -> str:
    path = shutil.which("strace")
    if path is None:
        raise Missing("strace", "apt-get install strace")
    log = _probe_dir() / "strace.log"
    log.unlink(missing_ok=True)
    result = _attempt([path, "-q", "-o", str(log), str(EXIT42)], stdin=subprocess.DEVNULL)
    if isinstance(result, str):
        raise Missing("strace that runs", "apt-get install strace", result)
    text = log.read_text(errors="replace") if log.exists() else ""
    if result.returncode != 42 or "+++ exited with 42 +++" not in text:
        raise Missing("strace that can trace an i386 program",
                      "apt-get install strace, and allow ptrace (CAP_SYS_PTRACE, seccomp)",
                      _complaint(result))
    return path


def i386_strace() -> str:
    """strace, checked by tracing exit42.elf to its ``+++ exited with 42 +++``."""
    _native_only()
    return _strace()


@capability
def _setarch() -> str:
    path = shutil.which("setarch")
    if path is None:
        raise Missing("setarch", "apt-get install util-linux")
    result = _attempt([path, "-R", str(EXIT42)], stdin=subprocess.DEVNULL)
    if isinstance(result, str) or result.returncode != 42:
        why = result if isinstance(result, str) else _complaint(result)
        raise Missing("setarch -R (address randomisation off)",
                      "apt-get install util-linux, and allow personality(ADDR_NO_RANDOMIZE)", why)
    return path


def i386_setarch() -> str:
    """setarch, checked by running exit42.elf under ``setarch -R``."""
    _native_only()
    return _setarch()


def env_without_proxy() -> dict[str, str]:
    """curl must talk to 127.0.0.1 directly, whatever proxy the environment names."""
    env = dict(os.environ)
    for key in list(env):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del env[key]
    env["NO_PROXY"] = "*"
    return env


#: The struct sockaddr_in that fixtures/programs/socketcall_server.elf binds: 127.0.0.1:8080.
SOCKETCALL_SOCKADDR = bytes([2, 0, 0x1F, 0x90, 127, 0, 0, 1])


def socketcall_server(port: int) -> bytes:
    """socketcall_server.elf with its sockaddr patched to listen on ``port``, so native
    runs never contend for 8080; the harness is given the very same bytes."""
    data = (FIXTURES / "programs" / "socketcall_server.elf").read_bytes()
    assert data.count(SOCKETCALL_SOCKADDR) == 1, "the sockaddr_in is not where it was"
    return data.replace(SOCKETCALL_SOCKADDR, SOCKETCALL_SOCKADDR[:2] + port.to_bytes(2, "big")
                        + SOCKETCALL_SOCKADDR[4:])


def request_manifest() -> list[dict]:
    """The ``[[request]]`` tables of fixtures/requests/index.toml (tomllib on Python 3.11
    and later, the tomli backport before)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text = (FIXTURES / "requests" / "index.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["request"]


#: The line the generated server writes to stderr once it listens: where to point a browser.
BANNER = re.compile(r"http://[^\s/]+:\d+/")


def webelf_lines(stderr: bytes) -> list[str]:
    """The lines of ``stderr`` less a generated server's banner (the guest's, among
    webelf's own); at most one is dropped."""
    lines = stderr.decode().splitlines()
    for i, line in enumerate(lines):
        if BANNER.fullmatch(line):
            return lines[:i] + lines[i + 1:]
    return lines
