"""Lab files: YAML checked against a JSON schema, errors pointing at the line, parsed into a `Lab`."""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema

from .addressing import complete
from .errors import LabFileError
from .labyaml import MAX_BYTES, Path_, decode, parse
from .linksettings import Delay, Rate, parse_loss, parse_mtu
from .model import Interface, Lab, Node, Route, Segment, ServiceRef

LABS_DIR = Path(__file__).parent / "labs"


def schema() -> dict:
    return json.loads(resources.files("topology").joinpath("schema/lab.schema.json").read_text())


def find_lab_file(ref: str) -> Path:
    """A path, or the name of a lab shipped under topology/labs/."""
    p = Path(ref)
    if p.is_file():
        return p
    shipped = LABS_DIR / f"{ref}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(f.stem for f in LABS_DIR.glob("*.yaml")))
    raise LabFileError(ref, None, f"no such lab file; give a path or one of: {names}")


# Made by the kernel in each new network namespace: the loopback, and the fallback device of each
# tunnel module that is loaded (sit, ipip, gre, ...); a veth of that name could not be made.
KERNEL_NAMES = frozenset({"lo", "tunl0", "sit0", "gre0", "gretap0", "erspan0", "ip6tnl0", "ip6gre0"})
MAX_NODES = 65536  # automatic MACs number nodes in two bytes


def load(ref: str | Path) -> Lab:
    """A lab from a path, a shipped lab's name, or `-` (standard input)."""
    if str(ref) == "-":
        import sys

        return loads(sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>")
    path = find_lab_file(str(ref))
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise LabFileError(str(path), None, f"cannot read it: {e.strerror}") from None
    return loads(raw, str(path), source=path.resolve())


def loads(text: str | bytes, filename: str = "<lab>", source: Path | None = None) -> Lab:
    """A lab from the text of a lab file (bytes are read as UTF-8); any mistake is a LabFileError."""
    if len(text) > MAX_BYTES:
        raise LabFileError(filename, None, f"the file is larger than {MAX_BYTES // 2**20} MiB; "
                                           f"a lab file this big is a mistake (or an attack)")
    if isinstance(text, bytes):
        text = decode(text, filename)
    data, lines = parse(text, filename)
    if not isinstance(data, dict):
        raise LabFileError(filename, 1, "a lab file is a mapping with `segments:` and `nodes:`")

    def line(path: Path_) -> int | None:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path)

    # By line; at one place a stray key (a typo) explains the missing one it causes, so it comes first.
    errors = sorted(_validator().iter_errors(data), key=lambda e: (line(tuple(e.absolute_path)) or 0,
                                                                   e.validator != "additionalProperties"))
    if errors:
        e = _deepest(errors[0])
        where = tuple(e.absolute_path)
        if e.validator == "additionalProperties":  # point at the stray key itself
            where += tuple(sorted(set(e.instance) - set(e.schema.get("properties", {}))))[:1]
        elif "propertyNames" in e.absolute_schema_path:  # point at the badly named key
            where += (e.instance,)
        raise LabFileError(filename, line(where), _explain(e))
    return _build(data, filename, source, line)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return _Validator(schema())


