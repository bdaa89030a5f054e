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

__all__ = ["FEEDER", "FORMULATIONS", "TRANSMISSION", "Formulation", "get_formulation"]
