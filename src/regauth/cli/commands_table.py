"""The plain API commands: one `regauth <group> <command>` per server operation that has no hand-written command.

Each row is (group, command, operation, summary, examples); the group is also the botocore service name, and the
parameters come from the operation's input shape. commands.py turns the rows into CommandSpecs.
"""

from __future__ import annotations

CA = "regauth codeartifact"

# Parameters in the botocore model that regauth does not implement: the server answers a request that sets one
# with a ValidationError rather than ignore it (protocols/aws/handlers.py; tests/cli keeps the two in step), and
# each such option's help says so.
REFUSED_PARAMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sts", "AssumeRole"): ("PolicyArns", "Tags", "TransitiveTagKeys", "SourceIdentity", "SerialNumber", "TokenCode",
                            "ProvidedContexts"),
    ("sts", "GetSessionToken"): ("SerialNumber", "TokenCode"),
    ("iam", "CreateUser"): ("PermissionsBoundary", "Tags"),
    ("iam", "CreateRole"): ("PermissionsBoundary", "Tags"),
}
REFUSED_NOTE = "[regauth: not supported; the server refuses requests that set it]"
_TRUST = ("'{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": "
          "\"arn:aws:iam::111122223333:root\"}, \"Action\": \"sts:AssumeRole\"}]}'")

