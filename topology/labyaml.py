"""A lab file's YAML, read safely: UTF-8 checked, aliases bounded, every path's line kept.

PyYAML builds aliases as shared nodes, so a "billion laughs" file of 552 bytes composes into a small
graph that only blows up when something walks it as a tree (the constructor, the schema validator,
a line map). Here the graph is measured first, in time linear in the file, and a file whose aliases
would expand past ALIAS_BUDGET, nest into themselves, or nest deeper than MAX_DEPTH is refused with
its line, before anything walks it.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import LabFileError

Path_ = tuple[Any, ...]  # a place in the document: keys as the data has them, and list indices
MAX_BYTES = 4 * 1024 * 1024  # 16x a 10,000-host lab; a YAML parser holds ~100x a file's size in memory
MAX_DEPTH = 32  # a lab file nests about 7 deep; the constructor and the validator recurse per level
ALIAS_BUDGET = 100_000  # nodes that aliases may add over those written: shared lists yes, "billion laughs" no


def decode(raw: bytes, filename: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise LabFileError(filename, line, f"byte 0x{raw[e.start]:02x} is not UTF-8; "
                                           f"save the file as UTF-8 (the editor's encoding setting)") from None


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when it is there: 10x faster


def parse(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """The document's data and the line of each path in it; YAML errors and bombs become LabFileErrors."""
    loader = _YamlLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_shape(root, filename)
        data = loader.construct_document(root) if root is not None else None
        lines = _line_map(root, loader, filename)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow, e.g. a control character
        line = text[: e.position].count("\n") + 1 if isinstance(e.position, int) else None
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise LabFileError(filename, line, f"character U+{char:04X} is not allowed in a YAML file; "
                                           f"remove it (inside double quotes, an escape like \\t can stand for it)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise LabFileError(filename, mark.line + 1 if mark else None,
                           f"not valid YAML: {problem} (check the indentation and the brackets there)") from None
    finally:
        loader.dispose()
    return data, lines


def _check_shape(root: yaml.Node, filename: str) -> None:
    """Refuse recursive anchors, nesting too deep to walk, and aliases that expand past ALIAS_BUDGET.

    Walks the composed graph, in which an alias is the very node its anchor names: each node is visited
    once, so this costs time linear in the file however far its aliases would expand.
    """
    size: dict[int, int] = {}  # a node's expanded size, once it is known
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = _children(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            if height[key] > MAX_DEPTH:
                raise LabFileError(filename, node.start_mark.line + 1,
                                   f"the document nests more than {MAX_DEPTH} levels deep; a lab file needs about 7")
            if size[key] > len(size) + ALIAS_BUDGET:
                raise LabFileError(filename, node.start_mark.line + 1,
                                   f"aliases here expand to over {size[key]:,} YAML nodes; a lab file's aliases "
                                   f"may add at most {ALIAS_BUDGET:,} (write the repeated part out, or share less)")
            continue
        if key in size:
            continue
        if key in on_path:
            raise LabFileError(filename, node.start_mark.line + 1,
                               "a recursive anchor: an alias inside the very node its anchor names; "
                               "an alias must refer to a node defined before it, outside it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line_map(root: yaml.Node | None, loader: Any, filename: str) -> dict[Path_, int]:
    """Map each path in the document (keys as the data has them, and list indices) to its 1-based line."""
    out: dict[Path_, int] = {}
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise LabFileError(filename, k.start_mark.line + 1,
                                       "a key here is a list or a mapping; keys are plain names")
                name = loader.construct_object(k)
                if name in seen and name != "<<":
                    what = {("segments",): "segment", ("nodes",): "node"}.get(path, "key")
                    raise LabFileError(filename, k.start_mark.line + 1,
                                       f"{what} {name!r} is defined twice (first at line {seen[name]}); "
                                       f"rename or merge one of them")
                seen[name] = k.start_mark.line + 1
                out[path + (name,)] = k.start_mark.line + 1  # a key's own line, not its value's
                stack.append((v, path + (name,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return out
