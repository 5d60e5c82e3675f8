"""The ``reesim compare`` and ``reesim report`` commands, registered on the CLI's Typer app.

``compare`` runs two or more scenarios with the same seed and replicate indices
(common random numbers), prints the paired differences per market and a
plain-language headline per scenario, and writes ``summary.json``,
``<name>/timeseries.csv`` per scenario and ``report.html``. ``report``
re-renders ``report.html``, ``figures/`` and ``tables/`` of a results folder
from its files, without running anything.

This module deliberately does not use ``from __future__ import annotations``:
Typer reads the option types from the annotations, and the shared ``SetOpt``
and ``ScenarioArg`` types are local to :func:`register`.
"""

import dataclasses
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .exceptions import ReesimError, ScenarioError, UsageError

FocusOpt = Annotated[list[str] | None, typer.Option(
    "--focus", help="Show these markets first in figures and tables, whatever their shortfall: a region "
    "(JP), a market (ev_jp), a sector (ev_motors) or a family (magnets); repeatable.")]


def check_focus_scenarios(focus: list[str] | None, scenarios: list[Any]) -> None:
    """Refuse, before a run, a ``--focus`` that names no market, region, sector or family of the scenarios."""
    if not focus:
        return
    words: dict[str, set[str]] = {"region": set(), "sector": set(), "family": set(), "market": set()}
    for sc in scenarios:
        for mid, m in sc.markets.items():
            words["market"].add(mid)
            words["region"].add(m.region)
            words["sector"].add(m.sector)
            fams = list(dict.fromkeys(str(sc.products[p].family or "other") for p in (m.demand or {})
                                      if p in sc.products))  # as network.market_family names them
            words["family"].update(fams + ["+".join(fams)])
    from .report.data import refuse_focus

    refuse_focus(focus, words, "the scenario")


