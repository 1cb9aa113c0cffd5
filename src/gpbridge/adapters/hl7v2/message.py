"""A small, fast HL7 v2 (ER7) parser: segments and fields split eagerly, components on demand.

python-hl7 builds a container for every component and subcomponent of every field (~600 µs for
a five-segment ADT here), which alone would cap translation below the 2,000 messages/s target;
this parser splits only what the mappers read (bench/adapters.py prints both side by side, and
tests check the two agree). Character sets follow MSH-18; bytes that are not valid in the declared
set (or in UTF-8 when none is declared) are an error naming MSH-18, not silently replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpbridge.adapters.hl7v2.errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE,
    Hl7v2Error,
)

#: MSH-18 character set names (HL7 table 0211) -> Python codecs
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "ISO IR6": "ascii",
    "ISO IR100": "latin-1",
}
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_HEX = re.compile(r"X([0-9A-Fa-f]{2})+\Z")


@dataclass(frozen=True, slots=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


class Segment:
    __slots__ = ("name", "fields", "sequence", "seps", "_split")

    def __init__(self, name: str, fields: list[str], sequence: int, seps: Separators) -> None:
        self.name = name
        self.fields = fields  # fields[n] is field n (MSH: fields[1] is the field separator itself)
        self.sequence = sequence  # 1 for the first segment of this name, 2 for the second, ...
        self.seps = seps
        self._split: dict[int, list[list[str]]] = {}  # field -> repetitions -> components, once read

    def raw(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""

    def repetitions(self, n: int) -> list[str]:
        value = self.raw(n)
        if not value:
            return []
        if self.name == "MSH" and n == 2:
            return [value]
        return value.split(self.seps.repetition)

    def components(self, n: int, rep: int = 0) -> list[str]:
        """Components of repetition ``rep`` of field ``n`` (unescaped); [] when empty."""
        reps = self.repetitions(n)
        if rep >= len(reps) or not reps[rep]:
            return []
        return [self.unescape(c) for c in reps[rep].split(self.seps.component)]

    def _components(self, n: int) -> list[list[str]]:
        split = self._split.get(n)
        if split is None:
            component = self.seps.component
            split = self._split[n] = [r.split(component) for r in self.repetitions(n)]
        return split

    def value(self, n: int, component: int = 1, rep: int = 0) -> str:
        """One component (1-based) of a field, unescaped and stripped; "" when absent."""
        reps = self._components(n)
        if rep >= len(reps):
            return ""
        parts = reps[rep]
        if component > len(parts):
            return ""
        part = parts[component - 1]
        if self.seps.subcomponent in part:
            part = part.split(self.seps.subcomponent, 1)[0]
        return self.unescape(part).strip()

    def subcomponents(self, n: int, component: int, rep: int = 0) -> list[str]:
        reps = self.repetitions(n)
        if rep >= len(reps):
            return []
        parts = reps[rep].split(self.seps.component)
        if component > len(parts):
            return []
        return [self.unescape(s).strip() for s in parts[component - 1].split(self.seps.subcomponent)]

    def required(self, n: int, component: int = 1, what: str = "") -> str:
        value = self.value(n, component)
        if not value:
            label = f" ({what})" if what else ""
            raise Hl7v2Error(f"required field is empty{label}", self.name, n, sequence=self.sequence,
                             hl7_code=REQUIRED_FIELD_MISSING)
        return value

    def unescape(self, text: str) -> str:
        esc = self.seps.escape
        if not esc or esc not in text:
            return text
        out: list[str] = []
        parts = text.split(esc)
        out.append(parts[0])
        i = 1
        while i < len(parts):
            if i + 1 >= len(parts):  # an unpaired escape character: keep it literally
                out.append(esc + parts[i])
                break
            out.append(self._escape(parts[i]))
            out.append(parts[i + 1])
            i += 2
        return "".join(out)

    def _escape(self, code: str) -> str:
        s = self.seps
        simple = {"F": s.field, "S": s.component, "T": s.subcomponent, "R": s.repetition, "E": s.escape,
                  ".br": "\n", "H": "", "N": ""}
        if code in simple:
            return simple[code]
        if _HEX.match(code):
            try:
                return bytes.fromhex(code[1:]).decode("utf-8", errors="replace")
            except ValueError:
                return ""
        return ""  # formatting commands (.sp, .in, ...) carry no text

    def text(self) -> str:
        """The segment as it was received."""
        if self.name == "MSH":
            return "MSH" + self.seps.field + self.seps.field.join(self.fields[2:])
        return self.seps.field.join(self.fields)


class Message:
    def __init__(self, segments: list[Segment], seps: Separators, text: str, charset: str) -> None:
        self.segments = segments
        self.seps = seps
        self.text = text
        self.charset = charset
        self.msh = segments[0]
        self._by_name: dict[str, list[Segment]] = {}
        for segment in segments:
            self._by_name.setdefault(segment.name, []).append(segment)

    def all(self, name: str) -> list[Segment]:
        return list(self._by_name.get(name, ()))

    def first(self, name: str) -> Segment | None:
        found = self._by_name.get(name)
        return found[0] if found else None

    def require(self, name: str) -> Segment:
        segment = self.first(name)
        if segment is None:
            raise Hl7v2Error(f"the message has no {name} segment", name, hl7_code=SEGMENT_SEQUENCE)
        return segment

    @property
    def message_type(self) -> tuple[str, str, str]:
        return self.msh.value(9, 1).upper(), self.msh.value(9, 2).upper(), self.msh.value(9, 3).upper()

    @property
    def control_id(self) -> str:
        return self.msh.value(10)

    @property
    def version(self) -> str:
        return self.msh.value(12)


def decode(raw: bytes) -> tuple[str, str]:
    """(text, MSH-18 charset name) of a message, decoded as MSH-18 declares."""
    if not isinstance(raw, (bytes, bytearray)):
        raise Hl7v2Error("an HL7 v2 message must be given as bytes", "MSH", reject=True, status=400)
    data = bytes(raw).lstrip(b"\x0b\r\n\t ")
    if not data.startswith(b"MSH") or len(data) < 8:
        raise Hl7v2Error("a message must start with an MSH segment", "MSH", hl7_code=SEGMENT_SEQUENCE,
                         reject=True, status=400)
    first_line = re.split(rb"[\r\n]", data, maxsplit=1)[0]
    field_sep = first_line[3:4]
    parts = first_line.split(field_sep) if field_sep else []
    declared = parts[17].decode("ascii", errors="replace").split("~")[0].split("^")[0].strip().upper() \
        if len(parts) > 17 else ""
    codec = CHARSETS.get(declared)
    if codec is None:
        raise Hl7v2Error(f"character set {declared!r} is not supported", "MSH", 18,
                         hl7_code=DATA_TYPE_ERROR, reject=True, status=400)
    try:
        return data.decode(codec), declared
    except UnicodeDecodeError as exc:
        said = f"declared {declared!r}" if declared else "no MSH-18 character set, so UTF-8 was expected"
        raise Hl7v2Error(f"byte {exc.start} is not valid {codec} ({said})", "MSH", 18,
                         hl7_code=DATA_TYPE_ERROR, reject=True, status=400) from None


def parse(raw: bytes) -> Message:
    text, charset = decode(raw)
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x1c\x0b ")
    if len(text) < 8 or text[3] in "\r^~\\&" or text[3].isalnum():
        raise Hl7v2Error("MSH-1 (field separator) is missing or invalid", "MSH", 1, hl7_code=DATA_TYPE_ERROR,
                         reject=True, status=400)
    field = text[3]
    encoding = text[4:].split(field, 1)[0]
    if len(encoding) < 2 or len(set(encoding)) != len(encoding) or field in encoding:
        raise Hl7v2Error(f"MSH-2 encoding characters {encoding!r} are invalid", "MSH", 2,
                         hl7_code=DATA_TYPE_ERROR, reject=True, status=400)
    seps = Separators(field, encoding[0], encoding[1], encoding[2] if len(encoding) > 2 else "",
                      encoding[3] if len(encoding) > 3 else "&")
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.split("\r"), start=1):
        if not line.strip():
            continue
        fields = line.split(field)
        name = fields[0]
        if not _SEGMENT_NAME.match(name):
            raise Hl7v2Error(f"line {line_no}: {name[:10]!r} is not a segment name", name[:3] or "?",
                             hl7_code=SEGMENT_SEQUENCE, reject=True, status=400)
        if name == "MSH":
            if segments:
                raise Hl7v2Error("a second MSH segment inside one message", "MSH", sequence=2,
                                 hl7_code=SEGMENT_SEQUENCE, reject=True, status=400)
            fields = ["MSH", field, *fields[1:]]
        seen[name] = seen.get(name, 0) + 1
        segments.append(Segment(name, fields, seen[name], seps))
    return Message(segments, seps, text, charset)
