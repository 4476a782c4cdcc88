"""The rest-json router tries only the path suffixes a route could match.

It drops leading segments one at a time (an endpoint path prefix is tolerated) until a suffix
matches. Trying every suffix of a long path built and matched ~segments x length characters: a
signed 60 KB path cost seconds of CPU before any authorization. A route without a `{x+}` label
matches paths of one number of '/'s only, so suffixes with more are skipped; the answers stay those
of trying every suffix (`_every_suffix` below, the router as it was), which these tests compare.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import unquote

import pytest

from regauth.protocols.aws.models import AwsModels


def _every_suffix(spec, method: str, raw_path: str, query: dict[str, list[str]]):
    """The router as it was: every suffix tried, shortest prefix dropped first."""
    routes = spec._routes.get(method.upper())
    if not routes:
        return None
    segments = (raw_path or "/").split("/")
    for k in range(1, max(len(segments), 2)):
        candidate = "/" + "/".join(segments[k:])
        for route in routes:
            m = route.regex.fullmatch(candidate)
            if m and all(key in query and (v is None or v in query[key]) for key, v in route.query_literals):
                try:
                    labels = {n: unquote(v, errors="strict") for n, v in zip(route.labels, m.groups())}
                except UnicodeDecodeError:
                    continue
                return spec.model.operation_model(route.operation), labels
    return None


def _answer(found):
    return None if found is None else (found[0].name, found[1])


class _LabelsLoader:
    """A synthetic rest-json model: labels of one segment at several depths, a literal query part,
    and on PUT a `{x+}` label (a method whose paths have no bound on their '/'s)."""

    def load_service_model(self, name, type_name):
        ops = {"GetThing": ("GET", "/things/{Id}"), "GetTags": ("GET", "/things/{Id}?tagging"),
               "GetDeep": ("GET", "/a/{B}/c/{D}/e"), "GetRoot": ("GET", "/"),
               "PutKey": ("PUT", "/keys/{Key+}"), "PutFixed": ("PUT", "/keys/{Id}/fixed")}
        member = {"shape": "S", "location": "uri"}
        return {"version": "2.0", "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01",
                                               "signingName": "x", "endpointPrefix": "x", "serviceId": "x"},
                "operations": {n: {"name": n, "http": {"method": m, "requestUri": uri}, "input": {"shape": "In"}}
                               for n, (m, uri) in ops.items()},
                "shapes": {"S": {"type": "string"},
                           "In": {"type": "structure", "members": {
                               k: dict(member, locationName=k) for k in ("Id", "B", "D", "Key")}}}}


@pytest.fixture(scope="module")
def codeartifact():
    return AwsModels(services=["codeartifact"])["codeartifact"]


@pytest.fixture(scope="module")
def synthetic():
    return AwsModels(loader=_LabelsLoader(), services=["codeartifact"])["codeartifact"]


def _paths(templates: list[str]) -> list[str]:
    """Every template, filled and prefixed many ways, cut short, doubled, broken."""
    out = ["", "/", "//", "///", "x", "x/y", "/x", "/x/", "/%ff", "/a/%ff/c/d/e"]
    for t in templates:
        t = t.partition("?")[0].replace("{Key+}", "k/%2F/z").replace("{Id}", "i%20d").replace("{B}", "b")
        t = t.replace("{D}", "d")
        for prefix in ("", "/p", "/p/q", "//", "/p/q/r/s/t/u/v", "/x" * 50, "nolead"):
            for suffix in ("", "/", "/extra", "\n", "//"):
                out.append(prefix + t + suffix)
        segments = t.split("/")
        out += ["/".join(segments[:i]) for i in range(len(segments))]
        out += [t + t, t.replace("/", "//"), t[1:]]
    return out


def _templates(spec) -> list[str]:
    return [spec.model.operation_model(n).http["requestUri"] for n in spec.model.operation_names]


@pytest.mark.parametrize("which", ["codeartifact", "synthetic"])
def test_every_path_routes_as_trying_every_suffix_does(request, which: str) -> None:
    spec = request.getfixturevalue(which)
    paths = _paths(_templates(spec))
    for method in ("GET", "POST", "PUT", "DELETE", "get", "HEAD"):
        for query in ({}, {"tagging": [""]}):
            for path in paths:
                assert _answer(spec.route(method, path, query)) == _answer(_every_suffix(spec, method, path, query)), \
                    (method, path, query)


class _Counting:
    """A route's regex that counts the matches tried and the characters handed to them."""

    def __init__(self, regex, tally: dict[str, int]) -> None:
        self.regex, self.tally = regex, tally

    def fullmatch(self, text: str, *args):
        self.tally["calls"] += 1
        self.tally["chars"] += len(text)
        return self.regex.fullmatch(text, *args)


def _work(spec, method: str, path: str, query: dict[str, list[str]]) -> tuple[dict[str, int], object]:
    """The matches `spec.route` tries for one path, on a copy of `spec` whose regexes count."""
    tally = {"calls": 0, "chars": 0}
    counted = dataclasses.replace(spec, _routes={m: [dataclasses.replace(r, regex=_Counting(r.regex, tally))
                                                     for r in rs] for m, rs in spec._routes.items()})
    found = counted.route(method, path, query)
    return tally, found


@pytest.mark.parametrize(("method", "tail", "query", "operation"), [
    ("GET", "/v1/domainx", {"domain": ["dd"]}, None),
    ("GET", "/v1/domain", {"domain": ["dd"]}, "DescribeDomain"),
    ("POST", "/v1/authorization-token", {"domain": ["dd"]}, "GetAuthorizationToken"),
    ("PUT", "/v1/nothing/here/at/all", {}, None),
    ("GET", "/" + "y" * 30000 + "/v1/domainx", {}, None),
    ("GET", "/" + "y" * 30000 + "/v1/domain", {}, "DescribeDomain"),
])
def test_a_long_path_prefix_costs_no_more_matches_than_a_short_one(codeartifact, method: str, tail: str,
                                                                   query: dict, operation: str | None) -> None:
    """'/x' * 30000 + tail is the audit's 60 KB request (within the request-head bound): it costs
    the matches '/x' * 10 + tail costs (ten segments are more than any route has)."""
    expected = None if operation is None else (operation, {})
    short, found = _work(codeartifact, method, "/x" * 10 + tail, query)
    assert _answer(found) == expected
    assert short["calls"] <= 5 * len(codeartifact._routes[method])
    for repeats in (100, 3000, 30000):
        work, found = _work(codeartifact, method, "/x" * repeats + tail, query)
        assert _answer(found) == expected
        assert work == short, repeats


def test_a_method_with_a_greedy_label_still_tries_every_suffix(synthetic) -> None:
    """`{x+}` matches '/'s: any suffix may be the one, so none is skipped (no served model has one)."""
    assert _answer(synthetic.route("PUT", "/x" * 500 + "/keys/a/b", {})) == ("PutKey", {"Key": "a/b"})
    assert _answer(synthetic.route("PUT", "/keys/a/fixed", {})) == ("PutFixed", {"Id": "a"})


def test_no_served_rest_json_model_has_a_greedy_label() -> None:
    """The bound above holds for every method of every served model; a model gaining a `{x+}` label
    would bring back the quadratic walk for its method."""
    models = AwsModels()
    for key in models.keys():
        spec = models[key]
        for routes in spec._routes.values():
            assert all("+}" not in spec.model.operation_model(r.operation).http["requestUri"] for r in routes), key
