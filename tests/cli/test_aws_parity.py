"""`regauth` and AWS CLI v2 (Debian's /usr/bin/aws) run side by side against the same real `regauth serve`: paged
text and yaml-stream, YAML, --cli-input-yaml as YAML 1.2, yaml-input skeletons, ~/.aws/config settings, exit
codes and messages, global options between the service and the operation, and --cli-auto-prompt."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.test_commands import CA_GAT, REGAUTH, Cli, closed_port_url, seconds_left
from tests.fixtures.server import REPO, RegauthServer, require_program, unique, which_aws_v2

pytestmark = pytest.mark.wire

TOKEN = re.compile(r"(rgca|rgecr|rgecp)_[A-Za-z0-9._-]+|QVdTO[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def cli(regauth_server: RegauthServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(regauth_server, tmp_path_factory.mktemp("cli-parity-home"))


@pytest.fixture(scope="module")
def aws() -> str:
    return require_program(which_aws_v2(), "AWS CLI v2 (Debian awscli)")


def both(cli: Cli, aws: str, *args: str, endpoint: bool = True, stdin: str | None = None,
         **env: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The same command by aws and by regauth (in parallel), with the same HOME, keys and variables."""
    tail = ["--endpoint-url", cli.server.url] if endpoint else []
    full_env = cli.env(cli.server.admin, **{"AWS_PAGER": "", **env})

    def run(exe: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args, *tail], capture_output=True, text=True, cwd=REPO, timeout=60,
                              env=full_env, input=stdin)
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs, ours = pool.map(run, [[aws], REGAUTH])
    return theirs, ours


