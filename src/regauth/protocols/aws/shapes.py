"""botocore's service-model classes (Shape, OperationModel, ServiceModel) and its model loading,
for the server, without importing botocore.

`botocore.model` imports botocore.utils -> botocore.compat -> urllib3 (~100 ms at every start);
the server needs only the JSON data files botocore ships and the model classes over them. This
module reads the same files the same way (`Loader.load_service_model`: newest api-version dir of
botocore/data, `.json` before `.json.gz`, `*.sdk-extras.json` `merge`d in) and
ports the classes with the same semantics: a shape reference with member traits (`locationName`,
`flattened`, `xmlNamespace`, ...) is the named shape's definition updated by those traits, a new
Shape per resolution (as botocore); `serialization` / `metadata` pick the same attributes (with
`locationName` renamed `name`); `required_members`, `enum`, `error_code`, `error_shapes`,
`shape_for_error_code` likewise. The attributes botocore's own serializers and parsers read are
kept too, so the tests can hand these models to botocore (tests/protocols/test_shapes.py compares
every shape of the five models with botocore's).
"""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from typing import Any, Iterable


class _cached:
    """botocore's CachedProperty: computed once, then stored in the instance (no lock)."""

    def __init__(self, fn: Any) -> None:
        self._fn, self._name = fn, fn.__name__

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self._name] = self._fn(obj)
        return value


class NoShapeFoundError(Exception):
    pass


class OperationNotFoundError(Exception):
    pass


class Shape:
    SERIALIZED_ATTRS = ("locationName", "queryName", "flattened", "location", "payload", "streaming",
                        "timestampFormat", "xmlNamespace", "resultWrapper", "xmlAttribute", "eventstream",
                        "event", "eventheader", "eventpayload", "jsonvalue", "hostLabel")
    METADATA_ATTRS = ("required", "min", "max", "pattern", "sensitive", "enum", "idempotencyToken", "error",
                      "exception", "endpointdiscoveryid", "retryable", "document", "union", "contextParam",
                      "clientContextParams", "requiresLength")

    def __init__(self, shape_name: str, shape_model: dict[str, Any], shape_resolver: "ShapeResolver | None" = None):
        self.name = shape_name
        self.type_name = shape_model["type"]
        self.documentation = shape_model.get("documentation", "")
        self._shape_model = shape_model
        self._shape_resolver = shape_resolver

    @_cached
    def serialization(self) -> dict[str, Any]:
        model = self._shape_model
        out = {attr: model[attr] for attr in self.SERIALIZED_ATTRS if attr in model}
        if "locationName" in out:
            out["name"] = out.pop("locationName")
        return out

    @_cached
    def metadata(self) -> dict[str, Any]:
        model = self._shape_model
        return {attr: model[attr] for attr in self.METADATA_ATTRS if attr in model}

    @_cached
    def required_members(self) -> list[str]:
        return self.metadata.get("required", [])

    def _resolve_shape_ref(self, shape_ref: dict[str, Any]) -> "Shape":
        if self._shape_resolver is None:
            raise ValueError(f"Attempted to resolve shape '{shape_ref}', but no shape map was provided.")
        return self._shape_resolver.resolve_shape_ref(shape_ref)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}({self.name})>"

    @property
    def event_stream_name(self) -> str | None:
        return None


class StructureShape(Shape):
    @_cached
    def members(self) -> dict[str, Shape]:
        return {name: self._resolve_shape_ref(ref) for name, ref in self._shape_model.get("members", {}).items()}

    @_cached
    def event_stream_name(self) -> str | None:
        for name, member in self.members.items():
            if member.serialization.get("eventstream"):
                return name
        return None

    @_cached
    def error_code(self) -> str | None:
        if not self.metadata.get("exception", False):
            return None
        return self.metadata.get("error", {}).get("code") or self.name

    @_cached
    def is_document_type(self) -> bool:
        return self.metadata.get("document", False)

    @_cached
    def is_tagged_union(self) -> bool:
        return self.metadata.get("union", False)


class ListShape(Shape):
    @_cached
    def member(self) -> Shape:
        return self._resolve_shape_ref(self._shape_model["member"])


