"""`regauth cr ...`: Alibaba Cloud Container Registry (ACR) tokens from the command line.

    regauth cr get-authorization-token --instance-id cri-... [--expires-in-hours 1-24]
    regauth cr get-login-password --instance-id cri-... | docker login --username cr_temp_user --password-stdin HOST

Signed with ACS3-HMAC-SHA256 from Alibaba-style credentials (see alibaba_client.py); output, --query,
--color, --debug and the exit codes are those of the aws-style commands.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from regauth.cli.alibaba_client import AlibabaOptions, call
from regauth.cli.aws_client import EXIT_OTHER, EXIT_PARAMETER, CliError
from regauth.cli.commands import guarded
from regauth.cli.commands_args import AwsArgumentParser, exit_252_on_error, non_negative
from regauth.cli.output import COLOR_CHOICES, OUTPUT_FORMATS, compile_query, render, use_color

PRODUCT, VERSION, ACTION = "cr", "2018-12-01", "GetAuthorizationToken"
TEMP_USERNAME = "cr_temp_user"

_COMMON_EPILOG = """
Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN
for STS credentials), else the aliyun CLI's ~/.aliyun/config.json (--profile, ALIBABA_CLOUD_PROFILE or its
current profile; modes AK and StsToken). Region: --region, ALIBABA_CLOUD_REGION_ID or the profile's region_id;
without one the server uses the instance's region. Requests are signed with ACS3-HMAC-SHA256.
Exit codes: 252 bad parameters, 253 configuration, 254 service error, 255 other.
"""


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("global options")
    g.add_argument("--endpoint-url", help="the regauth server URL (default: https://cr.<region>.aliyuncs.com)")
    g.add_argument("--region", help="the region, e.g. cn-hangzhou (default: ALIBABA_CLOUD_REGION_ID, the "
                                    "profile's region_id; optional with --endpoint-url)")
    g.add_argument("--profile", help="a profile from the aliyun CLI's ~/.aliyun/config.json")
    g.add_argument("--output", choices=OUTPUT_FORMATS, default="json", help="output format (default json)")
    g.add_argument("--query", help="a JMESPath expression applied to the response")
    g.add_argument("--color", choices=COLOR_CHOICES, default="auto", help="colour table output (auto: on a terminal)")
    g.add_argument("--debug", action="store_true", help="log the request to stderr (secrets and tokens redacted)")
    g.add_argument("--no-verify-ssl", dest="verify_ssl", action="store_false", help="do not verify TLS certificates")
    g.add_argument("--ca-bundle", help="CA certificates to verify TLS with (default: ALIBABA_CLOUD_CA_BUNDLE, "
                                       "else the public CAs)")
    g.add_argument("--cli-read-timeout", type=non_negative, metavar="SECONDS",
                   help="socket read timeout; 0 blocks forever (default 60)")
    g.add_argument("--cli-connect-timeout", type=non_negative, metavar="SECONDS",
                   help="socket connect timeout; 0 blocks forever (default 60)")
    return parent


def _hours(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text}") from None


def _add_token_params(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parameters")
    g.add_argument("--instance-id", required=True, help="the ACR instance, e.g. cri-kmsiwlxxdcvaduwb")
    g.add_argument("--expires-in-hours", type=_hours, metavar="HOURS",
                   help="lifetime, 1 to 24 (default 1; with STS credentials at most what is left of the session)")


def _token(args: argparse.Namespace) -> dict[str, Any]:
    params = {"InstanceId": args.instance_id}
    if args.expires_in_hours is not None:
        params["ExpiresInHours"] = str(args.expires_in_hours)
    opts = AlibabaOptions(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url,
                          verify_ssl=args.verify_ssl, ca_bundle=args.ca_bundle, read_timeout=args.cli_read_timeout,
                          connect_timeout=args.cli_connect_timeout)
    answer = call(opts, PRODUCT, VERSION, ACTION, params)
    if not answer.get("AuthorizationToken"):
        raise CliError("The server returned no AuthorizationToken.", EXIT_OTHER)
    return answer


def _print_token(args: argparse.Namespace) -> int:
    answer = _token(args)
    query = compile_query(args.query) if args.query else None
    sys.stdout.write(render(answer, args.output, title=ACTION, query=query, color=use_color(args.color)))
    return 0


def _print_password(args: argparse.Namespace) -> int:
    sys.stdout.write(str(_token(args)["AuthorizationToken"]) + "\n")
    return 0


_COMMANDS: tuple[tuple[str, str, Callable[[argparse.Namespace], int], tuple[str, ...]], ...] = (
    ("get-authorization-token",
     "Get a temporary user name and password (TempUsername, AuthorizationToken) for an ACR instance's registry.",
     _print_token,
     ("regauth cr get-authorization-token --endpoint-url $E --instance-id cri-kmsiwlxxdcvaduwb",
      "regauth cr get-authorization-token --instance-id cri-kmsiwlxxdcvaduwb --region cn-hangzhou "
      "--expires-in-hours 4 --query AuthorizationToken --output text")),
    ("get-login-password",
     f"Print the docker password for an ACR instance (the user name is {TEMP_USERNAME}).",
     _print_password,
     (f"regauth cr get-login-password --endpoint-url $E --instance-id cri-kmsiwlxxdcvaduwb | docker login "
      f"--username {TEMP_USERNAME} --password-stdin <the instance's login server>",)),
)

HELP = "ACR (Alibaba Cloud Container Registry): authorization tokens and docker login passwords"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("cr", help=HELP, description=HELP)
    exit_252_on_error(group)
    commands = group.add_subparsers(dest="cr_command", required=True, metavar="COMMAND",
                                    parser_class=AwsArgumentParser)
    parent = _parent()
    for name, summary, action, examples in _COMMANDS:
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n" + _COMMON_EPILOG
        p = commands.add_parser(name, parents=[parent], help=summary, description=summary, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
        _add_token_params(p)
        p.set_defaults(run=_runner(name, action))


def _runner(name: str, action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        def body() -> int:
            if args.query:
                try:
                    compile_query(args.query)
                except ValueError as exc:
                    raise CliError(str(exc), EXIT_PARAMETER) from None
            return action(args)
        return guarded(f"cr {name}", args.debug, body)
    return run
