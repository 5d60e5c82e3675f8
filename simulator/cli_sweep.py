"""The ``reesim sweep`` command, registered on the CLI's Typer app.

``reesim sweep FILE --param PATH=LOW:HIGH ...`` runs every point of a SALib
design (morris, sobol, lhs) or a grid with common random numbers, on a local
process pool or a Dask cluster, writes each point as it finishes, and at the
end the sensitivity indices and ``report.html``. ``FILE`` is a scenario, a
sweep file with a ``sweep:`` block (:mod:`simulator.sweep_file`), or, with
``--resume``, the folder of an earlier sweep.

This module does not use ``from __future__ import annotations``: Typer reads
the option types from the annotations.
"""

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .exceptions import ReesimError, UsageError

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="A value to vary: PATH=LOW:HIGH with a --set path, e.g. "
    "events.cn_magnet_licensing.blocked=0.3:1.0 or facilities.sep_my.online=2026-01-01:2028-01-01 "
    "(dates are sampled in days; integer ends give integers). Repeatable.")]
MetricOpt = Annotated[list[str] | None, typer.Option(
    "--metric", help="MARKET.METRIC to analyse, e.g. ev_jp.unmet_t, family:magnets.fill_rate, "
    "bloc:allied.lost_days; metrics: fill_rate, unmet_t, lost_days, max_shortfall, tts_days, ttr_days, "
    "cost_usd, substituted_t. Repeatable; the first is the headline (default: unmet_t of every market family).")]


