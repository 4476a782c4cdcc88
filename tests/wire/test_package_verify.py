"""The registry side, Python path: pypiserver behind nginx, whose `auth_request` asks regauth's
`/auth/verify` about every request, driven by unmodified pip and twine with CodeArtifact tokens.

nginx names the index in the verifier's URL (`/auth/verify?domain=D&domain-owner=A&region=R&repository=N`);
the token must be for that domain. Reads need codeartifact:ReadFromRepository, uploads
PublishPackageVersion.
"""

from __future__ import annotations

import base64
import os
import shutil
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.registries import PypiFront, make_wheel, pip_env, start_pypi_front
from tests.fixtures.server import Keys, RegauthServer, new_user, regauth_cli, server_env, start_server, unique

pytestmark = pytest.mark.wire
BIN = Path(sys.executable).parent


def verify_url(server: RegauthServer, domain: str, repo: str) -> str:
    """The verifier URL nginx asks, naming the index: its domain, the domain's owner and region, its repository."""
    return (f"{server.url}/auth/verify?domain={domain}&domain-owner={server.account_id}&region=us-east-1"
            f"&repository={repo}")


def ca_policy(*actions: str, resource: str = "*") -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "codeartifact:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
         "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}},
        *([{"Effect": "Allow", "Action": list(actions), "Resource": resource}] if actions else [])]}


READ = "codeartifact:ReadFromRepository"
PUBLISH = "codeartifact:PublishPackageVersion"


class Env:
    def __init__(self, server: RegauthServer, front: PypiFront, domain: str, repo: str, work: Path) -> None:
        self.server, self.front, self.domain, self.repo, self.work = server, front, domain, repo, work

    def token(self, keys: Keys, domain: str | None = None) -> str:
        return self.server.client("codeartifact", keys).get_authorization_token(
            domain=domain or self.domain)["authorizationToken"]

    def user(self, *actions: str) -> str:
        return self.token(new_user(self.server, ca_policy(*actions)))

    def twine(self, token: str, wheel: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                               "--repository-url", self.front.url, "-u", "aws", "-p", token, str(wheel)],
                              capture_output=True, text=True, timeout=120, env=pip_env({"TWINE_CERT": ""}))

    def pip_install(self, token: str, name: str) -> subprocess.CompletedProcess:
        index = self.front.url.replace("http://", f"http://aws:{token}@") + "simple/"
        return subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--index-url", index,
                               "--target", str(self.work / unique("site")), name],
                              capture_output=True, text=True, timeout=180, env=pip_env())

    def get(self, path: str, authorization: str | None = None) -> tuple[int, dict[str, str]]:
        req = urllib.request.Request(self.front.url + path.lstrip("/"))
        if authorization:
            req.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("verify")
    server = start_server(base / "data", server_env())
    try:
        ca = server.client("codeartifact")
        domain, repo = unique("dom"), unique("pypi-store")
        ca.create_domain(domain=domain)
        ca.create_repository(domain=domain, repository=repo)
        front = start_pypi_front(base / "front", verify_url=verify_url(server, domain, repo))
        try:
            yield Env(server, front, domain, repo, base / "work")
        finally:
            front.stop()
    finally:
        server.stop()


def test_publish_with_twine_then_install_with_pip(env: Env) -> None:
    name = unique("rgpkg").replace("-", "_")
    wheel = make_wheel(env.work / "dist", name, "1.0.0")
    up = env.twine(env.user(READ, PUBLISH), wheel)
    assert up.returncode == 0, up.stdout + up.stderr + env.front.logs()
    assert (env.front.packages / wheel.name).exists()
    got = env.pip_install(env.user(READ), name)
    assert got.returncode == 0 and f"Successfully installed {name}" in got.stdout.replace("-", "_"), got.stderr


