"""The ``reesim`` command line: a thin Typer layer over the package.

Exit status: 0 success, 1 an invalid scenario (or a failed run check),
2 a usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .exceptions import ReesimError, ScenarioError, UsageError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="reesim: simulate rare-earth supply chains under export controls and allied supply.",
)

SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        help="Override a value: PATH=VALUE, e.g. facilities.sep_my.capacity=15000 "
        "or events.cn_licensing_2025.blocked=0.5 (repeatable).",
    ),
]
ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", dir_okay=False)]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _load(path: Path, sets: list[str] | None):  # type: ignore[no-untyped-def]
    from .scenario import load_scenario

    return load_scenario(path, sets or [])


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
    files: Annotated[list[Path], typer.Argument(help="Scenario files to check.", dir_okay=False)],
    set_: SetOpt = None,
) -> None:
    """Check scenario files; print one summary line per valid file, every problem otherwise."""
    bad = 0
    for f in files:
        try:
            sc = _load(f, set_)
        except ScenarioError as exc:
            bad += 1
            for p in exc.problems:
                _err(str(p))
            n = len(exc.problems)
            _err(f"{f}: invalid ({n} problem{'s' if n != 1 else ''})")
            continue
        typer.echo(
            f"{f}: ok — {sc.name}: {len(sc.regions)} regions, {len(sc.facilities)} facilities, "
            f"{len(sc.markets)} markets, {len(sc.stockpiles)} stockpiles, "
            f"{len(sc.recyclers)} recyclers, {len(sc.links)} links, {len(sc.events)} events"
        )
    if bad:
        raise typer.Exit(1)


@app.command()
def schema(
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Write here instead of stdout.")
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


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; add --force to overwrite it")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``reesim`` console script."""
    try:
        rv = app(args=argv, prog_name="reesim", standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except ScenarioError as exc:
        for p in exc.problems:
            _err(str(p))
        sys.exit(1)
    except UsageError as exc:
        _err(f"reesim: {exc}")
        sys.exit(2)
    except ReesimError as exc:
        _err(f"reesim: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err("reesim: interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and aborts
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            _err("reesim: aborted")
            sys.exit(130)
        raise
