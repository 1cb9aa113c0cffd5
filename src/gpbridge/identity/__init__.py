"""Who the patient is: NHS numbers, one person across sources, and PDS-compatible demographics.

- ``nhs_number``   the one NHS number validation used everywhere
- ``profile``      a Patient's normalised identifying values; ``nicknames`` Bill ~ William
- ``blocking``     the keys that find candidates; ``compare`` field agreement levels
- ``model``        Fellegi–Sunter weights (configured, or learnt by EM); ``decide`` link / review / new
- ``linkage``      the write-path hook ``link_patient``; ``golden`` the golden Patient per person
- ``review``       review Tasks, merge and unmerge; ``rebuild`` batch relinking; ``batch`` in-memory linking
- ``match``        ``Patient/$match``; ``pds_*`` the PDS API's search, rendering and errors

See docs/identity.md.
"""
