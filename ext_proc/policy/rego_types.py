"""The static types OPA's type checker gives terms, enough to refuse what it refuses.

OPA infers a type for every term at compile time (literals, builtin results, local variables
bound to them, elements of literal collections) and refuses a unification (``=``, ``:=``, and
``==``, which it checks as a unification) of two types that cannot hold the same value:
``rego_type_error: match error``. This module mirrors its types and its ``unifies`` rule
(ast/check.go): a type is ``ANY`` (unknown, unifies with everything), a scalar kind, an array
(static items, then a dynamic item type), an object (static keys, then a dynamic value type), a
set, or a union of those.

Only what the checker needs here is modelled: no function types, no object key types beyond
literal strings, no "undefined ref" errors.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALARS = ("null", "boolean", "number", "string")


@dataclass(frozen=True, slots=True)
class Scalar:
    kind: str


@dataclass(frozen=True, slots=True)
class Array:
    items: tuple[Type, ...]
    dynamic: Type | None  # None: no items past the static ones


@dataclass(frozen=True, slots=True)
class Object:
    fields: tuple[tuple[str, Type], ...]
    dynamic: Type | None  # the type of values under other keys; None: no other keys
    keys: Type | None = None  # the type of those other keys; None: any


@dataclass(frozen=True, slots=True)
class Set:
    element: Type


@dataclass(frozen=True, slots=True)
class Union:
    members: tuple[Type, ...]  # empty: any type


Type = Scalar | Array | Object | Set | Union
ANY = Union(())


def of_kind(kind: str) -> Type:
    """The widest type of a kind (``array`` is an array of anything)."""
    if kind == "array":
        return Array((), ANY)
    if kind == "object":
        return Object((), ANY)
    if kind == "set":
        return Set(ANY)
    return Scalar(kind)


def of_kinds(kinds: set[str] | None) -> Type:
    if not kinds:
        return ANY
    return union([of_kind(kind) for kind in sorted(kinds)])


def union(types: list[Type]) -> Type:
    """One type for a value of any of ``types`` (ANY absorbs everything; no types is ANY)."""
    members: list[Type] = []
    for item in types:
        if item == ANY:
            return ANY
        for member in item.members if isinstance(item, Union) else (item,):
            if member not in members:
                members.append(member)
    return members[0] if len(members) == 1 else Union(tuple(members))


def kinds(value: Type) -> set[str] | None:
    """The kinds a value of this type can have; None for any."""
    if value == ANY:
        return None
    if isinstance(value, Union):
        found: set[str] = set()
        for member in value.members:
            inner = kinds(member)
            if inner is None:
                return None
            found |= inner
        return found
    if isinstance(value, Scalar):
        return {value.kind}
    return {{Array: "array", Object: "object", Set: "set"}[type(value)]}


def element(value: Type) -> Type:
    """The type of ``x[_]`` for a collection ``x`` (its values)."""
    if isinstance(value, Array):
        return union([*value.items, *_present(value.dynamic)])
    if isinstance(value, Object):
        return union([t for _, t in value.fields] + _present(value.dynamic))
    if isinstance(value, Set):
        return value.element
    if isinstance(value, Union) and value.members:
        return union([element(member) for member in value.members if not isinstance(member, Scalar)])
    return ANY


def _present(value: Type | None) -> list[Type]:
    return [] if value is None else [value]


def key(value: Type) -> Type:
    """The type of ``k`` in ``x[k]`` (indexes of an array, keys of an object, a set's elements)."""
    if isinstance(value, Array):
        return Scalar("number")
    if isinstance(value, Object):
        if value.dynamic is None:
            return Scalar("string") if value.fields else ANY
        return union([*([Scalar("string")] if value.fields else []), value.keys or ANY])
    if isinstance(value, Set):
        return value.element
    return ANY


def select(value: Type, index: object) -> Type:
    """The type of ``x[i]`` for a literal index ``i`` (a string or an integer)."""
    if isinstance(value, Array) and isinstance(index, int) and not isinstance(index, bool):
        if 0 <= index < len(value.items):
            return value.items[index]
        return value.dynamic or ANY
    if isinstance(value, Object) and isinstance(index, str):
        for name, field_type in value.fields:
            if name == index:
                return field_type
        return value.dynamic or ANY
    return element(value)


def has_key(value: Type, index: object) -> bool:
    """Whether a value of this type can have the literal key ``index`` (else OPA's checker
    reports ``undefined ref``): never for a scalar; a non-negative integer for an array, within
    its items when it has no others; a key of the object's (or set's) key type."""
    if isinstance(value, Scalar):
        return False
    if isinstance(value, Array):
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            return False
        return value.dynamic is not None or index < len(value.items)
    if isinstance(value, Object):
        if any(name == index for name, _ in value.fields):
            return True
        return value.dynamic is not None and unifies(of_literal(index), value.keys or ANY)
    if isinstance(value, Set):
        return unifies(of_literal(index), value.element)
    if isinstance(value, Union) and value.members:
        return any(has_key(member, index) for member in value.members)
    return True


def of_literal(value: object) -> Type:
    if isinstance(value, bool):
        return Scalar("boolean")
    if isinstance(value, int | float):
        return Scalar("number")
    if isinstance(value, str):
        return Scalar("string")
    return Scalar("null") if value is None else ANY


def unifies(a: Type | None, b: Type | None) -> bool:
    """Whether OPA's checker lets values of the two types unify (its ``unifies``)."""
    if a is None or b is None:
        return False
    if isinstance(a, Union) and _unifies_union(a, b):
        return True
    if isinstance(b, Union) and _unifies_union(b, a):
        return True
    if isinstance(a, Union) or isinstance(b, Union):
        return False
    if isinstance(a, Scalar):
        return isinstance(b, Scalar) and a.kind == b.kind
    if isinstance(a, Array):
        return isinstance(b, Array) and _unifies_arrays(a, b)
    if isinstance(a, Object):
        return isinstance(b, Object) and _unifies_objects(a, b)
    return isinstance(b, Set) and unifies(a.element, b.element)


def _unifies_union(a: Union, b: Type) -> bool:
    return not a.members or any(unifies(member, b) for member in a.members)


def _array_item(value: Array, index: int) -> Type | None:
    return value.items[index] if index < len(value.items) else value.dynamic


def _unifies_arrays(a: Array, b: Array) -> bool:
    for first, second in ((a, b), (b, a)):
        for index, item in enumerate(first.items):
            if not unifies(item, _array_item(second, index)):
                return False
    return a.dynamic is None or b.dynamic is None or unifies(a.dynamic, b.dynamic)


def _object_field(value: Object, name: str) -> Type | None:
    for field_name, field_type in value.fields:
        if field_name == name:
            return field_type
    return value.dynamic


def _unifies_objects(a: Object, b: Object) -> bool:
    for first, second in ((a, b), (b, a)):
        for name, field_type in first.fields:
            if not unifies(field_type, _object_field(second, name)):
                return False
    if a.dynamic is None or b.dynamic is None:
        return True
    return unifies(a.dynamic, b.dynamic) and unifies(a.keys or ANY, b.keys or ANY)


def describe(value: Type) -> str:
    if value == ANY:
        return "any"
    if isinstance(value, Scalar):
        return value.kind
    if isinstance(value, Array):
        return "array"
    if isinstance(value, Object):
        return "object"
    if isinstance(value, Set):
        return "set"
    return "any<" + ", ".join(describe(member) for member in value.members) + ">"