def _pattern(validator, pattern: str, instance: object, schema: dict):
    """JSON Schema's `pattern`, with its ECMA-262 meaning of `$`: the end of the string.

    Python's `$` also matches before a final newline, which let `"h1\n"` pass as a node name.
    """
    if validator.is_type(instance, "string") and not re.search(_ecma_end(pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _ecma_end(pattern: str) -> str:
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    # oneOf errors hide the useful message in a sub-error: pick the one that got furthest.
    if err.context:
        return _deepest(max(err.context, key=lambda e: len(e.absolute_path)))
    return err


def _explain(e: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in e.absolute_path) or "the top level"
    v = e.validator
    if v == "additionalProperties":
        extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        allowed = ", ".join(sorted(e.schema.get("properties", {})))
        guess = difflib.get_close_matches(str(extra[0]), list(e.schema.get("properties", {})), n=1)
        if guess:
            return f"unknown key {extra[0]!r} in {where}; did you mean {guess[0]!r}? (allowed keys are: {allowed})"
        return f"unknown key {', '.join(map(repr, extra))} in {where}; allowed keys are: {allowed}"
    if v == "required":
        return f"{where} is missing {e.message.split(' is a required')[0]}; add it"
    if v == "enum":
        return f"{where} is {_short(e.instance)}; use one of: {', '.join(map(str, e.validator_value))}"
    if "propertyNames" in e.absolute_schema_path and not isinstance(e.instance, str):
        what = {"segments": "segment", "nodes": "node"}.get(where, "key")
        if isinstance(e.instance, bool):  # yes, no, on, off, true, false
            return f"{what} name {_short(e.instance)}: YAML reads this word as true or false; put the name in quotes"
        return (f"{what} name {_short(e.instance)} is {_yaml_word(type(e.instance).__name__)}, not a name; "
                f"a name starts with a letter, then lower-case letters, digits and '-'")
    if v == "pattern" and e.validator_value == "^[a-z][a-z0-9-]{0,14}$":
        return f"{where}: {_short(e.instance)} is not a valid segment name; use lower-case letters, digits and '-', at most 15 characters, starting with a letter"
    if v == "pattern" and e.validator_value == "^[a-z][a-z0-9-]{0,30}$":
        return f"{where}: {_short(e.instance)} is not a valid name; use lower-case letters, digits and '-', starting with a letter"
    if v == "pattern":
        hints = {
            "rate": "write it like 10mbit, 512kbit or 1gbit",
            "delay": "write it like 20ms",
            "loss": "write it like 1%",
            "subnet": "write it like 10.0.1.0/24",
            "address": "write an IPv4 address (10.0.1.5 or 10.0.1.5/24) or `dhcp`",
            "domain": "write a domain name, like lab.test (letters, digits, '-' and dots)",
            "args": "an argument is one line of printable characters (no newline, tab or other control character)",
            "name": "use lower-case letters, digits and '-', starting with a letter",
            "mac": "write a MAC address like 02:00:00:00:00:01 (lower-case hex)",
            "services": "a service's name is lower-case letters, digits and '-' (the README lists them)",
        }
        key = next((str(p) for p in reversed(e.absolute_path) if isinstance(p, str)), "")
        return f"{where} is {_short(e.instance)}; {hints.get(key, 'it must match ' + e.validator_value)}"
    if v in ("minimum", "maximum"):
        return f"{where} is {e.instance}; it must be {'at least' if v == 'minimum' else 'at most'} {e.validator_value}"
    if v in ("minItems", "maxItems"):
        return (f"{where} has {len(e.instance)} items; it takes {'at least' if v == 'minItems' else 'at most'} "
                f"{e.validator_value}")
    if v == "type":
        if e.instance is None:
            return f"{where} is empty; expected {_yaml_word(e.validator_value)} (check the indentation below it)"
        return (f"{where} is {_yaml_word(type(e.instance).__name__)} {_short(e.instance)}; "
                f"expected {_yaml_word(e.validator_value)}")
    return f"{where}: {_short(e.message, 200)}"


def _short(value: object, limit: int = 60) -> str:
    """A value for a one-line message: its repr, cut short (the whole of a list could be thousands of lines)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _yaml_word(kind: object) -> str:
    words = {"object": "a mapping (key: value lines)", "dict": "a mapping", "array": "a list", "list": "a list",
             "string": "a string", "str": "a string", "integer": "a whole number", "int": "a whole number",
             "number": "a number", "float": "a number", "boolean": "true or false", "bool": "true or false",
             "NoneType": "empty"}
    if isinstance(kind, list):
        return " or ".join(words.get(k, k) for k in kind)
    return words.get(str(kind), str(kind))


def _build(data: dict, filename: str, source: Path | None, line) -> Lab:
    def fail(path: Path_, msg: str):
        raise LabFileError(filename, line(path), msg)

    if len(data["nodes"]) > MAX_NODES:
        fail(("nodes",), f"{len(data['nodes']):,} nodes; a lab holds at most {MAX_NODES:,} (each needs MACs of its own)")
    segments: dict[str, Segment] = {}
    for idx, (name, s) in enumerate(data["segments"].items()):
        try:
            subnet = ipaddress.IPv4Network(s["subnet"], strict=False)
        except ValueError as err:
            fail(("segments", name, "subnet"), f"segment {name}: subnet {s['subnet']!r} is not valid ({err})")
        if subnet.prefixlen > 30:
            fail(("segments", name, "subnet"), f"segment {name}: subnet {subnet} is too small; use /30 or larger")
        if name in KERNEL_NAMES:  # a segment is a bridge of that name
            fail(("segments", name), f"segment name {name!r} is one the kernel gives an interface of its own "
                                     f"(the loopback, or a tunnel module's fallback device); pick another name")
        seg = Segment(name=name, subnet=subnet, kind=s.get("kind", "switch"), index=idx)
        for key, read in (("mtu", parse_mtu), ("rate", Rate.parse), ("delay", Delay.parse), ("loss", parse_loss)):
            if key in s:
                try:
                    setattr(seg, key, read(s[key]))
                except ValueError as err:
                    fail(("segments", name, key), f"segment {name}: {key} {err}")
        if seg.delay is not None and seg.delay.microseconds == 0:
            seg.delay = None  # nothing to emulate, and no netem needed for it
        segments[name] = seg
    _check_overlaps(segments, fail)

    known_services = _known_services()
    nodes: dict[str, Node] = {}
    for nidx, (name, n) in enumerate(data["nodes"].items()):
        node = Node(name=name, kind=n.get("kind", "host"), index=nidx, host=n.get("host"))
        used_names: set[str] = set()
        for iidx, spec in enumerate(n["interfaces"]):
            p = ("nodes", name, "interfaces", iidx)
            if isinstance(spec, str):
                spec = {"segment": spec}
            seg = spec["segment"]
            if seg not in segments:
                fail(p, f"node {name}: interface on unknown segment {seg!r}; define it under `segments:` "
                        f"(known: {', '.join(segments)})")
            if node.interface_on(seg):
                fail(p, f"node {name}: two interfaces on segment {seg}; a node joins a segment once")
            iname = spec.get("name", f"eth{iidx}")
            if iname in used_names:
                fail(p, f"node {name}: interface name {iname!r} is used twice")
            if iname in KERNEL_NAMES:
                fail(p, f"node {name}: interface name {iname!r} is one the kernel makes in every namespace "
                        f"(the loopback, or a tunnel module's fallback device); pick another")
            used_names.add(iname)
            iface = Interface(name=iname, segment=seg, index=iidx, mac=spec.get("mac"))
            addr = spec.get("address")
            if addr == "dhcp":
                iface.dhcp = True
            elif addr:
                iface.address = _address(addr, segments[seg], lambda m, p=p: fail(p + ("address",), m), name)
            node.interfaces.append(iface)
        gw = n.get("gateway")
        if gw is not None:
            node.gateway_ref = gw
        for ridx, r in enumerate(n.get("routes", [])):
            p = ("nodes", name, "routes", ridx)
            try:
                to = ipaddress.IPv4Network(r["to"], strict=False)
            except ValueError as err:
                fail(p + ("to",), f"node {name}: route destination {r['to']!r} is not a network ({err})")
            node.routes.append(Route(to=to, via=_via(r["via"], p + ("via",), fail, name)))
        for sidx, sv in enumerate(n.get("services", [])):
            if isinstance(sv, str):
                sv = {"name": sv}
            if known_services and sv["name"] not in known_services:
                close = difflib.get_close_matches(sv["name"], known_services, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                fail(("nodes", name, "services", sidx),
                     f"node {name}: unknown service {sv['name']!r}; {hint}known: {', '.join(sorted(known_services))}")
            node.services.append(ServiceRef(name=sv["name"], args=[str(a) for a in sv.get("args", [])],
                                            restart=sv.get("restart")))
        nodes[name] = node

    lab = Lab(
        name=data.get("name") or _name_from(filename),
        segments=segments,
        nodes=nodes,
        description=data.get("description", ""),
        source=source,
        ipv6=bool(data.get("ipv6", False)),
        dns=[_dns_server(a, ("dns", i), fail) for i, a in enumerate(data.get("dns", []))],
        domain=data.get("domain"),
    )
    complete(lab, lambda path, msg: fail(path, msg))
    _check_macs(lab, fail)
    return lab


def _check_macs(lab: Lab, fail) -> None:
    """A written MAC must be one a host may have: unicast, not zero, and alone on its segment."""
    seen: dict[tuple[str, str], str] = {}
    for node in lab.nodes.values():
        for iface in node.interfaces:
            assert iface.mac is not None
            path = ("nodes", node.name, "interfaces", iface.index, "mac")
            if int(iface.mac[:2], 16) & 1 or iface.mac == "00:00:00:00:00:00":
                fail(path, f"node {node.name}: MAC {iface.mac} is a multicast or zero address, which no interface "
                           f"may have; make the first byte even, like 02:...")
            if (iface.segment, iface.mac) in seen:
                fail(path, f"node {node.name}: MAC {iface.mac} is already {seen[iface.segment, iface.mac]}'s "
                           f"on segment {iface.segment}; each interface on a segment needs its own")
            seen[iface.segment, iface.mac] = node.name


def _check_overlaps(segments: dict[str, Segment], fail) -> None:
    """Every segment needs a subnet of its own: sorted by address, an overlap is always with a neighbour."""
    by_address = sorted(segments.values(), key=lambda s: (s.subnet.network_address, s.subnet.prefixlen))
    widest: Segment | None = None  # of those so far, the one reaching furthest
    for seg in by_address:
        if widest is not None and seg.subnet.network_address <= widest.subnet.broadcast_address:
            a, b = sorted((widest, seg), key=lambda s: s.index)  # name the later one, at its line
            fail(("segments", b.name, "subnet"),
                 f"segment {b.name}: subnet {b.subnet} overlaps segment {a.name}'s {a.subnet}; "
                 f"every segment needs a subnet of its own")
        if widest is None or seg.subnet.broadcast_address > widest.subnet.broadcast_address:
            widest = seg


def _dns_server(text: str, path: Path_, fail) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        fail(path, f"dns: {text!r} is not an IPv4 address; list name servers by address, like 10.0.3.53")


def _known_services() -> list[str]:
    """Names from the service registry; empty (no check) when no services are installed."""
    from .registry import registry

    return list(registry())


def _address(text: str, seg: Segment, fail, node: str) -> ipaddress.IPv4Interface:
    try:
        ip = ipaddress.IPv4Interface(text if "/" in text else f"{text}/{seg.subnet.prefixlen}")
    except ValueError as err:
        fail(f"node {node}: address {text!r} is not valid ({err})")
    if ip.network != seg.subnet:
        fail(f"node {node}: address {text} is not in segment {seg.name}'s subnet {seg.subnet}")
    if ip.ip in (seg.subnet.network_address, seg.subnet.broadcast_address):
        fail(f"node {node}: address {ip.ip} is the network or broadcast address of {seg.subnet}")
    return ip


def _via(text: str, path: Path_, fail, node: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        fail(path, f"node {node}: route gateway {text!r} is not an IPv4 address")


def _name_from(filename: str) -> str:
    stem = Path(filename).stem.lower()
    name = re.sub(r"[^a-z0-9-]", "-", stem).strip("-") or "lab"
    name = name if name[0].isalpha() else f"lab-{name}"
    return name[:31].rstrip("-")  # as long as a `name:` may be
