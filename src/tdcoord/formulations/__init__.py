"""How physics is written: one module per formulation, one interface (:mod:`.base`).

======================  ======  ===========  =====================================
name                    family  backends     model
======================  ======  ===========  =====================================
``acp``                 ac      nlp          AC polar power flow (exact)
``dc``                  dc      nlp, conic   B-theta DC power flow (opt. losses)
``branch_flow``         ac      nlp          DistFlow, exact; radial
``soc_bf``              ac      nlp, conic   DistFlow, SOC relaxation; radial
``lindistflow``         ac      nlp, conic   DistFlow without losses; radial
======================  ======  ===========  =====================================
"""

from tdcoord.formulations.acp import AcpFormulation
from tdcoord.formulations.base import Formulation, get_formulation
from tdcoord.formulations.branch_flow import BranchFlowFormulation
from tdcoord.formulations.dc import DcFormulation
from tdcoord.formulations.lindistflow import LinDistFlowFormulation
from tdcoord.formulations.soc_bf import SocBranchFlowFormulation

FORMULATIONS: dict[str, type[Formulation]] = {
    f.name: f for f in (AcpFormulation, DcFormulation, BranchFlowFormulation, SocBranchFlowFormulation,
                        LinDistFlowFormulation)
}
TRANSMISSION = ("acp", "dc")
FEEDER = ("branch_flow", "soc_bf", "lindistflow")


def register_formulation(cls: type[Formulation]) -> type[Formulation]:
    """Add a formulation under ``cls.name`` (usable as a class decorator; see docs/model-layer.md)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a formulation needs a name")
    FORMULATIONS[cls.name] = cls
    return cls


def unregister_formulation(name: str) -> None:
    """Remove a formulation added by :func:`register_formulation` (the built-in ones stay)."""
    if name in TRANSMISSION + FEEDER:
        raise ValueError(f"{name!r} is a built-in formulation")
    FORMULATIONS.pop(name, None)


__all__ = ["FEEDER", "FORMULATIONS", "TRANSMISSION", "Formulation", "get_formulation", "register_formulation",
           "unregister_formulation"]
