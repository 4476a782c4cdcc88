"""Every validator takes the whole value: a valid value followed by a newline is refused.

In Python `$` also matches just before a final "\\n", so `^...$` with `.match` let `value + "\\n"` through
(a token with a newline after it, a scope's repository name `team/app\\n`). The wire-level cases
are in tests/wire/test_trailing_newline.py; this sweep reaches the validators directly.
"""

from __future__ import annotations

import pytest

from regauth.config import SettingsError, load_settings
from regauth.domain import tokens
from regauth.domain.keyring import Keyring, new_signing_key
from regauth.domain.registry_scope import parse_scopes
from regauth.domain.tokens import InvalidToken, TokenClaims
from regauth.errors import InvalidInput
from regauth.protocols.aws.models import AwsModels
from tests.protocols import aws_models

NOW = 1_795_000_000.0


@pytest.mark.parametrize("kind", sorted(tokens.PREFIXES))
def test_a_token_followed_by_a_newline_is_malformed(kind: str) -> None:
    ring = Keyring([new_signing_key(NOW)])
    token = tokens.mint(ring, TokenClaims(
        kind=kind, token_id=tokens.new_token_id(), principal_arn="arn:aws:iam::111122223333:user/a",
        account_id="111122223333", scope="s", issued_at=int(NOW), expires_at=int(NOW) + 900))
    assert tokens.verify(ring, token, now=NOW, kind=kind).kind == kind
    for spoiled in (token + "\n", token + "\r\n"):
        with pytest.raises(InvalidToken, match="malformed"):
            tokens.verify(ring, spoiled, now=NOW, kind=kind)


@pytest.mark.parametrize("scope", ["repository:team/app\n:pull", "repository:127.0.0.1:5000/team/app\n:pull",
                                   "repository\n:team/app:pull", "registry\n:catalog:*",
                                   "repository(plugin)\n:team/app:pull"])
def test_a_scope_with_a_newline_after_its_type_or_name_is_refused(scope: str) -> None:
    valid = scope.replace("\n", "")
    assert parse_scopes([valid])[0].text() == valid.replace("(plugin)", "")
    with pytest.raises(InvalidInput):
        parse_scopes([scope])


@pytest.mark.parametrize(("name", "value"), [("REGAUTH_ACCOUNT_ID", "111122223333"),
                                             ("REGAUTH_BOOTSTRAP_ACCESS_KEY_ID", "AKIAABCDEFGHIJKLMNOP"),
                                             ("REGAUTH_REGISTRY_ISSUER", "issuer")])
def test_a_setting_followed_by_a_newline_is_refused(name: str, value: str) -> None:
    env = {"REGAUTH_BOOTSTRAP_SECRET_ACCESS_KEY": "s" * 30} if "ACCESS_KEY_ID" in name else {}
    load_settings({**env, name: value})
    with pytest.raises(SettingsError, match=name):
        load_settings({**env, name: value + "\n"})


@pytest.fixture(scope="module")
def models() -> AwsModels:
    return aws_models()


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/domain"), ("GET", "/v1/repository/endpoint"),
                                              ("GET", "/prefix/v1/domain")])
def test_a_rest_json_path_followed_by_a_newline_routes_nowhere(models: AwsModels, method: str, path: str) -> None:
    assert models["codeartifact"].route(method, path, {}) is not None
    assert models["codeartifact"].route(method, path + "\n", {}) is None