class MapShape(Shape):
    @_cached
    def key(self) -> Shape:
        return self._resolve_shape_ref(self._shape_model["key"])

    @_cached
    def value(self) -> Shape:
        return self._resolve_shape_ref(self._shape_model["value"])


class StringShape(Shape):
    @_cached
    def enum(self) -> list[str]:
        return self.metadata.get("enum", [])


class ShapeResolver:
    SHAPE_CLASSES = {"structure": StructureShape, "list": ListShape, "map": MapShape, "string": StringShape}

    def __init__(self, shape_map: dict[str, Any]) -> None:
        self._shape_map = shape_map

    def get_shape_by_name(self, shape_name: str, member_traits: dict[str, Any] | None = None) -> Shape:
        try:
            shape_model = self._shape_map[shape_name]
        except KeyError:
            raise NoShapeFoundError(shape_name) from None
        cls = self.SHAPE_CLASSES.get(shape_model["type"], Shape)
        if member_traits:
            shape_model = {**shape_model, **member_traits}
        return cls(shape_name, shape_model, self)

    def resolve_shape_ref(self, shape_ref: dict[str, Any]) -> Shape:
        if len(shape_ref) == 1 and "shape" in shape_ref:
            return self.get_shape_by_name(shape_ref["shape"])
        traits = dict(shape_ref)
        try:
            name = traits.pop("shape")
        except KeyError:
            raise ValueError(f"Invalid model, missing shape reference: {shape_ref}") from None
        return self.get_shape_by_name(name, traits)


class ServiceModel:
    def __init__(self, service_description: dict[str, Any], service_name: str | None = None) -> None:
        self._service_description = service_description
        self.metadata = service_description.get("metadata", {})
        self._shape_resolver = ShapeResolver(service_description.get("shapes", {}))
        self._service_name = service_name
        self._operations: dict[str, OperationModel] = {}
        self.signature_version = self.metadata.get("signatureVersion")

    def shape_for(self, shape_name: str, member_traits: dict[str, Any] | None = None) -> Shape:
        return self._shape_resolver.get_shape_by_name(shape_name, member_traits)

    def shape_for_error_code(self, error_code: str) -> Shape | None:
        return self._error_code_cache.get(error_code)

    @_cached
    def _error_code_cache(self) -> dict[str, Shape]:
        return {shape.error_code: shape for shape in self.error_shapes}

    def resolve_shape_ref(self, shape_ref: dict[str, Any]) -> Shape:
        return self._shape_resolver.resolve_shape_ref(shape_ref)

    @_cached
    def shape_names(self) -> list[str]:
        return list(self._service_description.get("shapes", {}))

    @_cached
    def error_shapes(self) -> list[Shape]:
        return [s for s in map(self.shape_for, self.shape_names) if s.metadata.get("exception", False)]

    def operation_model(self, operation_name: str) -> "OperationModel":
        op = self._operations.get(operation_name)
        if op is None:
            try:
                model = self._service_description["operations"][operation_name]
            except KeyError:
                raise OperationNotFoundError(operation_name) from None
            op = self._operations.setdefault(operation_name, OperationModel(model, self, operation_name))
        return op

    @_cached
    def operation_names(self) -> list[str]:
        return list(self._service_description.get("operations", []))

    @_cached
    def documentation(self) -> str:
        return self._service_description.get("documentation", "")

    @property
    def service_name(self) -> str:
        return self._service_name if self._service_name is not None else self.metadata["endpointPrefix"]

    @property
    def signing_name(self) -> str:
        name = self.metadata.get("signingName")
        return self.metadata["endpointPrefix"] if name is None else name

    @property
    def api_version(self) -> str:
        return self.metadata["apiVersion"]

    @property
    def protocol(self) -> str:
        return self.metadata["protocol"]

    @property
    def endpoint_prefix(self) -> str:
        return self.metadata["endpointPrefix"]

    @property
    def is_query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.metadata

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._service_name})"


