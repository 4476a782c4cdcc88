"""`regauth codeartifact login --tool pip` against a real server, with real pips: the file pip chose to write
the token into is made 0600, whichever it was (a venv's site file, PIP_CONFIG_FILE's, the user's)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_commands import Cli, domain  # noqa: F401 - the fixture: a domain with a repository "repo"
from tests.fixtures.server import RegauthServer

pytestmark = pytest.mark.wire


@pytest.fixture
def home(regauth_server: RegauthServer, tmp_path: Path) -> Cli:
    return Cli(regauth_server, tmp_path)


def login(home: Cli, domain: str, **env: str) -> str:
    return home.ok("codeartifact", "login", "--tool", "pip", "--domain", domain, "--repository", "repo", **env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_venv_site_file_pip_writes_the_token_into_becomes_0600(home: Cli, domain: str) -> None:
    """pip writes to <sys.prefix>/pip.conf, not the user's file, when that site file exists."""
    venv = home.home / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    site = venv / "pip.conf"
    site.write_text("[global]\ntimeout = 30\n")
    site.chmod(0o644)
    out = login(home, domain, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    assert out.startswith("Successfully configured pip to use AWS CodeArtifact repository ")
    assert "aws:rgca_" in site.read_text()                       # the token went there
    assert mode(site) == 0o600
    assert not (home.home / ".config" / "pip" / "pip.conf").exists()


def test_pip_config_file_is_made_0600_even_when_it_asks_pip_to_be_quiet(home: Cli, domain: str) -> None:
    """An existing PIP_CONFIG_FILE is where this pip writes when there is no site file; `quiet` in it does not
    hide from regauth which file pip wrote."""
    if Path(sys.prefix, "pip.conf").exists():
        pytest.fail(f"{sys.prefix}/pip.conf exists: `pip config set` would write to it")
    env_file = home.home / "pip-env.conf"
    env_file.write_text("[global]\nquiet = 2\n")
    env_file.chmod(0o644)
    login(home, domain, PIP_CONFIG_FILE=str(env_file))
    assert "aws:rgca_" in env_file.read_text()
    assert mode(env_file) == 0o600


def test_a_symlinked_user_file_keeps_its_link_and_its_target_becomes_0600(home: Cli, domain: str) -> None:
    if Path(sys.prefix, "pip.conf").exists():
        pytest.fail(f"{sys.prefix}/pip.conf exists: `pip config set` would write to it")
    target = home.home / "dotfiles" / "pip.conf"
    target.parent.mkdir()
    target.write_text("[global]\ntimeout = 30\n")
    target.chmod(0o644)
    link = home.home / ".config" / "pip" / "pip.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    login(home, domain, PIP_CONFIG_FILE=str(home.home / "absent.conf"))
    assert link.is_symlink() and "aws:rgca_" in target.read_text()
    assert mode(target) == 0o600


def test_login_help_says_where_pip_puts_the_token(home: Cli) -> None:
    text = home.ok("codeartifact", "login", "--help", endpoint=False)
    flat = " ".join(text.split())
    assert "pip's user configuration" not in flat
    assert "site file (pip.conf in the sys.prefix of the environment whose pip runs" in flat
    assert "PIP_CONFIG_FILE" in flat and "regauth makes the file pip wrote mode 0600" in flat


def test_only_a_regular_file_pip_names_is_made_0600(tmp_path) -> None:
    """PIP_CONFIG_FILE=/dev/null is pip's way to read no configuration: pip then says it wrote there,
    and a device (or a pipe) must keep its mode (as root, /dev/null made 0600 broke every other user)."""
    import os
    import stat

    from regauth.cli.commands_login import _tighten_pip_config

    fifo = tmp_path / "not-a-file"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    regular = tmp_path / "pip.conf"
    regular.write_text("[global]\n")
    os.chmod(regular, 0o644)
    _tighten_pip_config([fifo, regular])
    assert stat.S_IMODE(os.stat(fifo).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(regular).st_mode) == 0o600