def same(cli: Cli, aws: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Runs both; stdout, stderr and exit code must be equal (issued tokens aside). Returns regauth's run."""
    theirs, ours = both(cli, aws, *args, **kw)  # type: ignore[arg-type]
    assert (ours.returncode, TOKEN.sub("T", ours.stdout), ours.stderr) == \
           (theirs.returncode, TOKEN.sub("T", theirs.stdout), theirs.stderr), args
    return ours


@pytest.fixture(scope="module")
def users(cli: Cli) -> str:
    """Four users under a path of their own, so the list is this module's alone."""
    path = f"/{unique('parity')}/"
    iam = cli.server.client("iam")
    for n in range(4):
        iam.create_user(UserName=f"{path.strip('/')}-u{n}", Path=path)
    return path


# --------------------------------------------------------------------------- 1. pages in text and yaml-stream

def test_paged_text_and_yaml_stream_print_page_by_page(cli: Cli, aws: str, users: str) -> None:
    ls = ("iam", "list-users", "--path-prefix", users)
    ours = same(cli, aws, *ls, "--max-items", "2", "--output", "text")
    lines = ours.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("USERS\t") and re.fullmatch(r"NEXTTOKEN\t\S+", lines[2])
    ours = same(cli, aws, *ls, "--page-size", "2", "--query", "Users[].UserName", "--output", "text")
    assert len(ours.stdout.splitlines()) == 2                          # one line per page of two
    same(cli, aws, *ls, "--page-size", "3", "--max-items", "2", "--query", "Users[].UserName", "--output", "text")
    ours = same(cli, aws, *ls, "--page-size", "2", "--output", "yaml-stream")
    assert ours.stdout.startswith("- IsTruncated: true\n  Marker: ") and ours.stdout.count("\n- IsTruncated") == 1
    same(cli, aws, *ls, "--page-size", "2", "--max-items", "3", "--query", "Users[].UserName", "--output",
         "yaml-stream")
    for output in ("json", "yaml", "table"):                          # these merge the pages, as before
        same(cli, aws, *ls, "--page-size", "3", "--max-items", "3", "--output", output)


def test_paged_codeartifact_lists_in_text(cli: Cli, aws: str) -> None:
    ca = cli.server.client("codeartifact")
    for _ in range(3):
        ca.create_domain(domain=unique("parity"))
    ours = same(cli, aws, "codeartifact", "list-domains", "--max-items", "2", "--output", "text")
    assert ours.stdout.count("DOMAINS\t") == 2 and ours.stdout.splitlines()[-1].startswith("NEXTTOKEN\t")
    same(cli, aws, "codeartifact", "list-domains", "--page-size", "2", "--query", "domains[].name", "--output", "text")


# --------------------------------------------------------------------------- 2. YAML

def test_yaml_sorts_keys_and_prints_tokens_as_aws_does(cli: Cli, aws: str) -> None:
    ours = same(cli, aws, "sts", "get-caller-identity", "--output", "yaml")
    assert [line.split(":")[0] for line in ours.stdout.splitlines()] == ["Account", "Arn", "UserId"]
    same(cli, aws, "sts", "get-caller-identity", "--query", "{z: UserId, a: Account, m: [Arn]}", "--output", "yaml")
    same(cli, aws, "sts", "get-caller-identity", "--query", "{z: UserId, a: `[\"yes\", \"0123\", \"15:00\"]`}",
         "--output", "yaml-stream")
    domain = unique("yaml")
    cli.server.client("codeartifact").create_domain(domain=domain)
    for command in ((*CA_GAT, "--domain", domain), ("ecr", "get-authorization-token"),
                    ("ecr-public", "get-authorization-token")):
        for output in ("yaml", "yaml-stream"):
            theirs, ours = both(cli, aws, *command, "--output", output)
            assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
            assert re.search(r"authorizationToken: (rgca|rgecr|rgecp|QVdTO)", ours.stdout)   # on its key's line
            times = re.compile(r"'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00'")
            assert times.sub("TIME", TOKEN.sub("T", ours.stdout)) == times.sub("TIME", TOKEN.sub("T", theirs.stdout))


# --------------------------------------------------------------------------- 3. --cli-input-yaml is YAML 1.2

def test_cli_input_yaml_is_read_as_yaml_1_2(cli: Cli, aws: str) -> None:
    domain = unique("y12")
    cli.server.client("codeartifact").create_domain(domain=domain)
    expiry = ("--query", "expiration", "--output", "text")
    ours = same(cli, aws, *CA_GAT, "--cli-input-yaml", f"domain: {domain}\ndurationSeconds: 01604", "--query",
                "length(authorizationToken) > `0`")
    assert ours.stdout == "true\n"
    late = cli.run(*CA_GAT, "--cli-input-yaml", f"domain: {domain}\ndurationSeconds: 01604", *expiry)
    octal = cli.run(*CA_GAT, "--cli-input-yaml", f"domain: {domain}\ndurationSeconds: 0o1604", *expiry)
    assert 1500 < seconds_left(late.stdout.strip()) <= 1605                  # decimal 1604, not octal 900
    assert 800 < seconds_left(octal.stdout.strip()) <= 901                   # 0o1604 is 900
    for word in ("no", "on", "off", "yes"):                                 # strings, not booleans
        ours = same(cli, aws, *CA_GAT, "--cli-input-yaml", f"domain: {word}")
        assert ours.returncode == 254 and "ResourceNotFoundException" in ours.stderr
    ours = same(cli, aws, *CA_GAT, "--cli-input-yaml", f"domain: {domain}\ndurationSeconds: 15:00")
    assert ours.returncode == 252 and "value: 15:00, type: <class 'str'>" in ours.stderr
    ours = same(cli, aws, *CA_GAT, "--cli-input-yaml", f"domain: {domain}\ndomainOwner: 012345678901")
    assert ours.returncode == 252 and "value: 12345678901, type: <class 'int'>" in ours.stderr


# --------------------------------------------------------------------------- 4. yaml-input skeletons

def test_yaml_input_skeletons_match_aws(cli: Cli, aws: str, tmp_path: Path) -> None:
    for command in (("codeartifact", "create-domain"), CA_GAT, ("codeartifact", "list-domains"),
                    ("ecr", "describe-repositories"), ("iam", "list-users"), ("sts", "get-caller-identity")):
        same(cli, aws, *command, "--generate-cli-skeleton", "yaml-input", endpoint=False)
        same(cli, aws, *command, "--generate-cli-skeleton", endpoint=False)
    out = cli.ok("ecr", "create-repository", "--generate-cli-skeleton", "yaml-input", endpoint=False)
    assert "imageTagMutability: MUTABLE #" in out and "\n  encryptionType: AES256  # [REQUIRED]" in out
    assert "\n- Key: ''  # " in out and "\n  scanOnPush: true  # " in out
    out = cli.ok("sts", "assume-role", "--generate-cli-skeleton", "yaml-input", endpoint=False)
    assert "\nTags: # " in out and "\n- Key: ''  # [REQUIRED] The key for a session tag.\n" in out
    assert "\n- arn: ''  # " in out and "\nTransitiveTagKeys: # " in out
    jsons = {cli.ok("ecr", "create-repository", "--generate-cli-skeleton", endpoint=False) for _ in range(3)}
    assert len(jsons) == 1 and json.loads(jsons.pop())["imageTagMutability"] == "MUTABLE"   # the first, always
    # filled in and fed back, it is a valid input (tags included)
    filled = cli.ok("codeartifact", "create-domain", "--generate-cli-skeleton", "yaml-input", endpoint=False)
    domain = unique("skel")
    filled = filled.replace("domain: ''", f"domain: {domain}").replace("encryptionKey: ''", "encryptionKey: k")
    filled = filled.replace("key: ''", "key: team").replace("value: ''", "value: a")
    (tmp_path / "in.yaml").write_text(filled)
    out = cli.ok("codeartifact", "create-domain", "--cli-input-yaml", f"file://{tmp_path / 'in.yaml'}",
                 "--query", "domain.name", "--output", "text")
    assert out == f"{domain}\n"


# --------------------------------------------------------------------------- 5. ~/.aws/config settings

def test_cli_timestamp_format_and_parameter_validation(fresh_home: Cli, aws: str) -> None:
    cli = fresh_home
    domain = unique("ts")
    cli.server.client("codeartifact").create_domain(domain=domain)
    (cli.home / ".aws").mkdir()
    config = cli.home / ".aws" / "config"
    gat = (*CA_GAT, "--domain", domain)
    config.write_text("[default]\ncli_timestamp_format = wire\n")
    same(cli, aws, *gat, "--query", "type(expiration)")                          # "number", as sent
    for output in ("json", "text", "yaml", "yaml-stream"):
        theirs, ours = both(cli, aws, *gat, "--query", "{e: expiration}", "--output", output)
        epoch = re.compile(r"\d{10}\.\d+")
        assert epoch.search(ours.stdout) and epoch.sub("N", ours.stdout) == epoch.sub("N", theirs.stdout), output
    same(cli, aws, "iam", "get-user", "--query", "User.CreateDate")              # XML: the string as sent
    config.write_text("[default]\ncli_timestamp_format = iso8601\n")
    same(cli, aws, "iam", "get-user", "--query", "User.CreateDate")
    same(cli, aws, *gat, "--query", "type(expiration)")
    config.write_text("[default]\ncli_timestamp_format = bogus\n")
    ours = same(cli, aws, *gat)
    assert ours.returncode == 253 and "Unknown cli_timestamp_format value: bogus" in ours.stderr
    config.write_text("[default]\nparameter_validation = false\n")
    ours = same(cli, aws, *gat, "--duration-seconds", "-1")
    assert ours.returncode == 254 and "ValidationException" in ours.stderr      # the server says it
    config.write_text("[default]\nparameter_validation = true\n")
    assert same(cli, aws, *gat, "--duration-seconds", "-1").returncode == 252


@pytest.fixture
def fresh_home(cli: Cli, tmp_path: Path) -> Cli:
    return Cli(cli.server, tmp_path)


# --------------------------------------------------------------------------- 6, 7, 10. exit codes and messages

@pytest.mark.parametrize("args, env", [
    (("sts", "get-caller-identity", "--profile", "nosuch"), {}),
    (("sts", "get-caller-identity"), {"AWS_PROFILE": "zzz"}),
    (("sts", "get-caller-identity"), {"AWS_DEFAULT_OUTPUT": "bogus"}),
    ((*CA_GAT, "--domain", "abc", "--generate-cli-skeleton", "output"), {"AWS_DEFAULT_OUTPUT": "bogus"}),
    (("sts", "get-caller-identity", "--cli-read-timeout", "-1"), {}),
    (("sts", "get-caller-identity", "--cli-read-timeout", "1.5"), {}),
    (("sts", "get-caller-identity", "--cli-connect-timeout", "abc"), {}),
    (("sts", "get-caller-identity", "--query", "`[[1,2],[3]]`", "--output", "table"), {}),
    ((*CA_GAT, "--cli-input-json", "null"), {}),
    ((*CA_GAT, "--cli-input-yaml", ""), {}),
    ((*CA_GAT, "--cli-input-yaml", "# nothing"), {}),
    ((*CA_GAT, "--cli-input-json", "[1]"), {}),
    ((*CA_GAT, "--cli-input-json", '{"domain": '), {}),
    ((*CA_GAT, "--domain", "abc", "--domain-owner", "file:///nonexistent"), {}),
    ((*CA_GAT, "--cli-input-json", "file:///nonexistent"), {}),
    (("ecr", "create-repository", "--repository-name", "ab", "--image-scanning-configuration", "{scanOnPush"), {}),
])
def test_errors_exit_and_read_as_aws_cli_v2(cli: Cli, aws: str, args: tuple[str, ...], env: dict[str, str]) -> None:
    ours = same(cli, aws, *args, **env)
    assert ours.returncode in (252, 255) and ours.stdout == ""


def test_partial_credentials_exit_255(cli: Cli, aws: str) -> None:
    ours = same(cli, aws, "sts", "get-caller-identity", AWS_SECRET_ACCESS_KEY="")
    assert ours.returncode == 255 and "Partial credentials found in env" in ours.stderr


def test_fileb_cli_input_json_and_bad_file_contents(cli: Cli, aws: str, tmp_path: Path) -> None:
    domain = unique("fileb")
    cli.server.client("codeartifact").create_domain(domain=domain)
    (tmp_path / "in.json").write_text(json.dumps({"domain": domain}))
    (tmp_path / "bad.bin").write_bytes(b"\xff\xfe\x00")
    assert same(cli, aws, *CA_GAT, "--cli-input-json", f"fileb://{tmp_path / 'in.json'}", "--query",
                "type(authorizationToken)").stdout == '"string"\n'
    same(cli, aws, *CA_GAT, "--cli-input-json", f"file://{tmp_path / 'bad.bin'}")


# --------------------------------------------------------------------------- 8. global options anywhere before

def test_global_options_between_service_and_operation(cli: Cli, aws: str) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*REGAUTH, *argv], capture_output=True, text=True, cwd=REPO, timeout=60,
                              env=cli.env(cli.server.admin))
    e = cli.server.url
    ours = run("--endpoint-url", e, "sts", "--query", "Account", "get-caller-identity")
    assert ours.returncode == 0 and ours.stdout == f'"{cli.server.account_id}"\n', ours.stderr
    ours = run("sts", "--endpoint-url", e, "--output", "text", "--query", "Account", "get-caller-identity")
    assert ours.returncode == 0 and ours.stdout == f"{cli.server.account_id}\n", ours.stderr
    for argv in (("--endpoint-url", e, "--version"), ("sts", "--version"), ("--endpoint-url", e, "sts", "--version")):
        ours = run(*argv)
        assert ours.returncode == 0 and ours.stdout.startswith("regauth"), (argv, ours.stderr)


