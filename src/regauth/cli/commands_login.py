"""`regauth codeartifact login --tool pip|twine|npm`: what `aws codeartifact login` does, with one deliberate
difference: `--dry-run` prints the token as `****` unless `--show-token` is given (the AWS CLI prints it)."""

from __future__ import annotations

import configparser
import io
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.validate import validate_parameters

from regauth.cli.aws_client import EXIT_OTHER, EXIT_PARAMETER, CliError, call
from regauth.cli.commands_args import Param, operation_model

if TYPE_CHECKING:
    from regauth.cli.commands import Context

TOOLS = {"pip": "pypi", "twine": "pypi", "npm": "npm"}
MASK = "****"

PARAMS: tuple[Param, ...] = (
    Param("tool", "string", True, "The tool to configure.", tuple(TOOLS)),
    Param("domain", "string", True, "Your CodeArtifact domain name."),
    Param("domainOwner", "string", False, "The account ID that owns the domain."),
    Param("namespace", "string", False, "npm only: the scope to associate with the repository."),
    Param("durationSeconds", "integer", False, "How long the token is valid: 900-43200 (0 or absent: 12 hours)."),
    Param("repository", "string", True, "Your CodeArtifact repository name."),
    Param("endpointType", "string", False, "The endpoint type: ipv4 or dualstack."),
    Param("dryRun", "boolean", False, "Print what would be configured without changing anything; the token is "
                                      "shown as **** unless --show-token is given."),
    Param("showToken", "boolean", False, "With --dry-run: print the real token (it ends up in your terminal and "
                                         "logs)."),
)

NOTES = ("Unlike `aws codeartifact login`, --dry-run redacts the token (****) unless --show-token is given.\n"
         "pip runs `pip config set global.index-url ...`, which writes the token where pip chooses: its site\n"
         "file (pip.conf in the sys.prefix of the environment whose pip runs, e.g. a venv) when that exists,\n"
         "else the file PIP_CONFIG_FILE names when that exists, else the user's ~/.config/pip/pip.conf\n"
         "(`pip config debug` lists them); regauth makes the file pip wrote mode 0600.\n"
         "twine writes ~/.pypirc (mode 0600, merged with what is there); npm runs `npm config set` for the\n"
         "registry and _authToken.\n")


def validate(values: dict[str, Any]) -> None:
    """botocore's checks for the values that go into GetAuthorizationToken and GetRepositoryEndpoint."""
    gat = {k: values[k] for k in ("domain", "domainOwner", "durationSeconds") if k in values}
    validate_parameters(gat, operation_model("codeartifact", "GetAuthorizationToken").input_shape)
    gre: dict[str, Any] = {k: values[k] for k in ("domain", "domainOwner", "repository", "endpointType")
                           if k in values}
    gre["format"] = TOOLS.get(str(values.get("tool")), "pypi")
    validate_parameters(gre, operation_model("codeartifact", "GetRepositoryEndpoint").input_shape)


def sample_output() -> str:
    return ("Successfully configured pip to use AWS CodeArtifact repository repositoryEndpoint\n"
            "Login expires in 12 hours at 1970-01-01T00:00:00+00:00")


def npm_scope(namespace: str | None) -> str | None:
    if namespace is None:
        return None
    scope = namespace if namespace.startswith("@") else f"@{namespace}"
    if not re.match(r"^(@[a-z0-9-~][a-z0-9-._~]*)", scope):
        raise CliError("Invalid scope name, scope must contain URL-safe characters, no leading dots or underscores",
                       EXIT_OTHER)      # as aws-cli exits for it
    return scope


def pip_commands(endpoint: str, token: str) -> list[list[str]]:
    u = urlsplit(endpoint)
    return [["pip", "config", "set", "global.index-url", f"{u.scheme}://aws:{token}@{u.netloc}{u.path}simple/"]]


