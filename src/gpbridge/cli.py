"""The one gpbridge command: serve, import, demo-data (and later mllp, validate, terminology, token, audit)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gpbridge.config import DEFAULT_DATABASE, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="gpbridge: GP record interoperability hub.")
console = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", "-d", help="sqlite:///path.db (default) or postgresql://user@host/db"),
]


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(**overrides)


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo population into an empty database.")] = False,
    demo_patients: Annotated[int, typer.Option(help="Patients in the demo population.")] = 300,
    insecure_dev: Annotated[
        bool, typer.Option("--insecure-dev", help="Development mode: the security policy allows everything.")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes (each with its own connections).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the FHIR server (REST API at /fhir)."""
    import uvicorn

    from gpbridge.api.app import create_app
    from gpbridge.store import open_store

    settings = _settings(database=database, host=host, port=port, insecure_dev=insecure_dev or None,
                         workers=workers)
    if settings.insecure_dev:
        console.print("[bold red]WARNING: --insecure-dev: security checks are OFF. Never use with real data.[/]")
    store = open_store(settings.database, settings)
    if demo and store.count() == 0:
        from gpbridge.demo.loader import load_demo

        with console.status(f"Loading the demo population ({demo_patients} patients)…"):
            summary = load_demo(store, settings, patients=demo_patients)
        console.print(f"Loaded {summary.resources:,} demo resources for {demo_patients} patients "
                      f"in {summary.seconds:.1f}s.")
    base = f"http://{settings.host}:{settings.port}/fhir"
    console.print(f"gpbridge serving [bold]{base}[/] (database {settings.database})")
    console.print(f"  try: curl -s '{base}/Patient?_count=3' -H 'Accept: application/fhir+json'", soft_wrap=True)
    if settings.workers > 1:
        # Workers are separate processes: hand them the settings through the environment.
        store.close()
        _export_settings(settings)
        uvicorn.run("gpbridge.api.app:app_from_env", factory=True, workers=settings.workers, host=settings.host,
                    port=settings.port, log_level=log_level, access_log=False)
        return
    uvicorn.run(create_app(settings, store), host=settings.host, port=settings.port, log_level=log_level,
                access_log=False)


def _export_settings(settings: Settings) -> None:
    import dataclasses
    import os

    for f in dataclasses.fields(settings):
        if f.name != "extra":
            value = getattr(settings, f.name)
            os.environ[f"GPBRIDGE_{f.name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="FHIR JSON files, Bundles, NDJSON, or directories of them.")],
    database: DatabaseOption = None,
    batch_size: Annotated[int, typer.Option(help="Plain resources written per transaction.")] = 500,
) -> None:
    """Load FHIR JSON resources, Bundles or NDJSON into the store (streamed, one transaction per batch)."""
    from gpbridge.adapters.fhir.importer import import_paths
    from gpbridge.store import open_store

    settings = _settings(database=database)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]error:[/] no such file or directory: {', '.join(missing)}")
        raise typer.Exit(2)
    store = open_store(settings.database, settings)
    try:
        summary = import_paths(store, settings, paths, batch_size=batch_size, console=console)
    finally:
        store.close()
    summary.print(console)
    if summary.failed:
        raise typer.Exit(1)


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option("--out", help="Directory for the transaction Bundles.")],
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 1,
    entries_per_patient: Annotated[int, typer.Option(help="Average clinical entries per patient.")] = 40,
    force: Annotated[bool, typer.Option("--force", help="Replace bundle files already in --out.")] = False,
) -> None:
    """Write the synthetic GP population as transaction Bundles (one file per Bundle)."""
    from gpbridge.demo.population import write_population

    try:
        summary = write_population(out, patients=patients, seed=seed, entries_per_patient=entries_per_patient,
                                   overwrite=force)
    except FileExistsError as exc:
        console.print(f"[red]error:[/] {exc} (use --force to replace them)")
        raise typer.Exit(2) from None
    console.print(f"Wrote {summary.describe()} to {out}")


def _add_subcommands() -> None:
    from gpbridge.terminology.cli import app as terminology_app

    app.add_typer(terminology_app, name="terminology", help="Load and inspect SNOMED CT, dm+d and Read maps.")


_add_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "DEFAULT_DATABASE"]
