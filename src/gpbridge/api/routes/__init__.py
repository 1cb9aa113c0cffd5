"""Thin route modules: parse the request, pass the security gate, call the store, render.

Each module lists the CapabilityStatement interaction codes it implements (``TYPE_INTERACTIONS``,
``SYSTEM_INTERACTIONS``) so ``api.capability`` describes what is really routed.
"""
