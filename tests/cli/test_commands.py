"""`regauth codeartifact|ecr|ecr-public|sts ...` run as a real process against a real `regauth serve`."""

from __future__ import annotations

import base64
import configparser
import io
import json
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from botocore.httpsession import get_cert_path

from regauth.cli.aws_client import RedactingFilter, Redactor
from tests.fixtures.server import REPO, Keys, RegauthServer, require_program, unique

pytestmark = pytest.mark.wire

REGAUTH = [sys.executable, "-m", "regauth"]
CA_GAT = ["codeartifact", "get-authorization-token"]
AWS_ERROR = r"An error occurred \({code}\) when calling the {op} operation: \S.*"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@dataclass
class Cli:
    """Runs `python -m regauth ...` with a private HOME (so ~/.aws, ~/.pypirc, pip's config are temporary)."""
    server: RegauthServer
    home: Path

    def env(self, keys: Keys | None = None, region: str | None = "us-east-1", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REGAUTH_", "PIP_", "NPM_"))}
        env.update({"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
        if keys is not None:
            env.update(keys.env())
        if region is not None:
            env["AWS_DEFAULT_REGION"] = region
        env.update(extra)
        return env

    def run(self, *args: str, keys: Keys | None = None, endpoint: bool = True, region: str | None = "us-east-1",
            **extra: str) -> subprocess.CompletedProcess[str]:
        argv = [*REGAUTH, *args] + (["--endpoint-url", self.server.url] if endpoint else [])
        return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60,
                              env=self.env(keys or self.server.admin, region, **extra))

    def ok(self, *args: str, **kw: object) -> str:
        proc = self.run(*args, **kw)  # type: ignore[arg-type]
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def many(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Independent invocations, two at a time (each process spends most of its life importing)."""
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda c: self.run(*c), commands))


@pytest.fixture(scope="module")
def cli(regauth_server: RegauthServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(regauth_server, tmp_path_factory.mktemp("cli-home"))


@pytest.fixture
def fresh_home(cli: Cli, tmp_path: Path) -> Iterator[Cli]:
    yield Cli(cli.server, tmp_path)


@pytest.fixture(scope="module")
def domain(regauth_server: RegauthServer) -> str:
    name = unique("cli")
    ca = regauth_server.client("codeartifact")
    ca.create_domain(domain=name)
    ca.create_repository(domain=name, repository="repo")
    return name


def seconds_left(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds()


# --------------------------------------------------------------------------- get-authorization-token

def test_seed_example_prints_only_the_token(cli: Cli, domain: str) -> None:
    out = cli.ok(*CA_GAT, "--domain", domain, "--query", "authorizationToken", "--output", "text")
    assert re.fullmatch(r"rgca_[A-Za-z0-9_.-]+\n", out)


def test_every_output_format_with_duration_900(cli: Cli, domain: str) -> None:
    base = (*CA_GAT, "--domain", domain, "--duration-seconds", "900", "--output")
    js, text, table, yml, stream = cli.many(*[(*base, f) for f in ("json", "text", "table", "yaml", "yaml-stream")])
    for proc in (js, text, table, yml, stream):
        assert proc.returncode == 0, proc.stderr
    doc = json.loads(js.stdout)
    assert list(doc) == ["authorizationToken", "expiration"] and js.stdout.startswith('{\n    "authorizationToken"')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", doc["expiration"])  # local, as aws
    assert 800 < seconds_left(doc["expiration"]) <= 901
    token, expiration = text.stdout.rstrip("\n").split("\t")
    assert token.startswith("rgca_") and 800 < seconds_left(expiration) <= 901
    lines = table.stdout.splitlines()
    assert lines[0].startswith("---") and lines[1].strip("| ") == "GetAuthorizationToken"
    assert any(re.match(r"\|\s+authorizationToken\s*\|\s+rgca_", x) for x in lines)
    assert any(re.match(r"\|\s+expiration\s*\|", x) for x in lines)
    assert set(yaml.safe_load(yml.stdout)) == {"authorizationToken", "expiration"}
    [item] = yaml.safe_load(stream.stdout)
    assert item["authorizationToken"].startswith("rgca_") and 800 < seconds_left(item["expiration"]) <= 901


def test_duration_zero_and_domain_owner(cli: Cli, domain: str) -> None:
    zero, owner, other = cli.many(
        (*CA_GAT, "--domain", domain, "--duration-seconds", "0", "--query", "expiration", "--output", "text"),
        (*CA_GAT, "--domain", domain, "--domain-owner", cli.server.account_id, "--query", "authorizationToken",
         "--output", "text"),
        (*CA_GAT, "--domain", domain, "--domain-owner", "999999999999"))
    assert zero.returncode == 0, zero.stderr
    assert seconds_left(zero.stdout.strip()) > 900          # 0 = the caller's credentials' expiry; long-term keys
    assert owner.returncode == 0 and owner.stdout.startswith("rgca_"), owner.stderr
    assert other.returncode == 254 and re.search(AWS_ERROR.format(code=r"\w+", op="GetAuthorizationToken"),
                                                 other.stderr), other.stderr


def test_cli_input_json_and_yaml(cli: Cli, domain: str, tmp_path: Path) -> None:
    doc = tmp_path / "in.yaml"
    doc.write_text(f"domain: {domain}\ndurationSeconds: 3600\n")
    from_json, from_yaml = cli.many(
        (*CA_GAT, "--cli-input-json", json.dumps({"domain": "not-this-one", "durationSeconds": 900}),
         "--domain", domain, "--query", "expiration", "--output", "text"),
        (*CA_GAT, "--cli-input-yaml", f"file://{doc}", "--query", "expiration", "--output", "text"))
    assert from_json.returncode == 0, from_json.stderr            # --domain overrode the document's domain
    assert 800 < seconds_left(from_json.stdout.strip()) <= 901    # ... and durationSeconds came from it
    assert from_yaml.returncode == 0, from_yaml.stderr
    assert 3500 < seconds_left(from_yaml.stdout.strip()) <= 3601


def test_generate_cli_skeleton_sends_nothing(cli: Cli, domain: str) -> None:
    dead = closed_port_url()
    env = cli.env(keys=None, region=None)          # no credentials, no region, and nothing listening

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*REGAUTH, *CA_GAT, "--endpoint-url", dead, *args], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=60)
    with ThreadPoolExecutor(max_workers=2) as pool:
        json_input, yaml_input, output = pool.map(lambda a: run(*a), [
            ("--generate-cli-skeleton", "input"), ("--generate-cli-skeleton", "yaml-input"),
            ("--generate-cli-skeleton", "output", "--domain", domain)])
    for proc in (json_input, yaml_input, output):
        assert proc.returncode == 0, proc.stderr
    assert json.loads(json_input.stdout) == {"domain": "", "domainOwner": "", "durationSeconds": 0}
    assert yaml.safe_load(yaml_input.stdout) == {"domain": "", "domainOwner": "", "durationSeconds": 0}
    assert "# [REQUIRED]" in yaml_input.stdout.splitlines()[0]
    assert json.loads(output.stdout) == {"authorizationToken": "authorizationToken",     # as aws prints it
                                         "expiration": "1970-01-01T00:00:00"}


def test_server_errors_exit_254_with_the_aws_message(cli: Cli, domain: str) -> None:
    short, missing = cli.many((*CA_GAT, "--domain", domain, "--duration-seconds", "899"),
                              (*CA_GAT, "--domain", unique("nope")))
    assert short.returncode == 254 and short.stdout == ""
    assert re.search(AWS_ERROR.format(code="ValidationException", op="GetAuthorizationToken"), short.stderr)
    assert missing.returncode == 254
    assert re.search(AWS_ERROR.format(code="ResourceNotFoundException", op="GetAuthorizationToken"), missing.stderr)


# --------------------------------------------------------------------------- global options

def test_debug_logs_requests_but_no_secret(cli: Cli, domain: str) -> None:
    creds = cli.server.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    temp = Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ca = cli.run(*CA_GAT, "--domain", domain, "--debug", "--query", "authorizationToken", "--output", "text",
                 keys=temp)
    ecr = cli.run("ecr", "get-authorization-token", "--debug", "--query", "authorizationData[0].authorizationToken",
                  "--output", "text", keys=temp)
    for proc in (ca, ecr):
        assert proc.returncode == 0, proc.stderr
        log = proc.stderr
        assert " - DEBUG - " in log and f"POST {cli.server.url}/" in log and "HTTP 200" in log
        assert "CanonicalRequest" in log and "Response body" in log        # botocore's own debug logs
        token = proc.stdout.strip()
        secrets = [temp.secret_access_key, temp.session_token, token, token[:24]]
        if proc is ecr:
            secrets.append(base64.b64decode(token).decode().split(":", 1)[1][:24])
        for secret in secrets:
            assert secret and secret not in log
        assert not re.search(r"Signature=[0-9a-f]{8}", log) and not re.search(r"Signature:\s*\n[0-9a-f]{8}", log)
        assert not re.search(r"rg(ca|ecr|ecp|acr)_[A-Za-z0-9]{4}", log)
        assert "x-amz-security-token:****" in log.lower()


def test_no_sign_request_reaches_the_server_unsigned(cli: Cli, domain: str) -> None:
    proc = subprocess.run([*REGAUTH, *CA_GAT, "--domain", domain, "--no-sign-request", "--endpoint-url",
                           cli.server.url], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=cli.env(keys=None))
    assert proc.returncode == 254
    assert re.search(AWS_ERROR.format(code="MissingAuthenticationTokenException", op="GetAuthorizationToken"),
                     proc.stderr), proc.stderr


def test_timeouts_tls_and_accepted_options(cli: Cli) -> None:
    who = ("sts", "get-caller-identity", "--query", "Account", "--output", "text")
    results = cli.many(
        (*who, "--cli-read-timeout", "0", "--cli-connect-timeout", "5", "--no-verify-ssl"),
        (*who, "--cli-read-timeout", "10", "--cli-connect-timeout", "0", "--ca-bundle", get_cert_path(True),
         "--no-paginate", "--no-cli-pager", "--no-cli-auto-prompt", "--cli-binary-format", "raw-in-base64-out",
         "--color", "off"))
    for proc in results:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == cli.server.account_id + "\n"


def test_profile_from_the_aws_files_in_home(fresh_home: Cli) -> None:
    aws = fresh_home.home / ".aws"
    aws.mkdir()
    keys = fresh_home.server.admin
    (aws / "credentials").write_text(f"[ci]\naws_access_key_id = {keys.access_key_id}\n"
                                     f"aws_secret_access_key = {keys.secret_access_key}\n")
    (aws / "config").write_text(f"[profile ci]\nregion = us-east-1\nendpoint_url = {fresh_home.server.url}\n"
                                "output = text\n")
    proc = subprocess.run([*REGAUTH, "sts", "get-caller-identity", "--profile", "ci"], capture_output=True,
                          text=True, cwd=REPO, timeout=60, env=fresh_home.env(keys=None, region=None))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\t")[0] == fresh_home.server.account_id      # text: the profile's output format


# --------------------------------------------------------------------------- other commands

def test_sts_and_repository_endpoint(cli: Cli, domain: str) -> None:
    who, endpoint = cli.many(("sts", "get-caller-identity"),
                             ("codeartifact", "get-repository-endpoint", "--domain", domain, "--repository", "repo",
                              "--format", "pypi", "--query", "repositoryEndpoint", "--output", "text"))
    assert json.loads(who.stdout)["Account"] == cli.server.account_id
    assert endpoint.returncode == 0 and endpoint.stdout.strip().endswith("/pypi/repo/")


def test_ecr_login_password_is_the_decoded_token(cli: Cli) -> None:
    password, token = cli.many(("ecr", "get-login-password"),
                               ("ecr", "get-authorization-token", "--query", "authorizationData[0].authorizationToken",
                                "--output", "text"))
    assert password.returncode == 0 and token.returncode == 0, password.stderr + token.stderr
    user, _, from_token = base64.b64decode(token.stdout.strip()).decode().partition(":")
    assert user == "AWS"
    assert password.stdout.endswith("\n") and password.stdout.count("\n") == 1
    assert password.stdout.startswith("rgecr_") and from_token.startswith("rgecr_")
    # two calls, two tokens: the same kind, key, principal and scope; only the id and times differ
    assert claims(password.stdout.strip()) == claims(from_token)


def claims(token: str) -> dict[str, object]:
    kid, payload, _ = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {"kid": kid, **{k: v for k, v in data.items() if k not in ("jti", "iat", "exp")}}


def test_ecr_public_only_in_us_east_1(cli: Cli) -> None:
    east = cli.run("ecr-public", "get-login-password", region="us-east-1")
    west = cli.run("ecr-public", "get-login-password", region="us-west-2")
    assert east.returncode == 0 and east.stdout.startswith("rgecp_"), east.stderr
    assert west.returncode == 254 and west.stdout == ""
    assert re.search(AWS_ERROR.format(code="UnsupportedCommandException", op="GetAuthorizationToken"), west.stderr)


# --------------------------------------------------------------------------- login

def test_login_pip_dry_run_redacts_unless_show_token(cli: Cli, domain: str) -> None:
    login = ("codeartifact", "login", "--tool", "pip", "--domain", domain, "--repository", "repo", "--dry-run")
    redacted, shown = cli.many(login, (*login, "--show-token"))
    assert redacted.returncode == 0 and shown.returncode == 0, redacted.stderr + shown.stderr
    url = r"(https?)://aws:(\S+)@(\S+)/pypi/repo/simple/"
    m = re.fullmatch(rf"pip config set global\.index-url {url}\n\n", redacted.stdout)
    assert m and m.group(2) == "****", redacted.stdout
    assert "--show-token" in redacted.stderr
    m = re.fullmatch(rf"pip config set global\.index-url {url}\n\n", shown.stdout)
    assert m and m.group(2).startswith("rgca_"), shown.stdout


def test_login_twine_writes_a_private_merged_pypirc(fresh_home: Cli, domain: str) -> None:
    rc = fresh_home.home / ".pypirc"
    before = ("[distutils]\nindex-servers =\n    pypi\n    internal\n\n[internal]\nrepository = https://x/\n"
              "password = internal-secret\n")
    rc.write_text(before)
    rc.chmod(0o644)
    login = ("codeartifact", "login", "--tool", "twine", "--domain", domain, "--repository", "repo")
    dry = fresh_home.ok(*login, "--dry-run")
    assert dry.startswith(f"Dryrun mode is enabled, not writing to pypirc.\n{rc} would have been set to")
    assert "internal-secret" not in dry and "rgca_" not in dry and dry.count("password = ****") == 2
    assert rc.read_text() == before
    out = fresh_home.ok(*login)
    assert out.startswith("Successfully configured twine to use AWS CodeArtifact repository https://")
    assert re.search(r"Login expires in 1[12] hours", out)
    assert stat.S_IMODE(rc.stat().st_mode) == 0o600
    parsed = configparser.RawConfigParser()
    parsed.read(rc)
    assert parsed.get("distutils", "index-servers").split() == ["pypi", "internal", "codeartifact"]
    assert parsed.get("internal", "repository") == "https://x/"
    assert parsed.get("internal", "password") == "internal-secret"
    assert parsed.get("codeartifact", "username") == "aws"
    assert parsed.get("codeartifact", "password").startswith("rgca_")
    assert parsed.get("codeartifact", "repository").endswith("/pypi/repo/")


def test_login_keeps_secrets_of_config_files_out_of_its_errors_and_a_symlinked_pypirc(fresh_home: Cli,
                                                                                      domain: str) -> None:
    rc = fresh_home.home / ".pypirc"
    rc.write_text("password = pypi-TOPSECRETVALUE\n[distutils]\nindex-servers = pypi\n")   # no section first
    login = ("codeartifact", "login", "--tool", "twine", "--domain", domain, "--repository", "repo")
    for extra in ((), ("--dry-run",)):
        proc = fresh_home.run(*login, *extra)
        assert proc.returncode == 255 and "invalid state" in proc.stderr
        assert "TOPSECRETVALUE" not in proc.stderr + proc.stdout
    # dotfiles kept elsewhere: the link stays, and its target is what login writes
    target = fresh_home.home / "dotfiles" / "pypirc"
    target.parent.mkdir()
    target.write_text("[distutils]\nindex-servers =\n    pypi\n")
    rc.unlink()
    rc.symlink_to(target)
    fresh_home.ok(*login)
    assert rc.is_symlink() and "[codeartifact]" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # the expiry is told as the AWS CLI tells it: local time, through str()
    out = fresh_home.ok(*login, TZ="Asia/Tokyo")
    assert re.search(r"\nLogin expires in 1[12] hours at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+09:00\n$", out), out
    assert out.splitlines()[0].endswith("/pypi/repo/ ")                     # aws-cli's trailing space


def test_login_pip_runs_pip_config_set(fresh_home: Cli, domain: str) -> None:
    """pip's `config set` writes the user file (PIP_CONFIG_FILE only when that file exists; a venv's site file
    when that exists: test_login_pip_files.py), so HOME and XDG_CONFIG_HOME are temporary; PIP_CONFIG_FILE names
    an absent temp file, so nothing else leaks in."""
    if Path(sys.prefix, "pip.conf").exists():
        pytest.fail(f"{sys.prefix}/pip.conf exists: `pip config set` would write to it")
    pip_env = {"PIP_CONFIG_FILE": str(fresh_home.home / "pip-env.conf")}
    out = fresh_home.ok("codeartifact", "login", "--tool", "pip", "--domain", domain, "--repository", "repo",
                        **pip_env)
    assert out.startswith("Successfully configured pip to use AWS CodeArtifact repository ")
    written = fresh_home.home / ".config" / "pip" / "pip.conf"
    assert written.exists() and stat.S_IMODE(written.stat().st_mode) == 0o600      # it holds the token
    got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True,
                         text=True, env=fresh_home.env(**pip_env), timeout=60)
    assert re.fullmatch(r"https?://aws:rgca_[A-Za-z0-9_.-]+@\S+/pypi/repo/simple/\n", got.stdout), got.stderr


def test_login_npm_sets_registry_and_token(fresh_home: Cli, domain: str) -> None:
    require_program(shutil.which("npm"), "npm")
    npmrc = fresh_home.home / "npmrc"
    out = fresh_home.ok("codeartifact", "login", "--tool", "npm", "--domain", domain, "--repository", "repo",
                        "--namespace", "myorg", NPM_CONFIG_USERCONFIG=str(npmrc))
    assert out.startswith("Successfully configured npm")
    text = npmrc.read_text()
    assert re.search(r"^@myorg:registry=https?://\S+/npm/repo/$", text, re.M), text
    assert re.search(r"^//\S+/npm/repo/:_authToken=rgca_\S+$", text, re.M), text


# --------------------------------------------------------------------------- the redaction filter, in-process

def test_redacting_filter_removes_every_kind_of_secret() -> None:
    redactor = Redactor()
    redactor.add_secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("regauth.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/sts/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=%s", "52ae58bc9770e20b54b98cfe477de6632a72")
        logger.debug("Signature:\n%s", "6bae07dafe7370ad63c5146e674b958e870be09f")
        logger.debug("x-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLE\n'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjEXAMPLE'")
        logger.debug('b\'{"authorizationToken":"opaque-token-value","expiration":1.0}\'')
        logger.debug("<SecretAccessKey>abcdEFGH1234</SecretAccessKey><SessionToken>tokTOK123</SessionToken>")
        logger.debug("AWS_SECRET_ACCESS_KEY=plainsecret1 and the key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        logger.debug("tokens rgca_k1.abc.def rgecr_k1.x rgecp_k1.y rgacr_k1.z %s",
                     base64.b64encode(b"AWS:opaque-docker-password").decode())
        logger.debug("pip config set global.index-url https://aws:opaque@host/pypi/r/simple/")
        try:
            raise RuntimeError("failed with rgca_k9.secret")
        except RuntimeError:
            logger.debug("boom", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for leaked in ("52ae58bc", "6bae07da", "IQoJb3", "opaque-token-value", "abcdEFGH", "tokTOK", "plainsecret",
                   "EXAMPLEKEY", "k1.abc", "k1.x", "k1.y", "k1.z", "QVdTOm9w", "opaque@", "k9.secret"):
        assert leaked not in text, leaked
    assert "Signature=****" in text
    assert "RuntimeError" in text                                  # the exception is kept, its secret is not


def test_redactor_leaves_ordinary_debug_lines_alone() -> None:
    line = ("Event before-call.codeartifact.GetAuthorizationToken: calling handler <function f>; "
            "POST http://127.0.0.1:1/v1/authorization-token?domain=d HTTP 200; Credential=AKIDEXAMPLE/20261122")
    assert Redactor()(line) == line


# --------------------------------------------------------------------------- parameter errors, in-process

@pytest.fixture
def inprocess(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """`regauth ...` through main() in this process (for errors found before any request is sent)."""
    from regauth.cli.main import main
    for name in list(os.environ):
        if name.startswith(("AWS_", "REGAUTH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    def run(*argv: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def test_parameter_errors_exit_252_with_usage(inprocess) -> None:
    dead = ("--endpoint-url", closed_port_url(), "--region", "us-east-1")
    code, _, err = inprocess(*CA_GAT, "--domain", "x", *dead)
    assert code == 252
    assert "Parameter validation failed:\nInvalid length for parameter domain, value: 1, valid min length: 2" in err
    code, _, err = inprocess(*CA_GAT, *dead)
    assert code == 252 and err.startswith("usage: regauth codeartifact get-authorization-token --domain <value>")
    assert "the following arguments are required: --domain" in err
    code, _, err = inprocess(*CA_GAT, "--generate-cli-skeleton", "output", *dead)
    assert code == 252 and "required: --domain" in err                # output validates, like the AWS CLI
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--bogus", *dead)
    assert code == 252 and "unrecognized arguments: --bogus" in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--duration-seconds", "ten", *dead)
    assert code == 252 and "invalid int value: 'ten'" in err
    code, _, err = inprocess("codeartifact", "no-such-command")
    assert code == 252 and "invalid choice" in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--query", "foo[", *dead)
    assert code == 252 and "Bad value for --query foo[" in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--output", "xml", *dead)
    assert code == 252


def test_cli_input_errors_exit_252(inprocess) -> None:
    code, _, err = inprocess(*CA_GAT, "--cli-input-json", '{"domain": "abc"}', "--cli-input-yaml", "domain: abc")
    assert code == 252 and "Only one --cli-input- parameter may be specified." in err
    code, _, err = inprocess(*CA_GAT, "--cli-input-json", '{"domain": "abc", "bogus": 1}')
    assert code == 252 and 'Unknown parameter in input: "bogus", must be one of: domain, domainOwner' in err
    code, _, err = inprocess(*CA_GAT, "--cli-input-json", '{"domain": ')
    assert code == 252 and "Invalid JSON" in err
    code, _, err = inprocess(*CA_GAT, "--cli-input-yaml", "durationSeconds: soon\ndomain: abc",
                             "--generate-cli-skeleton", "output")
    assert code == 252 and "Invalid type for parameter durationSeconds" in err
    # a null is a value of the wrong type, as the AWS CLI says, not a parameter left out
    code, _, err = inprocess(*CA_GAT, "--cli-input-json", '{"domain": "abc", "domainOwner": null}',
                             "--endpoint-url", closed_port_url(), "--region", "us-east-1")
    assert code == 252 and "Invalid type for parameter domainOwner, value: None" in err
    code, _, err = inprocess(*CA_GAT, "--cli-input-json", '{"domain": null}', "--domain", "abc",
                             "--generate-cli-skeleton", "output")
    assert code == 0                                   # the command line's value wins over the document's


def test_configuration_errors_version_and_auto_prompt(inprocess) -> None:
    code, _, err = inprocess("sts", "get-caller-identity", "--endpoint-url", closed_port_url())
    assert code == 253 and "You must specify a region" in err
    code, _, err = inprocess("sts", "get-caller-identity", "--profile", "nope", "--region", "us-east-1")
    assert code == 255 and "The config profile (nope) could not be found" in err       # 255 in AWS CLI v2
    code, out, _ = inprocess("ecr", "get-login-password", "--version")
    assert code == 0 and out.startswith("regauth/0.") and "botocore/" in out
    code, out, err = inprocess("sts", "get-caller-identity", "--cli-auto-prompt", "--no-cli-auto-prompt")
    assert code == 252 and out == ""
    assert "Both --cli-auto-prompt and --no-cli-auto-prompt cannot be specified at the same time." in err


def test_output_skeleton_times_are_printed_as_the_aws_cli_prints_them(inprocess) -> None:
    """Sample times unconverted, as AWS CLI v1 and v2 print them (no zone added)."""
    expected = {"json": '"expiresAt": "1970-01-01T00:00:00"', "text": "\t1970-01-01 00:00:00\t",
                "yaml": "expiresAt: 1970-01-01 00:00:00\n", "table": "|  1970-01-01 00:00:00  |"}
    for output, text in expected.items():
        code, out, err = inprocess("ecr", "get-authorization-token", "--generate-cli-skeleton", "output",
                                   "--region", "us-east-1", "--output", output)
        assert code == 0 and text in out and "+00:00" not in out, (output, out, err)


def test_unambiguous_option_prefixes_are_accepted_as_by_the_aws_cli(inprocess) -> None:
    dead = closed_port_url()
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--duration", "ten", "--endpoint", dead, "--region",
                             "us-east-1")
    assert code == 252 and "--duration-seconds: invalid int value: 'ten'" in err        # --duration is it
    code, _, err = inprocess(*CA_GAT, "--dom", "abc", "--endpoint-url", dead, "--region", "us-east-1")
    assert code == 252 and "ambiguous option: --dom could match --domain, --domain-owner" in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--endpoint", dead, "--region", "us-east-1",
                             "--cli-connect-timeout", "1")
    assert code == 255 and f'Could not connect to the endpoint URL: "{dead}/v1/authorization-token' in err


def test_an_empty_or_schemeless_endpoint_is_an_error_not_the_public_cloud(inprocess) -> None:
    """As the AWS CLI: `--endpoint-url "$E"` with E unset must not send signed requests to AWS."""
    for bad in ("", "127.0.0.1:8080"):
        code, out, err = inprocess(*CA_GAT, "--domain", "abc", "--endpoint-url", bad, "--region", "us-east-1")
        assert code == 252 and out == ""
        assert f'Bad value for --endpoint-url "{bad}": scheme is missing.' in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--endpoint-url", closed_port_url(), "--region", "us_east")
    assert code == 255 and "Provided region_name 'us_east' doesn't match a supported format." in err
    assert "--endpoint-url" not in err
    code, out, err = inprocess("cr", "get-authorization-token", "--instance-id", "cri-abcd", "--endpoint-url", "",
                               "--region", "cn-hangzhou", ALIBABA_CLOUD_ACCESS_KEY_ID="a",
                               ALIBABA_CLOUD_ACCESS_KEY_SECRET="b")
    assert code == 252 and out == "" and 'Bad value for --endpoint-url "":' in err
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--region", "us-east-1", AWS_ENDPOINT_URL="127.0.0.1:1")
    assert code == 252 and "Bad value for the endpoint (AWS_ENDPOINT_URL*, endpoint_url)" in err and "None" not in err
    # --region "" is a region given (signed as given, as the AWS CLI does), not a reason to read another
    code, _, err = inprocess(*CA_GAT, "--domain", "abc", "--endpoint-url", closed_port_url(), "--region", "",
                             "--cli-connect-timeout", "1")
    assert code == 255 and "Could not connect to the endpoint URL" in err


def test_every_command_documents_an_example_and_every_global_option(inprocess) -> None:
    from regauth.cli.commands import COMMANDS
    seed_options = ["--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton", "--debug", "--endpoint-url",
                    "--no-verify-ssl", "--no-paginate", "--output", "--query", "--profile", "--region", "--version",
                    "--color", "--no-sign-request", "--ca-bundle", "--cli-read-timeout", "--cli-connect-timeout",
                    "--cli-binary-format", "--no-cli-pager", "--cli-auto-prompt", "--no-cli-auto-prompt"]
    for spec in COMMANDS:
        code, out, _ = inprocess(spec.group, spec.name, "--help")
        assert code == 0
        assert f"examples:\n  regauth {spec.group} {spec.name}" in out
        for option in seed_options:
            assert option in out, (spec.name, option)
    code, out, _ = inprocess(*CA_GAT, "--help")
    assert ("regauth codeartifact get-authorization-token --domain test-domain --query authorizationToken "
            "--output text") in out
    for option in ("--domain <value>", "--domain-owner <value>", "--duration-seconds <value>"):
        assert option in out
