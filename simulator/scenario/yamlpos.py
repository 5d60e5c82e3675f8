"""Safe YAML reading that remembers where every key and item came from.

PyYAML's ``safe_load`` silently keeps the last of two equal keys, turns the
region code ``NO`` into ``False`` and expands aliases without bound. This
module composes the node tree with a safe loader and builds plain dicts and
lists itself, so it can refuse duplicate keys, bound alias expansion, keep
``yes``/``no``/``on``/``off`` as strings and record a position for each key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import Problem

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file (line None: not from a file, e.g. ``--set``)."""

    file: str
    line: int | None = None
    col: int | None = None


class PosDict(dict):  # type: ignore[type-arg]
    """A dict that knows where it and each of its keys stand in the source."""

    mark: Mark
    key_marks: dict[Any, Mark]

    def __init__(self, *args: Any, mark: Mark | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.mark = mark or Mark("?")
        self.key_marks = {}


class PosList(list):  # type: ignore[type-arg]
    """A list that knows where it and each of its items stand in the source."""

    mark: Mark
    item_marks: list[Mark]

    def __init__(self, *args: Any, mark: Mark | None = None):
        super().__init__(*args)
        self.mark = mark or Mark("?")
        self.item_marks = []


class _Loader(yaml.SafeLoader):
    """SafeLoader whose booleans are only true/false (so ``NO`` stays Norway)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


_CSafe = getattr(yaml, "CSafeLoader", None)  # libyaml's parser, when PyYAML was built with it
if _CSafe is not None:

    class _CLoader(_CSafe):  # type: ignore[misc, valid-type]
        """libyaml's parser (about 10x faster) with _Loader's booleans; nodes and marks are the same."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML without libyaml
    _CLoader = None


class _Builder:
    def __init__(self, loader: _Loader, name: str):
        self.loader = loader
        self.name = name
        self.count = 0
        self.problems: list[Problem] = []
        self.active: set[int] = set()  # ids of the collection nodes being built

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: str, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort(
                self.mark(node),
                f"more than {MAX_NODES} values after expanding aliases; is an anchor "
                f"referenced too often? (allowed: at most {MAX_NODES} values)",
            )
        if depth > MAX_DEPTH:
            raise _Abort(self.mark(node), f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return self.build_scalar(node, path)
        if id(node) in self.active:
            raise _Abort(
                self.mark(node),
                "recursive alias: this anchored value contains an alias to itself "
                "(allowed: aliases to values defined outside it)",
            )
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.build_mapping(node, path, depth)
            out = PosList(mark=self.mark(node))
            for i, item in enumerate(node.value):
                out.append(self.build(item, f"{path}[{i}]", depth + 1))
                out.item_marks.append(self.mark(item))
            return out
        finally:
            self.active.discard(id(node))

    def build_scalar(self, node: yaml.Node, path: str) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - PyYAML raises ValueError, TypeError, ...
            # An impossible date such as 2025-02-30 stays text; the schema then says
            # "not a date (allowed: YYYY-MM-DD)" at this place.
            if isinstance(exc, ValueError) and node.tag == "tag:yaml.org,2002:timestamp":
                return node.value
            what = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            line, col = _lc(self.mark(node))
            self.problems.append(
                Problem(self.name, line, col, path, f"cannot read the value {node.value!r}: {what}")
            )
            return node.value

    def build_mapping(self, node: yaml.MappingNode, path: str, depth: int) -> PosDict:
        out = PosDict(mark=self.mark(node))
        merged: list[PosDict] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                value = self.build(value_node, path, depth + 1)
                merged.extend(value if isinstance(value, list) else [value])
                continue
            key = self.build(key_node, path, depth + 1)
            if isinstance(key, (dict, list)):
                self.problems.append(
                    Problem(self.name, *_lc(self.mark(key_node)), path, "a key must be a plain value")
                )
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key in out:
                first = out.key_marks[key]
                self.problems.append(
                    Problem(
                        self.name,
                        *_lc(self.mark(key_node)),
                        sub,
                        f"duplicate key {key!r} (first given at line {first.line}; "
                        "each key may appear once in a mapping)",
                    )
                )
                continue
            out[key] = self.build(value_node, sub, depth + 1)
            out.key_marks[key] = self.mark(key_node)
        for m in merged:
            if isinstance(m, PosDict):
                for k, v in m.items():
                    if k not in out:
                        out[k] = v
                        out.key_marks[k] = m.key_marks.get(k, m.mark)
        return out


class _Abort(Exception):
    def __init__(self, mark: Mark, message: str):
        self.mark = mark
        self.message = message


def _lc(mark: Mark) -> tuple[int | None, int | None]:
    return mark.line, mark.col


def read_text(path: Path, shown: str) -> tuple[str | None, list[Problem]]:
    """Read a scenario file as UTF-8 text, refusing huge or non-UTF-8 files."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [Problem(shown, None, None, "", f"cannot read file: {exc.strerror}")]
    if size > MAX_BYTES:
        return None, [
            Problem(
                shown, 1, 1, "",
                f"the file is {size} bytes, too large (allowed: at most {MAX_BYTES})",
            )
        ]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(shown, None, None, "", f"cannot read file: {exc.strerror}")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[start : exc.start].decode("utf-8")) + 1  # characters, not bytes
        return None, [
            Problem(
                shown,
                line,
                col,
                "",
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} "
                "(allowed: UTF-8; save the file as UTF-8)",
            )
        ]


def too_deep(text: str) -> Any:
    """The mark where collections nest deeper than MAX_DEPTH, else None (also for text that does not
    parse: parse() reports that). Walks the parsers' events, which needs no recursion: libyaml's
    first, then PyYAML's where libyaml stops (newer libyaml refuses 1000 levels of flow
    nesting while scanning ahead, before it has handed over the events that show the depth)."""
    for loader in ((_CLoader, _Loader) if _CLoader is not None else (_Loader,)):
        depth = 0
        try:
            for ev in yaml.parse(text, Loader=loader):
                if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    depth += 1
                    if depth > MAX_DEPTH:
                        return ev.start_mark
                elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                    depth -= 1
            return None
        except yaml.YAMLError:
            continue
    return None


def parse(text: str, shown: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text into PosDict/PosList trees; return (document, problems).

    With libyaml the text is composed by its parser; a file it cannot parse is parsed again
    by PyYAML's own, whose syntax messages the error reports (and tests) use.
    """
    deep = too_deep(text)
    if deep is not None:  # before composing: both composers recurse per level (libyaml's in C)
        return None, [Problem(shown, deep.line + 1, deep.column + 1, "",
                              f"nested deeper than {MAX_DEPTH} levels")]
    # libyaml reads tabs as separators and a second BOM as nothing, where PyYAML refuses them
    # or keeps them: such text goes to PyYAML's parser, so a file means the same everywhere
    if _CLoader is not None and "\t" not in text and "\ufeff" not in text[1:]:
        try:
            return _compose(_CLoader, text, shown)
        except yaml.YAMLError:
            pass  # located and worded by the pure-Python parser below
    try:
        return _compose(_Loader, text, shown)
    except RecursionError:  # PyYAML's composer recurses per level (too_deep should have caught it)
        return None, [Problem(shown, None, None, "", f"nested deeper than {MAX_DEPTH} levels")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            where = exc.context
            cm = exc.context_mark
            if cm is not None and (mark is None or cm.line != mark.line):
                where += f" that starts at line {cm.line + 1}"
            what += f" ({where})"
        return None, [Problem(shown, line, col, "", f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(shown, None, None, "", f"YAML error: {exc}")]


def _compose(loader_class: Any, text: str, shown: str) -> tuple[Any, list[Problem]]:
    """Compose ``text`` with one of the loaders and build the PosDict/PosList tree; YAML errors propagate."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(shown, 1, 1, "", "the file is empty; a scenario starts with 'reesim: 1'")]
        builder = _Builder(loader, shown)
        return builder.build(node, ""), builder.problems
    except _Abort as exc:
        return None, [Problem(shown, exc.mark.line, exc.mark.col, "", exc.message)]
    finally:
        loader.dispose()
