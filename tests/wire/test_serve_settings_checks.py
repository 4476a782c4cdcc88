"""Settings checked before anything is opened: the data dir, REGAUTH_* names that are no setting, an
in-memory store."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.server import REPO, require_program, server_env, start_server
from tests.wire.serve_runs import admin, clean_env, one_line, serve_once


# --- the data dir -------------------------------------------------------------------------------------

def test_an_empty_data_dir_option_is_refused_not_taken_for_the_current_directory(tmp_path: Path) -> None:
    """`--data-dir ''` took the current directory (and made it 0700), while an empty REGAUTH_DATA_DIR
    means the default: the option is refused instead."""
    cwd = tmp_path / "here"
    cwd.mkdir()
    cwd.chmod(0o755)
    assert "--data-dir is empty" in one_line(serve_once("", cwd=cwd))
    assert "--data-dir is empty" in one_line(admin("list-revocations", data=""))
    assert list(cwd.iterdir()) == [] and cwd.stat().st_mode & 0o777 == 0o755


def test_a_data_dir_open_to_others_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    data.chmod(0o755)
    start_server(data).stop()
    assert data.stat().st_mode & 0o777 == 0o700


def _unshare() -> str:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount in a private mount namespace needs root")
    tool = require_program(shutil.which("unshare"), "unshare (util-linux)")
    if subprocess.run([tool, "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow a private mount namespace")
    return tool


def test_read_only_admin_commands_work_on_a_read_only_data_dir(tmp_path: Path) -> None:
    """The data dir mounted read-only (a backup host, a sidecar): the commands that only read must not
    fail on the data dir's mode, which they cannot change there and need not (it is 0700 already)."""
    unshare = _unshare()
    data = tmp_path / "d"
    server = start_server(data, server_env())     # running: its -wal and -shm files are there to read
    try:
        script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
        for args in (["list-revocations"], ["list-signing-keys"], ["list-accounts"], ["audit", "--limit", "1"]):
            proc = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                                   str(data), sys.executable, "-m", "regauth", "admin", *args, "--data-dir",
                                   str(data)], capture_output=True, text=True, env=clean_env(), cwd=REPO, timeout=60)
            assert proc.returncode == 0, (args, proc.stderr)
    finally:
        server.stop()


# --- REGAUTH_* names that are no setting ---------------------------------------------------------------

def test_every_variable_the_settings_read_is_a_known_name() -> None:
    from regauth import config

    read = set(re.findall(r'"(REGAUTH_[A-Z0-9_]+)"', Path(config.__file__).read_text()))
    assert read == set(config.SETTING_NAMES)


def test_a_misspelled_setting_that_is_not_set_stops_serve_and_admin(tmp_path: Path) -> None:
    """REGAUTH_DATABASE_URI instead of REGAUTH_DATABASE_URL started on a new, empty SQLite store with a
    new account: refused, naming the setting meant."""
    env = {"REGAUTH_DATABASE_URI": "postgresql://regauth@db.internal/regauth"}
    message = one_line(serve_once(tmp_path / "d", env))
    assert "REGAUTH_DATABASE_URI is not a regauth setting: did you mean REGAUTH_DATABASE_URL?" in message
    assert not (tmp_path / "d").exists()
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_REGISTRY_TOKEN_SECOND": "600"}))
    assert "did you mean REGAUTH_REGISTRY_TOKEN_SECONDS?" in message
    assert "did you mean REGAUTH_DATABASE_URL?" in one_line(admin("list-revocations", data=tmp_path, env=env))
    for alias, meant in (("REGAUTH_DB_URL", "REGAUTH_DATABASE_URL"), ("REGAUTH_POSTGRES_URL", "REGAUTH_DATABASE_URL"),
                         ("REGAUTH_DATA_DIRECTORY", "REGAUTH_DATA_DIR")):      # abbreviations difflib misses
        message = one_line(serve_once(tmp_path / "d", {alias: "x"}))
        assert f"{alias} is not a regauth setting: did you mean {meant}?" in message
        assert not (tmp_path / "d").exists()


def test_other_unknown_variables_are_warned_about_once_each(tmp_path: Path) -> None:
    env = {**server_env(), "REGAUTH_PG_BIN": "/usr/lib/postgresql/15/bin", "REGAUTH_LOG_LEVEL": "info",
           "REGAUTH_LOG_LEVELS": "debug"}         # a near miss of a setting that is set: a warning
    server = start_server(tmp_path / "d", env)
    try:
        warned = [line for line in server.output if "is not a regauth setting" in line]
        assert len(warned) == 2, server.output
        assert " WARNING " in warned[0]
        assert warned[0].endswith("REGAUTH_LOG_LEVELS is not a regauth setting (did you mean REGAUTH_LOG_LEVEL?); "
                                  "ignored")
        assert warned[1].endswith("REGAUTH_PG_BIN is not a regauth setting; ignored")
    finally:
        server.stop()
    proc = admin("list-revocations", data=tmp_path / "d", env={"REGAUTH_PG_BIN": "x"})
    assert proc.returncode == 0
    assert proc.stderr.strip() == "regauth: warning: REGAUTH_PG_BIN is not a regauth setting; ignored"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://"])
def test_an_in_memory_store_is_refused(tmp_path: Path, url: str) -> None:
    """Its store, keys and every token record would go with the process."""
    message = one_line(serve_once(tmp_path / "d", {"REGAUTH_DATABASE_URL": url}))
    assert "REGAUTH_DATABASE_URL names an in-memory SQLite database" in message