def test_a_reader_cannot_upload_and_a_bad_token_is_unauthorized(env: Env) -> None:
    wheel = make_wheel(env.work / "dist", unique("rgro").replace("-", "_"), "1.0.0")
    reader = env.user(READ)
    denied = env.twine(reader, wheel)
    assert denied.returncode != 0 and "403 Forbidden" in denied.stdout + denied.stderr
    bad = env.twine(reader[:-3] + "xyz", wheel)
    assert bad.returncode != 0 and "401 Unauthorized" in bad.stdout + bad.stderr
    assert not (env.front.packages / wheel.name).exists()
    assert reader not in env.front.logs() and reader not in "\n".join(env.server.output)


def test_pip_with_a_token_without_read_permission_finds_nothing(env: Env) -> None:
    name = unique("rgnr").replace("-", "_")
    assert env.twine(env.user(READ, PUBLISH), make_wheel(env.work / "dist", name, "1.0.0")).returncode == 0
    got = env.pip_install(env.user(), name)
    assert got.returncode != 0 and "from versions: none" in got.stderr


def test_the_verifier_answers_nginx_as_auth_request_expects(env: Env) -> None:
    reader = env.user(READ)
    status, headers = env.get("/simple/")
    assert status == 401 and headers.get("www-authenticate") == 'Basic realm="regauth"', headers
    assert env.get("/simple/", f"Bearer {reader}")[0] == 200               # npm-style clients send Bearer
    basic = base64.b64encode(f"aws:{reader}".encode()).decode()
    assert env.get("/simple/", f"Basic {basic}")[0] == 200
    wrong_user = base64.b64encode(f"AWS:{reader}".encode()).decode()
    assert env.get("/simple/", f"Basic {wrong_user}")[0] == 401
    # a token of another domain opens nothing here, even one that has a repository of the same name
    other = unique("dom")
    admin_ca = env.server.client("codeartifact")
    admin_ca.create_domain(domain=other)
    admin_ca.create_repository(domain=other, repository=env.repo)
    keys = new_user(env.server, ca_policy(READ, PUBLISH))
    assert env.get("/simple/", f"Bearer {env.token(keys, other)}")[0] == 401
    wheel = make_wheel(env.work / "dist", unique("rgother").replace("-", "_"), "1.0.0")
    assert "401 Unauthorized" in (lambda p: p.stdout + p.stderr)(env.twine(env.token(keys, other), wheel))
    assert not (env.front.packages / wheel.name).exists()


def test_revoking_a_principal_closes_the_index_to_its_tokens(env: Env) -> None:
    name = unique("rv")
    keys = new_user(env.server, ca_policy(READ), name=name)
    token = env.token(keys)
    assert env.get("/simple/", f"Bearer {token}")[0] == 200
    arn = f"arn:aws:iam::{env.server.account_id}:user/{name}"
    out = regauth_cli("admin", "revoke", "--principal-arn", arn, data_dir=env.server.data_dir)
    assert out.returncode == 0, out.stderr
    assert env.get("/simple/", f"Bearer {token}")[0] == 401
    audit = regauth_cli("admin", "audit", "--principal", arn, data_dir=env.server.data_dir)
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    assert events[0]["outcome"] == "denied" and events[0]["action"] == "package:GET", events[0]
    assert "revoked" in events[0]["detail"] and token not in audit.stdout


