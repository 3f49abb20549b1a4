"""A protobuf message as opa-envoy-plugin puts it in the input (its envoyauth/protomap.go).

The plugin walks the CheckRequest by reflection, not with protojson: every populated field
under its JSON name (lowerCamelCase), a message field that is set even when empty (an empty
``metadataContext`` is ``{}``), maps and lists as they are, ``google.protobuf.Struct`` as a
plain object, and scalars as Go values that OPA turns into JSON: 64-bit integers are numbers
(``size: 42``, not ``"42"``), enums are their numbers, bytes are base64 text, and a
``google.protobuf.Timestamp`` is ``{"seconds": ..., "nanos": ...}``.

``ListFields`` gives exactly the populated fields (Go's ``Message.Range``), so new Envoy fields
appear without a change here. The per-type plan is computed once per message type.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ext_proc.protoconv import struct_to_dict

_STRUCT = "google.protobuf.Struct"
_Convert = Callable[[Any], Any]
# Per message type, its fields: (name, JSON name, has presence, converter). A converter of None
# means the value is used as it is (strings, numbers, booleans), the common case.
_Plan = tuple[tuple[str, str, bool, _Convert | None], ...]
_plans: dict[Any, _Plan] = {}


def proto_map(message: Any) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    plan = _plans.get(descriptor)
    if plan is None:
        if descriptor.full_name == _STRUCT:
            return struct_to_dict(message)
        plan = _plan(descriptor)
    result: dict[str, Any] = {}
    # Go's Message.Range visits the populated fields: a field with presence (a message, a oneof
    # member) when set, any other when not its zero value. Reading each field is several times
    # cheaper than ListFields() on this path.
    for name, json_name, presence, convert in plan:
        if presence:
            if not message.HasField(name):
                continue
            value = getattr(message, name)
        else:
            value = getattr(message, name)
            if not value:
                continue
        result[json_name] = value if convert is None else convert(value)
    return result


def projected_proto_map(message: Any, tree: Mapping[str, Any]) -> dict[str, Any]:
    """``proto_map(message)`` reduced to the keys of ``tree`` (a projection tree: JSON name ->
    subtree, or None for the whole value; policy/input_projection.py), without walking the rest."""
    descriptor = message.DESCRIPTOR
    plan = _plans.get(descriptor)
    if plan is None:
        if descriptor.full_name == _STRUCT:
            return {k: v for k, v in struct_to_dict(message).items() if k in tree}
        plan = _plan(descriptor)
    result: dict[str, Any] = {}
    for name, json_name, presence, convert in plan:
        if json_name not in tree:
            continue
        if presence:
            if not message.HasField(name):
                continue
            value = getattr(message, name)
        else:
            value = getattr(message, name)
            if not value:
                continue
        subtree = tree[json_name]
        if subtree is not None and convert is proto_map:
            result[json_name] = projected_proto_map(value, subtree)
        else:
            result[json_name] = value if convert is None else convert(value)
    return result


def _plan(descriptor: Descriptor) -> _Plan:
    plan = tuple(
        (field.name, field.json_name, field.has_presence, _converter(field)) for field in descriptor.fields
    )
    _plans[descriptor] = plan
    return plan


def _converter(field: FieldDescriptor) -> _Convert | None:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        value = _single(value_field)
        if key_field.type == FieldDescriptor.TYPE_STRING and value is None:
            return dict  # map<string, string>: headers, labels, context extensions
        convert = value or _same
        return lambda mapping: {_map_key(k): convert(v) for k, v in mapping.items()}
    single = _single(field)
    if field.is_repeated:
        return list if single is None else lambda items: [single(item) for item in items]
    return single


def _single(field: FieldDescriptor) -> _Convert | None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return proto_map
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _base64  # Go's json.Marshal of []byte
    if field.type == FieldDescriptor.TYPE_ENUM:
        return int
    return None


def _same(value: Any) -> Any:
    return value


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _map_key(key: Any) -> str:
    if isinstance(key, bool):  # protoreflect.MapKey.String()
        return "true" if key else "false"
    return str(key)