def npm_commands(endpoint: str, token: str, scope: str | None) -> list[list[str]]:
    u = urlsplit(endpoint)
    registry = f"{scope}:registry" if scope else "registry"
    return [["npm", "config", "set", registry, endpoint],
            ["npm", "config", "set", f"//{u.netloc}{u.path}:always-auth", "true"],
            ["npm", "config", "set", f"//{u.netloc}{u.path}:_authToken", token]]


def pypirc_text(path: Path, endpoint: str, token: str) -> str:
    """~/.pypirc with a [codeartifact] index server, merged into the existing file as aws-cli does."""
    rc = configparser.RawConfigParser()
    if path.exists():
        try:
            rc.read(path)
            servers = [s.strip() for s in rc.get("distutils", "index-servers").split("\n") if s.strip()]
        except (configparser.Error, OSError) as exc:
            raise CliError(f"{path} is in an invalid state: {exc}", EXIT_OTHER) from None
        if "codeartifact" not in servers:
            servers.append("codeartifact")
            rc.set("distutils", "index-servers", "\n" + "\n".join(servers))
        if "codeartifact" not in rc.sections():
            rc.add_section("codeartifact")
    else:
        rc.read_string("[distutils]\nindex-servers=\n    pypi\n    codeartifact\n\n[codeartifact]\n")
    rc.set("codeartifact", "repository", endpoint)
    rc.set("codeartifact", "username", "aws")
    rc.set("codeartifact", "password", token)
    out = io.StringIO()
    rc.write(out)
    return out.getvalue()


