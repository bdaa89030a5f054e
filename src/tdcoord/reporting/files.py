"""Writing a study's outputs: its summary JSON and its figures, the same way for every study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tdcoord.results.serialize import write_json


def write_summary(folder: Path, summary: Any, json_file: str | Path | None = None) -> None:
    """``summary.json`` in ``folder``, and the same at ``json_file`` when one is asked for."""
    write_json(folder / "summary.json", summary)
    if json_file is not None:
        write_json(json_file, summary)


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out, write it to ``path`` and free it; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["save_figure", "write_summary"]
