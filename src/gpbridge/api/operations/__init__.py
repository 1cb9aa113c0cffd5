"""One module per ``$operation``.

A module declares ``OPERATION = {"name": "everything", "definition": <OperationDefinition
canonical>, "types": ["Patient"], "system": False}`` (or a list, ``OPERATIONS``); its route(s) are
added to ``api.app``'s route table, and ``api.capability`` lists each operation for the types it
is routed for. Any module that routes an ``$operation`` (e.g. ``api.identity``'s ``$match``)
declares it the same way: the CapabilityStatement refuses to build without it.
"""
