"""The FHIR R4 REST API (``create_app`` in ``api.app``): thin routes that parse the request, pass
``security.policy``, call ``store.interactions`` / ``store.transaction`` and render FHIR JSON."""
