"""One module per ``$operation``.

A module declares ``OPERATION = {"name": "everything", "definition": <OperationDefinition
canonical>, "types": ["Patient"], "system": False}`` so ``api.capability`` lists it; its route(s)
are added to ``api.app``'s route table.
"""