def register(app: typer.Typer, load: Callable[..., Any], refuse_overwrite: Callable[[Path, bool], None],
             SetOpt: Any, ScenarioArg: Any, output_folder: Callable[..., None]) -> None:
    """Add the ``compare`` and ``report`` commands to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``reesim`` application.
    load : callable
        ``load(path, sets)`` -> Scenario (raises ScenarioError / UsageError).
    refuse_overwrite : callable
        ``refuse_overwrite(path, force)`` raises UsageError for an existing file.
    output_folder : callable
        ``output_folder(path, force)`` makes the output folder or raises UsageError (a file in its
        place, files in it without ``force``, a folder that cannot be made).
    SetOpt, ScenarioArg : typing.Annotated
        The CLI's shared ``--set`` option and scenario-file argument types.
    """
    del refuse_overwrite, ScenarioArg  # folders are checked here; files are a variadic argument

    @app.command()
    def compare(
        files: Annotated[list[Path], typer.Argument(
            help="Two or more scenario files with the same horizon; the first is the baseline.", dir_okay=False)],
        n: Annotated[int | None, typer.Option("-n", "--replications", min=1,
                                                 help="Replicates (default: the first scenario's).")] = None,
        seed: Annotated[int | None, typer.Option("--seed", min=0,
                                                    help="Root seed shared by every run (default: the first scenario's).")] = None,
        set_: SetOpt = None,
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="Results folder (default: reports/compare-<names joined by -vs->).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty results folder.")] = False,
        checks: Annotated[str, typer.Option("--checks", help="Invariant checks: error, warn or off.")] = "error",
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="Where replicates run, in chunks: 'local' (a process pool; the default from "
            "256 replicates on 2+ cores), 'none' (this process) or a Dask scheduler tcp://HOST:PORT "
            "(the dist extra).")] = None,
        chunk: Annotated[int | None, typer.Option("--chunk", min=1, help="Replicates per chunk (with --scheduler).")] = None,
        focus: FocusOpt = None,
    ) -> None:
        """Compare scenarios with common random numbers: paired differences, headline, report.html."""
        import time

        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from .compare import check_comparable, run_scenarios, shared_markets, write_compare
        from .executors import resolve_scheduler
        from .report.html import write_report
        from .results import clear_previous
        from .scenario import scenario_files

        if checks not in ("error", "warn", "off"):
            raise UsageError(f"--checks {checks!r}: allowed: error, warn, off")
        if len(files) < 2:
            raise UsageError(f"compare needs two or more scenario files (got {len(files)}); "
                             "e.g. reesim compare scenarios/tutorial.yaml scenarios/tutorial_allied.yaml")
        t0 = time.perf_counter()
        scenarios = [_load_named(load, f, set_) for f in files]
        check_comparable([(str(f), sc) for f, sc in zip(files, scenarios)])
        check_focus_scenarios(focus, scenarios)
        shared, left_out = shared_markets(scenarios)
        if not shared:
            listed = [str(f) for f in files]
            raise UsageError(f"cannot compare {', '.join(listed[:-1])} and {listed[-1]}: "
                             "no market is in every one of them")
        names = _distinct([sc.name for sc in scenarios])
        outdir = output if output is not None else Path("reports") / ("compare-" + "-vs-".join(names))
        R = n if n is not None else scenarios[0].replications
        s = seed if seed is not None else scenarios[0].seed
        where = resolve_scheduler(scheduler, chunk, R)  # a bad --scheduler: said before the folder and the bar
        output_folder(outdir, force)
        if any(left_out):  # only the markets every scenario has are paired: say which, and what is left out
            shown = ", ".join(shared[:_SHOWN]) + (f", … ({len(shared)} in all)" if len(shared) > _SHOWN else "")
            typer.echo(f"markets compared: the {len(shared)} in every scenario ({shown}); left out: "
                       + ", ".join(f"{k} of {f}" for k, f in zip(left_out, files)), err=True)
        console = Console(stderr=True)
        with Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            tasks = [bar.add_task(f"{nm} R={R} seed={s}", total=1) for nm in names]

            def tick(i: int, done: int, total: int) -> None:
                bar.update(tasks[i], completed=done, total=total)

            if where is None:
                runs = run_scenarios(list(zip(names, scenarios)), R, s, checks=checks, progress=tick)
            else:
                from .chunks import run_scenarios_chunked
                from .executors import make_executor, running

                with running(make_executor(where)) as ex:
                    runs = run_scenarios_chunked(list(zip(names, scenarios)), R, s, ex, chunk, checks, tick)
        argv = ["reesim", "compare", *map(str, files)]
        argv += ["-n", str(n)] if n is not None else []
        argv += ["--seed", str(seed)] if seed is not None else []
        argv += [x for v in (set_ or []) for x in ("--set", v)]
        argv += ["-o", str(output)] if output is not None else []
        argv += (["--force"] if force else []) + (["--checks", checks] if checks != "error" else [])
        provenance = {
            "command": shlex.join(argv),
            "sets": list(set_ or []),
            "run_time_s": time.perf_counter() - t0,
        }
        fl = {nm: scenario_files(f) for nm, f in zip(names, files)}
        clear_previous(outdir)  # a forced rerun: nothing of the earlier results stays beside these
        summary = write_compare(outdir, runs, provenance, fl)
        report = write_report(outdir, focus or ())
        out = Console() if Console().is_terminal else Console(width=130)
        for nm in names[1:]:
            _print_differences(out, summary, names[0], nm)
        for line in summary["headline"]:
            out.print(f"• {line}", highlight=False)
        typer.echo(f"wrote {outdir}/summary.json, {len(names)} timeseries.csv and {report} — "
                   f"{len(names)} scenarios x {R} replicates (seed {s}) in {time.perf_counter() - t0:.1f} s")

    @app.command()
    def report(
        folder: Annotated[Path, typer.Argument(help="A results folder written by reesim run or reesim compare.",
                                               file_okay=False)],
        focus: FocusOpt = None,
    ) -> None:
        """Re-render report.html, figures/ and tables/ of a results folder from its files (no re-run)."""
        from .report.html import write_report

        if not folder.exists():
            raise UsageError(f"{folder}: no such folder; give a folder written by reesim run or reesim compare")
        if not (folder / "summary.json").is_file():
            if (folder / "sweep.json").is_file():  # a sweep re-renders its own report when resumed
                raise UsageError(f"{folder} is a sweep folder; its report is re-rendered by "
                                 f"'reesim sweep SWEEP_FILE -o {folder} --resume'")
            raise UsageError(f"{folder} has no summary.json; give a folder written by reesim run or reesim compare")
        _check_results(folder)
        try:
            path = write_report(folder, focus or ())
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # a file damaged in a way not checked above
            raise ReesimError(f"{folder}: cannot read its results ({type(exc).__name__}: {exc}); "
                              f"{_RERUN}") from None
        typer.echo(f"wrote {path}")


_RERUN = "re-run the command that wrote the folder"
_SHOWN = 10  #: market names listed when compared scenarios do not share every market


def _check_results(folder: Path) -> None:
    """Refuse a damaged results folder (exit 1) before the report reads it, naming the file.

    A report drawn from a ``summary.json`` that is not JSON, or not the shape ``reesim run`` or
    ``reesim compare`` writes, would stop with a traceback; one drawn without a ``timeseries.csv``
    would say wrong things (no stockpiles in a scenario that has them), so both are refused.
    """
    import json

    path = folder / "summary.json"
    try:
        top = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReesimError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}); "
                          f"{_RERUN}") from None
    except UnicodeDecodeError:
        raise ReesimError(f"{path}: not UTF-8 text; {_RERUN}") from None
    shape = f"{path}: not a summary written by reesim run or reesim compare"
    if not isinstance(top, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
            type(top), "a number")
        raise ReesimError(f"{shape} (it holds {kind}, not an object); {_RERUN}")
    runs = top.get("scenarios") if "scenarios" in top else {"": top}
    if not isinstance(runs, dict) or not runs:
        raise ReesimError(f"{shape} ('scenarios' is not an object of scenarios); {_RERUN}")
    for name, run in runs.items():
        where = f"scenarios.{name}." if name else ""
        if not isinstance(run, dict) or not isinstance(run.get("markets"), dict):
            raise ReesimError(f"{shape} (no {where}markets); {_RERUN}")
        csv = folder / name / "timeseries.csv"  # folder/timeseries.csv for a run ("")
        if not csv.is_file():
            raise ReesimError(f"{csv}: no such file; the report needs it as well as {path.name}; {_RERUN}")


