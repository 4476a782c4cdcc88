"""Domains, repositories, policies and endpoints through boto3, AWS CLI v1 and AWS CLI v2."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.server import RegauthServer, unique
from tests.wire.clients import ApiError, epoch


def test_domain_and_repository_lifecycle(client, regauth_server: RegauthServer) -> None:
    acct = regauth_server.account_id
    domain = unique("life")
    created = client.call("codeartifact", "CreateDomain", {"domain": domain})["domain"]
    assert created["arn"] == f"arn:aws:codeartifact:us-east-1:{acct}:domain/{domain}"
    assert created["owner"] == acct and created["status"] == "Active" and epoch(created["createdTime"]) > 0
    with pytest.raises(ApiError) as dup:
        client.call("codeartifact", "CreateDomain", {"domain": domain})
    assert dup.value.code == "ConflictException"
    assert client.call("codeartifact", "DescribeDomain", {"domain": domain})["domain"]["name"] == domain
    assert domain in [d["name"] for d in client.call("codeartifact", "ListDomains")["domains"]]
    repo = client.call("codeartifact", "CreateRepository", {"domain": domain, "repository": "pypi-store",
                                                           "description": "team packages"})["repository"]
    assert repo["arn"] == f"arn:aws:codeartifact:us-east-1:{acct}:repository/{domain}/pypi-store"
    listed = client.call("codeartifact", "ListRepositoriesInDomain", {"domain": domain})["repositories"]
    assert [r["name"] for r in listed] == ["pypi-store"]
    endpoint = client.call("codeartifact", "GetRepositoryEndpoint", {"domain": domain, "repository": "pypi-store",
                                                                    "format": "pypi"})["repositoryEndpoint"]
    assert endpoint.endswith("/pypi/pypi-store/")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": acct},
                                                      "Action": "codeartifact:GetAuthorizationToken",
                                                      "Resource": "*"}]}
    put = client.call("codeartifact", "PutDomainPermissionsPolicy", {"domain": domain,
                                                                     "policyDocument": json.dumps(policy)})
    got = client.call("codeartifact", "GetDomainPermissionsPolicy", {"domain": domain})["policy"]
    assert got["revision"] == put["policy"]["revision"] and json.loads(got["document"]) == policy
    with pytest.raises(ApiError) as busy:
        client.call("codeartifact", "DeleteDomain", {"domain": domain})
    assert busy.value.code == "ConflictException"          # repositories remain
    client.call("codeartifact", "DeleteRepository", {"domain": domain, "repository": "pypi-store"})
    client.call("codeartifact", "DeleteDomain", {"domain": domain})
    with pytest.raises(ApiError) as gone:
        client.call("codeartifact", "DescribeDomain", {"domain": domain})
    assert gone.value.code == "ResourceNotFoundException"
