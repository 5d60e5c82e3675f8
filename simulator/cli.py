"""The ``reesim`` command line: a thin Typer layer over the package.

Exit status: 0 success, 1 an invalid scenario (or a failed run check, or a damaged results folder),
2 a usage error: a bad option, a scenario file that is not there, a --set that does not fit.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .cli_compare import FocusOpt, check_focus_scenarios
from .exceptions import ReesimError, ScenarioError, UsageError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="reesim: simulate rare-earth supply chains under export controls and allied supply.",
)

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a value: PATH=VALUE, e.g. facilities.sep_my.capacity=15000 "
        "or events.ID.blocked=0.5 (repeatable).",
    ),
]
ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", dir_okay=False, metavar="FILE")]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _load(path: Path, sets: list[str] | None):  # type: ignore[no-untyped-def]
    from .scenario import load_with_notes

    if not path.is_file():  # the command line names a file that is not there: a usage error (exit 2)
        raise UsageError(_not_a_file(path))
    sc, notes = load_with_notes(path, sets or [])
    for p in notes:  # valid, but probably not meant (an event outside the horizon)
        _err(f"note: {p}")
    return sc


def _not_a_file(path: Path) -> str:
    return f"{path} is a folder, not a scenario file" if path.is_dir() else f"{path}: no such file"


def _set_problem(exc: ScenarioError) -> bool:
    """True when a --set made the scenario invalid: the command line is wrong (exit 2), not the file."""
    return any(p.file.startswith("--set ") or ": --set " in p.file for p in exc.problems)  # (compare: "FILE: --set")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reesim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """reesim: simulate rare-earth supply chains under export controls and allied supply."""


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Scenario files to check.")
    ],
    set_: SetOpt = None,
) -> None:
    """Check scenario files; print one summary line per valid file, every problem otherwise."""
    bad, usage = 0, False
    for f in files:
        if not f.is_file():  # say so, and check the others
            bad += 1
            usage = True
            _err(_not_a_file(f))
            continue
        try:
            sc = _load(f, set_)
        except ScenarioError as exc:
            bad += 1
            usage = usage or _set_problem(exc)
            for p in exc.problems:
                _err(str(p))
            n = len(exc.problems)
            _err(f"{f}: invalid ({n} problem{'s' if n != 1 else ''})")
            continue
        except UsageError as exc:  # a --set this file has no place for: say which file, check the others
            bad += 1
            usage = True
            _err(f"{f}: {exc}")
            continue
        counts = [(len(sc.regions), "region"), (len(sc.facilities), "facility"), (len(sc.markets), "market"),
                  (len(sc.stockpiles), "stockpile"), (len(sc.recyclers), "recycler"), (len(sc.links), "link"),
                  (len(sc.events), "event")]
        typer.echo(f"{f}: ok — {sc.name}: " + ", ".join(
            f"{k} {w if k == 1 else ('facilities' if w == 'facility' else w + 's')}" for k, w in counts))
    if bad:
        raise typer.Exit(2 if usage else 1)  # a missing file or a --set that does not fit: a usage error, as in run


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="json (JSON Schema) or markdown (format reference).")
    ] = "json",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Print the JSON Schema of the scenario format (editors use it), or its Markdown reference."""
    from .scenario.docs import json_schema_text, markdown_reference

    if format_ not in ("json", "markdown"):
        raise UsageError(f"--format {format_!r}: allowed: json, markdown")
    text = json_schema_text() if format_ == "json" else markdown_reference()
    if output is None:
        sys.stdout.write(text)
        return
    _refuse_overwrite(output, force)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


