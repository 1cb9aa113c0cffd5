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


InsecureDevOption = Annotated[
    bool, typer.Option("--insecure-dev", help="Development mode: the security policy allows everything.")
]


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(**overrides)


def _warn_if_insecure(settings: Settings) -> None:
    """Every command that serves requests says so loudly when the policy allows everything."""
    if settings.insecure_dev:
        console.print("[bold red]WARNING: --insecure-dev: security checks are OFF. Never use with real data.[/]")


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo population into an empty database.")] = False,
    demo_patients: Annotated[int, typer.Option(help="Patients in the demo population.")] = 300,
    insecure_dev: InsecureDevOption = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes (each with its own connections).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the FHIR server (REST API at /fhir)."""
    import uvicorn

    from gpbridge.api.app import create_app
    from gpbridge.store import open_store

    settings = _settings(database=database, host=host, port=port, insecure_dev=insecure_dev or None,
                         workers=workers, builtin_idp=True if demo else None)
    _warn_if_insecure(settings)
    store = open_store(settings.database, settings)
    if demo and store.count() == 0:
        from gpbridge.demo.loader import load_demo

        with console.status(f"Loading the demo population ({demo_patients} patients)…"):
            summary = load_demo(store, settings, patients=demo_patients)
        console.print(f"Loaded {summary.resources:,} demo resources for {demo_patients} patients "
                      f"in {summary.seconds:.1f}s.")
    base = f"{'https' if settings.tls_cert else 'http'}://{settings.host}:{settings.port}/fhir"
    console.print(f"gpbridge serving [bold]{base}[/] (database {settings.database})")
    console.print(f"  try: curl -s '{base}/Patient?_count=3' -H 'Accept: application/fhir+json'", soft_wrap=True)
    tls = {"ssl_certfile": settings.tls_cert or None, "ssl_keyfile": settings.tls_key or None}
    from gpbridge.api.app import tune_gc
    if settings.workers > 1:
        # Workers are separate processes: hand them the settings through the environment.
        store.close()
        _export_settings(settings)
        uvicorn.run("gpbridge.api.app:app_from_env", factory=True, workers=settings.workers, host=settings.host,
                    port=settings.port, log_level=log_level, access_log=False, **tls)
        return
    app = create_app(settings, store)
    tune_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=False, **tls)


def _export_settings(settings: Settings) -> None:
    import dataclasses
    import os

    for f in dataclasses.fields(settings):
        if f.name != "extra":
            value = getattr(settings, f.name)
            os.environ[f"GPBRIDGE_{f.name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)


FORMATS = ("gp2gp", "csv", "fhir")


@app.command("import")
def import_(
    paths: Annotated[list[str], typer.Argument(
        help="Files or directories; start with a format (gp2gp, csv) for non-FHIR sources, "
             "e.g. 'gpbridge import gp2gp extract.xml'. Default: FHIR JSON, Bundles or NDJSON.")],
    database: DatabaseOption = None,
    profile: Annotated[str | None, typer.Option(help="CSV mapping profile (e.g. readv2-journal, ctv3-events).")] = None,
    batch_size: Annotated[int, typer.Option(help="Plain FHIR resources written per transaction.")] = 500,
) -> None:
    """Load records: FHIR JSON/NDJSON (default), GP2GP EHR extracts, or CSV extracts with legacy codes."""
    from gpbridge.store import open_store

    fmt = "fhir"
    if paths and paths[0] in FORMATS:
        fmt, paths = paths[0], paths[1:]
    if not paths:
        console.print("[red]error:[/] give at least one file or directory to import")
        raise typer.Exit(2)
    files = [Path(p) for p in paths]
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        console.print(f"[red]error:[/] no such file or directory: {', '.join(missing)}")
        raise typer.Exit(2)
    if fmt == "csv" and not profile:
        from gpbridge.adapters.csv.profile import available_profiles

        console.print(f"[red]error:[/] CSV imports need --profile (one of: {', '.join(available_profiles())})")
        raise typer.Exit(2)
    settings = _settings(database=database)
    store = open_store(settings.database, settings)
    from gpbridge.api.app import tune_gc

    tune_gc()
    try:
        failed = _run_import(fmt, store, settings, files, profile=profile, batch_size=batch_size)
    finally:
        store.close()
    if failed:
        raise typer.Exit(1)


def _run_import(fmt: str, store: object, settings: Settings, files: list[Path], *, profile: str | None,
                batch_size: int) -> int:
    """Run one import and print its summary; returns the number of failures."""
    if fmt == "fhir":
        from gpbridge.adapters.fhir.importer import import_paths

        summary = import_paths(store, settings, files, batch_size=batch_size, console=console)  # type: ignore[arg-type]
        summary.print(console)
        return summary.failed
    from gpbridge.adapters.common.summary import print_import_summary

    if fmt == "gp2gp":
        from gpbridge.adapters.gp2gp.importer import import_gp2gp_paths

        results = import_gp2gp_paths(store, settings, files)  # type: ignore[arg-type]
    else:
        from gpbridge.adapters.csv.importer import import_csv_file

        results = [import_csv_file(store, settings, f, profile=profile or "") for f in files]  # type: ignore[arg-type]
    print_import_summary(results, console)
    return sum(1 for r in results if not r.ok)


@app.command()
def mllp(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (2575 is the registered HL7 MLLP port).")] = 2575,
    insecure_dev: InsecureDevOption = False,
) -> None:
    """Receive HL7 v2 messages over MLLP (ADT, ORU), acknowledging each with AA/AE/AR.

    Senders are mapped to registered clients by GPBRIDGE_MLLP_SENDERS (docs/adapters.md)."""
    import asyncio
    import signal

    from gpbridge.adapters.hl7v2.mllp import run_mllp_server
    from gpbridge.security.audit_chain import open_audit_sink
    from gpbridge.security.clients import find_client
    from gpbridge.security.senders import load_senders
    from gpbridge.store import open_store

    settings = _settings(database=database, insecure_dev=insecure_dev or None)
    try:
        senders = load_senders(settings)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    _warn_if_insecure(settings)
    for sender in senders.senders.values():
        if find_client(settings, sender.client_id) is None:
            console.print(f"[yellow]warning:[/] sender {sender.label} is mapped to client {sender.client_id}, "
                          "which is not registered: its messages are refused until it is")
    if not senders and not settings.insecure_dev:
        console.print("[yellow]warning:[/] no senders are mapped (mllp_senders): every message will be refused")
    store = open_store(settings.database, settings)
    audit = open_audit_sink(settings, store)
    console.print(f"gpbridge MLLP listener on {host}:{port} (database {settings.database}, "
                  f"{len(senders)} sender{'' if len(senders) == 1 else 's'} mapped)")
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (systemd, docker stop) ends the listener like Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(run_mllp_server(store, settings, host, port, audit=audit))
    except KeyboardInterrupt:
        pass
    finally:
        close = getattr(audit, "close", None)
        if close is not None:
            close()  # flushes buffered audit events before the store goes
        store.close()


quarantine_app = typer.Typer(no_args_is_help=True, help="Inputs that could not be imported, kept with their reason.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list_command(database: DatabaseOption = None) -> None:
    """List quarantined inputs still waiting for a fix."""
    from gpbridge.adapters.common.quarantine import quarantine_list
    from gpbridge.adapters.common.summary import print_quarantine
    from gpbridge.store import open_store

    settings = _settings(database=database)
    store = open_store(settings.database, settings)
    try:
        print_quarantine(quarantine_list(store), console)
    finally:
        store.close()


@quarantine_app.command("show")
def quarantine_show_command(item: str, database: DatabaseOption = None) -> None:
    """Show one quarantined input: where it came from, why it failed, and the original."""
    from gpbridge.adapters.common.quarantine import quarantine_show
    from gpbridge.store import open_store

    settings = _settings(database=database)
    store = open_store(settings.database, settings)
    try:
        shown = quarantine_show(store, item)
    except KeyError as exc:
        console.print(f"[red]error:[/] {exc.args[0]}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(shown)


@quarantine_app.command("retry")
def quarantine_retry_command(item: str, database: DatabaseOption = None) -> None:
    """Re-run the adapter on a quarantined input (after fixing the code maps or the adapter)."""
    from gpbridge.adapters.common.quarantine import quarantine_retry
    from gpbridge.adapters.common.summary import print_import_summary
    from gpbridge.store import open_store

    settings = _settings(database=database)
    store = open_store(settings.database, settings)
    try:
        result = quarantine_retry(store, settings, item)
    except KeyError as exc:
        console.print(f"[red]error:[/] {exc.args[0]}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    print_import_summary([result], console)
    if not result.ok:
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


@app.command("link")
def link(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-match every Patient record (batch).")] = False,
    database: DatabaseOption = None,
) -> None:
    """Link Patient records of one person across sources (golden Patients, review queue)."""
    from gpbridge.identity.rebuild import rebuild_links
    from gpbridge.store import open_store

    if not rebuild:
        console.print("[red]error:[/] say what to do: gpbridge link --rebuild")
        raise typer.Exit(2)
    settings = _settings(database=database)
    store = open_store(settings.database, settings)
    try:
        s = rebuild_links(store, progress=lambda stage, n: console.print(f"{stage} {n:,}"), settings=settings)
    finally:
        store.close()
    console.print(f"{s.records:,} records -> {s.people:,} people; {s.goldens_written} people written, "
                  f"{s.sources_repointed} records moved, {s.people_retired} retired, {s.reviews_opened} reviews")


@app.command()
def token(
    client: Annotated[str | None, typer.Option(help="A registered client id: a system token.")] = None,
    user: Annotated[str | None, typer.Option(help="A built-in user: clinician-a, clinician-b, patient-1, proxy-1…")] = None,
    scope: Annotated[str | None, typer.Option(help="SMART scopes, space-separated (default: the user's or client's).")] = None,
) -> None:
    """Print a bare access token from the built-in identity provider (for scripts and curl)."""
    from gpbridge.security.idp import mint_token_command

    try:
        typer.echo(mint_token_command(_settings(), client=client, user=user, scope=scope))
    except (ValueError, KeyError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


client_app = typer.Typer(no_args_is_help=True, help="OAuth2 clients (application-restricted access).")
app.add_typer(client_app, name="client")


@client_app.command("register")
def client_register(
    client_id: Annotated[str, typer.Argument(help="The client id (iss and sub of its assertions).")],
    key: Annotated[Path, typer.Option(help="The client's public key: PEM or JWKS JSON file.")],
    scope: Annotated[list[str] | None, typer.Option(help="A SMART scope it may ask for (repeat).")] = None,
    kid: Annotated[str | None, typer.Option(help="Key id its assertions will carry.")] = None,
    name: Annotated[str | None, typer.Option(help="Human-readable name.")] = None,
) -> None:
    """Register a client's public key so it can use client_credentials with a signed JWT assertion."""
    from gpbridge.security.commands import register_client_command

    try:
        console.print(register_client_command(_settings(), client_id, key, tuple(scope or ()), kid, name or ""),
                      soft_wrap=True)
    except (ValueError, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit of every access.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(database: DatabaseOption = None) -> None:
    """Check the audit chain: says which event was altered, removed or reordered."""
    from gpbridge.security.commands import audit_verify_command

    code, text = audit_verify_command(_settings(database=database))
    console.print(text, soft_wrap=True)
    raise typer.Exit(code)


ig_app = typer.Typer(no_args_is_help=True, help="FHIR implementation guides (profiles, extensions, value sets).")
app.add_typer(ig_app, name="ig")


@ig_app.command("install")
def ig_install(
    path: Annotated[Path, typer.Argument(help="A FHIR package folder or .tgz (package.json + StructureDefinitions).")],
) -> None:
    """Compile a FHIR package's profiles so writes and $validate check them."""
    from gpbridge.fhir.packages import PackageError, ig_install_command

    settings = _settings()
    try:
        console.print(ig_install_command(path, settings), soft_wrap=True)
    except PackageError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


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
