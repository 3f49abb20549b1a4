"""The ``net.cidr_*`` builtins regorus lacks, with Go's ``net`` parsing as OPA uses it (topdown/cidr.go)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

from ext_proc.policy.builtins.encoding import BuiltinError, require_string

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> Address | None:
    """Go's net.ParseIP: dotted IPv4 or IPv6 text (no zone, no prefix); IPv4-mapped IPv6 is IPv4."""
    if "%" in text or "/" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_cidr(text: str) -> Network:
    """Go's net.ParseCIDR: an address and a decimal prefix length; the network is masked."""
    address, slash, prefix = text.partition("/")
    ip = parse_ip(address)
    if not slash or ip is None or not prefix.isdigit() or (len(prefix) > 1 and prefix[0] == "0"):
        raise BuiltinError(f"invalid CIDR address: {text}")
    length = int(prefix)
    mapped = ":" in address and isinstance(ip, ipaddress.IPv4Address)
    if mapped:
        # An IPv4-mapped IPv6 prefix counts its length over 128 bits.
        if length < 96 or length > 128:
            raise BuiltinError(f"invalid CIDR address: {text}")
        length -= 96
    if length > ip.max_prefixlen:
        raise BuiltinError(f"invalid CIDR address: {text}")
    return ipaddress.ip_network((ip, length), strict=False)


def _network_operand(value: Any) -> Network:
    return parse_cidr(require_string(value, 1, "net.cidr"))


def cidr_intersects(a: Any, b: Any) -> bool:
    first, second = _network_operand(a), _network_operand(b)
    return _contains(first, second.network_address) or _contains(second, first.network_address)


def _contains(network: Network, address: Address) -> bool:
    return network.version == address.version and address in network


def cidr_contains(cidr: Any, other: Any) -> bool:
    network = _network_operand(cidr)
    text = require_string(other, 2, "net.cidr_contains")
    ip = parse_ip(text)
    if ip is not None:
        return _contains(network, ip)
    try:
        inner = parse_cidr(text)
    except BuiltinError:
        raise BuiltinError(f"not a valid textual representation of an IP address or CIDR: {text}") from None
    return _contains(network, inner.network_address) and _contains(network, inner.broadcast_address)


def _match_term(value: Any, operand: int) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and value:
        return value[0]
    raise BuiltinError(f"operand {operand}: element must be string or non-empty array")


def _match_operand(value: Any, operand: int) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, str):
        yield value, value
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield _match_term(item, operand), index
    elif isinstance(value, set | frozenset):
        for item in value:
            yield _match_term(item, operand), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield _match_term(item, operand), key


def cidr_contains_matches(cidrs: Any, candidates: Any) -> set[tuple[Any, Any]]:
    found = set()
    for cidr, first in _match_operand(cidrs, 1):
        for candidate, second in _match_operand(candidates, 2):
            if cidr_contains(cidr, candidate):
                found.add((_hashable(first), _hashable(second)))
    return found


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# -- net.cidr_merge: OPA's algorithm (sort ranges by last then first address, merge adjacent) ---


def _merge_network(value: Any) -> tuple[int, int, int, str | None]:
    """(version, first, last, text if kept unmerged) for one element of net.cidr_merge's operand."""
    if not isinstance(value, str):
        raise BuiltinError("element must be string")
    ip = parse_ip(value)
    if ip is None:
        network = parse_cidr(value)
        first, last = int(network.network_address), int(network.broadcast_address)
        return network.version, first, last, str(network)
    if ip.version == 6:
        raise BuiltinError("IPv6 invalid: needs prefix length")
    # Go gives a bare IPv4 address its classful default mask, unmasked: 10.0.0.1 -> 10.0.0.1/8.
    length = _default_mask(ip)
    span = (1 << (32 - length)) - 1
    first = int(ip) & ~span
    return 4, first, first | span, f"{ip}/{length}"


def _default_mask(ip: ipaddress.IPv4Address) -> int:
    top = int(ip) >> 24
    if top < 0x80:
        return 8
    if top < 0xC0:
        return 16
    return 24


def cidr_merge(addresses: Any) -> set[str]:
    if not isinstance(addresses, list | tuple | set | frozenset):
        raise BuiltinError("operand must be an array")
    items = list(addresses)
    ranges = [_merge_network(item) for item in items]
    merged: set[str] = set()
    for version in (4, 6):
        merged |= _merge_ranges([r for r in ranges if r[0] == version], version)
    return merged


def _merge_ranges(ranges: list[tuple[int, int, int, str | None]], version: int) -> set[str]:
    ordered = sorted(ranges, key=lambda r: (r[2], r[1]))
    index = len(ordered) - 1
    while index > 0:
        current, previous = ordered[index], ordered[index - 1]
        if current[1] - 1 <= previous[2]:
            ordered[index - 1] = (version, min(previous[1], current[1]), current[2], None)
            del ordered[index]
        index -= 1
    result = set()
    for _, first, last, text in ordered:
        if text is not None:
            result.add(text)
        else:
            start = ipaddress.ip_address(first) if version == 4 else ipaddress.IPv6Address(first)
            end = ipaddress.ip_address(last) if version == 4 else ipaddress.IPv6Address(last)
            result.update(str(n) for n in ipaddress.summarize_address_range(start, end))
    return result


EXTENSIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "net.cidr_intersects": (2, cidr_intersects),
    "net.cidr_contains_matches": (2, cidr_contains_matches),
    "net.cidr_merge": (1, cidr_merge),
}
