"""The audit event of an AWS call that changes something: credentials issued by STS, and every IAM,
CodeArtifact and ECR write (a user, a key, a policy, a role, a domain and its policy, a repository).

Tokens are audited where they are issued (`services.tokens`) and denials where they are refused
(`dispatch`); these complete the trail, so that "who assumed this role" or "who granted that policy"
has an answer. Only names and ids are recorded: never a secret, a session token or a document.
"""

from __future__ import annotations

from typing import Any

from regauth.domain.principals import AuditEvent
from regauth.services.context import Call

# operation name prefixes that change state (Get*, List*, Describe* read)
_CHANGING = ("Create", "Delete", "Put", "Update", "Assume")
_EXTRA = frozenset({"GetSessionToken"})          # issues credentials, as AssumeRole does
# what a request names, in this order, when the result carries no ARN of its own (the values are
# bounded by the operations' own validation; each is cut to _MAX_VALUE here all the same)
_NAMED = ("RoleArn", "RoleSessionName", "UserName", "RoleName", "PolicyName", "AccessKeyId", "Status", "domain",
          "domainOwner", "repository", "repositoryName", "format")
_MAX_VALUE = 256


def is_change(operation: str) -> bool:
    return operation.startswith(_CHANGING) or operation in _EXTRA


# issue credentials: their audit event must be stored before they are handed out, as a token's is
CREDENTIALS = frozenset({"AssumeRole", "GetSessionToken"})


def change_event(call: Call, action: str, params: dict[str, Any], result: Any) -> AuditEvent:
    """The event of a successful change: resource the ARN the result names (a user or role created, an
    assumed role, a domain, a repository), the caller's for its own session credentials, else none
    (`-`: the names are in detail); detail what the request named, and the key id it issued."""
    named = [f"{name}={_cut(params[name])}" for name in _NAMED if params.get(name) not in (None, "")]
    key = _issued_key(result)
    if key:
        named.append(f"key={key}")
    resource = _result_arn(result) or (call.caller.arn if isinstance(result, dict) and "Credentials" in result
                                       else "")
    return AuditEvent(at=call.now, request_id=call.request_id, principal_arn=call.caller.arn, action=action,
                      resource=resource, outcome="allowed", source_ip=call.source_ip, detail=" ".join(named))


def _cut(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "..."


def _result_arn(result: Any) -> str:
    if not isinstance(result, dict):
        return ""
    for value in result.values():
        if isinstance(value, dict):
            arn = value.get("Arn") or value.get("arn") or value.get("repositoryArn")     # ECR's own name
            if isinstance(arn, str):
                return arn
    return ""


def _issued_key(result: Any) -> str:
    """The access key id of credentials or a key the call issued (the id only: never its secret)."""
    if not isinstance(result, dict):
        return ""
    for name in ("Credentials", "AccessKey"):
        value = result.get(name)
        if isinstance(value, dict) and isinstance(value.get("AccessKeyId"), str):
            return value["AccessKeyId"]
    return ""
