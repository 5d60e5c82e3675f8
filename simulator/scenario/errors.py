"""Turn pydantic validation errors into located, plain-language problems."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ..exceptions import Problem
from .types import DIST_KINDS
from .yamlpos import Mark, PosDict, PosList


def locate(
    doc: Any, loc: tuple[Any, ...], missing: bool = False
) -> tuple[Mark, str, list[Any]]:
    """Follow a pydantic ``loc`` through the document.

    Returns the best-known mark, the display path (``facilities.x.capacity``,
    ``events[3].type``), and the loc elements that were actually walked (union
    tags such as ``'export_control'`` or ``'lognormal'`` are skipped). With
    ``missing``, the last element names a key that is absent from the document
    and is added to the path (the mark stays on the mapping that lacks it).
    """
    node = doc
    mark: Mark = getattr(doc, "mark", Mark("?"))
    path = ""
    walked: list[Any] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            m = getattr(node, "key_marks", {}).get(part)
            mark = m or mark
            path = f"{path}.{part}" if path else str(part)
            node = node[part]
            walked.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            marks = getattr(node, "item_marks", [])
            if part < len(marks):
                mark = marks[part]
            path = f"{path}[{part}]"
            node = node[part]
            walked.append(part)
        elif missing and last and isinstance(node, dict) and isinstance(part, str):
            path = f"{path}.{part}" if path else part
            walked.append(part)
        # otherwise: a union tag or validator name; skip it
    return mark, path, walked


def model_fields_at(root: type[BaseModel], walked: list[Any], doc: Any) -> list[str] | None:
    """Allowed keys of the model found by walking ``walked`` (minus its last element)."""
    tp: Any = root
    node = doc
    for part in walked[:-1]:
        tp = _resolve(tp, node)
        if tp is None:
            return None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = _field_by_alias(tp, part)
            if field is None:
                return None
            tp = field.annotation
        else:
            origin = typing.get_origin(tp)
            args = typing.get_args(tp)
            if origin is dict:
                tp = args[1]
            elif origin is list:
                tp = args[0]
            else:
                return None
        node = node[part] if isinstance(node, (dict, list)) else None
    tp = _resolve(tp, node)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return None


def _field_by_alias(model: type[BaseModel], key: Any) -> Any:
    for name, f in model.model_fields.items():
        if (f.alias or name) == key:
            return f
    return None


def _resolve(tp: Any, node: Any) -> Any:
    """Unwrap Annotated/Optional/Union to the member matching ``node``."""
    for _ in range(10):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in (_resolve(a, node) for a in members) if _is_model(m)]
            if isinstance(node, dict) and models:
                t = node.get("type")
                for m in models:
                    f = m.model_fields.get("type")
                    if f is not None and t in typing.get_args(f.annotation):
                        return m
                for m in models:
                    keys = {f.alias or n for n, f in m.model_fields.items()}
                    if set(node) & keys:
                        return m
                return models[0]
            tp = members[0] if len(members) == 1 else tp
            if len(members) != 1:
                return None
            continue
        return tp
    return tp


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None or hasattr(v, "isoformat")


def num(x: Any) -> str:
    """A number as a reader writes it: ``0`` not ``0.0``, ``1.5``, ``1e-09``."""
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _did_you_mean(got: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(got), choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_DIST_FORMS = (
    "a number, {fixed: x}, {uniform: {low, high}}, {triangular: {low, mode, high}}, "
    "{lognormal: {median, p95}}"
)


def message_for(err: dict[str, Any], allowed: list[str] | None) -> str:
    """A plain message with what is allowed, for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    shown = num(value) if is_num else str(value) if hasattr(value, "isoformat") else repr(value)
    got = f", got {shown}" if _scalar(value) else ""
    loc = err["loc"]
    key = loc[-1] if loc else None
    if kind == "extra_forbidden":
        msg = f"unknown key {key!r}"
        if allowed:
            msg += _did_you_mean(key, allowed)
            msg += f" (allowed: {', '.join(sorted(allowed))})"
        return msg
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind == "greater_than":
        return f"got {shown} (allowed: > {num(ctx.get('gt'))})"
    if kind == "greater_than_equal":
        neg = "negative value " if ctx.get("ge") == 0 and _is_negative(value) else "got "
        return f"{neg}{shown} (allowed: >= {num(ctx.get('ge'))})"
    if kind == "less_than_equal":
        return f"got {shown} (allowed: <= {num(ctx.get('le'))})"
    if kind == "less_than":
        return f"got {shown} (allowed: < {num(ctx.get('lt'))})"
    if kind == "literal_error":
        return f"got {shown} (allowed: {ctx.get('expected')})"
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        return (
            f"unknown type {ctx.get('tag')!r}{_did_you_mean(ctx.get('tag'), tags)} "
            f"(allowed: {', '.join(tags)})"
        )
    if kind == "union_tag_not_found":
        return f"missing required key {key!r} (allowed: {_event_types()})"
    if kind == "string_pattern_mismatch":
        return f"{value!r} is not a valid id (allowed: a letter, then letters, digits, '_' or '-')"
    if kind == "string_too_long":
        return f"{value!r} is too long (allowed: at most {ctx.get('max_length')} characters)"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"needs at least {n} item{'s' if n != 1 else ''}"
    if kind.startswith(("date", "datetime")):
        return f"not a date{got} (allowed: YYYY-MM-DD)"
    if kind == "finite_number":
        return f"got {shown} (allowed: a finite number)"
    if kind in (
        "float_parsing", "float_type", "int_parsing", "int_parsing_size", "int_type",
        "int_from_float",
    ):
        want = "a whole number" if kind.startswith("int") else "a number"
        return f"expected {want}{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys{got}"
    if kind == "list_type":
        return f"expected a list{got}"
    if kind == "string_type":
        return f"expected text{got}"
    if kind == "bool_type" or kind == "bool_parsing":
        return f"expected true or false{got}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "distribution":
        if isinstance(value, dict) and len(value) == 1:
            k = next(iter(value))
            return (
                f"unknown distribution {k!r}{_did_you_mean(k, list(DIST_KINDS))} "
                f"(allowed: {_DIST_FORMS})"
            )
        return f"not a distribution{got} (allowed: {_DIST_FORMS})"
    return f"{err['msg']}{got}"


