"""Operator settings: where CodeArtifact repositories and ECR registries are served."""

from __future__ import annotations

from tests.fixtures.server import RegauthServer, regauth_cli, unique


def test_repository_endpoint_per_domain_and_format(regauth_server: RegauthServer) -> None:
    ca = regauth_server.client("codeartifact")
    domain, repo = unique("ep"), "my-repo"
    ca.create_domain(domain=domain)
    ca.create_repository(domain=domain, repository=repo)
    default = ca.get_repository_endpoint(domain=domain, repository=repo, format="pypi")["repositoryEndpoint"]
    assert default == f"https://{domain}-{regauth_server.account_id}.d.codeartifact.us-east-1.amazonaws.com/pypi/{repo}/"
    proc = regauth_cli("admin", "set-repository-endpoint", "--account-id", regauth_server.account_id,
                       "--region", "us-east-1", "--domain", domain, "--format", "pypi",
                       "--template", "http://127.0.0.1:8081/{domain}/{repository}", data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    got = ca.get_repository_endpoint(domain=domain, repository=repo, format="pypi")["repositoryEndpoint"]
    assert got == f"http://127.0.0.1:8081/{domain}/{repo}/"          # always ends with '/'
    npm = ca.get_repository_endpoint(domain=domain, repository=repo, format="npm")["repositoryEndpoint"]
    assert npm.endswith(f"/npm/{repo}/") and "amazonaws.com" in npm    # other formats keep the default


def test_repository_endpoint_rejects_bad_input(regauth_server: RegauthServer) -> None:
    base = ["admin", "set-repository-endpoint", "--account-id", regauth_server.account_id, "--region", "us-east-1",
            "--format", "pypi"]
    missing = regauth_cli(*base, "--domain", "no-such-domain", "--template", "https://x/{repository}/",
                          data_dir=regauth_server.data_dir)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    domain = unique("ep")
    regauth_server.client("codeartifact").create_domain(domain=domain)
    bad = regauth_cli(*base, "--domain", domain, "--template", "https://x/{nope}/", data_dir=regauth_server.data_dir)
    assert bad.returncode != 0 and "may only use" in bad.stderr
    not_url = regauth_cli(*base, "--domain", domain, "--template", "ftp://x/", data_dir=regauth_server.data_dir)
    assert not_url.returncode != 0 and "http" in not_url.stderr


def test_registry_endpoint_per_account_and_region(regauth_server: RegauthServer) -> None:
    proc = regauth_cli("admin", "set-registry-endpoint", "--account-id", regauth_server.account_id,
                       "--region", "eu-central-1", "--url", "https://registry.internal:5000/",
                       data_dir=regauth_server.data_dir)
    assert proc.returncode == 0, proc.stderr
    ecr = regauth_server.client("ecr", region="eu-central-1")
    data = ecr.get_authorization_token()["authorizationData"]
    assert [d["proxyEndpoint"] for d in data] == ["https://registry.internal:5000"]
    repo = ecr.create_repository(repositoryName=unique("img"))["repository"]
    assert repo["repositoryUri"].startswith("registry.internal:5000/")
    elsewhere = regauth_server.client("ecr", region="eu-west-3").get_authorization_token()["authorizationData"]
    assert elsewhere[0]["proxyEndpoint"] == f"https://{regauth_server.account_id}.dkr.ecr.eu-west-3.amazonaws.com"
    bad = regauth_cli("admin", "set-registry-endpoint", "--account-id", regauth_server.account_id, "--region",
                      "eu-central-1", "--url", "registry.internal", data_dir=regauth_server.data_dir)
    assert bad.returncode != 0 and "http" in bad.stderr


def test_create_account_takes_only_a_twelve_digit_id(regauth_server: RegauthServer) -> None:
    for bad in ("12345", "abcdefghijkl", "x y:z"):
        proc = regauth_cli("admin", "create-account", "--account-id", bad, data_dir=regauth_server.data_dir)
        assert proc.returncode == 1 and "--account-id must be 12 digits" in proc.stderr
        assert "SecretAccessKey" not in proc.stdout


def test_operator_changes_are_audited(regauth_server: RegauthServer) -> None:
    """Like revocations and rotations, the changes an operator makes to the store are in the trail."""
    import json

    data_dir = regauth_server.data_dir
    acct = json.loads(regauth_cli("admin", "create-account", data_dir=data_dir).stdout)["AccountId"]
    made = json.loads(regauth_cli("admin", "create-acr-instance", "--account-id", acct, "--region", "cn-hangzhou",
                                  "--name", unique("audited"), "--login-server", f"{unique('acr')}.test:5000",
                                  data_dir=data_dir).stdout)
    assert regauth_cli("admin", "delete-acr-instance", "--instance-id", made["InstanceId"],
                       data_dir=data_dir).returncode == 0
    assert regauth_cli("admin", "set-registry-endpoint", "--account-id", acct, "--region", "us-east-1", "--url",
                       f"https://{unique('reg')}.test:5000", data_dir=data_dir).returncode == 0
    events = [json.loads(line) for line in regauth_cli("admin", "audit", "--limit", "10",
                                                       data_dir=data_dir).stdout.splitlines()]
    actions = [e["action"] for e in events if acct in e["resource"] or made["InstanceId"] in e["resource"]]
    assert {"regauth:CreateAccount", "regauth:CreateAcrInstance", "regauth:DeleteAcrInstance",
            "regauth:SetRegistryEndpoint"} <= set(actions), actions
    assert all(e["outcome"] == "allowed" and e["principal_arn"] == "" for e in events if e["action"] in actions)
    audit_text = regauth_cli("admin", "audit", "--limit", "10", data_dir=data_dir).stdout
    assert "SecretAccessKey" not in audit_text
