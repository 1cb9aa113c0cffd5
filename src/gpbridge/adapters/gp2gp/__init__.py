"""GP2GP HL7v3 EHR Extract (RCMR_IN030000UK06) → UK Core FHIR R4.

``gp2gp_to_bundle`` translates (pure); ``import_gp2gp`` translates and stores through the shared
pipeline (archive, Provenance, idempotency, quarantine).
"""

from gpbridge.adapters.gp2gp.convert import gp2gp_to_bundle, translate_gp2gp
from gpbridge.adapters.gp2gp.errors import Gp2gpError

__all__ = ["Gp2gpError", "gp2gp_to_bundle", "translate_gp2gp"]
