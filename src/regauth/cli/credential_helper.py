"""`docker-credential-regauth`: a Docker credential helper that asks regauth for an ECR password.

docker, skopeo and podman call `docker-credential-<name> get` with a registry on stdin when their
config says `"credHelpers": {"<registry host>": "regauth"}`, and read `{"ServerURL", "Username",
"Secret"}` from stdout. Credentials come from the usual places (`AWS_*`, `~/.aws`, `AWS_PROFILE`), the
endpoint from `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL` or `endpoint_url` in the profile, as for
`regauth ecr get-login-password`. The helper answers only for the registry its account's token is
for (the host of the token's proxyEndpoint); for any other it says "credentials not found", so the
client goes on without. Nothing is stored: `store` and `erase` do nothing, `list` names nothing.
The password is written to stdout only, never to stderr or a log.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import TextIO
from urllib.parse import urlsplit

NOT_FOUND = "credentials not found in native keychain"
USAGE = "usage: docker-credential-regauth get|store|erase|list|version (the registry on stdin for get)"
HELP = """
A Docker credential helper: docker, skopeo and podman run it for the registries their config maps
to "regauth" ("credHelpers": {"registry.example.internal:5000": "regauth"}). `get` asks regauth
for an ECR token with the usual AWS settings (AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_ECR, AWS_PROFILE,
~/.aws) and answers for the registry that token is for; it stores nothing.

example:
  printf registry.example.internal:5000 | docker-credential-regauth get
"""


def registry_host(server: str) -> str:
    """`https://host:5000/v2/` or `host:5000` -> `host:5000` (lower-case, as registries compare them)."""
    server = server.strip()
    netloc = urlsplit(server if "://" in server else f"//{server}").netloc
    return netloc.lower()


HELPER_CONNECT_TIMEOUT, HELPER_READ_TIMEOUT = 5, 10       # seconds (three attempts at most)


def get(server: str) -> tuple[dict[str, str] | None, str]:
    """The credentials for `server`, or (None, why not)."""
    from regauth.cli.aws_client import REDACTOR, CliError, GlobalOptions, build_client, call

    wanted = registry_host(server)
    if not wanted:
        return None, "no registry on stdin"
    try:
        # docker and skopeo wait on the helper: short timeouts, not botocore's 60 s read timeout per attempt
        opts = GlobalOptions(connect_timeout=HELPER_CONNECT_TIMEOUT, read_timeout=HELPER_READ_TIMEOUT)
        data = call(build_client("ecr", opts), "get_authorization_token", {})["authorizationData"][0]
    except CliError as exc:
        return None, REDACTOR(exc.message)
    if registry_host(data.get("proxyEndpoint", "")) != wanted:
        return None, NOT_FOUND
    user, _, secret = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"ServerURL": server.strip(), "Username": user, "Secret": secret}, ""


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
         stderr: TextIO = sys.stderr) -> int:
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if len(args) == 1 else ""
    if action == "get":
        found, why = get(stdin.read())
        if found is None:
            # the protocol: the message on stdout, exit 1 (clients match NOT_FOUND to carry on without)
            stdout.write((NOT_FOUND if why == NOT_FOUND else why) + "\n")
            return 1
        json.dump(found, stdout)
        stdout.write("\n")
        return 0
    if action in ("store", "erase"):
        stdin.read()                               # nothing is kept: every get asks regauth afresh
        return 0
    if action == "list":
        stdout.write("{}\n")
        return 0
    if action == "version":
        from regauth import __version__
        stdout.write(f"docker-credential-regauth (regauth {__version__})\n")
        return 0
    if action in ("-h", "--help", "help"):
        stdout.write(USAGE + "\n" + HELP)
        return 0
    stderr.write(USAGE + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
