"""The HL7 v2 adapter's error type: names the segment and field, and says how to ACK it."""

from __future__ import annotations

from gpbridge.adapters.common.errors import AdapterError

# HL7 table 0357 (message error condition codes) used in ERR segments
SEGMENT_SEQUENCE = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
DUPLICATE_KEY = "205"
APPLICATION_ERROR = "207"

_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    DUPLICATE_KEY: "Duplicate key identifier",
    APPLICATION_ERROR: "Application internal error",
}


class Hl7v2Error(AdapterError):
    adapter = "hl7v2"

    def __init__(
        self,
        reason: str,
        segment: str = "",
        field: int | None = None,
        *,
        sequence: int = 1,
        hl7_code: str = APPLICATION_ERROR,
        reject: bool = False,
        code: str = "invalid",
        status: int = 422,
    ) -> None:
        self.segment = segment
        self.field = field
        self.sequence = sequence
        self.hl7_code = hl7_code
        self.reject = reject  # AR (the message as such is unacceptable) rather than AE
        place = f"{segment}-{field}" if segment and field is not None else segment
        if segment and sequence > 1:
            place = f"{place} (segment {segment} #{sequence})"
        super().__init__(reason, place, code=code, status=status)

    @property
    def hl7_text(self) -> str:
        return _TEXT.get(self.hl7_code, "Application error")
