"""The files of a sweep folder: ``sweep.json``, ``design.csv``, ``points.csv``, ``timings.csv``.

``points.csv`` is written one complete line per finished point, flushed and
synced at once, so a sweep stopped at any moment (Ctrl-C, a killed worker or
machine) loses no finished point; a line cut off mid-write is dropped when the
sweep resumes. When every point is in, the file is rewritten sorted by point
(through a temporary file and an atomic rename), which makes it the same bytes
however many workers ran it and in whatever order the points finished.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .exceptions import UsageError

#: Files and folders a sweep writes; ``--force`` removes only these.
OWNED = ("sweep.json", "design.csv", "points.csv", "timings.csv", "points.parquet", "sensitivity.json",
         "report.html", "figures", "tables")


def header(spec: Any, base: Any, command: str | None) -> dict[str, Any]:
    """The identity and provenance part of ``sweep.json``."""
    from .scenario import scenario_files

    files = scenario_files(spec.file)
    return {
        "kind": "reesim-sweep",
        "scenario": base.name,
        "title": base.title,
        "file": str(spec.file),
        "files": [{"path": p, "sha256": h} for p, h in files],
        "sets": list(spec.sets),
        "params": [p.as_dict() for p in spec.params],
        "method": spec.method,
        "samples": spec.samples,
        "replications": spec.replications,
        "seed": spec.seed,
        "metrics": [m.column for m in spec.metrics],
        "checks": spec.checks,
        "n_design": spec.n_design,
        "n_points": spec.n_points,
        "horizon": {"start": str(base.horizon.start), "end": str(base.horizon.end)},
        "version": __version__,
        "command": command,
        "runs": [],
        "complete": False,
    }


def _identity(h: dict[str, Any]) -> dict[str, Any]:
    from .sweep import IDENTITY

    out = {k: h.get(k) for k in IDENTITY}
    out["files"] = [f.get("sha256") for f in h.get("files") or []]
    out["params"] = [{k: p.get(k) for k in ("path", "low", "high", "kind")} for p in h.get("params") or []]
    return out


def prepare(outdir: Path, spec: Any, head: dict[str, Any], resume: bool, force: bool) -> np.ndarray:
    """Make the folder ready and return the design's unit coordinates [n_points, k].

    A fresh sweep writes ``sweep.json`` and ``design.csv``; a resumed one checks
    that ``sweep.json`` describes the same points and reads ``design.csv``.

    Raises
    ------
    UsageError
        When the folder holds something else and neither ``resume`` nor ``force`` is given,
        or when resuming a sweep that differs from this one.
    """
    from .sweep import sweep_points

    outdir.mkdir(parents=True, exist_ok=True)
    meta = outdir / "sweep.json"
    busy = any(outdir.iterdir())
    if busy and resume and meta.is_file():
        old = json.loads(meta.read_text(encoding="utf-8"))
        a, b = _identity(old), _identity(head)
        diff = [k for k in a if a[k] != b[k]]
        if diff:
            what = ", ".join(f"{k} ({_short(a[k])} there, {_short(b[k])} now)" for k in diff)
            raise UsageError(f"{outdir} holds a different sweep: {what}; start afresh with --force, "
                             "or -o another folder")
        X = read_design(outdir, len(spec.params)) if (outdir / "design.csv").is_file() else None
        if X is None or len(X) != spec.n_points:
            X = sweep_points(spec.method, len(spec.params), spec.samples, spec.seed)
            write_design(outdir, spec, X)
        old["command_resumed"] = head.get("command")
        meta.write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
        return X
    if busy and not force:
        if resume:
            raise UsageError(f"{outdir} has no sweep.json: nothing to resume there; -o another folder, "
                             "or --force to start afresh in it")
        raise UsageError(f"{outdir} exists and is not empty; add --resume to continue the sweep in it, "
                         "--force to start afresh, or -o another folder")
    for name in OWNED:
        p = outdir / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    X = sweep_points(spec.method, len(spec.params), spec.samples, spec.seed)
    meta.write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")
    write_design(outdir, spec, X)
    return X


def _short(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def write_design(outdir: Path, spec: Any, X: np.ndarray) -> None:
    """``design.csv``: point and the unit-cube coordinate of every parameter (exact floats)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", *(p.path for p in spec.params)])
    for i, row in enumerate(X):
        w.writerow([i, *(repr(float(u)) for u in row)])
    _atomic_write(outdir / "design.csv", buf.getvalue())


def read_design(outdir: Path, k: int) -> np.ndarray | None:
    """The unit coordinates in ``design.csv`` [n_points, k] (None if unreadable)."""
    try:
        rows = list(csv.reader(io.StringIO((outdir / "design.csv").read_text(encoding="utf-8"))))
        X = np.array([[float(x) for x in r[1:]] for r in rows[1:] if r], dtype=float)
    except (OSError, ValueError):
        return None
    return X if X.ndim == 2 and X.shape[1] == k else None