def test_the_verifier_itself(env: Env) -> None:
    """Straight to /auth/verify, as nginx's subrequest reaches it: method from X-Original-Method."""
    reader = env.user(READ)

    def verify(query: str, token: str | None, method: str | None = "GET", user: str = "aws",
               header: str = "X-Original-Method") -> int:
        req = urllib.request.Request(f"{env.server.url}/auth/verify?{query}")
        if token is not None:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode())
        if method is not None:
            req.add_header(header, method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    index = f"domain={env.domain}&domain-owner={env.server.account_id}&region=us-east-1"
    repo = f"{index}&repository={env.repo}"
    assert verify(repo, reader) == 200 and verify(repo, reader, "HEAD") == 200
    # nginx's auth_request subrequest is a GET whatever the client sent: without the header an upload
    # would pass as a read, so it is a misconfiguration (400: nginx fails closed with a 500)
    assert verify(repo, reader, None) == 400
    assert verify(repo, reader, "POST", header="X-Forwarded-Method") == 403          # Traefik's, Caddy's
    # a proxy that names the method in one header passes the client's others through: a client's
    # X-Original-Method: GET beside the proxy's X-Forwarded-Method: POST is still an upload
    req = urllib.request.Request(f"{env.server.url}/auth/verify?{repo}", headers={
        "Authorization": "Basic " + base64.b64encode(f"aws:{reader}".encode()).decode(),
        "X-Original-Method": "GET", "X-Forwarded-Method": "POST"})
    with pytest.raises(urllib.error.HTTPError) as spoofed:
        urllib.request.urlopen(req, timeout=10)
    assert spoofed.value.code == 403
    for method in ("POST", "PUT", "PATCH", "DELETE", "MOVE", "COPY", "MKCOL", "PROPPATCH", "OPTIONS", "BREW"):
        assert verify(repo, reader, method) == 403           # only GET and HEAD read: anything else writes
    assert verify(repo, env.user(READ, PUBLISH), "POST") == 200
    assert verify(f"{index}&repository=no-such-repo", reader) == 403
    assert verify("", reader) == 400 and verify(f"{repo}&repository={env.repo}", reader) == 400
    assert verify(f"repository={env.repo}", reader) == 400                 # domain, owner and region are required
    assert verify(f"domain={env.domain}&repository={env.repo}", reader) == 400
    assert verify(f"domain={env.domain}&domain-owner={env.server.account_id}&repository={env.repo}", reader) == 400
    assert verify(f"{repo}&pad={'a' * 4096}", reader) == 400               # too long: refused, never cut
    # the token is for its own domain only: another domain, owner or region names another index
    assert verify(repo.replace(f"domain={env.domain}&", f"domain={env.domain}x&"), reader) == 401
    assert verify(repo.replace(f"domain-owner={env.server.account_id}", "domain-owner=999999999999"), reader) == 401
    assert verify(repo.replace("region=us-east-1", "region=eu-west-1"), reader) == 401
    assert verify(repo, None) == 401
    ecr = env.server.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert verify(repo, base64.b64decode(ecr).decode().split(":", 1)[1]) == 401       # an ECR password


@pytest.mark.parametrize("cli", ["aws-v2", "regauth"])
def test_codeartifact_login_sets_up_pip_and_twine_for_the_index(env: Env, cli: str, tmp_path: Path) -> None:
    """The user's whole path: GetRepositoryEndpoint names the nginx front, `codeartifact login --tool
    twine` and `--tool pip` write the token into ~/.pypirc and pip's user configuration, and
    unmodified twine and pip then upload and install through the verifier."""
    from tests.fixtures.server import require_program, which_aws_v2

    out = regauth_cli("admin", "set-repository-endpoint", "--account-id", env.server.account_id, "--region",
                      "us-east-1", "--domain", env.domain, "--format", "pypi", "--template", env.front.url,
                      data_dir=env.server.data_dir)
    assert out.returncode == 0, out.stderr
    keys = new_user(env.server, ca_policy(READ, PUBLISH, "codeartifact:GetRepositoryEndpoint"))
    exe = [require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)")] if cli == "aws-v2" else \
        [sys.executable, "-m", "regauth"]
    home = tmp_path / "home"
    home.mkdir()
    # pip's user configuration lives in $HOME; the machine's own pip settings must not leak in (spec §2.D)
    run_env = {k: v for k, v in pip_env().items() if not k.startswith("AWS_") and k != "PIP_CONFIG_FILE"}
    run_env.update(keys.env(), HOME=str(home), AWS_DEFAULT_REGION="us-east-1", PATH=f"{BIN}:{run_env['PATH']}",
                   XDG_CONFIG_HOME=str(home / ".config"))
    for tool in ("twine", "pip"):
        login = subprocess.run([*exe, "--endpoint-url", env.server.url, "codeartifact", "login", "--tool", tool,
                                "--domain", env.domain, "--repository", env.repo],
                               capture_output=True, text=True, env=run_env, timeout=120)
        assert login.returncode == 0, login.stdout + login.stderr
        assert "rgca_" not in login.stdout + login.stderr                   # the token is not printed
    name = unique("rglogin").replace("-", "_")
    wheel = make_wheel(tmp_path / "dist", name, "2.0.0")
    up = subprocess.run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar", "-r",
                         "codeartifact", str(wheel)], capture_output=True, text=True, env=run_env, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    got = subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(tmp_path / "t"),
                          name], capture_output=True, text=True, env=run_env, timeout=180)
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "t" / name / "__init__.py").read_text() == '__version__ = "2.0.0"\n'