def _load_named(load: Callable[..., Any], file: Path, sets: list[str] | None) -> Any:
    """``load(file, sets)``; a --set that does not fit this one of the files says which file (as validate does)."""
    try:
        return load(file, sets)
    except UsageError as exc:
        if not file.is_file():  # 'no such file': it names the file already
            raise
        raise UsageError(f"{file}: {exc}") from None
    except ScenarioError as exc:  # a --set value this file's schema refuses: '<file>: --set ...: ...'
        if not any(p.file.startswith("--set ") for p in exc.problems):
            raise
        raise ScenarioError([dataclasses.replace(p, file=f"{file}: {p.file}") if p.file.startswith("--set ") else p
                             for p in exc.problems]) from None


def _distinct(names: list[str]) -> list[str]:
    """Names made unique by a ``_2``, ``_3`` suffix (e.g. a scenario compared with itself)."""
    out: list[str] = []
    for nm in names:
        cand, k = nm, 2
        while cand in out:
            cand, k = f"{nm}_{k}", k + 1
        out.append(cand)
    return out


def _fmt_diff(d: dict[str, Any], scale: float = 1.0, digits: int = 0) -> str:
    """``−2,122 ±3`` (mean and 95 % CI half-width) from a difference STAT; notes exclusions."""
    if d.get("mean") is None:
        if d.get("no_reference", 0.0) >= 1.0:
            return "no ref."
        return "all cens." if d.get("excluded", 0) >= 1.0 else "—"
    from .report.data import fmt_signed

    lo, hi = d["ci95"]
    out = f"{fmt_signed(d['mean'], digits, scale)} ±{(hi - lo) / 2 * scale:,.{digits}f}"  # no '−0' or '+0'
    if d.get("excluded"):
        from .report.data import fmt_share

        out += f" ({fmt_share(d['excluded'])} excl.)"  # 0.3 % read '0 % excl.'

    return out


def _print_differences(console: Any, summary: dict[str, Any], first: str, name: str, top: int = 25) -> None:
    """A rich table of the paired differences of ``name`` minus ``first`` per market and group."""
    from rich.table import Table

    from .report.data import no_change, shows_substitution

    diffs = summary["differences"][name]
    sa = summary["scenarios"][first]["markets"]
    sb = summary["scenarios"][name]["markets"]
    ga = summary["scenarios"][first].get("groups", {})
    gb = summary["scenarios"][name].get("groups", {})
    markets = sorted((k for k in diffs if ":" not in k), key=lambda k: -abs(diffs[k]["unmet_t"]["mean"] or 0.0))
    subst = shows_substitution(diffs, sa, sb)
    groups = [k for k in diffs if ":" in k]
    table = Table(title=f"{name} − {first}: paired differences per replicate, mean ±95 % CI "
                        f"({summary['replications']} replicates, seed {summary['seed']})",
                  caption="unmet: first → other (mean); better in: share of replicates with less unmet demand; "
                          "TTS/TTR over replicates uncensored in both"
                          + ("; Δ subst. t: demand given up to substitution, which is not counted as unmet"
                             if subst else ""))
    cols = ["market / group", "unmet t", "Δ unmet t", "Δ fill pp", "Δ TTS d", "Δ TTR d", "better in"]
    if subst:  # less unmet demand can be demand given up: say how much, beside it
        cols.insert(3, "Δ subst. t")
    for col in cols:
        table.add_column(col, justify="left" if col == "market / group" else "right",
                         no_wrap=col in ("market / group", "unmet t"))

    def row(key: str, a: dict[str, Any], b: dict[str, Any], end: bool = False) -> None:
        d = diffs[key]
        pb = d["unmet_t"].get("p_better")
        cells = [key, f"{a['unmet_t']['mean']:,.0f} → {b['unmet_t']['mean']:,.0f}",
                 _fmt_diff(d["unmet_t"]), _fmt_diff(d["fill_rate"], 100.0, 1),
                 _fmt_diff(d["tts_days"]), _fmt_diff(d["ttr_days"]),
                 "—" if pb is None else "no change" if no_change(d["unmet_t"]) else f"{pb:.0%}"]
        if subst:
            cells.insert(3, _fmt_diff(d["substituted_t"]))
        table.add_row(*cells, end_section=end)

    shown = markets[:top]
    for i, k in enumerate(shown):
        row(k, sa[k], sb[k], end=(i == len(shown) - 1 and bool(groups)))
    for k in groups:
        if k in ga and k in gb:
            row(k, ga[k], gb[k])
    console.print(table)
    if len(markets) > top:
        console.print(f"({len(markets) - top} more markets with smaller changes in summary.json)", highlight=False)
