"""What `make run` / `make test` do on a fresh machine: the pinned installs, the venv on a Debian
python3 without ensurepip, the data dir that `make clean` keeps, the server address that only the
command line moves, and a wheel that builds without setuptools' deprecation."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.fixtures.server import require_program

ROOT = Path(__file__).resolve().parents[1]


def _make(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    make = require_program(shutil.which("make"), "make")
    return subprocess.run([make, "--no-print-directory", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _serve_line(*args: str, env: dict | None = None) -> str:
    """The command `make run` would start (make -n: printed, nothing run, not even the venv step)."""
    out = _make("-n", "run", *args, env=env)
    assert out.returncode == 0, out.stderr
    return next(line for line in out.stdout.splitlines() if " serve " in line)


def test_make_run_takes_host_port_and_data_from_the_command_line_only():
    # A PaaS or a devcontainer exports PORT and HOST for its own use: they must not move or expose the server.
    env = dict(os.environ, HOST="0.0.0.0", PORT="9999", DATA="/tmp/someone-elses")
    assert _serve_line(env=env).endswith("serve --host 127.0.0.1 --port 8080 --data-dir .regauth")
    line = _serve_line("HOST=127.0.0.2", "PORT=9000", "DATA=/tmp/elsewhere", env=env)
    assert line.endswith("serve --host 127.0.0.2 --port 9000 --data-dir /tmp/elsewhere")


def _tree_with_data(tmp_path: Path) -> Path:
    for name in (".venv/bin/python", ".pytest_cache/README.md", ".regauth/master.key", ".regauth/regauth.db"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def test_make_clean_keeps_the_store_and_its_master_key(tmp_path):
    tree = _tree_with_data(tmp_path)
    out = _make("-f", str(ROOT / "Makefile"), "clean", cwd=tree)
    assert out.returncode == 0, out.stderr
    assert not (tree / ".venv").exists() and not (tree / ".pytest_cache").exists()
    assert (tree / ".regauth/master.key").read_text() == ".regauth/master.key"
    assert (tree / ".regauth/regauth.db").read_text() == ".regauth/regauth.db"
    assert "kept .regauth/" in out.stdout


def test_only_the_target_that_says_so_deletes_the_data_dir(tmp_path):
    tree = _tree_with_data(tmp_path)
    out = _make("-f", str(ROOT / "Makefile"), "destroy-data-and-master-key", cwd=tree)
    assert out.returncode == 0, out.stderr
    assert not (tree / ".regauth").exists()
    assert (tree / ".venv/bin/python").exists()
    assert "master.key" in out.stdout


def test_the_destroying_target_refuses_an_empty_data_dir(tmp_path):
    tree = _tree_with_data(tmp_path)
    out = _make("-f", str(ROOT / "Makefile"), "destroy-data-and-master-key", "DATA=", cwd=tree)
    assert out.returncode != 0 and "DATA is empty" in out.stderr
    assert "deleting" not in out.stdout and (tree / ".regauth/master.key").exists()


def test_the_venv_is_installed_from_the_constraints():
    out = _make("-n", "-B", "setup")          # -B: the venv's recipe, as on a machine that has none
    assert out.returncode == 0, out.stderr
    steps = out.stdout.splitlines()
    installs = [line for line in steps if " install " in line and "/pip " in line]
    assert len(installs) == 2 and all(" -c constraints.txt " in line for line in installs), installs
    assert installs[0].endswith("--upgrade pip")
    assert "--build-constraint constraints.txt" in installs[1]
    venv = next(i for i, line in enumerate(steps) if " -m venv " in line)
    assert "system-deps.sh --venv " in steps[venv - 1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def _installed_closure(name: str, extras: set[str]) -> dict[str, str]:
    """Every distribution `pip install name[extras]` brought into this venv, with its version."""
    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset]] = set()
    todo = [(name, frozenset(extras))]
    while todo:
        dist_name, wanted = todo.pop()
        if (canonicalize_name(dist_name), wanted) in seen:
            continue
        seen.add((canonicalize_name(dist_name), wanted))
        dist = importlib.metadata.distribution(dist_name)
        found[canonicalize_name(dist.metadata["Name"])] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted or {""}):
                todo.append((req.name, frozenset(req.extras)))
    return found


def test_every_dependency_and_pip_itself_are_pinned_and_installed_as_pinned():
    pins = _pins()
    installed = _installed_closure("regauth", {"test"})
    del installed["regauth"]
    installed["pip"] = importlib.metadata.version("pip")
    unpinned = sorted(set(installed) - set(pins))
    assert not unpinned, f"not in constraints.txt (scripts/refresh-constraints.sh): {unpinned}"
    differs = {n: (v, pins[n]) for n, v in installed.items() if v != pins[n]}
    assert not differs, f"installed vs constraints.txt (make setup reinstalls): {differs}"
    assert "setuptools" in pins     # the build's, through --build-constraint


def test_the_wheel_builds_without_deprecation_and_says_its_license(tmp_path):
    src = tmp_path / "regauth"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    # This venv's setuptools (pinned), offline: the same backend `pip install .` runs, without the index.
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                          "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deprecat" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    wheel = next((tmp_path / "dist").glob("regauth-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def _ensurepip_dir(python: str) -> str:
    out = subprocess.run([python, "-c", "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _path_without_sudo(bin_dir: Path) -> str:
    """A PATH with what make and system-deps.sh run, and no sudo: a user who could not install a package."""
    bin_dir.mkdir()
    for name in ("env", "bash", "make", "id", "dpkg-query", "realpath"):
        (bin_dir / name).symlink_to(require_program(shutil.which(name), name))
    return str(bin_dir)


def test_a_debian_python3_without_ensurepip_is_named_before_the_venv_is_made():
    # Debian's python3 without python3.X-venv, as a user without root or sudo sees it: ensurepip hidden
    # in a mount namespace of this test's own. make must say which package, not leave a venv without pip.
    if os.geteuid() != 0:
        pytest.skip("hiding ensurepip in a mount namespace needs root")
    unshare = require_program(shutil.which("unshare"), "unshare (util-linux)")
    setpriv = require_program(shutil.which("setpriv"), "setpriv (util-linux)")
    python = require_program(shutil.which("/usr/bin/python3"), "Debian's python3")
    package = subprocess.run([python, "-c", "import sys; print('python%d.%d-venv' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="regauth-fresh-") as tmp:   # pytest's tmp_path is root's alone
        tree = Path(tmp) / "tree"
        tree.mkdir()
        for name in ("Makefile", "pyproject.toml", "constraints.txt"):
            shutil.copy(ROOT / name, tree / name)
        shutil.copytree(ROOT / "scripts", tree / "scripts")
        path = _path_without_sudo(Path(tmp) / "bin")
        os.chmod(tmp, 0o755)
        tree.chmod(0o777)
        script = (f'mount -t tmpfs none "$1" && exec {setpriv} --reuid=65534 --regid=65534 --clear-groups '
                  f'env PATH={path} make --no-print-directory -C "$2" setup PYTHON={python}')
        out = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                              _ensurepip_dir(python), str(tree)], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
        assert out.returncode != 0
        assert f"system-deps: missing Debian packages ({package}) and not root" in out.stderr, out.stderr
        assert not (tree / ".venv").exists()