def register(app: typer.Typer, load: Callable[..., Any], SetOpt: Any, output_folder: Callable[..., None]) -> None:
    """Add the ``sweep`` command to ``app``.

    Parameters
    ----------
    app : typer.Typer
        The ``reesim`` application.
    load : callable
        ``load(path, sets)`` -> Scenario (used for defaults: replicates and seed).
    SetOpt : typing.Annotated
        The CLI's shared ``--set`` option type.
    output_folder : callable
        ``output_folder(path, force, refuse_full=False)`` makes the output folder or raises UsageError.
    """

    @app.command()
    def sweep(
        file: Annotated[Path, typer.Argument(
            help="Scenario YAML, a sweep YAML with a sweep: block, or (with --resume) a sweep folder.")],
        param: ParamOpt = None,
        method: Annotated[str | None, typer.Option(
            "--method", help="Design: morris (default), sobol, grid or lhs.")] = None,
        samples: Annotated[int | None, typer.Option(
            "--samples", min=1, help="Morris trajectories (default 10; points = N(k+1)), Sobol base samples "
            "(power of two, default 64; N(k+2)), grid levels per parameter (default 3; N^k) or LHS points "
            "(default 50).")] = None,
        n: Annotated[int | None, typer.Option("-n", "--replications", min=1,
                                                 help="Replicates per point (default: the scenario's).")] = None,
        seed: Annotated[int | None, typer.Option("--seed", min=0, help="Root seed of every point and of the "
                                                    "design (default: the scenario's).")] = None,
        metric: MetricOpt = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="local (a process pool on this machine, default) or tcp://HOST:PORT "
            "(a running Dask scheduler; needs the reesim 'dist' extra).")] = None,
        workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                       help="Processes of the local pool (default: the cores).")] = None,
        set_: SetOpt = None,
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="Sweep folder (default: reports/sweep-<scenario>-<method>).")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue the sweep in the folder: keep the "
                                             "finished points, run the missing ones.")] = False,
        force: Annotated[bool, typer.Option("--force", help="Start afresh in a non-empty folder.")] = False,
        max_points: Annotated[int | None, typer.Option(
            "--max-points", min=0, help="Stop after this many new points (continue later with --resume).")] = None,
        checks: Annotated[str | None, typer.Option("--checks", help="Invariant checks: error, warn or off.")] = None,
    ) -> None:
        """Sweep parameters over ranges; Morris or Sobol sensitivity; tornado chart and report.html."""
        from .sweep import DEFAULT_SAMPLES, SweepSpec, parse_metric, parse_param

        t0 = time.perf_counter()
        opts: dict[str, Any] = {}
        file_params: tuple[Any, ...] = ()
        sets = list(set_ or [])
        if file.is_dir():
            if not resume:
                raise UsageError(f"{file} is a folder; add --resume to continue the sweep in it")
            opts, file_params, scen = _from_folder(file)
            sets = list(opts.pop("sets", [])) + sets
            output = output or file
        else:
            from .sweep_file import is_sweep_file, load_sweep_file

            if is_sweep_file(file):
                loaded = load_sweep_file(file)
                b = loaded.block
                opts = {k: getattr(b, k) for k in ("method", "samples", "replications", "seed", "scheduler",
                                                    "workers", "output", "checks") if getattr(b, k) is not None}
                if b.metrics:
                    opts["metrics"] = list(b.metrics)
                file_params, scen = loaded.params, loaded.scenario
                sets = list(b.sets) + sets
            else:
                if not file.is_file():
                    load(file, [])  # the command line's 'no such file' (a usage error)
                scen = file
        method_ = method or opts.get("method") or "morris"
        checks_ = checks or opts.get("checks") or "error"
        if checks_ not in ("error", "warn", "off"):
            raise UsageError(f"--checks {checks_!r}: allowed: error, warn, off")
        params = tuple(parse_param(p) for p in param) if param else tuple(file_params)
        if not params:
            raise UsageError("a sweep needs at least one --param PATH=LOW:HIGH "
                             "(e.g. --param events.cn_magnet_licensing.blocked=0.3:1.0)")
        paths = [p.path for p in params]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise UsageError(f"--param {dup[0]!r} is given more than once")
        sc = load(scen, sets)
        metrics = tuple(parse_metric(m) for m in (metric or opts.get("metrics") or []))
        spec = SweepSpec(
            file=scen, params=params, method=method_,
            samples=samples or opts.get("samples") or DEFAULT_SAMPLES.get(method_, 10),
            replications=n or opts.get("replications") or sc.replications,
            seed=seed if seed is not None else opts.get("seed", sc.seed),
            metrics=metrics, sets=tuple(sets), checks=checks_,
        )
        from .sweep import PointFactory, check_design

        factory = PointFactory(spec)
        factory.check()  # each --param's path and ends first: a typo is the problem, not how many there are
        check_design(spec.method, len(spec.params), spec.samples)
        outdir = output or (Path(opts["output"]) if opts.get("output") else
                            Path("reports") / f"sweep-{sc.name}-{spec.method}")
        sched = scheduler or opts.get("scheduler") or "local"
        from .executors import make_executor

        # a sweep file's workers size the local pool; they do not stop it from going to a cluster
        executor = make_executor(sched, workers if workers is not None else
                                 (opts.get("workers") if sched == "local" else None))  # before the folder
        try:
            output_folder(outdir, force, refuse_full=False)  # a full folder: --resume or --force (run_sweep)
        except BaseException:
            executor.close()
            raise
        command = _command(file, param, method, samples, n, seed, metric, scheduler, workers, set_, output,
                           max_points, checks)
        _run(spec, factory, outdir, executor, resume, force, max_points, command, t0)


