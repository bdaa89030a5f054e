"""Recursive least squares with a forgetting factor, for several outputs sharing one regressor.

The model is ``y_k = Theta phi_k + e_k`` (``y`` m outputs, ``phi`` n
regressors, ``Theta`` m x n). With forgetting factor ``lam`` (0 < lam <= 1)
each step is

    K     = P phi / (lam + phi' P phi)
    Theta = Theta + (y - Theta phi) K'
    P     = (P - K phi' P) / lam

``P`` starts at ``delta`` times the identity (a large ``delta``: little
trust in the initial ``Theta``). Older samples weigh ``lam^age``: the
estimate follows a drifting system at the price of more noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tdcoord.errors import InputError


@dataclass
class Rls:
    n_out: int
    n_in: int
    forgetting: float = 0.98
    delta: float = 1e3
    theta: np.ndarray = field(init=False)
    p: np.ndarray = field(init=False)
    steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not 0 < self.forgetting <= 1:
            raise InputError(f"RLS forgetting factor {self.forgetting}: expected 0 < factor <= 1")
        if not self.delta > 0:
            raise InputError(f"RLS initial covariance {self.delta}: expected > 0")
        self.theta = np.zeros((self.n_out, self.n_in))
        self.p = self.delta * np.eye(self.n_in)

    def update(self, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
        """One sample: regressor ``phi`` (n_in,), outputs ``y`` (n_out,); returns the prediction error."""
        phi = np.asarray(phi, float).ravel()
        y = np.asarray(y, float).ravel()
        pphi = self.p @ phi
        k = pphi / (self.forgetting + phi @ pphi)
        err = y - self.theta @ phi
        self.theta += np.outer(err, k)
        self.p = (self.p - np.outer(k, pphi)) / self.forgetting
        self.p = 0.5 * (self.p + self.p.T)  # keep it symmetric against round-off
        self.steps += 1
        return err


__all__ = ["Rls"]
