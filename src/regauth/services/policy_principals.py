"""The principals a resource or trust policy names, resolved when the policy is stored.

IAM checks that a user or role named in a Principal element exists, and keeps its unique id: the
policy then stands for that user or role, not for whoever is later created under the same name
(after a delete, IAM shows the old unique id in its place). regauth keeps the document as it was
given and stores the ids beside it (`Policy.principal_ids`); evaluation matches a pinned ARN only
for the principal with that id.
"""

from __future__ import annotations

from regauth.domain.arn import InvalidArn, parse_arn
from regauth.domain.policy import Policy
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


def _unique_id(store: Store, arn: str) -> str | None:
    try:
        parsed = parse_arn(arn)
    except InvalidArn:          # parse_policy accepted it as an ARN: cannot happen
        raise _invalid(arn) from None
    kind, _, rest = parsed.resource.partition("/")
    if parsed.service == "iam" and kind in ("user", "role"):
        name = rest.rsplit("/", 1)[-1]
        found = store.get_user(parsed.account, name) if kind == "user" else store.get_role(parsed.account, name)
        if found is None or found.arn != arn:
            raise _invalid(arn)
        return found.user_id if kind == "user" else found.role_id   # type: ignore[union-attr]
    if parsed.service == "sts" and kind == "assumed-role":
        role_name, slash, session = rest.partition("/")
        role = store.get_role(parsed.account, role_name) if slash and session else None
        if role is None:
            raise _invalid(arn)
        return role.role_id
    if parsed.service == "iam":
        raise _invalid(arn)     # a group, a policy, an instance profile...: not a principal
    return None                 # federated users and other services' principals: kept as text


def _invalid(arn: str) -> MalformedPolicy:
    return MalformedPolicy(f'Invalid principal in policy: "AWS":"{arn}"')
