"""``extends:`` overlays and ``--set`` overrides on position-aware documents."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import Problem, UsageError
from .yamlpos import Mark, PosDict, PosList, parse, read_text

#: Sections whose mapping keys are ids (``remove:`` deletes from them).
ID_SECTIONS = ("regions", "products", "facilities", "markets", "stockpiles", "recyclers")
#: Sections that are lists of items with ids.
LIST_SECTIONS = ("links", "events")


def item_key(item: Any) -> str | None:
    """Merge key of a list item: its ``id``, or ``from>to:product`` for a link."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("id"), str):
        return item["id"]
    if all(isinstance(item.get(k), str) for k in ("from", "to", "product")):
        return f"{item['from']}>{item['to']}:{item['product']}"
    return None


def merge(base: Any, over: Any) -> Any:
    """Overlay ``over`` on ``base``: mappings by key, lists of id'd items by id, else replace."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = PosDict(mark=getattr(over, "mark", None))
        base_marks = getattr(base, "key_marks", {})
        over_marks = getattr(over, "key_marks", {})
        for k, v in base.items():
            out[k] = v
            if k in base_marks:
                out.key_marks[k] = base_marks[k]
        for k, v in over.items():
            out[k] = merge(out[k], v) if k in out else v
            if k in over_marks:
                out.key_marks[k] = over_marks[k]
        return out
    if isinstance(base, list) and isinstance(over, list):
        bkeys = [item_key(x) for x in base]
        okeys = [item_key(x) for x in over]
        if all(k is not None for k in bkeys + okeys):
            out_l = PosList(mark=getattr(over, "mark", None))
            bmarks = getattr(base, "item_marks", [])
            omarks = getattr(over, "item_marks", [])
            index: dict[str, int] = {}
            for i, (k, item) in enumerate(zip(bkeys, base)):
                index[k] = len(out_l)  # type: ignore[index]
                out_l.append(item)
                out_l.item_marks.append(bmarks[i] if i < len(bmarks) else out_l.mark)
            for i, (k, item) in enumerate(zip(okeys, over)):
                m = omarks[i] if i < len(omarks) else out_l.mark
                if k in index:
                    j = index[k]  # type: ignore[index]
                    out_l[j] = merge(out_l[j], item)
                    out_l.item_marks[j] = m
                else:
                    index[k] = len(out_l)  # type: ignore[index]
                    out_l.append(item)
                    out_l.item_marks.append(m)
            return out_l
    return over


def apply_remove(doc: PosDict, ids: list[Any]) -> list[str]:
    """Delete ids from every id section and list section, and links touching them.

    Returns the ids that were not found anywhere.
    """
    wanted = {i for i in ids if isinstance(i, str)}
    found: set[str] = set()
    for sec in ID_SECTIONS:
        d = doc.get(sec)
        if isinstance(d, dict):
            for k in list(d):
                if k in wanted:
                    del d[k]
                    found.add(k)
    for sec in LIST_SECTIONS:
        lst = doc.get(sec)
        if isinstance(lst, PosList):
            keep = PosList(mark=lst.mark)
            for i, item in enumerate(lst):
                k = item_key(item)
                touches = isinstance(item, dict) and (
                    item.get("from") in wanted or item.get("to") in wanted
                ) and sec == "links"
                if k in wanted or touches:
                    if k in wanted:
                        found.add(k)  # type: ignore[arg-type]
                    continue
                keep.append(item)
                keep.item_marks.append(lst.item_marks[i] if i < len(lst.item_marks) else lst.mark)
            doc[sec] = keep
    return sorted(wanted - found)


def load_document(path: Path, problems: list[Problem], _stack: tuple[Path, ...] = ()) -> Any:
    """Load a file and everything it ``extends``, merged; problems are appended."""
    shown = _shown(path)
    resolved = path.resolve()
    if resolved in _stack:
        chain = " -> ".join(_shown(p) for p in (*_stack, resolved))
        problems.append(Problem(shown, None, None, "extends", f"extends cycle: {chain}"))
        return None
    text, probs = read_text(path, shown)
    problems.extend(probs)
    if text is None:
        return None
    doc, probs = parse(text, shown)
    problems.extend(probs)
    if not isinstance(doc, PosDict):
        if doc is not None:
            problems.append(
                Problem(shown, 1, 1, "", "a scenario must be a mapping of keys (reesim: 1, name: ...)")
            )
        return None
    parents = doc.get("extends")
    if parents is None:
        if "remove" in doc:
            m = doc.key_marks.get("remove", doc.mark)
            problems.append(
                Problem(shown, m.line, m.col, "remove", "remove deletes from parents; this file has no extends")
            )
        return doc
    mark = doc.key_marks.get("extends", doc.mark)
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        problems.append(
            Problem(shown, mark.line, mark.col, "extends", "extends takes a file name or a list of them")
        )
        return doc
    base: Any = None
    for rel in parents:
        ppath = path.parent / rel
        if not ppath.is_file():
            problems.append(
                Problem(
                    shown,
                    mark.line,
                    mark.col,
                    "extends",
                    f"parent file {rel!r} not found (looked at {_shown(ppath)})",
                )
            )
            continue
        pdoc = load_document(ppath, problems, (*_stack, resolved))
        if isinstance(pdoc, PosDict):
            base = _copy_marks(pdoc) if base is None else merge(base, pdoc)
    if base is None:
        return doc
    out = merge(base, doc)
    out.pop("extends", None)
    _do_remove(out, doc, problems)
    out.pop("remove", None)
    return out


def _copy_marks(d: PosDict) -> PosDict:
    out = PosDict(d, mark=d.mark)
    out.key_marks = dict(d.key_marks)
    out.pop("extends", None)
    out.pop("remove", None)
    return out


def _do_remove(out: PosDict, child: PosDict, problems: list[Problem]) -> None:
    ids = child.get("remove")
    if ids is None:
        return
    mark = child.key_marks.get("remove", child.mark)
    if not isinstance(ids, list):
        problems.append(Problem(mark.file, mark.line, mark.col, "remove", "remove takes a list of ids"))
        return
    for missing in apply_remove(out, ids):
        problems.append(
            Problem(mark.file, mark.line, mark.col, "remove", f"nothing with id {missing!r} to remove")
        )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- --set


def apply_set(doc: PosDict, assignment: str) -> None:
    """Apply one ``PATH=VALUE`` override in place (VALUE is read as YAML).

    Raises
    ------
    UsageError
        If the assignment has no ``=``, or the path does not lead anywhere.
    """
    if "=" not in assignment:
        raise UsageError(f"--set {assignment!r}: expected PATH=VALUE, e.g. facilities.sep_my.capacity=15000")
    path, raw = assignment.split("=", 1)
    parts = [p for p in path.strip().split(".")]
    if not parts or any(not p for p in parts):
        raise UsageError(f"--set {assignment!r}: empty part in path {path!r}")
    try:
        value = yaml.load(raw, Loader=_value_loader()) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise UsageError(f"--set {assignment!r}: cannot read value {raw!r}: {exc}") from None
    mark = Mark(f"--set {assignment}")
    node: Any = doc
    walked: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if last:
                node[part] = value
                if isinstance(node, PosDict):
                    node.key_marks[part] = mark
                return
            if part not in node:
                raise UsageError(_no_such(assignment, walked, part, [str(k) for k in node]))
            node = node[part]
        elif isinstance(node, list):
            keys = [item_key(x) for x in node]
            if part in keys:
                j = keys.index(part)
            elif part.isdigit() and int(part) < len(node):
                j = int(part)
            else:
                raise UsageError(_no_such(assignment, walked, part, [k for k in keys if k]))
            if last:
                node[j] = value
                if isinstance(node, PosList):
                    node.item_marks[j] = mark
                return
            node = node[j]
        else:
            raise UsageError(
                f"--set {assignment!r}: {'.'.join(walked) or 'the document'} is a value, "
                f"not a mapping; cannot go into {part!r}"
            )
        walked.append(part)


def _no_such(assignment: str, walked: list[str], part: str, choices: list[str]) -> str:
    where = ".".join(walked) or "the top level"
    hint = difflib.get_close_matches(part, choices, n=1)
    msg = f"--set {assignment!r}: {where} has no {part!r}"
    if hint:
        msg += f" (did you mean {hint[0]!r}?)"
    elif choices:
        shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
        msg += f" (there: {shown})"
    return msg


def _value_loader() -> type:
    from .yamlpos import _Loader

    return _Loader