@app.command()
def graph(
    file: ScenarioArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Picture to write: .png or .svg.")],
    set_: SetOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Draw the network: stages as columns, facilities coloured by bloc, links by nominal flow."""
    if output.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"-o {output}: the picture must end in .png or .svg")
    _refuse_overwrite(output, force)
    sc = _load(file, set_)
    from .network import compile_network
    from .report.graph import draw_network

    net = compile_network(sc)
    output.parent.mkdir(parents=True, exist_ok=True)
    draw_network(sc, net, output)
    typer.echo(f"wrote {output}")


@app.command()
def run(
    file: ScenarioArg,
    n: Annotated[int | None, typer.Option("-n", "--replications", min=1, help="Replicates (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Root seed (default: the scenario's).")] = None,
    set_: SetOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Results folder (default: reports/<scenario name>).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing results folder.")] = False,
    checks: Annotated[str, typer.Option("--checks", help="Invariant checks: error, warn or off.")] = "error",
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Where replicates run, in chunks: 'local' (a process pool; the default from "
        "256 replicates on 2+ cores), 'none' (this process) or a Dask scheduler tcp://HOST:PORT (the dist extra).")] = None,
    chunk: Annotated[int | None, typer.Option("--chunk", min=1, help="Replicates per chunk (with --scheduler).")] = None,
    focus: FocusOpt = None,
) -> None:
    """Simulate a scenario: progress bar, a table per market, summary.json, timeseries.csv, report.html."""
    import time

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .engine import simulate
    from .executors import resolve_scheduler
    from .network import compile_network
    from .results import clear_previous, write_run
    from .scenario import scenario_files

    if checks not in ("error", "warn", "off"):
        raise UsageError(f"--checks {checks!r}: allowed: error, warn, off")
    t0 = time.perf_counter()
    sc = _load(file, set_)
    check_focus_scenarios(focus, [sc])
    outdir = output if output is not None else Path("reports") / sc.name
    R = n if n is not None else sc.replications
    s = seed if seed is not None else sc.seed
    where = resolve_scheduler(scheduler, chunk, R)  # a bad --scheduler: said before the folder and the bar
    _output_folder(outdir, force)
    net = compile_network(sc)
    t_load = time.perf_counter() - t0
    console = Console(stderr=True)
    with Progress(
        TextColumn(f"[bold]{sc.name}[/] R={R}"), BarColumn(), TextColumn("{task.completed}/{task.total} {task.fields[unit]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
    ) as bar:
        task = bar.add_task("run", total=net.n_steps if where is None else R,
                            unit="steps" if where is None else "replicates")
        if where is None:
            res = simulate(net, R, s, checks=checks, progress=lambda done, total: bar.update(task, completed=done))
        else:
            from .chunks import run_chunked
            from .executors import make_executor, running

            with running(make_executor(where)) as ex:
                res = run_chunked(sc, R, s, ex, chunk, checks,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    files = scenario_files(file)
    provenance = {
        "file": str(file),
        "sha256": files[0][1] if files else None,
        "files": [{"path": p, "sha256": h} for p, h in files],
        "command": "reesim " + " ".join(sys.argv[1:]),
        "sets": list(set_ or []),
    }
    clear_previous(outdir)  # a forced rerun: nothing of the earlier results stays beside these
    summary = write_run(outdir, res, net, provenance)
    from .report.html import write_report

    report = write_report(outdir, focus or ())
    wall = time.perf_counter() - t0
    out = Console()
    if not out.is_terminal:
        out = Console(width=130)  # a pipe or file: do not squeeze the table into 80 columns
    _print_table(out, sc, summary, res)
    nrd = res.timings["node_replicate_days"]
    typer.echo(
        f"wrote {report}, summary.json and timeseries.csv — {R} replicates x {sc.horizon.days} days in "
        f"{wall:.1f} s (load {t_load:.2f} s, simulate {res.timings['simulate_s']:.2f} s, "
        f"{nrd / max(res.timings['simulate_s'], 1e-9) / 1e6:.1f} M node-replicate-days/s); "
        f"mass balance error {res.mass_balance_error:.1e}"
    )


def _print_table(console, sc, summary, res) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    def ci(s: dict) -> str:  # type: ignore[type-arg]  # in percent, as compare and the report give fill
        lo, hi = s["ci95"]
        half = 100 * (hi - lo) / 2
        k = 1 if half >= 0.05 or half == 0 else 2
        return f"{100 * s['mean']:.{k}f} % ±{half:.{k}f}"

    from .report.data import share_pct

    def days(s: dict) -> str:  # type: ignore[type-arg]
        bound = s.get("censored_at_least")
        if s.get("n", 0) == 0:
            return f">{bound:.0f} (censored)" if bound is not None else "—"
        cen = s.get("censored") or 0.0
        if cen >= 0.5 and bound is not None:  # most replicates censored: say that first
            return f">{bound:.0f} in {share_pct(cen)}%\n{s['p50']:.0f} in the rest"
        out = f"{s['p50']:.0f} ({s['p5']:.0f}–{s['p95']:.0f})"
        if cen:
            out += f"\n{share_pct(cen)}% cens."
        return out

    ref = summary.get("reference_event")
    table = Table(title=f"{sc.title or sc.name} — {summary['replications']} replicates"
                  + (f"; TTS/TTR from {ref}" if ref else ""), expand=False)
    stages = summary.get("meta", {}).get("trace_stages", [])
    cols = ["market", "fill rate", "unmet t", "lost d", "TTS d", "TTR d"]
    cols += [f"CN% {s}" for s in stages]
    table.caption = ("TTS/TTR: median days (p5–p95) from the reference event; "
                     "CN%: share of consumption that passed through china-bloc regions at each stage")
    for col in cols:
        table.add_column(col, justify="left" if col == "market" else "right")
    items = sorted(summary["markets"].items(), key=lambda kv: -(kv[1]["unmet_t"]["mean"] or 0.0))
    top = sc.report.top_markets
    for mid, m in items[:top]:
        shares = [m["dependency_bloc"].get(s, {}).get("china", {}).get("mean") for s in stages]
        table.add_row(mid, ci(m["fill_rate"]), f"{m['unmet_t']['mean']:,.0f}", f"{m['lost_days']['mean']:.1f}",
                      days(m["tts_days"]), days(m["ttr_days"]),
                      *("—" if v is None else f"{v:.0%}" for v in shares))
    if len(items) > top:
        rest = items[top:]
        unmet_rest = sum(m["unmet_t"]["mean"] or 0.0 for _, m in rest)
        table.add_row(f"+{len(rest)} more", "", f"{unmet_rest:,.0f}", "", "", "", *("" for _ in stages))
        table.caption += f"; markets with the most unmet demand first, top {top} (report.top_markets)"
    console.print(table)


@app.command()
def bench(
    full: Annotated[bool, typer.Option("--full", help="The standard set (several minutes) instead of the short one.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here.")] = None,
) -> None:
    """Time the engine: throughput in node-replicate-days per second, wall time, peak memory."""
    from .bench import main as bench_main

    args = [] if full else ["--quick"]
    if json_out is not None:
        args += ["--json", str(json_out)]
    bench_main(args)


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; add --force to overwrite it")


#: the folders this command made for its output, outermost first (see :func:`_unmake_empty`)
_MADE: list[Path] = []


def _output_folder(outdir: Path, force: bool, refuse_full: bool = True) -> None:
    """Make the output folder before a long run, or refuse: a file in its place, a folder with files in it
    (unless ``force``; ``refuse_full`` False leaves that to the caller) or a folder that cannot be made.

    The folders it makes are noted: a command that fails before it writes anything removes them again."""
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir} exists and is not a folder; give a folder with -o")
    if refuse_full and outdir.exists() and any(outdir.iterdir()) and not force:
        raise UsageError(f"{outdir} exists and is not empty; add --force to overwrite it, or -o another folder")
    new = [d for d in (outdir, *outdir.parents) if not d.exists()][::-1]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the output folder {outdir}: {exc.strerror or exc}") from None
    _MADE.extend(new)


def _unmake_empty() -> None:
    """Remove the folders this command made and left empty, innermost first: a command that fails (a bad
    --metric, a scheduler it cannot reach, Ctrl-C) leaves no empty folder behind. A folder that was there
    before, or that has anything in it, stays."""
    for d in reversed(_MADE):
        try:
            d.rmdir()  # only an empty folder
        except FileNotFoundError:
            continue
        except OSError:
            break  # not empty: nor are the folders around it
    _MADE.clear()


def _register_more() -> None:
    """Commands kept in their own modules (compare/report), registered on the same app."""
    import importlib.util

    if importlib.util.find_spec("simulator.cli_compare") is None:  # pragma: no cover
        return
    from . import cli_compare

    cli_compare.register(app, _load, _refuse_overwrite, SetOpt, ScenarioArg, _output_folder)
    importlib.import_module(".cli_sweep", __package__).register(app, _load, SetOpt, _output_folder)


_register_more()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``reesim`` console script (``argv`` None: the process's own arguments)."""
    try:
        _main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        ex_mod = sys.modules.get("simulator.executors")
        if argv is None and (code == 130 or (ex_mod is not None and ex_mod.STOPPED)):
            # interrupted, or a process pool was stopped (a failed chunk): end here, without the interpreter's
            # exit, which joins pool threads (one may wait for a result its terminated worker never finished)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        raise


class _Notices(logging.Handler):
    """The ``reesim`` logger's records on the stderr of the moment, as ``reesim: ...``."""

    def emit(self, record: logging.LogRecord) -> None:
        _err(f"reesim: {self.format(record)}")


def _say_notices() -> None:
    """Print the ``reesim`` logger's notices (INFO and up: e.g. that the first run on a machine compiles the
    native step, rather than pause in silence); once per process."""
    log = logging.getLogger("reesim")
    if not any(isinstance(h, _Notices) for h in log.handlers):
        log.addHandler(_Notices())
        log.setLevel(logging.INFO)
        log.propagate = False


def _main(argv: list[str] | None) -> None:
    _MADE.clear()
    import signal

    def _term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (timeout, a batch scheduler, docker stop) stops a run like Ctrl-C

    try:
        old_term = signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not the main thread: leave signals alone
        old_term = None
    _say_notices()
    try:
        _dispatch(argv)
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            _unmake_empty()
        raise
    finally:
        _MADE.clear()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _dispatch(argv: list[str] | None) -> None:
    """Run the command; say what went wrong in one line and exit with its status (see the module docstring)."""
    try:
        rv = app(args=argv, prog_name="reesim", standalone_mode=False)
        if isinstance(rv, int) and rv:
            if rv == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into this exit code
                _err("reesim: interrupted")
            sys.exit(rv)
    except ScenarioError as exc:
        for p in exc.problems:
            _err(str(p))
        sys.exit(2 if _set_problem(exc) else 1)
    except UsageError as exc:
        _err(f"reesim: {exc}")
        sys.exit(2)
    except ReesimError as exc:
        _err(f"reesim: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err("reesim: interrupted")
        sys.exit(130)
    except OSError as exc:  # a file that cannot be read or written (full disk, no permission)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _err(f"reesim: {where}{exc.strerror or exc}")
        sys.exit(1)
    except Exception as exc:  # click usage errors and aborts
        exits, errors, aborts = _click_exceptions()
        if isinstance(exc, exits):
            sys.exit(getattr(exc, "exit_code", 0))
        if isinstance(exc, errors) and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        if isinstance(exc, aborts):
            _err("reesim: aborted")
            sys.exit(130)
        raise


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """Exit, usage-error and abort classes of click and of the click that typer vendors.

    typer >= 0.20 raises its own copies of click's exceptions, which are not
    subclasses of ``click.ClickException``.
    """
    exits: list[type] = [typer.Exit]
    errors: list[type] = []
    aborts: list[type] = [typer.Abort]
    base = getattr(typer, "TyperException", None)
    if isinstance(base, type):
        errors.append(base)
    try:
        import click
    except ImportError:  # pragma: no cover - typer without click
        pass
    else:
        exits.append(click.exceptions.Exit)
        errors.append(click.ClickException)
        aborts.append(click.exceptions.Abort)
    return tuple(exits), tuple(errors), tuple(aborts)