# --------------------------------------------------------------------------- 9. --cli-auto-prompt and help

def test_auto_prompt_asks_on_stderr_and_reads_stdin(cli: Cli) -> None:
    domain = unique("prompt")
    cli.server.client("codeartifact").create_domain(domain=domain)
    gat = (*CA_GAT, "--query", "expiration", "--output", "text")

    def run(*args: str, stdin: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*REGAUTH, *args, "--endpoint-url", cli.server.url], capture_output=True, text=True,
                              cwd=REPO, timeout=60, env=cli.env(cli.server.admin, **env), input=stdin)
    # required first; an empty line skips an optional one; a bad value is said and asked again
    ours = run(*gat, "--cli-auto-prompt", stdin=f"\n{domain}\n\nten\n900\n")
    assert ours.returncode == 0 and 800 < seconds_left(ours.stdout.strip()) <= 901, ours.stderr
    prompts = re.findall(r"--[a-z-]+ \((?:string|integer)\)(?: \[REQUIRED\])?: ", ours.stderr)
    assert prompts == ["--domain (string) [REQUIRED]: "] * 2 + ["--domain-owner (string): "] + \
        ["--duration-seconds (integer): "] * 2
    assert "argument --duration-seconds: invalid int value: 'ten'" in ours.stderr
    # end of input with a required parameter unanswered: the missing-parameter error, 252
    ours = run(*gat, "--cli-auto-prompt", stdin="")
    assert ours.returncode == 252 and "the following arguments are required: --domain" in ours.stderr
    # an option given is not asked; on-partial asks only when something required is missing
    ours = run(*gat, "--domain", domain, "--cli-auto-prompt", stdin="\n\n")
    assert ours.returncode == 0 and "--domain (" not in ours.stderr and "--duration-seconds (" in ours.stderr
    ours = run(*gat, "--domain", domain, stdin="", AWS_CLI_AUTO_PROMPT="on-partial")
    assert ours.returncode == 0 and ours.stderr == ""
    ours = run(*gat, stdin=f"{domain}\n", AWS_CLI_AUTO_PROMPT="on-partial")
    assert ours.returncode == 0 and "--domain (string) [REQUIRED]: " in ours.stderr
    ours = run(*gat, "--no-cli-auto-prompt", stdin=f"{domain}\n", AWS_CLI_AUTO_PROMPT="on")
    assert ours.returncode == 252 and "(string)" not in ours.stderr


