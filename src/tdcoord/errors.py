"""Exception hierarchy of tdcoord.

Every error raised for bad input is a :class:`TdcoordError` subclass whose
message names the element, the field and what was expected, so that the CLI
can print it in one or two lines (exit code 2). Failed solves are not
exceptions: they come back as results with the solver's status; the CLI
turns them into exit code 1.
"""

from __future__ import annotations


class TdcoordError(Exception):
    """Base class of every error tdcoord raises on purpose."""

    exit_code = 2


class InputError(TdcoordError):
    """Bad input data: a value, a reference or a file that cannot be used."""


class SchemaError(InputError):
    """A table lacks a required column, or a value has the wrong type or range."""


class UnknownBusError(InputError):
    """An element refers to a bus that is not in the bus table."""


class TopologyError(InputError):
    """The network's topology does not suit the request (islands, meshes, ...)."""


class IslandError(TopologyError):
    """Some in-service buses are not connected to any slack bus."""


class RadialityError(TopologyError):
    """A network that must be radial (a feeder) contains a loop."""


class UnknownCaseError(InputError):
    """A case name or spec does not name a built-in case or a readable file."""


class FileFormatError(InputError):
    """A case file cannot be parsed."""


class SolveError(TdcoordError):
    """A computation did not reach a valid answer (used by the CLI: exit 1)."""

    exit_code = 1