def write_private(path: Path, text: str) -> None:
    """Replaces `path` with `text`, mode 0600 from the start (never briefly world-readable). A symlink
    (dotfiles kept elsewhere) keeps pointing where it did: its target is what is replaced."""
    if path.is_symlink():
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pypirc.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def expiry_message(expiration: datetime, now: datetime | None = None) -> str:
    """`Login expires in 12 hours at ...` (relative part like aws-cli: the two largest non-zero units)."""
    remaining = expiration - (now or datetime.now(timezone.utc)) + timedelta(seconds=30)
    total_minutes = max(int(remaining.total_seconds() // 60), 0)
    units = [("day", total_minutes // 1440), ("hour", total_minutes // 60 % 24), ("minute", total_minutes % 60)]
    parts: list[str] = []
    for name, value in units:
        if value:
            parts.append(f"{value} {name}{'' if value == 1 else 's'}")
        elif parts:
            break
        if len(parts) == 2:
            break
    # as aws-cli prints it: the datetime botocore parses, in local time, through str()
    return f"Login expires in {' and '.join(parts) or '0 minutes'} at {expiration.astimezone()}"


def _pip_wrote(stdout: str) -> list[Path]:
    """The files `pip config set` says it wrote ("Writing to <file>", at pip's info level): the user file, the
    site file of the environment whose pip ran (pip's choice when one exists), or PIP_CONFIG_FILE."""
    return [Path(line[len("Writing to "):].strip()) for line in stdout.splitlines() if line.startswith("Writing to ")]


def _tighten_pip_config(written: list[Path]) -> None:
    """`pip config set` leaves the file it wrote, which now holds the token, as the umask made it or as
    it was (a venv's pip.conf is often 0644): 0600, as the other tools' files are written (spec rule 12).
    A symlink (dotfiles kept elsewhere): its target holds the token."""
    if not written:             # a pip that does not say: the user files it would write
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        written = [Path(base) / "pip" / "pip.conf", Path(os.path.expanduser("~")) / ".pip" / "pip.conf"]
        sys.stderr.write("pip did not say which configuration file it wrote: check with `pip config debug` that "
                         "the one holding the token is readable by you alone\n")
    for path in written:
        try:
            target = path.resolve()
            if target.is_file():        # a regular file: not /dev/null (PIP_CONFIG_FILE=/dev/null reads none)
                os.chmod(target, 0o600)
        except OSError as exc:
            sys.stderr.write(f"could not make {path} readable by you alone (mode 0600): {exc.strerror}; it holds "
                             "the token\n")


def _run_tool(tool: str, command: list[str], token: str, ignore_errors: bool = False) -> str:
    """Runs `command`; its standard output. pip creates a missing file 0600 (umask 077) and says which file
    it wrote however quiet its configuration asks it to be (PIP_QUIET=0 overrides a `quiet` there)."""
    # npm writes its argv (the token, for `npm config set ...:_authToken`) to a debug log file: none here
    env = {**os.environ, "npm_config_logs_max": "0"} if tool == "npm" else {**os.environ, "PIP_QUIET": "0"}
    try:
        done = subprocess.run(command, capture_output=True, check=True, env=env,
                              umask=0o077 if tool == "pip" else -1)
    except FileNotFoundError:
        raise CliError(f"{command[0]} was not found. Please verify installation.", EXIT_OTHER) from None
    except subprocess.CalledProcessError as exc:
        if ignore_errors:
            return ""
        shown = " ".join(command).replace(token, MASK)
        stderr = (exc.stderr or b"").decode("utf-8", "replace").replace(token, MASK)
        raise CliError(f"Command '{shown}' returned non-zero exit status {exc.returncode}. "
                       f"Stderr from command:\n{stderr}", EXIT_OTHER) from None
    return done.stdout.decode("utf-8", "replace")


def run(ctx: Context) -> int:
    v = ctx.values
    tool = str(v["tool"])
    if tool not in TOOLS:
        raise CliError(f"argument --tool: invalid choice: '{tool}' (choose from {', '.join(TOOLS)})", EXIT_PARAMETER)
    if v.get("namespace") is not None and tool != "npm":
        raise CliError(f"Argument --namespace is not supported for {tool}", EXIT_PARAMETER)
    scope = npm_scope(v.get("namespace"))
    client = ctx.client("codeartifact")
    owner = {"domainOwner": v["domainOwner"]} if v.get("domainOwner") else {}
    gat: dict[str, Any] = {"domain": v["domain"], **owner}
    if v.get("durationSeconds"):        # like aws-cli, 0 is not sent: the server's default (12 hours) applies
        gat["durationSeconds"] = v["durationSeconds"]
    issued = call(client, "get_authorization_token", gat)
    gre = {"domain": v["domain"], "repository": v["repository"], "format": TOOLS[tool], **owner}
    if v.get("endpointType"):
        gre["endpointType"] = v["endpointType"]
    endpoint = str(call(client, "get_repository_endpoint", gre)["repositoryEndpoint"])
    token = str(issued["authorizationToken"])
    expiration: datetime = issued["expiration"]
    dry_run, shown = bool(v.get("dryRun")), (token if v.get("showToken") else MASK)
    if tool == "twine":
        path = Path(os.path.expanduser("~")) / ".pypirc"
        if dry_run:
            text = pypirc_text(path, endpoint, shown)
            if shown == MASK:           # other index servers' passwords are secrets too
                text = re.sub(r"^(password\s*[=:]\s*)\S.*$", r"\g<1>" + MASK, text, flags=re.MULTILINE)
            sys.stdout.write(f"Dryrun mode is enabled, not writing to pypirc.\n{path} would have been set to the "
                             f"following:\n\n{text}\n")
        else:
            write_private(path, pypirc_text(path, endpoint, token))
    else:
        commands = pip_commands(endpoint, token) if tool == "pip" else npm_commands(endpoint, token, scope)
        for command in commands:
            if dry_run:
                sys.stdout.write(" ".join(command).replace(token, shown) + "\n\n")
            else:
                said = _run_tool(tool, command, token, ignore_errors=any("always-auth" in a for a in command))
                if tool == "pip":
                    _tighten_pip_config(_pip_wrote(said))
    if dry_run:
        if shown == MASK:
            sys.stderr.write("(the token is shown as ****; add --show-token to print it)\n")
        return 0
    sys.stdout.write(f"Successfully configured {tool} to use AWS CodeArtifact repository {endpoint} \n"
                     f"{expiry_message(expiration)}\n")
    return 0
