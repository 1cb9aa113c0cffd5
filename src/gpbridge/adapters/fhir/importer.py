"""Import FHIR JSON files, Bundles and NDJSON through the same transaction path as the REST API.

Streaming: NDJSON is read a line at a time and plain resources are written in batches, so memory
stays flat whatever the file size. Transaction and batch Bundles are processed as they are; other
Bundles (collection, searchset, document) contribute their entries as plain resources. A file or
batch that fails is reported with its place (file, line, entry) and nothing of it is stored.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError
from gpbridge.store.base import Store
from gpbridge.store.transaction import process_bundle

SUFFIXES = (".json", ".ndjson", ".jsonl", ".json.gz", ".ndjson.gz", ".jsonl.gz")


@dataclass
class ImportSummary:
    files: int = 0
    bundles: int = 0
    written: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (place, reason)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def resources(self) -> int:
        return sum(self.written.values())

    def print(self, console: Console) -> None:
        table = Table(title="Import summary", show_lines=False)
        table.add_column("resource type")
        table.add_column("written", justify="right")
        for type_, n in sorted(self.written.items()):
            table.add_row(type_, f"{n:,}")
        table.add_row("[bold]total[/]", f"[bold]{self.resources:,}[/]")
        console.print(table)
        rate = self.resources / self.seconds if self.seconds else 0.0
        console.print(f"{self.files} file(s), {self.bundles} bundle(s) in {self.seconds:.1f}s ({rate:,.0f} resources/s)")
        for place, reason in self.failures:
            console.print(f"[red]failed[/] {place}: {reason}")


def find_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES)))
        else:
            out.append(p)
    return out


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def read_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(place, parsed JSON) for each document in a file: one per NDJSON line, or the whole file."""
    ndjson = any(path.name.endswith(s) for s in (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz"))
    with _open(path) as fh:
        if not ndjson:
            raw = fh.read()
            try:
                yield str(path), orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield str(path), FhirError.of(400, "structure", f"not valid JSON: {exc}")
            return
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{n}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"{path}:{n}", FhirError.of(400, "structure", f"not valid JSON: {exc}")


def import_paths(
    store: Store,
    settings: Settings,
    paths: list[Path],
    *,
    batch_size: int = 500,
    console: Console | None = None,
    base_url: str = "",
) -> ImportSummary:
    summary = ImportSummary()
    started = time.perf_counter()
    files = find_files(paths)
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush() -> None:
        if batch:
            _write_plain(store, settings, batch, summary, base_url)
            batch.clear()

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[resources]:,} resources"), TimeElapsedColumn(),
                        console=console, disable=console is None, transient=False)
    with progress:
        task = progress.add_task("importing", total=len(files), resources=0)
        for path in files:
            summary.files += 1
            progress.update(task, description=f"importing {path.name}")
            for place, doc in read_documents(path):
                if isinstance(doc, FhirError):
                    summary.failures.append((place, doc.describe()))
                    continue
                if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
                    summary.failures.append((place, "not a FHIR resource (a JSON object with resourceType)"))
                    continue
                if doc["resourceType"] == "Bundle" and doc.get("type") in ("transaction", "batch"):
                    flush()
                    _write_bundle(store, settings, place, doc, summary, base_url)
                elif doc["resourceType"] == "Bundle":
                    for i, entry in enumerate(doc.get("entry") or []):
                        res = entry.get("resource") if isinstance(entry, dict) else None
                        if isinstance(res, dict):
                            batch.append((f"{place} entry[{i}]", res))
                else:
                    batch.append((place, doc))
                if len(batch) >= batch_size:
                    flush()
                progress.update(task, resources=summary.resources)
            flush()
            progress.update(task, advance=1, resources=summary.resources)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_bundle(store: Store, settings: Settings, place: str, bundle: dict[str, Any], summary: ImportSummary,
                  base_url: str) -> None:
    summary.bundles += 1
    try:
        response = process_bundle(store, bundle, settings=settings, base_url=base_url)
    except FhirError as exc:
        summary.failures.append((place, exc.describe()))
        return
    for entry in response.get("entry") or []:
        resp = entry.get("response") or {}
        status = str(resp.get("status", ""))
        location = resp.get("location") or ""
        if status[:1] == "2" and location:
            summary.written[location.split("/", 1)[0]] += 1
        elif status[:1] in ("4", "5"):
            summary.failures.append((place, f"entry failed with {status}"))


def _write_plain(store: Store, settings: Settings, batch: list[tuple[str, dict[str, Any]]], summary: ImportSummary,
                 base_url: str) -> None:
    entries = []
    for _place, res in batch:
        rid = res.get("id")
        if isinstance(rid, str) and rid:
            request = {"method": "PUT", "url": f"{res['resourceType']}/{rid}"}
        else:
            request = {"method": "POST", "url": res["resourceType"]}
        entries.append({"resource": res, "request": request})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    try:
        process_bundle(store, bundle, settings=settings, base_url=base_url)
    except FhirError as exc:
        first, last = batch[0][0], batch[-1][0]
        summary.failures.append((f"{first} .. {last}", exc.describe()))
        return
    for _place, res in batch:
        summary.written[res["resourceType"]] += 1
