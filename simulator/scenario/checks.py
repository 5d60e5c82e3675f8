"""Semantic checks that the schema alone cannot make.

They run on the merged raw document, defensively (a malformed part is skipped:
the schema reports it), so that schema and semantic problems are all reported
in one pass.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

from ..exceptions import Problem
from .errors import locate
from .overlay import item_key

NODE_SECTIONS = ("facilities", "markets", "stockpiles", "recyclers")


def _date(x: Any) -> dt.date | None:
    """A date as the schema will read it: YAML's dates, and quoted ISO dates ('2025-01-01'), which
    YAML leaves as strings; None for anything else (the schema reports it)."""
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    if isinstance(x, str):
        try:
            return dt.date.fromisoformat(x.strip())
        except ValueError:
            return None
    return None


def _d(x: Any) -> dict[Any, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _strs(x: Any) -> list[str]:
    if isinstance(x, str):
        return [x]
    return [v for v in _l(x) if isinstance(v, str)]


class _Checker:
    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.problems: list[Problem] = []
        self.regions = set(_d(doc.get("regions")))
        self.products = set(_d(doc.get("products")))
        self.facilities = set(_d(doc.get("facilities")))
        self.markets = set(_d(doc.get("markets")))
        self.stockpiles = set(_d(doc.get("stockpiles")))
        self.recyclers = set(_d(doc.get("recyclers")))
        self.nodes = self.facilities | self.markets | self.stockpiles | self.recyclers
        self.events = [item_key(e) for e in _l(doc.get("events"))]
        self.links = [item_key(x) for x in _l(doc.get("links"))]
        self.links_broken = False  # a link names an unknown end or product
        self.sectors = {
            m.get("sector")
            for m in _d(doc.get("markets")).values()
            if isinstance(m, dict) and isinstance(m.get("sector"), str)
        }

    def add(self, loc: tuple[Any, ...], message: str, missing: bool = False) -> None:
        mark, path, _ = locate(self.doc, loc, missing=missing)
        self.problems.append(Problem(mark.file, mark.line, mark.col, path, message))

    def line_of(self, loc: tuple[Any, ...]) -> str:
        mark, _, _ = locate(self.doc, loc)
        return f" at line {mark.line}" if mark.line is not None else ""

    def ref(self, loc: tuple[Any, ...], value: Any, known: Iterable[Any], what: str) -> bool:
        """Check that ``value`` is one of ``known``; report with a 'did you mean'."""
        if not isinstance(value, str):
            return False
        known_s = sorted(k for k in known if isinstance(k, str))
        if value in known_s:
            return True
        section = {"region": "regions", "product": "products"}.get(what)
        if not known_s and section and not isinstance(self.doc.get(section), dict):
            return False  # the schema reports the missing section; no cascade here
        msg = f"unknown {what} {value!r}"
        other = self.kind_of(value)
        if other:
            msg = f"{value!r} is a {other}, not a {what}"
        close = difflib.get_close_matches(value, known_s, n=1)
        if close and not other:
            msg += f" (did you mean {close[0]!r}?)"
        msg += f" (allowed: {_listing(known_s) or f'none; no {what} is defined'})"
        self.add(loc, msg)
        return False

    def kind_of(self, value: str) -> str | None:
        """What a node id names (``'market'``), for "is a market, not a supplier"."""
        for sec, kind in zip(NODE_SECTIONS, ("facility", "market", "stockpile", "recycler")):
            if value in _d(self.doc.get(sec)):
                return kind
        return None

    def refs(self, loc: tuple[Any, ...], values: Any, known: Iterable[Any], what: str) -> None:
        if isinstance(values, list):
            for i, v in enumerate(values):
                self.ref((*loc, i), v, known, what)
        else:
            self.ref(loc, values, known, what)

    # ------------------------------------------------------------------ sections

    def run(self) -> list[Problem]:
        self.check_namespace()
        self.check_regions()
        self.check_facilities()
        self.check_markets()
        self.check_stockpiles()
        self.check_recyclers()
        self.check_links()
        self.check_events()
        self.check_report()
        self.check_reachability()
        return self.problems

    def check_namespace(self) -> None:
        seen: dict[str, str] = {}
        for sec in NODE_SECTIONS:
            for k in _d(self.doc.get(sec)):
                if k in seen:
                    self.add(
                        (sec, k),
                        f"duplicate id {k!r}: already used in {seen[k]}"
                        f"{self.line_of((seen[k], k))} "
                        "(facilities, markets, stockpiles and recyclers share one set of ids)",
                    )
                else:
                    seen[k] = sec
        for sec, keys in (("events", self.events), ("links", self.links)):
            first: dict[str, int] = {}
            for i, k in enumerate(keys):
                if k is None:
                    continue
                if k in first:
                    item = _l(self.doc.get(sec))[i]
                    loc = (sec, i, "id") if isinstance(item, dict) and "id" in item else (sec, i)
                    self.add(
                        loc,
                        f"duplicate {sec[:-1]} id {k!r} "
                        f"(first given{self.line_of((sec, first[k]))}, "
                        f"{sec}[{first[k]}]; each id may appear once)",
                    )
                else:
                    first[k] = i

    def check_regions(self) -> None:
        blocs = _d(self.doc.get("blocs"))
        if blocs:
            for rid, r in _d(self.doc.get("regions")).items():
                if isinstance(r, dict):
                    self.ref(("regions", rid, "bloc"), r.get("bloc"), blocs, "bloc")

    def check_facilities(self) -> None:
        for fid, f in _d(self.doc.get("facilities")).items():
            if not isinstance(f, dict):
                continue
            base = ("facilities", fid)
            self.ref((*base, "region"), f.get("region"), self.regions, "region")
            ins, outs = _d(f.get("inputs")), _d(f.get("outputs"))
            for p in ins:
                self.ref((*base, "inputs", p), p, self.products, "product")
            for p in outs:
                self.ref((*base, "outputs", p), p, self.products, "product")
            if not outs:
                self.add(
                    (*base, "outputs"),
                    "the recipe has no output (give outputs: {product: ratio})",
                    missing="outputs" not in f,
                )
            for p in set(ins) & set(outs):
                self.add((*base, "outputs", p), f"{p!r} is both an input and an output of this process")
            for p in _d(f.get("stock")):
                if p not in ins:
                    self.add(
                        (*base, "stock", p),
                        f"stock policy for {p!r}, which is not an input "
                        f"(allowed: {_listing(sorted(ins)) or 'none; the facility has no inputs'})",
                    )
            self.in_horizon((*base, "online"), f.get("online"), allow_before=True, allow_after=True)

    def check_markets(self) -> None:
        for mid, m in _d(self.doc.get("markets")).items():
            if not isinstance(m, dict):
                continue
            base = ("markets", mid)
            self.ref((*base, "region"), m.get("region"), self.regions, "region")
            demand = _d(m.get("demand"))
            if isinstance(m.get("demand"), dict) and not demand:
                self.add((*base, "demand"), "a market demands no product (allowed: at least one, "
                         "e.g. demand: {magnet: {rate: 6000}})")
            for p in demand:
                self.ref((*base, "demand", p), p, self.products, "product")
            for p in _d(m.get("stock")):
                if p not in demand:
                    self.add(
                        (*base, "stock", p),
                        f"stock policy for {p!r}, which this market does not demand "
                        f"(allowed: {_listing(sorted(demand)) or 'none; the market has no demand'})",
                    )
            for i, s in enumerate(_l(m.get("substitution"))):
                if isinstance(s, dict):
                    self.ref((*base, "substitution", i, "product"), s.get("product"), demand, "demanded product")

    def check_stockpiles(self) -> None:
        for sid, s in _d(self.doc.get("stockpiles")).items():
            if not isinstance(s, dict):
                continue
            base = ("stockpiles", sid)
            self.ref((*base, "region"), s.get("region"), self.regions, "region")
            inbound = {x.get("product") for x in _l(self.doc.get("links"))
                       if isinstance(x, dict) and x.get("to") == sid}
            for p, h in _d(s.get("holds")).items():
                self.ref((*base, "holds", p), p, self.products, "product")
                if isinstance(h, dict) and h.get("target") is not None and p not in inbound:
                    self.add((*base, "holds", p, "target"),
                             f"a refill target, but no link brings {p!r} to {sid!r}, so it never refills "
                             "(allowed: a link into the stockpile, or no target)")
            rel = _d(s.get("release"))
            self.refs((*base, "release", "to"), rel.get("to"), self.facilities | self.markets, "facility or market")

    def check_recyclers(self) -> None:
        for rid, r in _d(self.doc.get("recyclers")).items():
            if not isinstance(r, dict):
                continue
            base = ("recyclers", rid)
            self.ref((*base, "region"), r.get("region"), self.regions, "region")
            outs = _d(r.get("outputs"))
            for p in outs:
                self.ref((*base, "outputs", p), p, self.products, "product")
            if "outputs" in r and not outs:
                self.add((*base, "outputs"), "the recipe has no output (give outputs: {product: ratio})")
            col = _d(r.get("collects"))
            self.refs((*base, "collects", "from"), col.get("from"), self.markets, "market")
            self.ref((*base, "collects", "product"), col.get("product"), self.products, "product")
            self.in_horizon((*base, "online"), r.get("online"), allow_before=True, allow_after=True)

    def outputs_of(self, node: str) -> set[str] | None:
        """Products a node can ship; None if its recipe is malformed (the schema says so)."""
        return self._products_of(
            node, (("facilities", "outputs"), ("recyclers", "outputs"), ("stockpiles", "holds"))
        )

    def uses_of(self, node: str) -> set[str] | None:
        """Products a node takes in; None if malformed (the schema says so)."""
        return self._products_of(
            node, (("facilities", "inputs"), ("markets", "demand"), ("stockpiles", "holds"))
        )

    def _products_of(self, node: str, where: tuple[tuple[str, str], ...]) -> set[str] | None:
        for sec, key in where:
            n = _d(self.doc.get(sec)).get(node)
            if n is None:
                continue
            if not isinstance(n, dict) or not isinstance(n.get(key, {}), dict):
                return None
            return set(_d(n.get(key)))
        return set()

    def check_links(self) -> None:
        suppliers = self.facilities | self.recyclers
        buyers = self.facilities | self.markets | self.stockpiles
        for i, x in enumerate(_l(self.doc.get("links"))):
            if not isinstance(x, dict):
                continue
            base = ("links", i)
            if x.get("from") in self.stockpiles:  # it would carry nothing, and its price would never be paid
                self.add((*base, "from"), f"a link cannot start at stockpile {x['from']!r}: a stockpile gives "
                         "through its release block (release: {to: [...]}), at once, not over links (allowed: "
                         "a facility or a recycler)")
                continue
            ok_from = self.ref((*base, "from"), x.get("from"), suppliers, "supplier")
            ok_to = self.ref((*base, "to"), x.get("to"), buyers, "buyer")
            p = x.get("product")
            ok_p = self.ref((*base, "product"), p, self.products, "product")
            n_before = len(self.problems)
            made = self.outputs_of(x["from"]) if ok_from and ok_p else None
            if made is not None and p not in made:
                outs = _listing(sorted(made)) or "none; it outputs nothing"
                self.add(
                    (*base, "product"),
                    f"supplier {x['from']!r} does not output {p!r} (allowed: {outs})",
                )
            used = self.uses_of(x["to"]) if ok_to and ok_p else None
            if used is not None and p not in used:
                uses = _listing(sorted(used)) or "none; it uses nothing"
                self.add(
                    (*base, "product"), f"buyer {x['to']!r} does not use {p!r} (allowed: {uses})"
                )
            if ok_from and ok_to and x["from"] == x["to"]:
                self.add((*base, "to"), "a link cannot go from a node to itself")
            if not (ok_from and ok_to and ok_p) or len(self.problems) > n_before:
                self.links_broken = True

    def check_events(self) -> None:
        link_ids = [k for k in self.links if k]
        for i, e in enumerate(_l(self.doc.get("events"))):
            if not isinstance(e, dict):
                continue
            base = ("events", i)
            t = e.get("type")
            if t == "export_control":
                self.refs((*base, "origin"), e.get("origin"), self.regions, "region")
                self.refs((*base, "products"), e.get("products"), self.products, "product")
                dest = _d(e.get("destinations"))
                for k in ("include", "exclude"):
                    self.refs((*base, "destinations", k), dest.get(k), self.regions, "region")
                for j, st in enumerate(_l(e.get("schedule"))):
                    if isinstance(st, dict):
                        self.in_horizon((*base, "schedule", j, "start"), st.get("start"), allow_after=True)
            elif t == "outage":
                self.refs((*base, "facilities"), e.get("facilities"), self.facilities | self.recyclers, "facility")
                self.refs((*base, "regions"), e.get("regions"), self.regions, "region")
            elif t == "logistics":
                self.refs((*base, "links"), e.get("links"), link_ids, "link")
                self.refs((*base, "from_regions"), e.get("from_regions"), self.regions, "region")
                self.refs((*base, "to_regions"), e.get("to_regions"), self.regions, "region")
                self.refs((*base, "products"), e.get("products"), self.products, "product")
            elif t == "demand_shock":
                self.refs((*base, "markets"), e.get("markets"), self.markets, "market")
                self.refs((*base, "sectors"), e.get("sectors"), self.sectors, "sector")
                self.refs((*base, "regions"), e.get("regions"), self.regions, "region")
            elif t == "commission":
                self.ref((*base, "facility"), e.get("facility"), self.facilities | self.recyclers, "facility")
            elif t == "policy" and e.get("regions") is not None:
                self.refs((*base, "regions"), e.get("regions"), self.regions, "region")
                # a null switch sets nothing (the engine skips it): only the ones given a value would apply
                other = sorted(k for k, v in _d(e.get("set")).items() if k != "reroute_after_days" and v is not None)
                if other or "reroute_after_days" not in _d(e.get("set")):
                    self.add((*base, "regions"), "regions scopes re-routing only: "
                             + (f"{', '.join(other)} would still apply everywhere" if other else "set has no "
                                "reroute_after_days")
                             + " (allowed: set: {reroute_after_days: N} with regions, other switches in an "
                             "event of their own)")
            # an event dated after the horizon never happens (as a plant online after it never runs), so that a
            # horizon can be cut short with --set horizon.end=...: --set cannot remove the events it cuts off
            self.in_horizon((*base, "start"), e.get("start"), allow_after=True)
            self.in_horizon((*base, "end"), e.get("end"), allow_after=True)
            win = _d(_d(e.get("stochastic")).get("window"))
            self.in_horizon((*base, "stochastic", "window", "start"), win.get("start"), allow_after=True)

    def check_report(self) -> None:
        ref = _d(self.doc.get("report")).get("reference_event")
        if ref is not None:
            self.ref(("report", "reference_event"), ref, [k for k in self.events if k], "event")

    def in_horizon(
        self, loc: tuple[Any, ...], value: Any, allow_before: bool = False, allow_after: bool = False
    ) -> None:
        h = _d(self.doc.get("horizon"))
        value, start, end = _date(value), _date(h.get("start")), _date(h.get("end"))
        if value is None or start is None or end is None or end <= start:
            return  # the schema reports a bad date or horizon
        if (value < start and not allow_before) or (value > end and not allow_after):
            self.add(loc, f"date {value} is outside the horizon (allowed: {start} to {end})")

    def check_reachability(self) -> None:
        """Every market product must be reachable from a mine through recipes and links.

        Skipped when a link is already reported as broken: its consequences would
        only repeat that problem.
        """
        if self.links_broken:
            return
        avail: set[tuple[str, str]] = set()
        facs = _d(self.doc.get("facilities"))
        links = [x for x in _l(self.doc.get("links")) if isinstance(x, dict)]
        recs = _d(self.doc.get("recyclers"))
        for _ in range(len(facs) + len(links) + len(recs) + 2):
            before = len(avail)
            for fid, f in facs.items():
                if not isinstance(f, dict):
                    continue
                ins = _d(f.get("inputs"))
                if all((fid, q) in avail for q in ins):
                    avail.update((fid, p) for p in _d(f.get("outputs")))
            for rid, r in recs.items():
                col = _d(_d(r).get("collects"))
                prod = col.get("product")
                if isinstance(prod, str) and any((m, prod) in avail for m in _strs(col.get("from"))):
                    avail.update((rid, p) for p in _d(_d(r).get("outputs")))
            for x in links:
                ends = (x.get("from"), x.get("to"), x.get("product"))
                if all(isinstance(v, str) for v in ends) and (ends[0], ends[2]) in avail:
                    avail.add((ends[1], ends[2]))
            if len(avail) == before:
                break
        for mid, m in _d(self.doc.get("markets")).items():
            for p in _d(_d(m).get("demand")):
                if p in self.products and (mid, p) not in avail:
                    self.add(
                        ("markets", mid, "demand", p),
                        f"no mine can reach {p!r} at market {mid!r} through recipes and links "
                        "(add a link from a facility that outputs it)",
                    )


def _listing(ids: list[str], limit: int = 15) -> str:
    return ", ".join(ids[:limit]) + (", ..." if len(ids) > limit else "")


def check(doc: dict[str, Any]) -> list[Problem]:
    """All semantic problems of a merged scenario document."""
    if not isinstance(doc, dict):
        return []
    return _Checker(doc).run()


def notes(doc: dict[str, Any]) -> list[Problem]:
    """What is valid but probably not meant: events that never act within the horizon, and stockpiles
    whose release threshold a receiver sits at in normal operation.

    A date after the horizon's end is never reached (``Horizon.step_of``), which is how a shorter
    ``--set horizon.end`` cuts a scenario before its events; said, so that a mistyped year is seen.
    """
    if not isinstance(doc, dict):
        return []
    return _event_notes(doc) + _release_notes(doc)


def _event_notes(doc: dict[str, Any]) -> list[Problem]:
    h = _d(doc.get("horizon"))
    h0, h1 = _date(h.get("start")), _date(h.get("end"))
    if h0 is None or h1 is None:
        return []
    out = []
    for i, ev in enumerate(_l(doc.get("events"))):
        ev = _d(ev)
        start, end = _date(ev.get("start")), _date(ev.get("end"))
        where: tuple[Any, ...] = ("events", i, "start")
        dur = ev.get("duration_days")
        if start is None:  # a stochastic event: its window of starts
            win = _d(_d(ev.get("stochastic")).get("window"))
            w0, w1 = _date(win.get("start")), _date(win.get("end"))
            where = ("events", i, "stochastic", "window", "start")
            if w0 is not None and w0 > h1:
                why = f"can start only from {w0}, after the horizon ends ({h1})"
            elif w1 is not None and w1 < h0:
                why = f"can start only until {w1}, before the horizon starts ({h0})"
            else:
                continue
        elif isinstance(dur, (int, float)) and not isinstance(dur, bool) and dur <= 0 and end is None:
            why, where = "lasts 0 days", ("events", i, "duration_days")
        else:
            if end is None and isinstance(dur, (int, float)) and not isinstance(dur, bool):
                end = start + dt.timedelta(days=float(dur))
            if start > h1:
                why = f"starts {start}, after the horizon ends ({h1})"
            elif end is not None and end <= h0:
                why = f"ends {end}, before the horizon starts ({h0})"
            else:
                continue
        mark, path, _ = locate(doc, where)
        out.append(Problem(mark.file, mark.line, mark.col, path,
                           f"event {ev.get('id')!r} {why}: it never acts in this run"))
    return out


def _release_notes(doc: dict[str, Any]) -> list[Problem]:
    """A receiver holds about cover - longest lead - 1 days on hand in normal operation (the stock it
    orders up to counts what is in transit); a threshold at or above that releases, and refills, with
    no disruption at all."""
    from ..network import DEFAULT_COVER_DAYS

    out = []
    links = [_d(x) for x in _l(doc.get("links"))]
    for sid, pile in _d(doc.get("stockpiles")).items():
        rel = _d(_d(pile).get("release"))
        thr = rel.get("when_cover_below_days")
        if not isinstance(thr, (int, float)) or isinstance(thr, bool):
            continue
        for r in _strs(rel.get("to")):
            node = _d(_d(doc.get("facilities")).get(r)) or _d(_d(doc.get("markets")).get(r))
            uses = set(_d(node.get("inputs"))) | set(_d(node.get("demand")))
            for p in _d(_d(pile).get("holds")):
                if p not in uses:
                    continue
                cover = _d(_d(node.get("stock")).get(p)).get("cover_days", DEFAULT_COVER_DAYS)
                leads = [x.get("lead_days") for x in links if x.get("to") == r and x.get("product") == p
                         and x.get("from") != sid]
                leads = [v for v in leads if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if not isinstance(cover, (int, float)) or not leads:
                    continue
                on_hand = cover - max(leads) - 1
                if thr >= on_hand:
                    mark, path, _ = locate(doc, ("stockpiles", sid, "release", "when_cover_below_days"))
                    out.append(Problem(mark.file, mark.line, mark.col, path,
                                       f"stockpile {sid!r} releases {p} to {r!r} below {thr:g} days, but {r!r} "
                                       f"holds about {on_hand:g} days on hand in normal operation (cover "
                                       f"{cover:g} - longest lead {max(leads):g} - 1): it releases, and refills, "
                                       "with no disruption"))
    return out