def test_auto_prompt_from_the_profile(fresh_home: Cli) -> None:
    (fresh_home.home / ".aws").mkdir()
    (fresh_home.home / ".aws" / "config").write_text("[default]\ncli_auto_prompt = on-partial\n")
    proc = subprocess.run([*REGAUTH, *CA_GAT, "--endpoint-url", closed_port_url(), "--cli-connect-timeout", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=60, input="",
                          env=fresh_home.env(fresh_home.server.admin))
    assert proc.returncode == 252 and "--domain (string) [REQUIRED]: " in proc.stderr


def test_operation_help_word_prints_help(cli: Cli) -> None:
    """Also where an option the operation requires is missing (ACR's --instance-id), and for the
    commands that are not AWS-style (the README: `regauth <command> --help` (or `... help`))."""
    for argv in ((*CA_GAT, "help"), (*CA_GAT, "--domain", "x", "help"), ("sts", "help"),
                 ("cr", "get-authorization-token", "help"), ("cr", "get-login-password", "--region", "r", "help"),
                 ("help",), ("serve", "help"), ("admin", "help"), ("admin", "revoke", "help"),
                 ("admin", "audit", "--limit", "5", "help"), ("serve", "--port", "0", "help"),
                 ("admin", "revoke", "--reason", "x", "help")):
        proc = subprocess.run([*REGAUTH, *argv], capture_output=True, text=True, cwd=REPO, timeout=60,
                              env=cli.env(None))
        assert proc.returncode == 0 and proc.stdout.startswith("usage: regauth "), (argv, proc.stderr)
    assert "--cli-auto-prompt asks on stderr for each parameter" in cli.ok(*CA_GAT, "help", endpoint=False)
    # `help` as an option's value is that value: the command says what is wrong with it, as before
    proc = subprocess.run([*REGAUTH, "admin", "audit", "--limit", "help"], capture_output=True, text=True, cwd=REPO,
                          timeout=60, env=cli.env(None))
    assert proc.returncode == 2 and "not a whole number: 'help'" in proc.stderr and not proc.stdout, proc.stderr
