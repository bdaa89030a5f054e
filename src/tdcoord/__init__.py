"""tdcoord: coordinated optimization of transmission grids and their feeders.

The public API, loaded on first use so that ``import tdcoord`` stays light:

- data: :class:`Network`, :class:`CoupledSystem`, :func:`validate`
- cases: :func:`load_case`, :func:`list_cases`, :func:`build_coupled`
- input/output: :func:`read_matpower`, :func:`read_json`, :func:`write_json`,
  :func:`to_pandapower`, :func:`from_pandapower`, :func:`read_opendss`
- power flow: :func:`run_newton`, :func:`run_sweep`, :func:`run_coupled`
- errors: :class:`TdcoordError` and its subclasses in :mod:`tdcoord.errors`
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "Network": "tdcoord.network.network",
    "CoupledSystem": "tdcoord.network.coupled",
    "validate": "tdcoord.network.validate",
    "load_case": "tdcoord.cases.registry",
    "list_cases": "tdcoord.cases.registry",
    "build_coupled": "tdcoord.cases.registry",
    "read_matpower": "tdcoord.io.matpower",
    "read_json": "tdcoord.io.json_io",
    "write_json": "tdcoord.io.json_io",
    "to_pandapower": "tdcoord.io.pandapower_io",
    "from_pandapower": "tdcoord.io.pandapower_io",
    "read_opendss": "tdcoord.io.opendss",
    "run_newton": "tdcoord.pf.ac",
    "run_sweep": "tdcoord.pf.sweep",
    "run_coupled": "tdcoord.pf.integrated",
    "TdcoordError": "tdcoord.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'tdcoord' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
