"""FHIR JSON in: resources, Bundles and NDJSON files, streamed into the transaction path."""
