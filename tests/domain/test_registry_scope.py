"""The realm's reading of distribution `scope` parameters (spec/registries.md §1.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from regauth.domain.registry_scope import MAX_SCOPES, Scope, parse_scopes
from regauth.errors import InvalidInput


def test_what_skopeo_and_docker_send() -> None:
    assert parse_scopes([]) == []                                                   # login: no scope
    assert parse_scopes(["repository:poc/hello:pull,push"]) == [Scope("repository", "poc/hello", ("pull", "push"))]
    # a cross-repository mount: two scope parameters in one request
    assert parse_scopes(["repository:poc/copy:pull,push", "repository:timing/small:pull"]) == [
        Scope("repository", "poc/copy", ("pull", "push")), Scope("repository", "timing/small", ("pull",))]
    # skopeo delete asks for * and delete on the same repository: one scope, actions merged
    assert parse_scopes(["repository:poc/copy:*", "repository:poc/copy:delete"]) == [
        Scope("repository", "poc/copy", ("*", "delete"))]


def test_scopes_separated_by_spaces_and_classes_and_catalog() -> None:
    assert parse_scopes(["repository:a:pull registry:catalog:*"]) == [
        Scope("repository", "a", ("pull",)), Scope("registry", "catalog", ("*",))]
    assert parse_scopes(["repository(plugin):a/b:pull"]) == [Scope("repository", "a/b", ("pull",))]


def test_unknown_actions_are_dropped_not_refused() -> None:
    assert parse_scopes(["repository:a:pull,fly,push,pull"]) == [Scope("repository", "a", ("pull", "push"))]
    assert parse_scopes(["repository:a:"]) == [Scope("repository", "a", ())]


@pytest.mark.parametrize("bad", ["repository", "repository:a", ":a:pull", "repository:Upper:pull",
                                 "repository:a//b:pull", "repository:-a:pull", "repo sitory:a:pull",
                                 "Repository:a:pull", "repository::pull", f"repository:{'a' * 256}:pull"])
def test_malformed_scopes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_scopes([bad])


def test_names_may_start_with_a_registry_host_as_distribution_s_grammar_allows() -> None:
    """The registry challenges for `127.0.0.1:5000/team/app` when a client asks for that name."""
    assert parse_scopes(["repository:127.0.0.1:5000/team/app:pull", "repository:Reg.example-1.test/a:push"]) == [
        Scope("repository", "127.0.0.1:5000/team/app", ("pull",)), Scope("repository", "Reg.example-1.test/a", ("push",))]
    for bad in ("repository:host:port/a:pull", "repository:-host/a:pull", "repository:host:5000:pull"):
        with pytest.raises(InvalidInput):
            parse_scopes([bad])


def test_the_number_of_scopes_is_bounded() -> None:
    assert len(parse_scopes([f"repository:r{i}:pull" for i in range(MAX_SCOPES)])) == MAX_SCOPES
    with pytest.raises(InvalidInput):
        parse_scopes([" ".join(f"repository:r{i}:pull" for i in range(MAX_SCOPES + 1))])


@given(st.lists(st.text(max_size=40), max_size=4))
def test_anything_parses_or_is_refused_as_input(values: list[str]) -> None:
    try:
        scopes = parse_scopes(values)
    except InvalidInput:
        return
    for scope in scopes:
        assert ":" not in scope.type and scope.name and set(scope.actions) <= {"pull", "push", "delete", "*"}


def test_a_name_too_long_is_refused_saying_so() -> None:
    """Its shape is right; its length is not (the message named the shape)."""
    assert parse_scopes([f"repository:{'a' * 255}:pull"])[0].name == "a" * 255
    with pytest.raises(InvalidInput, match="at most 255 characters"):
        parse_scopes([f"repository:{'a' * 256}:pull"])
