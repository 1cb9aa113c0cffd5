"""HL7 v2 (ADT, ORU^R01) over MLLP → UK Core FHIR R4."""

from gpbridge.adapters.hl7v2.convert import hl7v2_to_bundle, translate_hl7v2
from gpbridge.adapters.hl7v2.errors import Hl7v2Error
from gpbridge.adapters.hl7v2.importer import handle_message, import_hl7v2
from gpbridge.adapters.hl7v2.mllp import run_mllp_server, start_mllp_server

__all__ = ["Hl7v2Error", "handle_message", "hl7v2_to_bundle", "import_hl7v2", "run_mllp_server",
           "start_mllp_server", "translate_hl7v2"]
