"""The report's Assumptions section: what the answer rests on, from summary.json's ``meta``.

``meta.assumptions`` (rows in words, :mod:`simulator.assumptions`) gives the first scenario's
events, stockpiles, plants and recyclers coming on line, substitution rules and policies;
``meta.facilities`` and ``meta.network`` (capacities, links) give what each other scenario
adds or changes beyond them.
"""

from __future__ import annotations

from typing import Any

from .data import ReportData
from .html import _e


def assumptions_html(data: ReportData) -> str:
    """What the answer rests on (``meta.assumptions``): the first scenario's events, stockpiles, plants coming
    on line, substitution rules and policies, then what each other scenario adds or changes ('' when the
    results predate them)."""
    rows = [v.meta.get("assumptions") for v in data.views]
    if not rows or rows[0] is None:
        return ""

    def table(items: list[dict[str, str]]) -> str:
        head = "<tr><th>kind</th><th>what</th><th>assumed</th><th>source</th></tr>"
        body = "".join(f"<tr><td>{_e(r.get('kind', ''))}</td><td>{_e(r.get('what', ''))}</td>"
                       f"<td>{_e(r.get('value', ''))}</td><td class='files'>{_e(r.get('source', ''))}</td></tr>"
                       for r in items)
        return f"<div class='scroll'><table><thead>{head}</thead><tbody>{body}</tbody></table></div>"

    first = data.views[0]
    out = [f"<h3>{_e(first.name)}</h3>{table(rows[0])}"]
    key = lambda r: (r.get("kind"), r.get("what"), r.get("value"))
    base = {key(r) for r in rows[0]}
    for v, items in zip(data.views[1:], rows[1:]):
        if items is None:
            continue
        new = [r for r in items if key(r) not in base]
        listed = {r.get("id") for r in items}
        extra = [f"{f} ({d.get('region')}, {d.get('stage')})" for f, d in (v.meta.get("facilities") or {}).items()
                 if f not in (first.meta.get("facilities") or {}) and f not in listed]
        if extra:  # plants of this scenario only, running from the start (those coming on line are rows above)
            new.append({"kind": "plant", "what": f"{len(extra)} more from the start",
                        "value": ", ".join(extra), "source": "the scenario file"})
        new += _network_changes(first.meta.get("network"), v.meta.get("network"))
        mine = {(r.get("kind"), r.get("what")) for r in items}  # a row whose value changed is in the table
        gone = [r for r in rows[0] if (r.get("kind"), r.get("what")) not in mine]
        out.append(f"<h3>{_e(v.name)}: what it adds or changes</h3>"
                   + (table(new) if new else "<p>Nothing: the same assumptions as "
                      f"{_e(first.name)}.</p>")
                   + (f"<p class='caption'>and without: {_e('; '.join(r.get('what', '') for r in gone))}</p>"
                      if gone else ""))
    out.append("<p class='caption'>From the scenario files: each number's source key is in the last column "
               "('estimate' says it is one; keys in docs/data/ree-reference.md). The results above hold for these "
               "assumptions; the intervals do not cover their uncertainty ('reesim sweep' varies them).</p>")
    return "".join(out)


def _network_changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[dict[str, str]]:
    """Rows for what scenario b changes in capacities and links against a (from ``meta.network``)."""
    if not a or not b:
        return []

    def some(items: list[str], n: int = 12) -> str:
        return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")

    rows = []
    ca, cb = a.get("capacity") or {}, b.get("capacity") or {}
    changed = [f"{k} {ca[k]:,.0f} → {cb[k]:,.0f}" for k in cb if k in ca and cb[k] != ca[k]]
    if changed:
        rows.append({"kind": "capacity", "what": f"{len(changed)} changed", "value": some(changed),
                     "source": "the scenario file"})
    la, lb = a.get("links") or {}, b.get("links") or {}
    added = [k for k in lb if k not in la]
    gone = [k for k in la if k not in lb]
    rew = [f"{k} weight {la[k]['weight']:g} → {lb[k]['weight']:g}" for k in lb
           if k in la and la[k].get("weight") != lb[k].get("weight")]
    for what, items in (("added", added), ("removed", gone), ("re-weighted", rew)):
        if items:
            rows.append({"kind": "links", "what": f"{len(items)} {what}", "value": some(items),
                         "source": "the scenario file"})
    return rows
