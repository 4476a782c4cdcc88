"""`regauth.protocols.aws.shapes` against botocore.model: the same data files and, for every
operation of every service regauth models, the same shapes (type, members in order,
serialization, metadata, required members, enum, error code, list/map member types),
recursively; and the server's imports stay free of botocore.model / urllib3."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore import model as bm
from botocore.loaders import Loader

from regauth.protocols.aws import shapes as rm
from regauth.protocols.aws.models import SERVICES

NAMES = sorted({name for name, _ in SERVICES.values()})


@pytest.fixture(scope="module", params=NAMES)
def pair(request):
    name = request.param
    ours_raw = rm.ModelLoader().load_service_model(name, "service-2")
    theirs_raw = Loader(include_default_search_paths=False, extra_search_paths=[Loader.BUILTIN_DATA_PATH]) \
        .load_service_model(name, "service-2")
    return name, ours_raw, theirs_raw, rm.ServiceModel(ours_raw, name), bm.ServiceModel(theirs_raw, name)


def test_loader_reads_the_same_file(pair):
    _, ours_raw, theirs_raw, _, _ = pair
    assert ours_raw == theirs_raw
    assert list(ours_raw["shapes"]) == list(theirs_raw["shapes"])


def assert_same(ours: rm.Shape | None, theirs: bm.Shape | None, path: str, seen: set[str]) -> None:
    if theirs is None:
        assert ours is None, path
        return
    assert ours is not None, path
    assert type(ours).__name__ == type(theirs).__name__, path
    assert (ours.name, ours.type_name) == (theirs.name, theirs.type_name), path
    assert ours.serialization == theirs.serialization, path
    assert ours.metadata == theirs.metadata, path
    assert ours.required_members == theirs.required_members, path
    assert ours.documentation == theirs.documentation, path
    assert ours.event_stream_name == theirs.event_stream_name, path
    if isinstance(theirs, bm.StringShape):
        assert ours.enum == theirs.enum, path
    if isinstance(theirs, bm.StructureShape):
        assert list(ours.members) == list(theirs.members), path
        assert (ours.error_code, ours.is_document_type, ours.is_tagged_union) == \
            (theirs.error_code, theirs.is_document_type, theirs.is_tagged_union), path
    # a shape reached again by name is the same definition, but member traits can differ per
    # reference: compare this reference's own traits (above), descend only once per (name, traits)
    key = f"{theirs.name}|{sorted(theirs.serialization.items())!r}|{sorted(theirs.metadata.items(), key=str)!r}"
    if key in seen:
        return
    seen.add(key)
    if isinstance(theirs, bm.StructureShape):
        for name, member in theirs.members.items():
            assert_same(ours.members[name], member, f"{path}.{name}", seen)
    elif isinstance(theirs, bm.ListShape):
        assert_same(ours.member, theirs.member, f"{path}.member", seen)
    elif isinstance(theirs, bm.MapShape):
        assert_same(ours.key, theirs.key, f"{path}.key", seen)
        assert_same(ours.value, theirs.value, f"{path}.value", seen)


def test_service_model_alike(pair):
    name, _, _, ours, theirs = pair
    assert ours.metadata == theirs.metadata
    assert ours.operation_names == theirs.operation_names
    assert (ours.protocol, ours.api_version, ours.signing_name, ours.service_name, ours.endpoint_prefix,
            ours.is_query_compatible, ours.signature_version) == \
        (theirs.protocol, theirs.api_version, theirs.signing_name, theirs.service_name, theirs.endpoint_prefix,
         theirs.is_query_compatible, theirs.signature_version)
    assert ours.shape_names == theirs.shape_names
    assert [s.name for s in ours.error_shapes] == [s.name for s in theirs.error_shapes]
    seen: set[str] = set()
    for shape in theirs.error_shapes:
        assert_same(ours.shape_for_error_code(shape.error_code), theirs.shape_for_error_code(shape.error_code),
                    f"{name}:error:{shape.error_code}", seen)
        assert_same(ours.shape_for(shape.name), theirs.shape_for(shape.name), f"{name}:{shape.name}", seen)
    assert ours.shape_for_error_code("NoSuchCode") is theirs.shape_for_error_code("NoSuchCode") is None


def test_every_operation_alike(pair):
    name, _, _, ours, theirs = pair
    seen: set[str] = set()
    for op_name in theirs.operation_names:
        o, t = ours.operation_model(op_name), theirs.operation_model(op_name)
        assert ours.operation_model(op_name) is o
        assert (o.name, o.wire_name, o.http, o.metadata, o.endpoint, o.auth_type) == \
            (t.name, t.wire_name, t.http, t.metadata, t.endpoint, t.auth_type), op_name
        assert (o.has_streaming_input, o.has_streaming_output, o.has_event_stream_input,
                o.has_event_stream_output) == (t.has_streaming_input, t.has_streaming_output,
                                               t.has_event_stream_input, t.has_event_stream_output), op_name
        assert o.service_model is ours
        assert_same(o.input_shape, t.input_shape, f"{name}:{op_name}:input", seen)
        assert_same(o.output_shape, t.output_shape, f"{name}:{op_name}:output", seen)
        assert [s.name for s in o.error_shapes] == [s.name for s in t.error_shapes], op_name
        for oe, te in zip(o.error_shapes, t.error_shapes):
            assert_same(oe, te, f"{name}:{op_name}:error:{te.name}", seen)
    with pytest.raises(rm.OperationNotFoundError):
        ours.operation_model("NoSuchOperation")


def test_member_traits_override_the_shape():
    """A reference's traits (locationName, flattened, xmlNamespace, metadata too) over the shape's."""
    desc = {"metadata": {"protocol": "query"}, "shapes": {
        "S": {"type": "string", "locationName": "shape", "min": 1, "pattern": "a"},
        "L": {"type": "list", "member": {"shape": "S", "locationName": "item"}},
        "T": {"type": "structure", "required": ["a"], "members": {
            "a": {"shape": "S", "locationName": "A", "xmlNamespace": {"uri": "u"}, "min": 2},
            "b": {"shape": "L", "flattened": True, "queryName": "B"}, "c": {"shape": "S"}}}}}
    ours, theirs = rm.ServiceModel(desc, "x"), bm.ServiceModel(desc, "x")
    assert_same(ours.shape_for("T"), theirs.shape_for("T"), "T", set())
    assert ours.shape_for("T").members["a"].serialization == {"name": "A", "xmlNamespace": {"uri": "u"}}
    assert ours.shape_for("T").members["a"].metadata == {"min": 2, "pattern": "a"}
    assert ours.shape_for("T").members["b"].member.serialization == {"name": "item"}
    assert "members" not in desc["shapes"]["S"] and desc["shapes"]["S"]["min"] == 1   # not mutated


def test_server_imports_stay_free_of_botocore():
    code = ("import sys, regauth.cli.serve, regauth.http, regauth.server, regauth.protocols.aws.dispatch\n"
            "from regauth.protocols.aws.models import AwsModels\n"
            "m = AwsModels()\n"
            "for k in m.keys(): m.spec(k)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('botocore', 'urllib3'))\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_in_the_home_directory_are_not_read(tmp_path, monkeypatch):
    # botocore's clients would prefer a newer ecr model from ~/.aws/models; the server must not
    fake = tmp_path / ".aws" / "models" / "ecr" / "2099-01-01"
    fake.mkdir(parents=True)
    (fake / "service-2.json").write_text('{"metadata": {"apiVersion": "2099-01-01"}, "operations": {}, "shapes": {}}')
    monkeypatch.setenv("HOME", str(tmp_path))
    assert rm.ModelLoader().load_service_model("ecr", "service-2")["metadata"]["apiVersion"] != "2099-01-01"