class OperationModel:
    def __init__(self, operation_model: dict[str, Any], service_model: ServiceModel, name: str | None = None):
        self._operation_model = operation_model
        self._service_model = service_model
        self._api_name = name
        self.metadata = service_model.metadata
        self.http = operation_model.get("http", {})

    @_cached
    def name(self) -> str:
        return self._api_name if self._api_name is not None else self.wire_name

    @property
    def wire_name(self) -> str:
        return self._operation_model.get("name")

    @property
    def service_model(self) -> ServiceModel:
        return self._service_model

    @_cached
    def input_shape(self) -> Shape | None:
        ref = self._operation_model.get("input")
        return None if ref is None else self._service_model.resolve_shape_ref(ref)

    @_cached
    def output_shape(self) -> Shape | None:
        ref = self._operation_model.get("output")
        return None if ref is None else self._service_model.resolve_shape_ref(ref)

    @_cached
    def error_shapes(self) -> list[Shape]:
        return [self._service_model.resolve_shape_ref(s) for s in self._operation_model.get("errors", [])]

    @_cached
    def endpoint(self) -> dict[str, Any] | None:
        return self._operation_model.get("endpoint")

    @_cached
    def auth_type(self) -> str | None:
        return self._operation_model.get("authtype")

    @_cached
    def has_event_stream_input(self) -> bool:
        return self._event_stream(self.input_shape) is not None

    @_cached
    def has_event_stream_output(self) -> bool:
        return self._event_stream(self.output_shape) is not None

    @staticmethod
    def _event_stream(shape: Shape | None) -> Shape | None:
        name = shape.event_stream_name if shape is not None else None
        return shape.members[name] if name else None

    @_cached
    def has_streaming_input(self) -> bool:
        return self._streaming_body(self.input_shape) is not None

    @_cached
    def has_streaming_output(self) -> bool:
        return self._streaming_body(self.output_shape) is not None

    @staticmethod
    def _streaming_body(shape: Shape | None) -> Shape | None:
        payload = shape.serialization.get("payload") if shape is not None else None
        if payload is not None and shape.members[payload].type_name == "blob":
            return shape.members[payload]
        return None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(name={self.name})"


# --- loading: what botocore.loaders.Loader().load_service_model(name, type_name) returns ---------------

def _botocore_data_path() -> str | None:
    spec = find_spec("botocore")      # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def _load_json(base: str) -> Any:
    """`base` + '.json', else + '.json.gz' (botocore's JSONFileLoader order), or None."""
    if os.path.isfile(base + ".json"):
        with open(base + ".json", "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))
    if os.path.isfile(base + ".json.gz"):
        import gzip     # on first load, not at start-up

        with gzip.open(base + ".json.gz", "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))
    return None


def _exists(base: str) -> bool:
    return os.path.isfile(base + ".json") or os.path.isfile(base + ".json.gz")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key in extra:
        if key in base and isinstance(base[key], dict) and isinstance(extra[key], dict):
            _deep_merge(base[key], extra[key])
        else:
            base[key] = extra[key]


class DataNotFoundError(Exception):
    pass


class ModelLoader:
    """botocore's `Loader` for `load_service_model` (newest api version, sdk extras merged), minus
    its scan of every service directory to reject unknown names. By default it reads only the
    models botocore ships: not ~/.aws/models, which botocore's clients also search, so what the
    server accepts does not depend on the home directory of the user it runs as."""

    def __init__(self, search_paths: Iterable[str] | None = None) -> None:
        if search_paths is None:
            builtin = _botocore_data_path()
            search_paths = [builtin] if builtin else []
        self.search_paths = list(search_paths)

    def _dirs(self) -> list[str]:
        return [p for p in self.search_paths if os.path.isdir(p)]

    def determine_latest_version(self, service_name: str, type_name: str) -> str:
        versions = set()
        for path in self._dirs():
            service_dir = os.path.join(path, service_name)
            if os.path.isdir(service_dir):
                versions.update(d for d in os.listdir(service_dir)
                                if _exists(os.path.join(service_dir, d, type_name)))
        if not versions:
            raise DataNotFoundError(service_name)
        return max(versions)

    def load_data(self, name: str) -> Any:
        for path in self._dirs():
            found = _load_json(os.path.join(path, name))
            if found is not None:
                return found
        raise DataNotFoundError(name)

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        try:
            extras = self.load_data(os.path.join(service_name, api_version, f"{type_name}.sdk-extras"))
        except DataNotFoundError:
            extras = None
        if extras is not None and "merge" in extras:
            _deep_merge(model, extras["merge"])
        return model
