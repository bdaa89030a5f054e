"""Data only: element tables, coupled systems, validation. No solver imports."""

from tdcoord.network.coupled import CoupledSystem
from tdcoord.network.network import Network
from tdcoord.network.validate import validate

__all__ = ["CoupledSystem", "Network", "validate"]
