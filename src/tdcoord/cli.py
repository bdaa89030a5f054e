"""Command line: ``tdcoord run``, ``tdcoord pf``, ``tdcoord cases``, ...

Bad input prints one or two lines and exits with code 2; a computation that
does not reach an answer (power flow not converged, solver failure) exits 1.
No traceback unless ``--debug``. Heavy packages are imported inside the
commands so that the CLI starts fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from tdcoord.errors import TdcoordError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="tdcoord: coordinated optimization of transmission grids and their distribution feeders.",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

DEFAULT_CASE = "ieee30+ieee33@6"

Debug = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write the summary as JSON to this file.")]


class Failed(Exception):
    """A computation ended without an answer (exit code 1)."""


def guarded(fn: Callable[[], Any], debug: bool) -> Any:
    """Run a command body, turning errors into short messages and exit codes."""
    debug = debug or _state["debug"]
    try:
        return fn()
    except TdcoordError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    except Failed as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]failed:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:  # an internal error: say so, briefly
        if debug:
            traceback.print_exc()
        else:
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                              highlight=False, soft_wrap=True)
        raise typer.Exit(3)


def write_json(path: Path | None, data: dict) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, allow_nan=False, default=_json_default))
    except OSError as exc:
        from tdcoord.errors import InputError

        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


@app.callback()
def _main(debug: Debug = False) -> None:
    _state["debug"] = debug


# ----------------------------------------------------------------------- cases
@app.command()
def cases(debug: Debug = False) -> None:
    """List the built-in cases and coupled study systems."""

    def body() -> None:
        from tdcoord.cases import list_cases

        table = Table(title="built-in cases")
        table.add_column("name", style="bold")
        table.add_column("kind")
        table.add_column("description")
        for c in list_cases():
            table.add_row(c.name, c.kind, c.description)
        console.print(table)
        console.print(
            "Any spec 'T+FEEDER@BUS[xN]+...' hangs feeders on transmission buses (e.g. ieee118+ieee33@59x3); "
            "a path to a MATPOWER .m, pandapower .json or tdcoord .json file is read as a case."
        )

    guarded(body, debug)


# -------------------------------------------------------------------------- pf
def run_power_flow(spec: str, method: str, enforce_q_lims: bool) -> Any:
    from tdcoord.cases import load_case
    from tdcoord.errors import InputError
    from tdcoord.network.coupled import CoupledSystem

    system = load_case(spec)
    if isinstance(system, CoupledSystem):
        from tdcoord.pf.integrated import run_coupled

        if method in ("auto", "merged", "newton"):
            return run_coupled(system, "merged", enforce_q_lims=enforce_q_lims)
        if method == "split":
            return run_coupled(system, "split", enforce_q_lims=enforce_q_lims)
        raise InputError(f"--method {method}: a coupled system is solved by 'merged' or 'split'")
    if method in ("auto", "merged", "newton"):
        from tdcoord.pf.ac import run_newton

        return run_newton(system, enforce_q_lims=enforce_q_lims)
    if method in ("sweep", "split"):
        from tdcoord.pf.sweep import run_sweep

        return run_sweep(system)
    raise InputError(f"--method {method}: expected auto, merged, split, newton or sweep")


def print_pf(result: Any, spec: str) -> None:
    from tdcoord.results.powerflow import CoupledPowerFlowResult

    t = Table(title=f"power flow of {spec} ({result.method})")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("converged", "yes" if result.converged else "NO")
    t.add_row("iterations", str(result.iterations))
    t.add_row("largest mismatch (p.u.)", f"{result.max_mismatch_pu:.2e}")
    if result.converged:
        ex = result.extremes()
        t.add_row("active losses (MW)", f"{result.p_loss_mw:.6f}")
        t.add_row("reactive losses (Mvar)", f"{result.q_loss_mvar:.6f}")
        t.add_row("min voltage (p.u.)", f"{ex['vm_min_pu']:.6f} at {ex['vm_min_bus']}")
        t.add_row("max voltage (p.u.)", f"{ex['vm_max_pu']:.6f} at {ex['vm_max_bus']}")
    t.add_row("time (s)", f"{result.time_s:.4f}")
    console.print(t)
    if isinstance(result, CoupledPowerFlowResult) and result.converged and len(result.res_boundary):
        b = Table(title="boundaries (flow from transmission into the feeder)")
        for col in ("feeder", "bus", "P (MW)", "Q (Mvar)", "V (p.u.)"):
            b.add_column(col, justify="right" if col[0] in "PQV" else "left")
        for name, row in result.res_boundary.iterrows():
            b.add_row(str(name), str(row.bus), f"{row.p_mw:.6f}", f"{row.q_mvar:.6f}", f"{row.vm_pu:.6f}")
        console.print(b)
    for m in getattr(result, "messages", []):
        console.print(f"[dim]{m}[/]")


@app.command()
def pf(
    spec: Annotated[str, typer.Argument(help="case name, coupled spec 'T+F@BUS...' or case file")],
    method: Annotated[str, typer.Option(help="auto | merged | split (coupled); newton | sweep (single network)")] = "auto",
    enforce_q_lims: Annotated[bool, typer.Option("--enforce-q-lims", help="Switch PV buses to PQ at generator Q limits.")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """AC power flow of a network or of a coupled T-D system."""

    def body() -> None:
        from tdcoord.results.powerflow import summary_dict

        result = run_power_flow(spec, method, enforce_q_lims)
        print_pf(result, spec)
        write_json(json_out, summary_dict(result))
        if not result.converged:
            raise Failed(
                f"power flow did not converge after {result.iterations} iterations "
                f"(largest mismatch {result.max_mismatch_pu:.3e} p.u.)"
            )

    guarded(body, debug)


# ------------------------------------------------------------------------- run
@app.command()
def run(
    case: Annotated[str, typer.Option(help="coupled case to study")] = DEFAULT_CASE,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out"),
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """The main study on the default case (power flow of the coupled system)."""

    def body() -> None:
        from tdcoord.results.powerflow import summary_dict

        result = run_power_flow(case, "merged", False)
        print_pf(result, case)
        out.mkdir(parents=True, exist_ok=True)
        result.res_bus.to_csv(out / "res_bus.csv")
        if hasattr(result, "res_boundary"):
            result.res_boundary.to_csv(out / "res_boundary.csv")
        summary = summary_dict(result)
        write_json(out / "summary.json", summary)
        write_json(json_out, summary)
        console.print(f"results written to {out}/")
        if not result.converged:
            raise Failed(f"power flow did not converge after {result.iterations} iterations")

    guarded(body, debug)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