def _run(spec: Any, factory: Any, outdir: Path, executor: Any, resume: bool, force: bool, max_points: int | None,
         command: str, t0: float) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .sweep import run_sweep

    err = Console(stderr=True)
    where = executor.describe()
    err.print(f"{spec.method}: {spec.n_points} points x {spec.replications} replicates "
              f"(seed {spec.seed}) of {spec.file} on {where} -> {outdir}", highlight=False)
    state = {"done": 0}
    import signal

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops a sweep like Ctrl-C: finished points stay written

    old_term = signal.signal(signal.SIGTERM, _term)
    try:
        with Progress(TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("points"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("points", total=spec.n_points)

            def tick(done: int, total: int) -> None:
                state["done"] = done
                bar.update(task, completed=done, total=total)

            out = run_sweep(spec, outdir, executor, resume=resume, force=force, max_points=max_points,
                            progress=tick, command=command, factory=factory)
    except KeyboardInterrupt:
        executor.abort()
        if (outdir / "sweep.json").is_file():  # the sweep had started: its points so far can be resumed
            typer.echo(f"reesim: interrupted; {state['done']} of {spec.n_points} points are saved in "
                       f"{outdir}/points.csv; continue with:\n  {_resume_cmd(outdir)}", err=True)
        else:  # stopped while checking the scenario: nothing to resume
            typer.echo("reesim: interrupted before the first point; nothing was saved", err=True)
        # SystemExit, not typer.Exit(130): typer hands that 130 back and the CLI would say 'interrupted' again
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, old_term)
        executor.close()
    rate = 60.0 * out.new / max(out.wall_s, 1e-9)
    if not out.complete:
        typer.echo(f"{out.done} of {out.n_points} points done in {outdir}/points.csv "
                   f"({out.new} new, {rate:.1f} points/min); continue with:\n  {_resume_cmd(outdir)}")
        return
    from .report.sweep_html import write_sweep_report

    report = write_sweep_report(outdir)
    if not out.new:
        typer.echo(f"all {out.n_points} points of {outdir} were done already; re-analysed them and wrote {report}")
        return
    console = Console() if Console().is_terminal else Console(width=130)
    for a in (out.analysis or {}).get("metrics", {}).values():
        console.print(f"• {a['sentence']}", highlight=False, markup=False)
    typer.echo(f"wrote {report}, points.csv and sensitivity.json — {out.n_points} points x "
               f"{spec.replications} replicates; {out.new} run now in {out.wall_s:.1f} s "
               f"({rate:.1f} points/min) on {where}; total {time.perf_counter() - t0:.1f} s")


def _from_folder(folder: Path) -> tuple[dict[str, Any], tuple[Any, ...], Path]:
    """Options, parameters and scenario path of the sweep recorded in ``folder/sweep.json``."""
    import json

    from .sweep import parse_param

    meta = folder / "sweep.json"
    if not meta.is_file():
        raise UsageError(f"{folder} has no sweep.json; give the scenario or sweep file and --param options")
    rerun = "start the sweep again without --resume (with --force to reuse the folder)"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ReesimError(f"{meta}: not valid JSON{where}; {rerun}") from None
    try:
        params = tuple(parse_param(f"{p['path']}={p['low']}:{p['high']}", p.get("label")) for p in data["params"])
        opts = {k: data[k] for k in ("method", "samples", "replications", "seed", "checks", "sets", "metrics")
                if k in data}
        return opts, params, Path(data["file"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReesimError(f"{meta}: not a sweep record written by reesim sweep ({type(exc).__name__}: {exc}); "
                          f"{rerun}") from None


def _command(file: Path, param: Any, method: Any, samples: Any, n: Any, seed: Any, metric: Any, scheduler: Any,
             workers: Any, set_: Any, output: Any, max_points: Any, checks: Any) -> str:
    """The command line as given (for provenance and the resume hint), without --resume/--force."""
    argv = ["reesim", "sweep", str(file)]
    argv += [x for p in (param or []) for x in ("--param", p)]
    for flag, v in (("--method", method), ("--samples", samples), ("-n", n), ("--seed", seed),
                    ("--scheduler", scheduler), ("--workers", workers), ("-o", output), ("--checks", checks)):
        if v is not None:
            argv += [flag, str(v)]
    argv += [x for m in (metric or []) for x in ("--metric", m)]
    argv += [x for s in (set_ or []) for x in ("--set", s)]
    del max_points
    return shlex.join(argv)


def _resume_cmd(outdir: Path) -> str:
    """The command that continues a sweep (its folder's sweep.json has the rest; add --scheduler to change)."""
    return shlex.join(["reesim", "sweep", str(outdir), "--resume"])