@pytest.mark.parametrize("cli", ["aws-v2", "regauth"])
def test_npm_through_the_verifier_with_a_bearer_token(env: Env, cli: str, tmp_path: Path) -> None:
    """npm, configured by `codeartifact login --tool npm`, sends the token as a Bearer; nginx serves an
    npm registry of static files behind the same verifier."""
    from tests.fixtures.registries import publish_npm_package, start_static_front
    from tests.fixtures.server import require_program, which_aws_v2

    npm = require_program(shutil.which("npm"), "npm (Debian package)")
    repo = unique("npm-store")
    env.server.client("codeartifact").create_repository(domain=env.domain, repository=repo)
    front = start_static_front(tmp_path / "front", verify_url=verify_url(env.server, env.domain, repo))
    try:
        name = unique("rgdemo")
        publish_npm_package(front.root, front.url, name, "1.2.3")
        out = regauth_cli("admin", "set-repository-endpoint", "--account-id", env.server.account_id, "--region",
                          "us-east-1", "--domain", env.domain, "--format", "npm", "--template", front.url,
                          data_dir=env.server.data_dir)
        assert out.returncode == 0, out.stderr
        exe = [require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)")] if cli == "aws-v2" else \
            [sys.executable, "-m", "regauth"]

        def npm_env(keys: Keys, home: Path) -> dict[str, str]:
            home.mkdir(parents=True)
            e = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AWS_", "NPM_CONFIG_", "PIP_"))}
            e.update(keys.env(), HOME=str(home), AWS_DEFAULT_REGION="us-east-1", npm_config_cache=str(home / "cache"),
                     PATH=f"{BIN}{os.pathsep}{e.get('PATH', '')}", npm_config_update_notifier="false")
            return e

        def install(keys: Keys, home: Path) -> subprocess.CompletedProcess:
            e = npm_env(keys, home)
            login = subprocess.run([*exe, "--endpoint-url", env.server.url, "codeartifact", "login", "--tool", "npm",
                                    "--domain", env.domain, "--repository", repo], capture_output=True, text=True,
                                   env=e, timeout=120)
            assert login.returncode == 0, login.stdout + login.stderr
            assert "_authToken" in (home / ".npmrc").read_text()
            return subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(home / "proj"), name],
                                  capture_output=True, text=True, env=e, timeout=180)

        reader = new_user(env.server, ca_policy(READ, "codeartifact:GetRepositoryEndpoint"))
        ok = install(reader, tmp_path / "reader")
        assert ok.returncode == 0, ok.stdout + ok.stderr + front.logs()
        assert (tmp_path / "reader" / "proj" / "node_modules" / name / "index.js").read_text() == \
            'module.exports = "1.2.3";\n'
        outsider = new_user(env.server, ca_policy("codeartifact:GetRepositoryEndpoint"))
        refused = install(outsider, tmp_path / "outsider")
        assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    finally:
        front.stop()
