"""`regauth serve`: one port, every dialect."""

from __future__ import annotations

import argparse
import gc
import os
import logging
import re
import socket
import sys
import time

from typing import IO, TYPE_CHECKING

from regauth.config import Settings, SettingsError, load_settings, request_threads
from regauth.log_lines import LogLines

if TYPE_CHECKING:
    from regauth.server import Server
    from regauth.services.bootstrap import BootstrapResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the server (every dialect on one port)",
                       description="Run the regauth server. Settings also come from REGAUTH_* variables "
                                   "(see README).")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port to bind; 0 picks a free one (default 8080)")
    p.add_argument("--data-dir", default=None, help="where the SQLite store and master key live (default: REGAUTH_DATA_DIR, "
                   "else .regauth)")
    p.set_defaults(run=run)


def _banner(url: str, boot: "BootstrapResult", settings: Settings) -> str:
    lines = [f"regauth listening on {url}", ""]
    if boot.secret is not None:
        lines += [
            f"Bootstrap account {boot.account_id}, IAM user admin (Allow * on *).",
            "Its access key is shown this once; keep it somewhere safe:",
            "",
            f"  export AWS_ACCESS_KEY_ID={boot.access_key_id}",
            f"  export AWS_SECRET_ACCESS_KEY={boot.secret.reveal()}",
            "  export AWS_DEFAULT_REGION=us-east-1",
        ]
    else:
        # unset now: the key was generated (its secret printed by the first start), or configured then
        source = ("REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY" if settings.bootstrap_secret else
                  "the first start's output, or REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY when it was configured")
        lines += [f"Bootstrap account {boot.account_id}, IAM user admin, access key {boot.access_key_id} "
                  f"(secret: {source})."]
    lines += [
        "",
        "Try:",
        f"  aws --endpoint-url {url} codeartifact create-domain --domain my-domain",
        f"  aws --endpoint-url {url} codeartifact get-authorization-token --domain my-domain "
        "--query authorizationToken --output text",
        "",
        f"Registries: {url}/token is a container registry's token realm (regauth admin registry-ca prints",
        f"the CA it trusts); {url}/auth/verify?domain=D&domain-owner=ACCOUNT&region=R&repository=NAME answers",
        "nginx auth_request for a package index.",
        *([f"Prometheus: {url}/metrics."] if settings.metrics else []),
        "",
    ]
    return "\n".join(lines)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")     # C0, DEL, C1, and Unicode's line breaks


def _escape(m: re.Match[str]) -> str:
    return repr(m.group())[1:-1]                # \n, \r, \t, \x00...


class _Formatter(logging.Formatter):
    """The standard format, with the date and time text made once per second rather than once per
    line (an audit line per issued token: strftime was a quarter of each line's cost)."""

    _cached: tuple[int, str] = (-1, "")      # (second, its text), replaced whole: safe across threads

    def format(self, record: logging.LogRecord) -> str:
        """A `LogLines` message: every line gets the prefix, as if each were a record of its own."""
        msg = record.msg
        if not isinstance(msg, LogLines) or record.exc_info or record.args:
            text = record.getMessage()
            if _CONTROL.search(text):    # a value from a request (a registry's `service`, say) must not
                record.msg, record.args = _CONTROL.sub(_escape, text), None     # start a forged line
            return super().format(record)
        record.message = ""
        record.asctime = self.formatTime(record, self.datefmt)
        prefix = self.formatMessage(record)
        return "\n".join([prefix + text for text in msg.lines])

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._cached
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._cached = (second, text)
        return self.default_msec_format % (text, record.msecs)


def configure_logging(level: str, stream: IO[str]) -> None:
    """The server's logging: one line per record, `<date time,ms> <LEVEL> <logger> <message>`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The format names no source line, thread or process: do not look them up for every record
    # (the logging docs' own optimisation; it halves the cost of an audit line).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def run(args: argparse.Namespace) -> int:
    # Start-up allocates ~70k objects that live as long as the process: the ~160 collections they
    # would trigger take ~0.1-0.2 s to free ~0.3 MB. Frozen once ready (that 0.3 MB with them),
    # they are skipped by later collections too.
    gc.disable()
    try:
        server = _ready_server(args)
        gc.freeze()
    finally:
        gc.enable()
    server.run()
    if server.abandoned:                 # a store that hangs: its threads would keep the process
        logging.shutdown()
        os._exit(1)
    return 0


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:       # in use, not an address of this machine, port > 65535
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SettingsError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def _ready_server(args: argparse.Namespace) -> Server:
    """Store open, bootstrap done, socket bound, banner printed: all but the serving."""
    from regauth.cli.runtime import open_runtime   # the server's imports load only for `serve`
    from regauth.http import Front
    from regauth.server import Server, raise_open_file_limit
    from regauth.services import legacy_data
    from regauth.services.bootstrap import bootstrap

    settings = load_settings(host=args.host, port=args.port, data_dir=args.data_dir)
    configure_logging(settings.log_level, sys.stderr)
    # The address first: a first start that bootstrapped and then could not listen would have made
    # the bootstrap key without ever showing its secret.
    sock = _listening_socket(settings.host, settings.port)
    runtime = open_runtime(settings)
    boot = bootstrap(settings, runtime.services.store, runtime.services.clock)
    runtime.services.begin_request()    # the cache takes the generation (its listeners run) now, not on request 1
    # rows an older regauth let in that today's admin commands refuse: an ERROR each, naming the fix;
    # the request path is safe with them (it refuses to use them), so the server starts all the same
    legacy_data.log_problems(runtime.services.store, runtime.services.ecr)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    raise_open_file_limit()             # the connection budget follows the raised limit
    threads = request_threads(settings.database_connections)
    server = Server(Front(runtime.services, workers=threads), sock, keep_alive=settings.keep_alive_seconds,
                    request_timeout=settings.request_timeout_seconds, max_connections=settings.max_connections)
    print(_banner(url, boot, settings), flush=True)
    return server
