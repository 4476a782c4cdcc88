"""What a registry client asks the token realm for: distribution's `scope` parameters.

A realm request carries zero or more `scope` parameters, each holding one or more scopes separated
by spaces, each `type:name:actions`: the type is the text before the first `:` (it may carry a
class, `repository(plugin)`), the actions the comma-separated text after the last `:`, and the
name what lies between. Repository names follow distribution's grammar; anything else is refused
as a bad request rather than guessed at.
"""

from __future__ import annotations

import re

from regauth.errors import InvalidInput
from regauth.records import record

MAX_SCOPES = 16                     # skopeo sends at most two (a cross-repository mount)
MAX_NAME_LENGTH = 255               # distribution's limit on a repository name
KNOWN_ACTIONS = ("pull", "push", "delete", "*")
# distribution/reference's NameRegexp: an optional domain (host names, an optional port) then path
# components of lower-case alphanumerics joined by separators. A registry challenges for
# `127.0.0.1:5000/team/app` when a client asks for that name
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
# both used with fullmatch: `$` also matches before a final "\n", which `team/app%0A` would have passed
_REPOSITORY = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TYPE = re.compile(r"([a-z0-9]+)(?:\([a-z0-9]+\))?")


@record
class Scope:
    type: str                       # "repository" or "registry"
    name: str
    actions: tuple[str, ...]        # requested, known ones only, in first-seen order

    def text(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope of a realm request, in order, duplicates merged. Unknown actions are dropped (a
    client asking for more than regauth knows gets what it knows); a malformed scope, a repository
    name outside distribution's grammar or too many scopes is an InvalidInput."""
    items = [item for value in values for item in value.split(" ") if item]
    if len(items) > MAX_SCOPES:
        raise InvalidInput(f"at most {MAX_SCOPES} scopes may be requested at once", "scope")
    merged: dict[tuple[str, str], list[str]] = {}
    for item in items:
        first, last = item.find(":"), item.rfind(":")
        if first <= 0 or last == first:
            raise InvalidInput("a scope is type:name:actions", "scope")
        kind_text, name, actions_text = item[:first], item[first + 1:last], item[last + 1:]
        kind = _TYPE.fullmatch(kind_text)
        if kind is None or not name:
            raise InvalidInput("a scope is type:name:actions", "scope")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"a name is at most {MAX_NAME_LENGTH} characters", "scope")
        if kind.group(1) == "repository" and not _REPOSITORY.fullmatch(name):
            raise InvalidInput("a repository name is lower-case letters, digits and separators", "scope")
        actions = merged.setdefault((kind.group(1), name), [])
        for action in actions_text.split(","):
            if action in KNOWN_ACTIONS and action not in actions:
                actions.append(action)
    return [Scope(type=t, name=n, actions=tuple(a)) for (t, n), a in merged.items()]
