"""Graph questions about a network: islands, loops, tree order from a root."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components


def components(n_bus: int, f: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Component label of every bus for the undirected graph (f, t)."""
    adj = sp.coo_matrix((np.ones(len(f)), (f, t)), shape=(n_bus, n_bus))
    _, labels = connected_components(adj, directed=False)
    return labels


def first_loop_branch(n_bus: int, f: np.ndarray, t: np.ndarray) -> int | None:
    """Position of the first branch that closes a loop (union-find), or None."""
    parent = np.arange(n_bus)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for k, (a, b) in enumerate(zip(f.tolist(), t.tolist())):
        ra, rb = find(a), find(b)
        if ra == rb:
            return k
        parent[ra] = rb
    return None


def tree_order(n_bus: int, f: np.ndarray, t: np.ndarray, root: int) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order of a tree from ``root`` and each bus's parent bus.

    Returns ``(order, parent)``; ``parent[root] == -1``. The caller makes
    sure the graph is a tree (see :func:`first_loop_branch`).
    """
    adj = sp.coo_matrix((np.ones(len(f)), (f, t)), shape=(n_bus, n_bus)).tocsr()
    order, pred = breadth_first_order(adj, root, directed=False, return_predecessors=True)
    parent = np.where(pred < 0, -1, pred)
    parent[root] = -1
    return order, parent
