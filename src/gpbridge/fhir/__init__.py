"""The FHIR model layer: definitions compiled from packages, validation, FHIRPath, outcomes. Pure: no I/O."""
