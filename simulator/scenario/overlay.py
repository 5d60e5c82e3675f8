"""``extends:`` overlays and ``--set`` overrides on position-aware documents."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import Problem, UsageError
from .errors import model_fields_at
from .models import Scenario
from .yamlpos import MAX_DEPTH, Mark, PosDict, PosList, parse, read_text, too_deep

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
                touches = (
                    sec == "links"
                    and isinstance(item, dict)
                    and any(isinstance(item.get(e), str) and item[e] in wanted for e in ("from", "to"))
                )
                if k in wanted or touches:
                    if k in wanted:
                        found.add(k)  # type: ignore[arg-type]
                    continue
                keep.append(item)
                keep.item_marks.append(lst.item_marks[i] if i < len(lst.item_marks) else lst.mark)
            doc[sec] = keep
    return sorted(wanted - found)


#: keys only a whole scenario has: a ``sweep:`` file without them is a sweep file
CORE_KEYS = frozenset({"horizon", "regions", "products", "facilities", "links"})
#: top-level keys of a scenario (a parent used as a fragment may hold any of them and no ``reesim:``)
SCENARIO_KEYS = frozenset(f.alias or n for n, f in Scenario.model_fields.items()) - {"reesim"}
#: keys of a summary.json, which no scenario has: without ``reesim:`` it is a results file
RESULT_KEYS = frozenset({"scenarios", "differences", "headline", "run_time_s", "timings", "mass_balance_error"})


def load_document(path: Path, problems: list[Problem], _stack: tuple[Path, ...] = ()) -> Any:
    """Load a file and everything it ``extends``, merged; problems are appended.

    Returns None when the document cannot be assembled (unreadable or unparsable
    file, missing parent, ``extends`` cycle); otherwise the merged document, which
    is worth validating even if ``problems`` is not empty (e.g. a duplicate key).
    """
    shown = _shown(path)
    resolved = path.resolve()
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
    keys = set(doc)
    if ("sweep" in keys and not keys & CORE_KEYS) or (
            "reesim" not in keys and (keys & RESULT_KEYS or not keys & SCENARIO_KEYS)):  # another kind of file
        if "sweep" in doc:
            m = doc.key_marks.get("sweep", doc.mark)
            problems.append(Problem(shown, m.line, m.col, "sweep", "this is a sweep file, not a scenario: "
                                    f"run it with 'reesim sweep {shown}'"))
        else:
            found = ", ".join(str(k) for k in list(doc)[:5]) + (", ..." if len(doc) > 5 else "")
            what = ("results written by reesim run or reesim compare" if keys & RESULT_KEYS
                    else "no 'reesim: 1' line and none of a scenario's sections")
            problems.append(Problem(shown, 1, 1, "", f"not a reesim scenario: {what} (found: {found})"))
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
        parents, marks, paths = [parents], [mark], ["extends"]
    elif isinstance(parents, list):
        item_marks = getattr(parents, "item_marks", [])
        marks = [item_marks[i] if i < len(item_marks) else mark for i in range(len(parents))]
        paths = [f"extends[{i}]" for i in range(len(parents))]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        problems.append(
            Problem(
                shown, mark.line, mark.col, "extends",
                "extends takes a file name or a list of them (allowed: text, list of text)",
            )
        )
        return None
    base: Any = None
    ok = True
    for rel, m, where in zip(parents, marks, paths):
        ppath = path.parent / rel
        if not ppath.is_file():
            problems.append(
                Problem(
                    shown, m.line, m.col, where,
                    f"parent file {rel!r} not found (looked at {_shown(ppath)})",
                )
            )
            ok = False
            continue
        chain = (*_stack, resolved)
        if ppath.resolve() in chain:
            cycle = " -> ".join(_shown(p) for p in (*chain, ppath.resolve()))
            problems.append(
                Problem(shown, m.line, m.col, where, f"extends cycle: {cycle}")
            )
            ok = False
            continue
        pdoc = load_document(ppath, problems, chain)
        if not isinstance(pdoc, PosDict):
            ok = False
            continue
        base = _copy_marks(pdoc) if base is None else merge(base, pdoc)
    if not ok or base is None:
        return None
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
        problems.append(
            Problem(
                mark.file, mark.line, mark.col, "remove",
                "remove takes a list of ids (allowed: [id, ...])",
            )
        )
        return
    known = sorted(_ids_in(out))
    missing = set(apply_remove(out, ids))
    item_marks = getattr(ids, "item_marks", [])
    for i, x in enumerate(ids):
        m = item_marks[i] if i < len(item_marks) else mark
        if not isinstance(x, str):
            problems.append(
                Problem(m.file, m.line, m.col, f"remove[{i}]", f"expected an id, got {x!r}")
            )
            continue
        if x not in missing:
            continue
        close = difflib.get_close_matches(str(x), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            Problem(
                m.file, m.line, m.col, f"remove[{i}]",
                f"nothing with id {x!r} to remove{hint} (allowed: ids the parents define)",
            )
        )


def _ids_in(doc: PosDict) -> set[str]:
    out: set[str] = set()
    for sec in ID_SECTIONS:
        d = doc.get(sec)
        if isinstance(d, dict):
            out.update(k for k in d if isinstance(k, str))
    for sec in LIST_SECTIONS:
        lst = doc.get(sec)
        if isinstance(lst, list):
            out.update(k for k in map(item_key, lst) if k)
    return out


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return os.path.normpath(path)


# --------------------------------------------------------------------------- --set


def _short(text: str, n: int = 60) -> str:
    """``repr`` of a command-line text, cut in the middle past ``n`` characters (a message stays readable)."""
    r = repr(text)
    return r if len(r) <= n else f"{r[:n // 2]}…{r[-(n // 2):]} ({len(text)} characters)"


def apply_set(doc: PosDict, assignment: str) -> None:
    """Apply one ``PATH=VALUE`` override in place (VALUE is read as YAML).

    Raises
    ------
    UsageError
        If the assignment has no ``=``, or the path does not lead anywhere.
    """
    shown = _short(assignment)
    if "=" not in assignment:
        raise UsageError(f"--set {shown}: expected PATH=VALUE, e.g. facilities.sep_my.capacity=15000")
    path, raw = assignment.split("=", 1)
    parts = [p for p in path.strip().split(".")]
    if not parts or any(not p for p in parts):
        raise UsageError(f"--set {shown}: empty part in path {_short(path)}")
    if too_deep(raw) is not None:  # as in a scenario file (PyYAML's composer recurses)
        raise UsageError(f"--set {shown}: cannot read value {_short(raw)}: nested deeper than {MAX_DEPTH} levels")
    try:
        value = yaml.load(raw, Loader=_value_loader()) if raw.strip() else ""
    except Exception as exc:  # noqa: BLE001 - PyYAML also raises ValueError (2026-02-30), ...
        what = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
        raise UsageError(f"--set {shown}: cannot read value {_short(raw)}: {what}") from None
    mark = Mark(f"--set {assignment}")
    node: Any = doc
    walked: list[str] = []
    loc: list[Any] = []  # the same path with list positions, for the schema lookup
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part not in node:
                # a key the schema has is fine (an optional key the file leaves out, or
                # a section to create on the way); so is a new id at the end of the path
                # in a mapping of ids; anything else is a typo in the path
                fields = model_fields_at(Scenario, [*loc, part], doc)
                known = fields is not None and part in fields
                if not known and (not last or fields is not None):
                    choices = fields if fields is not None else [str(k) for k in node]
                    raise UsageError(_no_such(assignment, walked, part, choices))
                if not last:
                    node[part] = PosDict(mark=mark)
                    if isinstance(node, PosDict):
                        node.key_marks[part] = mark
            if last:
                node[part] = value
                if isinstance(node, PosDict):
                    node.key_marks[part] = mark
                return
            node = node[part]
            loc.append(part)
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
            loc.append(j)
        else:
            raise UsageError(
                f"--set {_short(assignment)}: {'.'.join(walked) or 'the document'} is a value, "
                f"not a mapping; cannot go into {part!r}"
            )
        walked.append(part)


def _no_such(assignment: str, walked: list[str], part: str, choices: list[str]) -> str:
    where = ".".join(walked) or "the top level"
    hint = difflib.get_close_matches(part, choices, n=1)
    msg = f"--set {_short(assignment)}: {where} has no {part!r}"
    if hint:
        msg += f" (did you mean {hint[0]!r}?)"
    elif choices:
        shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
        msg += f" (there: {shown})"
    return msg


def _value_loader() -> type:
    from .yamlpos import _Loader

    return _Loader