API_COMMANDS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # --- CodeArtifact
    ("codeartifact", "create-domain", "CreateDomain",
     "Create a domain: the container of repositories, their tokens and their permissions policy.",
     (f"{CA} create-domain --domain test-domain",)),
    ("codeartifact", "describe-domain", "DescribeDomain",
     "Show a domain: owner, ARN, status, encryption key and repository count.",
     (f"{CA} describe-domain --domain test-domain",
      f"{CA} describe-domain --domain test-domain --query domain.repositoryCount --output text")),
    ("codeartifact", "list-domains", "ListDomains",
     "List the domains of the account (paginated).",
     (f"{CA} list-domains --query 'domains[].name' --output text",
      f"{CA} list-domains --max-items 10")),
    ("codeartifact", "delete-domain", "DeleteDomain",
     "Delete a domain that has no repositories left.",
     (f"{CA} delete-domain --domain test-domain",)),
    ("codeartifact", "put-domain-permissions-policy", "PutDomainPermissionsPolicy",
     "Set the resource policy of a domain (--policy-revision guards against concurrent changes).",
     (f"{CA} put-domain-permissions-policy --domain test-domain --policy-document file://domain-policy.json",)),
    ("codeartifact", "get-domain-permissions-policy", "GetDomainPermissionsPolicy",
     "Show the resource policy of a domain and its revision.",
     (f"{CA} get-domain-permissions-policy --domain test-domain --query policy.document --output text",)),
    ("codeartifact", "create-repository", "CreateRepository",
     "Create a repository in a domain, optionally with a description and upstream repositories.",
     (f"{CA} create-repository --domain test-domain --repository my-repo --description 'Python packages'",
      f"{CA} create-repository --domain test-domain --repository my-app "
      "--upstreams '[{\"repositoryName\": \"my-repo\"}]'")),
    ("codeartifact", "describe-repository", "DescribeRepository",
     "Show a repository: ARN, description and upstreams.",
     (f"{CA} describe-repository --domain test-domain --repository my-repo",)),
    ("codeartifact", "list-repositories-in-domain", "ListRepositoriesInDomain",
     "List the repositories of a domain, optionally by name prefix (paginated).",
     (f"{CA} list-repositories-in-domain --domain test-domain --query 'repositories[].name' --output text",
      f"{CA} list-repositories-in-domain --domain test-domain --repository-prefix my- --max-items 20")),
    ("codeartifact", "delete-repository", "DeleteRepository",
     "Delete a repository from a domain.",
     (f"{CA} delete-repository --domain test-domain --repository my-repo",)),
    # --- ECR
    ("ecr", "create-repository", "CreateRepository",
     "Create a repository in the ECR registry.",
     ("regauth ecr create-repository --repository-name team/app --image-tag-mutability IMMUTABLE",
      "regauth ecr create-repository --repository-name team/app --image-scanning-configuration "
      "'{\"scanOnPush\": true}'")),
    ("ecr", "describe-repositories", "DescribeRepositories",
     "List the registry's repositories, or describe those named by --repository-names (paginated).",
     ("regauth ecr describe-repositories --query 'repositories[].repositoryUri' --output text",
      "regauth ecr describe-repositories --repository-names team/app")),
    ("ecr", "delete-repository", "DeleteRepository",
     "Delete a repository from the ECR registry.",
     ("regauth ecr delete-repository --repository-name team/app --force",)),
    ("ecr", "describe-registry", "DescribeRegistry",
     "Show the registry id (the account) and its replication configuration.",
     ("regauth ecr describe-registry --query registryId --output text",)),
    # --- STS
    ("sts", "get-session-token", "GetSessionToken",
     "Get temporary credentials for the caller (default 12 hours; --duration-seconds 900-129600).",
     ("regauth sts get-session-token --duration-seconds 3600",
      "regauth sts get-session-token --query Credentials.SessionToken --output text")),
    ("sts", "assume-role", "AssumeRole",
     "Get temporary credentials for a role its trust policy lets you assume (default 1 hour; "
     "--duration-seconds 900 up to the role's MaxSessionDuration).",
     ("regauth sts assume-role --role-arn arn:aws:iam::111122223333:role/ci --role-session-name build-42",
      "regauth sts assume-role --role-arn arn:aws:iam::111122223333:role/ci --role-session-name build-42 "
      "--duration-seconds 900 --query Credentials --output json")),
    # --- IAM
    ("iam", "create-user", "CreateUser",
     "Create an IAM user (it has no keys and no permissions yet).",
     ("regauth iam create-user --user-name alice",
      "regauth iam create-user --user-name ci-bot --path /automation/")),
    ("iam", "get-user", "GetUser",
     "Show a user, or the calling user without --user-name.",
     ("regauth iam get-user --user-name alice", "regauth iam get-user --query User.Arn --output text")),
    ("iam", "list-users", "ListUsers",
     "List the account's users (paginated).",
     ("regauth iam list-users --query 'Users[].UserName' --output text",
      "regauth iam list-users --path-prefix /automation/ --max-items 50")),
    ("iam", "delete-user", "DeleteUser",
     "Delete a user (delete its access keys and inline policies first).",
     ("regauth iam delete-user --user-name alice",)),
    ("iam", "create-access-key", "CreateAccessKey",
     "Create an access key for a user (the caller without --user-name); the secret is shown only once.",
     ("regauth iam create-access-key --user-name alice",
      "regauth iam create-access-key --user-name alice --query 'AccessKey.[AccessKeyId,SecretAccessKey]' "
      "--output text")),
    ("iam", "list-access-keys", "ListAccessKeys",
     "List a user's access keys and their status, without secrets (paginated).",
     ("regauth iam list-access-keys --user-name alice",)),
    ("iam", "update-access-key", "UpdateAccessKey",
     "Make an access key Active or Inactive (an Inactive key is refused until made Active again).",
     ("regauth iam update-access-key --user-name alice --access-key-id AKIAIOSFODNN7EXAMPLE --status Inactive",)),
    ("iam", "delete-access-key", "DeleteAccessKey",
     "Delete an access key.",
     ("regauth iam delete-access-key --user-name alice --access-key-id AKIAIOSFODNN7EXAMPLE",)),
    ("iam", "put-user-policy", "PutUserPolicy",
     "Add or replace an inline policy of a user.",
     ("regauth iam put-user-policy --user-name alice --policy-name read-packages "
      "--policy-document file://policy.json",)),
    ("iam", "get-user-policy", "GetUserPolicy",
     "Show an inline policy of a user, its document as JSON.",
     ("regauth iam get-user-policy --user-name alice --policy-name read-packages --query PolicyDocument",)),
    ("iam", "list-user-policies", "ListUserPolicies",
     "List the names of a user's inline policies (paginated).",
     ("regauth iam list-user-policies --user-name alice --output text",)),
    ("iam", "delete-user-policy", "DeleteUserPolicy",
     "Delete an inline policy of a user.",
     ("regauth iam delete-user-policy --user-name alice --policy-name read-packages",)),
    ("iam", "create-role", "CreateRole",
     "Create a role with a trust policy saying who may assume it (--max-session-duration 3600-43200, "
     "default 3600).",
     ("regauth iam create-role --role-name ci --assume-role-policy-document file://trust.json",
      f"regauth iam create-role --role-name ci --max-session-duration 7200 --assume-role-policy-document {_TRUST}")),
    ("iam", "get-role", "GetRole",
     "Show a role, its trust policy as JSON.",
     ("regauth iam get-role --role-name ci", "regauth iam get-role --role-name ci --query Role.Arn --output text")),
    ("iam", "list-roles", "ListRoles",
     "List the account's roles, their trust policies as JSON (paginated).",
     ("regauth iam list-roles --query 'Roles[].RoleName' --output text",
      "regauth iam list-roles --path-prefix /automation/ --max-items 50")),
    ("iam", "delete-role", "DeleteRole",
     "Delete a role (delete its inline policies first).",
     ("regauth iam delete-role --role-name ci",)),
    ("iam", "update-assume-role-policy", "UpdateAssumeRolePolicy",
     "Replace the trust policy of a role.",
     ("regauth iam update-assume-role-policy --role-name ci --policy-document file://trust.json",)),
    ("iam", "put-role-policy", "PutRolePolicy",
     "Add or replace an inline policy of a role.",
     ("regauth iam put-role-policy --role-name ci --policy-name push-images --policy-document file://policy.json",)),
    ("iam", "get-role-policy", "GetRolePolicy",
     "Show an inline policy of a role, its document as JSON.",
     ("regauth iam get-role-policy --role-name ci --policy-name push-images --query PolicyDocument",)),
    ("iam", "list-role-policies", "ListRolePolicies",
     "List the names of a role's inline policies (paginated).",
     ("regauth iam list-role-policies --role-name ci --output text",)),
    ("iam", "delete-role-policy", "DeleteRolePolicy",
     "Delete an inline policy of a role.",
     ("regauth iam delete-role-policy --role-name ci --policy-name push-images",)),
)
