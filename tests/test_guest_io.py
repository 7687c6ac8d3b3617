"""Guest's argv, environment and stdin from Python: what a shell would give a program."""

from __future__ import annotations

import pytest

from harness import Guest, HarnessError
from support import FIXTURES

ECHO_ARGS = FIXTURES / "programs" / "echo_args.elf"  # argv and envp one per line, then stdin


def test_load_gives_argv_env_and_stdin():
    guest = Guest.load(ECHO_ARGS, argv=["prog", "a b", ""], env={"A": "1", "EMPTY": ""},
                       stdin=b"line\n\x00\xff")
    guest.start()
    assert guest.exit_status == 0
    assert guest.stdout == b"prog\na b\n\nA=1\nEMPTY=\nline\n\x00\xff"
    assert guest.stderr == b"done\n"


def test_load_defaults_argv0_to_the_path_and_the_environment_to_empty():
    guest = Guest.load(ECHO_ARGS)
    guest.start()
    assert guest.stdout == f"{ECHO_ARGS}\n".encode()


def test_envp_still_works():
    guest = Guest.load(ECHO_ARGS, argv=["p"], envp=["X=1", "Y=2"])
    guest.start()
    assert guest.stdout == b"p\nX=1\nY=2\n"


def test_env_and_envp_together_are_refused():
    with pytest.raises(HarnessError, match="not both"):
        Guest.load(ECHO_ARGS, env={"A": "1"}, envp=["B=2"])


@pytest.mark.parametrize("env", [{"": "x"}, {"A=B": "x"}, {"A": "x\0y"}])
def test_env_names_a_process_could_not_receive_are_refused(env):
    with pytest.raises(HarnessError, match="not an environment variable"):
        Guest.load(ECHO_ARGS, env=env)
