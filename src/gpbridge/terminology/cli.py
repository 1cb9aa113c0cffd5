"""``gpbridge terminology ...``: a Typer sub-app the main CLI mounts with ``add_typer``.

``load KIND PATH`` streams a release into the database with a rich progress bar per stage;
``systems`` lists what is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError

app = typer.Typer(no_args_is_help=True, help="Load and inspect terminology (SNOMED CT, dm+d, Read maps, FHIR).")
console = Console(stderr=True)


class Kind(StrEnum):
    snomed = "snomed"
    read = "read"
    ctv3 = "ctv3"
    dmd = "dmd"
    fhir = "fhir"


def loader(kind: Kind) -> Callable[..., Any]:
    from gpbridge.terminology import dmd, fhirload, readmaps, rf2

    return {
        Kind.snomed: rf2.load_snomed_rf2,
        Kind.read: readmaps.load_read_v2_map,
        Kind.ctv3: readmaps.load_ctv3_map,
        Kind.dmd: dmd.load_dmd,
        Kind.fhir: fhirload.load_fhir_terminology,
    }[kind]


@app.command("load")
def load(
    kind: Annotated[Kind, typer.Argument(help="snomed (RF2 Snapshot), read (rcsctmap2), ctv3 (ctv3sctmap2), "
                                              "dmd (XML) or fhir (CodeSystem/ValueSet/ConceptMap JSON)")],
    path: Annotated[Path, typer.Argument(help="The release: a folder, a TRUD .zip, or a single file.")],
    database: Annotated[str | None, typer.Option("--database", "-d", help="sqlite:///path.db or postgresql://...")]
    = None,
) -> None:
    """Load (or replace) one terminology release, in one transaction."""
    from gpbridge.store import open_store

    settings = Settings.from_env(database=database)
    store = open_store(settings.database, settings)
    try:
        with Progress(TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                      TimeElapsedColumn(), console=console) as bar:
            report = loader(kind)(store, path, progress=_progress(bar))
    except FhirError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(report.summary())
    for note in report.notes:
        console.print(f"  note: {note}")


@app.command("systems")
def systems(database: Annotated[str | None, typer.Option("--database", "-d")] = None) -> None:
    """List the code systems the database knows, with version and content."""
    from gpbridge.store import open_store
    from gpbridge.terminology.db import TerminologyStore

    settings = Settings.from_env(database=database)
    store = open_store(settings.database, settings)
    try:
        for s in TerminologyStore(store).systems():
            console.print(f"{s['url']}  {s['content']}  {s['version'] or ''}  ({s['name'] or ''})")
    finally:
        store.close()


def _progress(bar: Progress) -> Callable[[str, int, int | None], None]:
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int | None) -> None:
        task = tasks.get(stage)
        if task is None:
            task = tasks[stage] = bar.add_task(stage, total=total)
        bar.update(task, completed=done, total=total)

    return report
