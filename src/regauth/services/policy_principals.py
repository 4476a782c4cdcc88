"""The principals a resource or trust policy names, resolved when the policy is stored.

IAM checks that a user or role named in a Principal element exists, and keeps its unique id: the
policy then stands for that user or role, not for whoever is later created under the same name
(after a delete, IAM shows the old unique id in its place). regauth keeps the document as it was
given and stores the ids beside it (`Policy.principal_ids`); evaluation matches a pinned ARN only
for the principal with that id.
"""

from __future__ import annotations

from regauth.domain.arn import Arn, InvalidArn, parse_arn
from regauth.domain.policy import Policy
from regauth.domain.principals import Role, User
from regauth.errors import MalformedPolicy
from regauth.store.interfaces import Store


def resolve(store: Store, policy: Policy) -> tuple[tuple[str, str], ...]:
    """(ARN, unique id) for every IAM user, role and role session the policy names. Raises
    MalformedPolicy, as IAM does, for a user or role that does not exist (or not under that path)."""
    pins = []
    for arn in sorted(policy.principal_arns):
        uid = _unique_id(store, arn)
        if uid is not None:
            pins.append((arn, uid))
    return tuple(pins)


def named_principal(store: Store, arn: Arn) -> tuple[str, User | Role | None] | None:
    """For an IAM user or role ARN, or a role session's ARN: ("user" or "role", the user or role of
    that name now, its path aside, or None). None for any other ARN."""
    kind, _, rest = arn.resource.partition("/")
    if arn.service == "iam" and kind in ("user", "role"):
        name = rest.rsplit("/", 1)[-1]
    elif arn.service == "sts" and kind == "assumed-role":
        role, slash, session = rest.partition("/")
        kind, name = "role", role if slash and session else ""
    else:
        return None
    if not name:
        return kind, None
    return kind, store.get_user(arn.account, name) if kind == "user" else store.get_role(arn.account, name)


def _unique_id(store: Store, arn: str) -> str | None:
    try:
        parsed = parse_arn(arn)
    except InvalidArn:          # parse_policy accepted it as an ARN: cannot happen
        raise _invalid(arn) from None
    named = named_principal(store, parsed)
    if named is None:
        if parsed.service == "iam":
            raise _invalid(arn)     # a group, a policy, an instance profile...: not a principal
        return None                 # federated users and other services' principals: kept as text
    _, found = named
    if found is None or (parsed.service == "iam" and found.arn != arn):     # a session ARN has no path
        raise _invalid(arn)
    return found.user_id if isinstance(found, User) else found.role_id


def _invalid(arn: str) -> MalformedPolicy:
    return MalformedPolicy(f'Invalid principal in policy: "AWS":"{arn}"')
