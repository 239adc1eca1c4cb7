"""Lab files: YAML checked against a JSON schema, errors pointing at the line, parsed into a `Lab`."""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .addressing import complete
from .errors import LabFileError
from .model import Interface, Lab, Node, Route, Segment, ServiceRef

LABS_DIR = Path(__file__).parent / "labs"
Path_ = tuple[Any, ...]


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


def load(ref: str | Path) -> Lab:
    """A lab from a path, a shipped lab's name, or `-` (standard input)."""
    if str(ref) == "-":
        import sys

        return loads(sys.stdin.read(), "<stdin>")
    path = find_lab_file(str(ref))
    return loads(path.read_text(), str(path), source=path.resolve())


def loads(text: str, filename: str = "<lab>", source: Path | None = None) -> Lab:
    try:
        data = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise LabFileError(filename, mark.line + 1 if mark else None,
                           f"not valid YAML: {problem} (check the indentation and the brackets there)") from None
    except _Duplicate as d:
        raise LabFileError(filename, d.line, d.message) from None
    if not isinstance(data, dict):
        raise LabFileError(filename, 1, "a lab file is a mapping with `segments:` and `nodes:`")

    def line(path: Path_) -> int | None:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path)

    validator = jsonschema.Draft202012Validator(schema())
    # By line; at one place a stray key (a typo) explains the missing one it causes, so it comes first.
    errors = sorted(validator.iter_errors(data), key=lambda e: (line(tuple(e.absolute_path)) or 0,
                                                                e.validator != "additionalProperties"))
    if errors:
        e = _deepest(errors[0])
        where = tuple(e.absolute_path)
        if e.validator == "additionalProperties":  # point at the stray key itself
            where += tuple(sorted(set(e.instance) - set(e.schema.get("properties", {}))))[:1]
        raise LabFileError(filename, line(where), _explain(e))
    return _build(data, filename, source, line)


class _Duplicate(Exception):
    def __init__(self, line: int, message: str):
        self.line, self.message = line, message


def _line_map(node: yaml.Node | None, path: Path_ = ()) -> dict[Path_, int]:
    """Map each path in the document (keys and list indices) to its 1-based line."""
    out: dict[Path_, int] = {}
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for k, v in node.value:
            if k.value in seen:
                what = {("segments",): "segment", ("nodes",): "node"}.get(path, "key")
                raise _Duplicate(k.start_mark.line + 1,
                                 f"{what} {k.value!r} is defined twice (first at line {seen[k.value]}); "
                                 f"rename or merge one of them")
            seen[k.value] = k.start_mark.line + 1
            sub = _line_map(v, path + (k.value,))
            sub[path + (k.value,)] = k.start_mark.line + 1  # a key's own line, not its value's
            out.update(sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_line_map(v, path + (i,)))
    return out


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
        return f"{where} is {e.instance!r}; use one of: {', '.join(map(str, e.validator_value))}"
    if v == "pattern" and e.validator_value == "^[a-z][a-z0-9-]{0,14}$":
        return f"{where}: {e.instance!r} is not a valid segment name; use lower-case letters, digits and '-', at most 15 characters, starting with a letter"
    if v == "pattern" and e.validator_value == "^[a-z][a-z0-9-]{0,30}$":
        return f"{where}: {e.instance!r} is not a valid name; use lower-case letters, digits and '-', starting with a letter"
    if v == "propertyNames":
        return f"{where}: {e.message}"
    if v == "pattern":
        hints = {
            "rate": "write it like 10mbit, 512kbit or 1gbit",
            "delay": "write it like 20ms",
            "loss": "write it like 1%",
            "subnet": "write it like 10.0.1.0/24",
            "address": "write an IPv4 address (10.0.1.5 or 10.0.1.5/24) or `dhcp`",
        }
        key = next((str(p) for p in reversed(e.absolute_path) if isinstance(p, str)), "")
        return f"{where} is {e.instance!r}; {hints.get(key, 'it must match ' + e.validator_value)}"
    if v in ("minimum", "maximum"):
        return f"{where} is {e.instance}; {e.message}"
    if v == "type":
        if e.instance is None:
            return f"{where} is empty; expected {_yaml_word(e.validator_value)} (check the indentation below it)"
        return (f"{where} is {_yaml_word(type(e.instance).__name__)} {e.instance!r}; "
                f"expected {_yaml_word(e.validator_value)}")
    return f"{where}: {e.message}"


def _yaml_word(kind: object) -> str:
    words = {"object": "a mapping (key: value lines)", "dict": "a mapping", "array": "a list", "list": "a list",
             "string": "a string", "str": "a string", "integer": "a whole number", "int": "a whole number",
             "number": "a number", "float": "a number", "boolean": "true or false", "bool": "true or false"}
    if isinstance(kind, list):
        return " or ".join(words.get(k, k) for k in kind)
    return words.get(str(kind), str(kind))


def _build(data: dict, filename: str, source: Path | None, line) -> Lab:
    def fail(path: Path_, msg: str):
        raise LabFileError(filename, line(path), msg)

    segments: dict[str, Segment] = {}
    for idx, (name, s) in enumerate(data["segments"].items()):
        try:
            subnet = ipaddress.IPv4Network(s["subnet"], strict=False)
        except ValueError as err:
            fail(("segments", name, "subnet"), f"segment {name}: subnet {s['subnet']!r} is not valid ({err})")
        if subnet.prefixlen > 30:
            fail(("segments", name, "subnet"), f"segment {name}: subnet {subnet} is too small; use /30 or larger")
        loss = s.get("loss")
        if isinstance(loss, str):
            loss = float(loss.rstrip("%"))
        segments[name] = Segment(
            name=name, subnet=subnet, kind=s.get("kind", "switch"), mtu=s.get("mtu", 1500),
            rate=s.get("rate"), delay=s.get("delay"), loss=loss, index=idx,
        )

    for a, b in itertools.combinations(segments.values(), 2):
        if a.subnet.overlaps(b.subnet):
            fail(("segments", b.name, "subnet"),
                 f"segment {b.name}: subnet {b.subnet} overlaps segment {a.name}'s {a.subnet}; "
                 f"every segment needs a subnet of its own")

    known_services = _known_services()
    nodes: dict[str, Node] = {}
    for nidx, (name, n) in enumerate(data["nodes"].items()):
        node = Node(name=name, kind=n.get("kind", "host"), index=nidx)
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
            if iname in used_names or iname == "lo":
                fail(p, f"node {name}: interface name {iname!r} is used twice")
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
        dns=[ipaddress.IPv4Address(a) for a in data.get("dns", [])],
        domain=data.get("domain"),
    )
    complete(lab, lambda path, msg: fail(path, msg))
    return lab


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
    return name if name[0].isalpha() else f"lab-{name}"
