"""gpbridge: an interoperability hub for GP electronic patient records in England."""

__version__ = "0.1.0"