def _complete_lines(path: Path) -> list[str]:
    """Lines of a file that end with a newline (a line cut off by a kill is dropped)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    return [ln for ln in lines if ln.endswith("\n")]


def read_points(outdir: Path, pcols: list[str], mcols: list[str], texts: list[list[str]]) -> dict[int, list[str]]:
    """Finished points in ``points.csv``: point -> its row (as written).

    Raises
    ------
    UsageError
        When the file's columns or parameter values do not belong to this sweep.
    """
    lines = _complete_lines(outdir / "points.csv")
    if not lines:
        return {}
    rows = list(csv.reader(io.StringIO("".join(lines))))
    want = ["point", *pcols, *mcols]
    if rows[0] != want:
        raise UsageError(f"{outdir / 'points.csv'} has columns {rows[0][:6]}... but this sweep writes "
                         f"{want[:6]}...; start afresh with --force")
    out: dict[int, list[str]] = {}
    for r in rows[1:]:
        if len(r) != len(want) or not r[0].isdigit():
            continue
        i = int(r[0])
        if i >= len(texts) or i in out:
            continue
        if r[1:1 + len(pcols)] != texts[i]:
            raise UsageError(f"{outdir / 'points.csv'}: point {i} has values {r[1:1 + len(pcols)]} but the "
                             f"design has {texts[i]}; start afresh with --force")
        try:
            [float(x) for x in r[1 + len(pcols):]]
        except ValueError:
            continue
        out[i] = r
    return out


class PointWriter:
    """Appends one complete, synced line per finished point to ``points.csv`` and ``timings.csv``."""

    def __init__(self, outdir: Path, pcols: list[str], mcols: list[str], rows: dict[int, list[str]]):
        self.mcols = mcols
        head = ["point", *pcols, *mcols]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(head)
        w.writerows(rows.values())
        _atomic_write(outdir / "points.csv", buf.getvalue())  # drops a cut-off last line
        self._fh = (outdir / "points.csv").open("a", encoding="utf-8", newline="")
        tpath = outdir / "timings.csv"
        new = not tpath.is_file() or not _complete_lines(tpath)
        kept = "".join(_complete_lines(tpath)) if not new else "point,seconds,where\n"
        _atomic_write(tpath, kept)
        self._th = tpath.open("a", encoding="utf-8", newline="")

    def add(self, point: int, texts: list[str], result: dict[str, Any]) -> None:
        """Write one finished point (values formatted exactly, ``repr`` of each float)."""
        vals = result["values"]
        row = [str(point), *texts, *(repr(float(vals.get(c, float("nan")))) for c in self.mcols)]
        self._write(self._fh, row)
        self._write(self._th, [str(point), f"{result.get('seconds', 0.0):.4f}", str(result.get("where", ""))])

    @staticmethod
    def _write(fh: Any, row: list[str]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())

    def close(self) -> None:
        """Close both files."""
        self._fh.close()
        self._th.close()


def record_run(outdir: Path, info: dict[str, Any], complete: bool) -> None:
    """Add a run's provenance (executor, times, points) to ``sweep.json``."""
    meta = outdir / "sweep.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data.setdefault("runs", []).append(info)
    data["complete"] = bool(complete)
    _atomic_write(meta, json.dumps(data, indent=2) + "\n")


def finish(outdir: Path, pcols: list[str], mcols: list[str], parquet: bool = True) -> None:
    """Sort ``points.csv`` by point; write ``points.parquet`` when pyarrow is installed.

    With ``parquet`` False (nothing new was run), an existing ``points.parquet`` is kept as it is.
    """
    lines = _complete_lines(outdir / "points.csv")
    rows = list(csv.reader(io.StringIO("".join(lines))))
    head, body = rows[0], sorted(rows[1:], key=lambda r: int(r[0]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(body)
    _atomic_write(outdir / "points.csv", buf.getvalue())
    if parquet or not (outdir / "points.parquet").exists():
        write_parquet(outdir)


def write_parquet(outdir: Path) -> Path | None:
    """``points.parquet`` from ``points.csv``, if pandas and pyarrow are installed (None otherwise).

    Numeric parameters and every metric column are floats (integers for integer
    parameters), date parameters stay ISO text.
    """
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    meta = json.loads((outdir / "sweep.json").read_text(encoding="utf-8"))
    kinds = {p["path"]: p["kind"] for p in meta.get("params", [])}
    df = pd.read_csv(outdir / "points.csv", dtype=str, keep_default_na=False)
    for c in df.columns:
        kind = "int" if c == "point" else kinds.get(c, "float")
        if kind == "int":
            df[c] = df[c].astype("int64")
        elif kind == "float":
            df[c] = df[c].astype("float64")
    out = outdir / "points.parquet"
    df.to_parquet(out, index=False)
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
