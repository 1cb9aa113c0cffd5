"""Import summaries for the CLI: what was written, what matched, what could not be mapped, what
went to quarantine — one table per run, unmapped codes counted by code so maps can be extended."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from gpbridge.adapters.common.pipeline import ImportResult
from gpbridge.adapters.common.quarantine import QuarantineItem


def print_import_summary(results: list[ImportResult], console: Console) -> None:
    table = Table(title="Import summary")
    for column in ("source", "status", "created", "matched", "unmapped codes", "detail"):
        table.add_column(column, justify="right" if column in ("created", "matched", "unmapped codes") else "left")
    for r in results:
        detail = (f"quarantined as {r.quarantine_id}: {r.error}" if r.status == "quarantined"
                  else r.provenance or "")
        table.add_row(r.source, r.status, f"{sum(r.created.values()):,}", f"{sum(r.matched.values()):,}",
                      f"{len(r.unmapped):,}", detail)
    console.print(table)
    created: Counter[str] = Counter()
    for r in results:
        created.update(r.created)
    if created:
        console.print("created: " + ", ".join(f"{n:,} {t}" for t, n in sorted(created.items())))
    unmapped: Counter[tuple[str, str, str]] = Counter(
        (u.system, u.code, u.display) for r in results for u in r.unmapped)
    if unmapped:
        codes = Table(title="Codes kept without a SNOMED CT map (flagged on their resources)")
        for column in ("system", "code", "display", "rows"):
            codes.add_column(column)
        for (system, code, display), n in unmapped.most_common():
            codes.add_row(system, code, display, str(n))
        console.print(codes)


def print_quarantine(items: list[QuarantineItem], console: Console) -> None:
    table = Table(title="Quarantine")
    for column in ("id", "adapter", "received", "attempts", "source", "reason"):
        table.add_column(column)
    for item in items:
        table.add_row(item.id, item.adapter, item.received, str(item.attempts), item.source, item.reason)
    console.print(table)
