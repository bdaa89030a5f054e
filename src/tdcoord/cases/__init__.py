"""Built-in cases: standard networks, feeders and the papers' coupled systems."""

from tdcoord.cases.registry import build_coupled, list_cases, load_case

__all__ = ["build_coupled", "list_cases", "load_case"]