def _is_negative(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0


def _event_types() -> str:
    from .models import EVENT_TYPES

    return ", ".join(EVENT_TYPES)


def problems_from(exc: ValidationError, doc: Any, root: type[BaseModel]) -> list[Problem]:
    """Every pydantic error as a located problem, without duplicates."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # pydantic locates these at the item; the culprit is its discriminator key
            loc = (*loc, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'"))
        missing = err["type"] in ("missing", "union_tag_not_found")
        mark, path, walked = locate(doc, loc, missing=missing)
        err = {**err, "loc": loc}
        allowed = (
            model_fields_at(root, walked, doc) if err["type"] == "extra_forbidden" else None
        )
        msg = message_for(err, allowed)
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        if err["type"] == "missing":
            msg += _new_entry_hint(doc, loc, seen)
        out.append(Problem(mark.file, mark.line, mark.col, path, msg))
    return out


_ENTRY = {"markets": "market", "facilities": "facility", "stockpiles": "stockpile", "recyclers": "recycler",
          "regions": "region", "products": "product", "blocs": "bloc"}


def _new_entry_hint(doc: Any, loc: tuple[Any, ...], seen: set[tuple[str, str]]) -> str:
    """' (market 'ev_jpp' is new here: did you mean 'ev_jp'?)' once per entry lacking a required key whose id
    is close to another's: an overlay that meant to change ev_jp made a new, incomplete market instead."""
    if len(loc) != 3 or loc[0] not in _ENTRY or not isinstance(doc, dict):
        return ""
    section, entry = loc[0], loc[1]
    body = (doc.get(section) or {}).get(entry) if isinstance(doc.get(section), dict) else None
    if isinstance(body, dict) and difflib.get_close_matches(str(loc[2]), [str(k) for k in body], n=1):
        return ""  # the key is there, misspelled ('capacty'): its own error says so, the id is fine
    others = [k for k in (doc.get(section) or {}) if k != entry] if isinstance(doc.get(section), dict) else []
    close = difflib.get_close_matches(str(entry), [str(k) for k in others], n=1)
    if not close or (section, str(entry)) in seen:
        return ""
    seen.add((section, str(entry)))
    return f" ({_ENTRY[section]} {entry!r} is new here: did you mean {close[0]!r}?)"


__all__ = ["PosDict", "PosList", "locate", "problems_from"]
