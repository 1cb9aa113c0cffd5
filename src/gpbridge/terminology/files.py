"""Release files: found by name in a folder tree or a .zip, read as streams with byte progress.

Releases arrive as TRUD zips or unpacked folders; loaders name the files they want by pattern
and never unpack anything to disk.
"""

from __future__ import annotations

import fnmatch
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gpbridge.fhir.outcome import bad_request

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class ReleaseFile:
    name: str  # base name, e.g. sct2_Concept_Snapshot_INT_20240101.txt
    where: str  # path (or zip!member) for messages
    size: int
    _path: Path
    _member: str | None = None

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self._member is None:
            with self._path.open("rb") as fh:
                yield fh
        else:
            with zipfile.ZipFile(self._path) as zf, zf.open(self._member) as fh:
                yield fh


def find_files(root: Path, *patterns: str) -> list[ReleaseFile]:
    """Files under ``root`` (a file, folder or .zip) whose base name matches any glob pattern."""
    if not root.exists():
        raise bad_request(f"no such file or directory: {root}")
    found: list[ReleaseFile] = []
    candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in candidates:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    base = info.filename.rsplit("/", 1)[-1]
                    if not info.is_dir() and _matches(base, patterns):
                        found.append(ReleaseFile(base, f"{path}!{info.filename}", info.file_size, path, info.filename))
        elif _matches(path.name, patterns) or (root.is_file() and path == root):
            found.append(ReleaseFile(path.name, str(path), path.stat().st_size, path))
    return found


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def read_tsv(file: ReleaseFile, stage: str, progress: Progress | None, expected: tuple[str, ...] = ()
             ) -> Iterator[tuple[dict[str, int], list[str]]]:
    """Rows of a tab-separated file with a header line, as (column index by name, fields).

    ``expected`` columns must all be in the header (checked before the first row, so a wrong
    file fails at once with its name). Lines may end CRLF (TRUD) or LF.
    """
    done = 0
    with file.open() as fh:
        header_line = fh.readline()
        done += len(header_line)
        header = header_line.decode("utf-8-sig").rstrip("\r\n").split("\t")
        columns = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in expected if c not in columns]
        if missing:
            raise bad_request(f"{file.where} is not the expected table: no column(s) {', '.join(missing)} "
                              f"in its header ({', '.join(header[:10])})")
        width = len(header)
        n = 0
        for raw in fh:
            done += len(raw)
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) < width:
                fields.extend([""] * (width - len(fields)))
            n += 1
            if progress is not None and n % 50_000 == 0:
                progress(stage, done, file.size)
            yield columns, fields
    if progress is not None:
        progress(stage, file.size, file.size)
