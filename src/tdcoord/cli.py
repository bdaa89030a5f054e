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
from rich.markup import escape
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

def Flag(*decls: str, **kw: Any) -> Any:
    """An on/off option: shown without a type in --help (a flag takes no value)."""
    return typer.Option(*decls, metavar="", **kw)


#: The voltage-stability margins, one convention for every command (``--vsm`` / ``--no-vsm``, each command its default).
VSM_HELP = "with (--vsm) or without (--no-vsm) the key nodes' voltage-stability margins (penalty and constraint)"

Debug = Annotated[bool, Flag("--debug", help="Show Python tracebacks on errors.")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write the summary as JSON to this file.")]


class Failed(Exception):
    """A computation ended without an answer (exit code 1)."""


def guarded(fn: Callable[[], Any], debug: bool, out: Path | None = None, resume: bool = False,
            resumable: bool = False) -> Any:
    """Run a command body, turning errors into short messages and exit codes.

    ``out``: the command's output folder, checked and locked before the body
    runs (:class:`tdcoord.results.output.OutputFolder`); the body records
    what it writes with :func:`record_outputs`. Ctrl-C (``KeyboardInterrupt``)
    ends the command with exit code 130; ``resumable``: the command keeps
    its finished parts in ``out`` and continues them with ``--resume``, and
    says so.
    """
    debug = debug or _state["debug"]
    try:
        with output_folder(out, resume) as folder:
            _state["folder"] = folder
            try:
                return fn()
            finally:
                _state.pop("folder", None)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        hint = f"; finished parts kept in {out}; continue with --resume" if (resumable and out is not None) else ""
        err_console.print(f"[bold red]interrupted[/]{hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    except TdcoordError as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    except Failed as exc:
        if debug:
            traceback.print_exc()
        err_console.print(f"[bold red]failed:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    except typer.Exit:
        raise
    except Exception as exc:  # an internal error: say so, briefly
        if debug:
            traceback.print_exc()
        else:
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
                              "(run with --debug for the traceback)",
                              highlight=False, soft_wrap=True)
        raise typer.Exit(3)


def check_json(path: Path | None, option: str = "--json") -> None:
    """A ``--json`` (or other output) file can be written (checked before the computation, not after it)."""
    if path is None:
        return
    from tdcoord.errors import InputError

    if path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a folder; expected a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".tdcoord-probe-{id(path)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{option} {str(path)!r}: cannot write there ({exc.strerror or exc})") from None


def record_outputs(paths: Any) -> None:
    """Files the running command wrote into its output folder (cleared by the next run)."""
    folder = _state.get("folder")
    if folder is not None and hasattr(folder, "record"):
        folder.record(paths)


def output_folder(out: Path | None, resume: bool = False) -> Any:
    """The checked, locked output folder (:class:`tdcoord.results.output.OutputFolder`), or a no-op without one."""
    import contextlib

    from tdcoord.results.output import OutputFolder

    return OutputFolder(out, resume=resume) if out is not None else contextlib.nullcontext()


def write_json(path: Path | None, data: dict) -> None:
    if path is None:
        return
    from tdcoord.results.serialize import write_json as write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, data)
    except OSError as exc:
        from tdcoord.errors import InputError

        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            console.print(f"tdcoord {version('tdcoord')}")
        except PackageNotFoundError:  # running from a source tree that is not installed
            console.print("tdcoord (not installed)")
        raise typer.Exit(0)


@app.callback()
def _main(debug: Debug = False,
          show_version: Annotated[bool, Flag("--version", help="Print the version and exit.",
                                                     callback=_version, is_eager=True)] = False) -> None:
    _state["debug"] = debug


# ----------------------------------------------------------------------- cases
@app.command()
def cases(debug: Debug = False) -> None:
    """List the built-in cases and coupled study systems."""

    def body() -> None:
        from tdcoord.cases import list_cases

        table = _table("built-in cases")
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
def run_power_flow(spec: str, method: str, enforce_q_lims: bool, system: Any = None) -> Any:
    from tdcoord.cases import load_case
    from tdcoord.errors import InputError
    from tdcoord.network.coupled import CoupledSystem

    system = load_case(spec) if system is None else system
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

    t = _table(f"power flow of {spec} ({result.method})")
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
        b = _table("boundaries (flow from transmission into the feeder)")
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
    enforce_q_lims: Annotated[bool, Flag("--enforce-q-lims", help="Switch PV buses to PQ at generator Q limits.")] = False,
    inverters: Annotated[Optional[str], typer.Option(
        "--inverters", help="IEEE 1547 local control of every inverter (sgen with sn_mva), default curves: "
        "volt-var | volt-watt | watt-var | pf | constant_q | fixed; iterated to a fixed point on the AC power "
        "flow")] = None,
    category: Annotated[str, typer.Option("--category", help="IEEE 1547 category of the inverters: A | B")] = "B",
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """AC power flow of a network or of a coupled T-D system."""

    def body() -> None:
        from tdcoord.results.powerflow import summary_dict

        from tdcoord.cases import load_case

        from tdcoord.errors import InputError

        if inverters is None and category != "B":
            raise InputError("--category applies to --inverters only")
        if inverters is not None and (method != "auto" or enforce_q_lims):
            raise InputError("--inverters runs its own Newton power flow at every iteration: --method and "
                             "--enforce-q-lims do not apply")
        system = load_case(spec)
        if inverters is not None:
            _pf_inverters(spec, system, inverters, category, json_out)
            return
        result = run_power_flow(spec, method, enforce_q_lims, system)
        print_pf(result, spec)
        data = summary_dict(result)
        if json_out is not None and result.converged:
            from tdcoord.network.network import Network
            from tdcoord.pf.tables import network_tables
            from tdcoord.results.tables import tables_to_json

            if isinstance(system, Network):  # every element's result, in the input's indices (orient split)
                data["tables"] = tables_to_json(network_tables(system, result))
        write_json(json_out, data)
        if not result.converged:
            raise Failed(
                f"power flow did not converge after {result.iterations} iterations "
                f"(largest mismatch {result.max_mismatch_pu:.3e} p.u.)"
            )

    guarded(body, debug)


def _pf_inverters(spec: str, system: Any, mode: str, category: str, json_out: Any) -> None:
    from tdcoord.coordination.smart_inverters import simulate_inverters
    from tdcoord.devices.ieee1547 import CATEGORIES, MODES
    from tdcoord.errors import InputError
    from tdcoord.results.powerflow import summary_dict

    if mode not in MODES:
        raise InputError(f"--inverters {mode!r}: expected one of {', '.join(MODES)}")
    if category not in CATEGORIES:
        raise InputError(f"--category {category!r}: expected A or B")
    result, table, lc = simulate_inverters(system, mode, category)
    print_pf(result, spec)
    t = _table(f"inverters ({mode}, category {category}): {lc.iterations} local-control iterations, "
               f"{'converged' if lc.converged else 'NOT converged'}")
    for col in table.columns:
        t.add_column(col, justify="right" if col not in ("area", "bus", "mode") else "left")
    for _, row in table.iterrows():
        t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)
    data = summary_dict(result)
    data["local_control"] = {"mode": mode, "category": category, **lc.summary(),
                             "residuals": [float(r) for r in lc.residuals]}
    data["iterations"] = int(lc.iterations)
    data["inverters"] = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                         for row in table.to_dict("records")]
    write_json(json_out, data)
    if not (lc.converged and result.converged):
        raise Failed(f"local control did not reach a fixed point in {lc.iterations} iterations (last residual "
                     f"{lc.residuals[-1] if lc.residuals else float('nan'):.3e} MW/Mvar)")


# ----------------------------------------------------------------- strategies
Weights_ = Annotated[str, typer.Option("--weights", help="entropy | equal | alpha=..,beta=..,gamma=..")]
Formulation = Annotated[str, typer.Option("--feeder-formulation",
                                           help="branch_flow (exact) | soc_bf (SOC relaxation) | lindistflow (linear)")]
TFormulation = Annotated[str, typer.Option("--transmission-formulation",
                                           help="acp (AC polar, exact) | dc (B-theta: P only, V = 1 p.u.)")]
Discrete = Annotated[str, typer.Option("--discrete", help="capacitor steps: search (relax + neighbourhood search) | bonmin")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="where ADMM subproblems run: serial | process | ray")]
Workers = Annotated[Optional[int], typer.Option("--workers", help="worker processes for --executor process")]
Penalty = Annotated[str, typer.Option("--penalty", help="ADMM penalty rule: spectral | residual | fixed")]
Rho0 = Annotated[float, typer.Option("--rho0", help="ADMM initial penalty")]
MaxIter = Annotated[int, typer.Option("--max-iter", help="ADMM iteration limit (per phase: relaxed steps, then fixed)")]
Tol = Annotated[float, typer.Option("--tol", help="ADMM tolerance on primal and dual residuals (% V, MW, Mvar)")]
Batch = Annotated[int, typer.Option("--batch", help="ADMM: feeder subproblems a worker solves together in one IPOPT problem (1: one by one)")]
Band = Annotated[str, typer.Option("--vm-band", help="every bus's voltage limits, 'LOW,HIGH' in p.u., replacing the "
                                   "data's (wider or narrower), and the band violations are counted against; "
                                   "'data' = the buses' own limits, violations counted against 0.95-1.05")]


def _pair(text: str, option: str, example: str) -> tuple[float, float]:
    """Two numbers 'LOW,HIGH' of an option."""
    from tdcoord.errors import InputError

    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"{option} {text!r}: expected two numbers 'LOW,HIGH', e.g. {example}") from None
    return lo, hi


def _integers(text: str | None, option: str, example: str) -> list[int]:
    """Comma-separated integers of an option (none for an empty text)."""
    from tdcoord.errors import InputError

    try:
        return [int(v) for v in (text or "").split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated integers, e.g. {example}") from None


def _floats(text: str | None, option: str, example: str) -> list[float]:
    """Comma-separated numbers of an option (none for an empty text)."""
    from tdcoord.errors import InputError

    try:
        return [float(v) for v in (text or "").split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated numbers, e.g. {example}") from None


def _band(text: str) -> tuple[float, float] | None:
    from tdcoord.errors import InputError

    if text.strip().lower() == "data":
        return None
    lo, hi = _pair(text, "--vm-band", "0.95,1.05")
    if not 0 < lo < hi:
        raise InputError(f"--vm-band {text!r}: expected 0 < LOW < HIGH")
    return lo, hi


def _admm_settings(penalty: str, rho0: float, max_iter: int, tol: float, batch: int = 50):
    from tdcoord.coordination.admm import AdmmSettings
    from tdcoord.errors import InputError

    if not rho0 > 0:
        raise InputError(f"--rho0 {rho0}: expected a penalty > 0")
    if not tol > 0:
        raise InputError(f"--tol {tol}: expected a tolerance > 0 (% V, MW, Mvar)")
    if max_iter < 1:
        raise InputError(f"--max-iter {max_iter}: expected 1 or more iterations")
    if batch < 1:
        raise InputError(f"--batch {batch}: expected 1 or more feeders")
    return AdmmSettings(rho0=rho0, max_iter=max_iter, tol_primal=tol, tol_dual=tol, penalty=penalty, batch=batch)


def _check_executor(kind: str) -> None:
    """``--executor`` names one of the executors (checked before any work starts)."""
    from tdcoord.errors import InputError

    if kind not in ("serial", "process", "ray"):
        raise InputError(f"--executor {kind!r}: expected serial, process or ray")


def _executor(kind: str, workers: int | None):
    from tdcoord.errors import InputError
    from tdcoord.execution import make_executor

    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: expected 1 or more worker processes")
    return make_executor(kind, workers)


def _coupled(spec: str, command: str | None = None):
    from tdcoord.cases import load_case
    from tdcoord.cases.registry import case_info
    from tdcoord.errors import InputError
    from tdcoord.network.coupled import CoupledSystem

    info = case_info(spec)
    why = info.refusal(command) if (info is not None and command) else None
    if why:
        raise InputError(f"{spec!r} is not meant for `tdcoord {command}`: {why}")
    system = load_case(spec)
    if not isinstance(system, CoupledSystem):
        raise InputError(f"{spec!r} is a single network; optimization strategies need a coupled spec 'T+FEEDER@BUS...'")
    if not len(system.feeders):
        raise InputError(f"{spec!r} has no feeders")
    return system


def _table(title: str, **kw: Any) -> Table:
    """A compact table: a rule under the header, one space between columns, no frame."""
    from rich import box

    return Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False, **kw)


def _fmt(v: Any, digits: int = 4) -> str:
    """A table cell: numpy scalars as Python numbers, "n/a" for what was not computed (None, NaN)."""
    if type(v).__module__ == "numpy" and hasattr(v, "item"):
        v = v.item()
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
    return str(v)


def _sci(v: Any) -> str:
    """A small figure in scientific notation; "n/a" where there is none."""
    return f"{v:.1e}" if isinstance(v, float) and v == v else _fmt(v)


def print_comparison(comp: Any) -> None:
    rows = [("objective", "objective", 4), ("loss (MW)", "p_loss_mw", 3), ("Q reserve T (Mvar)", "q_reserve_t_mvar", 1),
            ("Q reserve D (Mvar)", "q_reserve_d_mvar", 1), ("V min (p.u.)", "vm_min_pu", 4), ("V max (p.u.)", "vm_max_pu", 4),
            ("buses outside band", "v_voltage", 0), ("units beyond Q lim.", "v_q_limit", 0),
            ("units beyond P lim.", "v_p_limit", 0), ("branches > rating", "v_branch_rating", 0),
            ("viol. if Q-limited", "q_limited_violations", 0),
            ("max |V-1| (p.u.)", "dv_max_pu", 4), ("iterations", "iterations", 0),
            ("time (s)", "time_s", 3), ("floats / iteration", "floats_per_iteration", 0),
            ("min VSM (p.u.)", "vsm_min_pu", 4), ("re-check residual", "pf_mismatch_pu", -1),
            ("V opt. vs re-check", "recheck_dvm_pu", -1), ("converged", "converged", 0)]
    t = _table(f"strategies on {comp.case}, re-checked by integrated power flow")
    t.add_column("", no_wrap=True)
    t.add_column("base", justify="right", style="dim", no_wrap=True)
    names = list(comp.results)
    for n in names:
        t.add_column(n, justify="right", no_wrap=True)
    b = comp.base
    base_vals = {"objective": b.objective, "p_loss_mw": b.p_loss_mw, "q_reserve_t_mvar": b.q_reserve_t_mvar,
                 "q_reserve_d_mvar": b.q_reserve_d_mvar, "vm_min_pu": b.vm_min_pu, "vm_max_pu": b.vm_max_pu,
                 "dv_max_pu": b.dv_max_pu, "vsm_min_pu": comp.extra.get("vsm_base_min_pu", float("nan")),
                 **{f"v_{k}": v for k, v in b.violations.items()}}
    sums = {}
    for n in names:
        s = comp.results[n].summary()
        s.update({f"v_{k}": v for k, v in (s.get("violations") or {}).items()})
        q = s.get("recheck_q_limits") or {}
        s["q_limited_violations"] = q.get("n_violations") if q.get("converged") else ("no conv." if q else None)
        sums[n] = s
    for label, key, digits in rows:
        cells = [label, _fmt(base_vals[key], digits) if key in base_vals else "n/a"]
        for n in names:
            v = sums[n].get(key)
            cells.append(f"{v:.1e}" if digits < 0 and isinstance(v, float) and v == v else _fmt(v, digits))
        t.add_row(*cells)
    console.print(t)
    w = comp.weights
    console.print(f"weights ({w.method}): alpha = {w.alpha:.4g} /MW, beta = {w.beta:.4g} per $/h, gamma = {w.gamma:.4g} /p.u.^2"
                  + (f" ({', '.join(w.detail['defaulted'])} not given: 1)" if w.detail.get("defaulted") else ""))
    c = comp.comparisons()
    if c:
        parts = []
        if "admm_objective_gap" in c:
            parts.append(f"ADMM vs centralized: objective {c['admm_objective_gap']:+.2e}, loss {c['admm_loss_gap']:+.2e}, "
                         f"time {c['admm_time_ratio']:.2f}x (critical path {c.get('admm_parallel_time_ratio', float('nan')):.2f}x)")
        change = c.get("loss_change_vs_independent-t")
        if isinstance(change, float) and change == change:  # not when independent-t failed (NaN)
            parts.append(f"loss vs independent-t {change:+.1%}")
        console.print("; ".join(parts))
    for name, r in comp.results.items():
        for m in r.messages:
            console.print(f"[yellow]{name}:[/] {m}")


@app.command()
def run(
    case: Annotated[str, typer.Option(help="coupled case to study")] = DEFAULT_CASE,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out"),
    weights: Weights_ = "entropy",
    feeder_formulation: Formulation = "branch_flow",
    discrete: Discrete = "search",
    executor: ExecutorOpt = "serial",
    workers: Workers = None,
    penalty: Penalty = "spectral",
    rho0: Rho0 = 0.5,
    max_iter: MaxIter = 300,
    tol: Tol = 1e-4,
    batch: Batch = 50,
    vm_band: Band = "data",
    vsm_on: Annotated[bool, Flag("--vsm/--no-vsm", help=VSM_HELP)] = True,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """The main study: independent, centralized and ADMM strategies on the default case."""

    def body() -> None:
        from tdcoord.reporting.comparison import write_outputs
        from tdcoord.studies.comparison import compare

        cs = _coupled(case, "run")
        settings = _admm_settings(penalty, rho0, max_iter, tol, batch)
        ex = _executor(executor, workers)
        check_json(json_out)
        from tdcoord.problems.vsm import VsmSettings

        with _status() as status:
            comp = compare(cs, weights=weights, feeder_formulation=feeder_formulation, discrete=discrete,
                           executor=ex, admm=settings, progress=lambda m: status.update(f"running: {m}"),
                           vm_band=_band(vm_band), vsm=VsmSettings() if vsm_on else None)
        print_comparison(comp)
        files = write_outputs(comp, out)
        record_outputs(files)
        write_json(json_out, comp.summary())
        console.print(f"{len(files)} files written to {out}/ in {comp.time_s:.1f} s")
        failed = [n for n, r in comp.results.items() if not r.converged]
        if failed:
            raise Failed(f"strategies that did not converge: {', '.join(failed)} (see messages above)")

    guarded(body, debug, out=out)


@app.command()
def opt(
    spec: Annotated[str, typer.Argument(help="coupled spec 'T+FEEDER@BUS...' or case file")],
    strategy: Annotated[str, typer.Option("--strategy", help="centralized | independent-t | independent-d | admm")] = "admm",
    weights: Weights_ = "entropy",
    feeder_formulation: Formulation = "branch_flow",
    transmission_formulation: TFormulation = "acp",
    discrete: Discrete = "search",
    executor: ExecutorOpt = "serial",
    workers: Workers = None,
    penalty: Penalty = "spectral",
    rho0: Rho0 = 0.5,
    max_iter: MaxIter = 300,
    tol: Tol = 1e-4,
    batch: Batch = 50,
    vm_band: Band = "data",
    vsm_on: Annotated[bool, Flag("--vsm/--no-vsm", help=VSM_HELP)] = False,
    out: Annotated[Optional[Path], typer.Option(help="output folder (CSV tables, plots)")] = None,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Joint T-D reactive power optimization of any coupled system by one strategy."""

    def body() -> None:
        from tdcoord.studies.comparison import STRATEGIES, compare

        if strategy not in STRATEGIES:
            from tdcoord.errors import InputError

            raise InputError(f"--strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
        cs = _coupled(spec)
        settings = _admm_settings(penalty, rho0, max_iter, tol, batch)
        ex = _executor(executor, workers)
        check_json(json_out)
        with _status() as status:
            from tdcoord.problems.vsm import VsmSettings

            comp = compare(cs, strategies=(strategy,), weights=weights, feeder_formulation=feeder_formulation,
                           transmission_formulation=transmission_formulation, discrete=discrete, executor=ex,
                           admm=settings, progress=lambda m: status.update(f"running: {m}"),
                           vm_band=_band(vm_band), vsm=VsmSettings() if vsm_on else None)
        if out is not None:
            from tdcoord.reporting.comparison import write_outputs

            record_outputs(write_outputs(comp, out))
        print_comparison(comp)
        r = comp.results[strategy]
        if json_out is not None:  # the tables of a thousand feeders take seconds to turn into JSON
            summary = r.summary(tables=True)
            if len(r.history):
                summary["history"] = r.history.to_dict(orient="list")
            write_json(json_out, summary)
        if not r.converged:
            if len(r.history):
                h = r.history
                t = _table("ADMM residual history (last 10 iterations)")
                for c in ("iteration", "primal_residual", "dual_residual", "objective"):
                    t.add_column(c, justify="right")
                for _, row in h.tail(10).iterrows():
                    t.add_row(str(int(row.iteration)), f"{row.primal_residual:.3e}", f"{row.dual_residual:.3e}",
                              f"{row.objective:.6f}")
                console.print(t)
            raise Failed(f"{strategy} did not reach a converged, verified operating point: {r.status}"
                         + (f" ({'; '.join(r.messages)})" if r.messages else ""))

    guarded(body, debug, out=out)


@app.command()
def opf(
    case: Annotated[str, typer.Argument(help="network name or case file (MATPOWER .m, pandapower/tdcoord .json)")],
    flow_limit: Annotated[str, typer.Option("--flow-limit", help="mva (MATPOWER) | current (pandapower) | none")] = "mva",
    formulation: Annotated[str, typer.Option("--formulation", help="acp (AC, IPOPT) | dc (DC OPF, lossless, HiGHS)")] = "acp",
    losses: Annotated[bool, Flag("--losses", help="dc: add the quadratic loss approximation")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Optimal power flow with generator costs, MATPOWER's conventions (AC or DC)."""

    def body() -> None:
        from tdcoord.cases import load_case
        from tdcoord.errors import InputError
        from tdcoord.network.coupled import CoupledSystem
        from tdcoord.problems.opf import solve_opf

        if flow_limit not in ("mva", "current", "none"):
            raise InputError(f"--flow-limit {flow_limit!r}: expected mva, current or none")
        net = load_case(case)
        if isinstance(net, CoupledSystem):
            net = net.merge().network
        if formulation not in ("acp", "dc"):
            raise InputError(f"--formulation {formulation!r}: expected acp or dc")
        if losses and formulation != "dc":
            raise InputError("--losses applies to --formulation dc (the AC model has its losses)")
        r = solve_opf(net, flow_limit=flow_limit, formulation=formulation, losses=losses)
        kind = "AC" if formulation == "acp" else ("DC with losses" if losses else "DC")
        t = _table(f"{kind} OPF of {case} (flow limits: {flow_limit})")
        t.add_column("quantity")
        t.add_column("value", justify="right")
        t.add_row("status", r.status)
        t.add_row("objective ($/h)", _fmt(r.objective))
        t.add_row("losses (MW)", _fmt(r.p_loss_mw))
        t.add_row(f"{r.solver.upper() or 'solver'} iterations", str(r.iterations))
        t.add_row("re-check residual (p.u.)", _sci(r.pf_mismatch_pu))
        t.add_row("V optimizer vs re-check (p.u.)", _sci(r.recheck_dvm_pu))
        t.add_row("time (s)", f"{r.time_s:.3f}")
        console.print(t)
        for m in r.messages:
            err_console.print(f"[yellow]warning:[/] {m}", highlight=False)
        write_json(json_out, r.summary(tables=True))
        if not r.converged:
            raise Failed(f"the OPF did not converge: {r.solver.upper()} {r.status}")

    guarded(body, debug)


# ------------------------------------------------------------------ stability
class _LineProgress:
    """Progress for logs (stderr is not a terminal): a line per finished step on stderr.

    The interface of the parts of rich's ``Progress`` and ``Status`` used
    here (``add_task``/``update``, ``update(message)``). With more than 100
    steps a line is written every 1 % of them.
    """

    def __init__(self) -> None:
        import time

        self._t0 = time.perf_counter()
        self._tasks: dict[int, dict[str, Any]] = {}
        self.console = err_console  # for messages between the steps, as on rich's Progress

    def __enter__(self) -> "_LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def _say(self, text: str) -> None:
        import time

        print(f"[{time.perf_counter() - self._t0:7.1f} s] {text}", file=sys.stderr, flush=True)

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        k = len(self._tasks)
        self._tasks[k] = {"description": description, "total": total, "completed": 0, "said": 0}
        return k

    def update(self, task: Any = None, *, total: float | None = None, completed: float | None = None,
               description: str | None = None, **_: Any) -> None:
        if not isinstance(task, int):  # a status: the message is the step that starts now
            if task is not None:
                self._say(str(task))
            return
        t = self._tasks[task]
        t.update({k: v for k, v in (("total", total), ("description", description)) if v is not None})
        if completed is None or completed <= t["completed"]:
            return
        t["completed"] = completed
        every = max(1, int((t["total"] or 0) // 100))
        if completed - t["said"] >= every or completed == t["total"]:
            t["said"] = completed
            of = f"/{t['total']:g}" if t["total"] else ""
            self._say(f"{t['description']}: {completed:g}{of} done")


def _progress() -> Any:
    """A progress bar on a terminal; a line per finished step on stderr otherwise (logs show progress)."""
    if not err_console.is_terminal:
        return _LineProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)


def _status(first: str = "starting") -> Any:
    """A one-line status on a terminal (stderr); a line per step on stderr otherwise."""
    if not err_console.is_terminal:
        return _LineProgress()
    return err_console.status(first)


def _out_dir(out: Path | None) -> Path | None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    return out


@app.command()
def vsm(
    spec: Annotated[str, typer.Argument(help="case name, coupled spec or case file")] = DEFAULT_CASE,
    buses: Annotated[Optional[str], typer.Option(help="comma-separated bus labels (default: every bus)")] = None,
    no_q_limits: Annotated[bool, Flag("--no-q-limits", help="ignore generator reactive limits")] = False,
    out: Annotated[Optional[Path], typer.Option(help="output folder (margins.csv)")] = None,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Voltage stability margins: every bus's Q-V margin and the loadability margin (continuation power flow)."""

    def body() -> None:
        import time

        from tdcoord.cases import load_case
        from tdcoord.stability.vsm import THRESHOLD, loadability, operating_point, q_margins

        t0 = time.perf_counter()
        system = load_case(spec)
        op = operating_point(system, enforce_q_lims=not no_q_limits)
        labels = [b.strip() for b in buses.split(",")] if buses else None
        if labels:
            from tdcoord.errors import UnknownBusError

            missing = [b for b in labels if b not in op.cn.position()]
            if missing:
                raise UnknownBusError(f"--buses: bus {missing[0]!r} is not an in-service bus of {spec!r}")
        n = len(labels) if labels else op.cn.n_bus
        with _progress() as prog:
            task = prog.add_task("Q-V margins", total=n)
            df = q_margins(system, labels, op=op, progress=lambda k, t: prog.update(task, completed=k))
        load = loadability(system, op=op)
        elapsed = time.perf_counter() - t0
        t = _table(f"lowest voltage stability margins of {spec} (threshold {THRESHOLD} p.u.)")
        for c in ("bus", "Q margin (Mvar)", "VSM (p.u.)", "base (MVA)", "V (p.u.)", "V at nose (p.u.)"):
            t.add_column(c, justify="left" if c == "bus" else "right")
        for bus, r in df.sort_values("vsm_pu").head(15).iterrows():
            style = "red" if r.vsm_pu < THRESHOLD else None
            t.add_row(str(bus), f"{r.q_margin_mvar:.3f}", f"{r.vsm_pu:.4f}", f"{r.base_mva:.0f}", f"{r.vm_pu:.4f}",
                      f"{r.vm_nose_pu:.4f}", style=style)
        console.print(t)
        console.print(f"loadability margin: lambda = {load.lambda_max:.4f} ({load.p_load_mw:.1f} MW -> "
                      f"{load.p_load_max_mw:.1f} MW at the nose, {load.reason}); {n} buses in {elapsed:.1f} s")
        finite = df[df.vsm_pu != float("inf")]
        data = {
            "buses": [{"bus": str(b), "q_margin_mvar": float(r.q_margin_mvar), "vsm_pu": float(r.vsm_pu),
                       "base_mva": float(r.base_mva)} for b, r in finite.iterrows()],
            "loadability_margin": float(load.lambda_max),
            "loadability": load.summary(),
            "threshold": THRESHOLD,
            "below_threshold": [str(b) for b in finite.index[finite.vsm_pu < THRESHOLD]],
            "time_s": elapsed,
        }
        write_json(json_out, data)
        if _out_dir(out):
            df.to_csv(out / "margins.csv")
            write_json(out / "vsm.json", data)
            record_outputs([out / "margins.csv", out / "vsm.json"])

    guarded(body, debug, out=out)


def _contingencies(text: str):
    from tdcoord.errors import InputError

    t = text.strip().lower()
    if t in ("all", ""):
        return "all"
    if t == "none":
        return []
    out = []
    for part in text.split(","):
        ab = part.strip().split("-")
        if len(ab) != 2 or not all(ab):
            raise InputError(f"--contingencies: {part!r} is not 'FROM-TO' (e.g. 6-28); use all, none or a list")
        out.append((ab[0], ab[1]))
    return out


@app.command()
def reserve(
    spec: Annotated[str, typer.Argument(help="coupled spec or case file")] = DEFAULT_CASE,
    scenarios: Annotated[int, typer.Option("--scenarios", help="renewable forecast-error scenarios")] = 20,
    seed: Annotated[int, typer.Option(help="random seed of the scenarios")] = 0,
    sigma: Annotated[float, typer.Option(help="forecast error standard deviation, fraction of forecast")] = 0.125,
    contingencies: Annotated[str, typer.Option(help="all | none | FROM-TO,FROM-TO (N-1 transmission outages)")] = "all",
    scenario: Annotated[Optional[str], typer.Option(help="high-re | peak-load | n-1 | combined: assess at that operating point")] = None,
    threshold: Annotated[float, typer.Option(help="VSM threshold, p.u.")] = 0.15,
    limit_ms: Annotated[float, typer.Option("--response-ms", help="fastest response a reserve source must have")] = 100.0,
    out: Annotated[Optional[Path], typer.Option(help="output folder (per-case files, tables)")] = None,
    resume: Annotated[bool, Flag("--resume", help="continue an interrupted run in --out")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Dynamic reactive reserve demand per node (forecast scenarios and N-1), and who must hold it."""

    def body() -> None:
        import pandas as pd

        from tdcoord.errors import InputError
        from tdcoord.problems.reserve import allocate
        from tdcoord.reporting.stability import key_node_table
        from tdcoord.stability.reserve import assess_reserve_demand

        if scenarios < 0 or not 0 <= sigma <= 1 or threshold <= 0:
            raise InputError("--scenarios must be >= 0, --sigma within [0, 1], --threshold > 0")
        if resume and out is None:
            raise InputError("--resume needs --out (the folder of the interrupted run)")
        cs = _coupled(spec)
        if scenario:
            from tdcoord.studies.scenarios import apply_scenario, get_scenario

            cs = apply_scenario(cs, get_scenario(scenario))
        cont = _contingencies(contingencies)
        # each finished case in out/cases/<case>.json, with every setting that changes its node demands
        checkpoint = None
        done: dict = {}
        if _out_dir(out):
            from tdcoord.results.checkpoint import Checkpoint, system_digest

            fingerprint = {"case": cs.name, "case_data": system_digest(cs), "scenario": scenario,
                           "n_scenarios": scenarios, "sigma": sigma, "seed": seed,
                           "contingencies": cont if isinstance(cont, str) else [list(c) for c in cont],
                           "threshold": threshold, "enforce_q_lims": True}
            checkpoint = Checkpoint(out / "cases", "tdcoord.reserve.case/2", fingerprint)
            for name, rec in checkpoint.start(resume).items():
                t = rec["nodes"]
                done[name] = pd.DataFrame(t["data"], index=pd.Index(t["index"], name=t.get("index_name")),
                                          columns=t["columns"], dtype=float)
            if resume:
                console.print(f"resuming: {len(done)} case(s) already in {checkpoint.folder}")

        def on_case(name: str, nd, row: dict) -> None:
            if checkpoint is None or name in done:
                return
            from tdcoord.results.tables import tables_to_json

            nodes = {**tables_to_json({"nodes": nd})["nodes"], "index_name": nd.index.name}
            checkpoint.save(name, {"case": name, "row": row, "nodes": nodes})

        with _progress() as prog:
            task = prog.add_task("cases", total=1)

            def progress(name: str, k: int, n: int) -> None:
                prog.update(task, total=n, completed=k, description=f"case {name}" if name else "cases")

            a = assess_reserve_demand(cs, n_scenarios=scenarios, sigma=sigma, seed=seed, contingencies=cont,
                                      threshold=threshold, progress=progress, done=done, on_case=on_case)
        plan = allocate(cs, a.demand.demand_mvar, limit_ms=limit_ms)
        s = a.summary()
        t = _table(f"reserve demand of {cs.name}: {len(a.cases)} cases ({scenarios} forecast, "
                        f"{s['contingencies']} N-1), VSM >= {threshold}")
        for c in ("bus", "network", "demand (Mvar)", "worst case", "min VSM (p.u.)"):
            t.add_column(c, justify="right" if "(" in c else "left")
        d = a.demand[a.demand.demand_mvar > 0].sort_values("demand_mvar", ascending=False)
        for bus, r in d.head(20).iterrows():
            t.add_row(str(bus), r.network, f"{r.demand_mvar:.3f}", str(r.worst_case), f"{r.vsm_min_pu:.4f}")
        console.print(t)
        need = plan.totals()
        worst = "; ".join(f"largest node demand in {name}: {s[f'node_demand_max_{tag}_mvar']:.2f} Mvar at "
                          f"{s[f'worst_node_{tag}']} ({s[f'worst_case_{tag}']})"
                          for tag, name in (("t", "T"), ("d", "D")) if s[f"worst_node_{tag}"])
        console.print(f"system requirement (what the fast sources must hold): transmission {need['T']:.2f} Mvar, "
                      f"distribution {need['D']:.2f} Mvar; {worst or 'no node short'}; {s['nodes_with_demand']} nodes "
                      f"short in some case (each node's own demand; they do not add up); "
                      f"{s['cases_without_solution']} case(s) without a power-flow solution; {a.time_s:.1f} s")
        key = key_node_table(cs, plan)
        if len(key):
            k = _table("key-node reserve configuration: the sources that hold each key node's reserve")
            for c in ("bus ID", "bus type", "kV", "Q reserve Mvar", "reserve type", "response ms"):
                k.add_column(c, justify="right" if c in ("kV", "Q reserve Mvar", "response ms") else "left")
            for _, r in key.head(10).iterrows():
                k.add_row(r.bus_id, r.bus_type, f"{r.voltage_kv:g}", f"{r.q_reserve_mvar:.2f}", str(r.reserve_type),
                          f"{r.response_ms:.0f}")
            console.print(k)
        data = {
            **s,
            # the system requirement: what the counted sources must hold (each source's largest share of any node's
            # demand, summed over the sources), in T and in D
            "demand_t_mvar": need["T"],
            "demand_d_mvar": need["D"],
            "scenario": scenario,
            "nodes": [{"bus": str(b), "network": r.network, "demand_mvar": float(r.demand_mvar), "worst_case": r.worst_case,
                       "vsm_min_pu": None if pd.isna(r.vsm_min_pu) else float(r.vsm_min_pu)} for b, r in a.demand.iterrows()],
            "cases": [{"case": str(c), **{k: (None if isinstance(v, float) and v != v else
                                              int(v) if k == "nodes_short" else v) for k, v in r.items()}}
                      for c, r in a.cases.iterrows()],
            "sources": plan.sources.drop(columns=["controllable"], errors="ignore").to_dict(orient="records"),
            "key_nodes": key.to_dict(orient="records"),
        }
        write_json(json_out, data)
        if out is not None:
            a.demand.to_csv(out / "node_demand.csv")
            a.cases.to_csv(out / "cases.csv")
            plan.sources.to_csv(out / "source_requirements.csv", index=False)
            key.to_csv(out / "key_nodes.csv", index=False)
            write_json(out / "reserve.json", data)

    guarded(body, debug, out=out, resume=resume, resumable=True)


study_app = typer.Typer(no_args_is_help=True, help="Studies composed of several computations.")
app.add_typer(study_app, name="study")


def _strategy_table(rows: list[dict]) -> Table:
    t = _table("strategies per scenario, with VSM and reserve constraints",
              caption="obj: objective; loss MW; QT, QD: reactive reserve held in T, D (Mvar); VSM: min over key "
                      "nodes (p.u.); viol: buses outside band; it: iterations; s: time; met: reserve requirements met",
)
    cols = [("obj", "objective", 3), ("loss", "p_loss_mw", 3), ("QT", "q_reserve_t_mvar", 1), ("QD", "q_reserve_d_mvar", 1),
            ("VSM", "vsm_min_pu", 3), ("viol", "n_violations", 0), ("it", "iterations", 0), ("s", "time_s", 1),
            ("met", "reserve_met", 0)]
    t.add_column("scenario, strategy", no_wrap=True)
    for label, _, _ in cols:
        t.add_column(label, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(f"[bold]{r['name']}[/]", *[""] * len(cols))
        for name, v in r.get("strategies", {}).items():
            cells = [_fmt(v.get(key), d) if v.get(key) is not None else "-" for _, key, d in cols]
            t.add_row(f"  {name}" + ("" if v.get("converged") else " (failed)"), *cells)
    return t


@study_app.command("scenarios")
def study_scenarios(
    case: Annotated[str, typer.Option(help="coupled case")] = DEFAULT_CASE,
    strategy: Annotated[str, typer.Option(help="admm | centralized")] = "admm",
    compare_strategies: Annotated[bool, Flag("--compare/--no-compare",
                                                     help="also run the other strategies on each scenario (their figures and min VSM)")] = True,
    scenarios: Annotated[int, typer.Option("--scenarios", help="forecast-error scenarios per reserve assessment")] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    sigma: Annotated[float, typer.Option(help="forecast error standard deviation, fraction of forecast")] = 0.125,
    contingencies: Annotated[str, typer.Option(help="all | none | FROM-TO,... (N-1 outages in the assessment)")] = "all",
    weights: Weights_ = "entropy",
    executor: ExecutorOpt = "serial",
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out/scenarios-study"),
    resume: Annotated[bool, Flag("--resume", help="continue an interrupted run in --out: keep the scenarios it "
                                                  "finished (same settings only)")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Seed 000's four scenarios: reserve demand, optimization with VSM and reserve (analogue of Table 1)."""

    def body() -> None:
        from tdcoord.errors import InputError
        from tdcoord.studies.scenario_study import run_scenario_study

        if strategy not in ("admm", "centralized"):
            raise InputError(f"--strategy {strategy!r}: expected admm or centralized")
        cs = _coupled(case)
        ex = _executor(executor, workers)
        with _progress() as prog:
            task = prog.add_task("scenarios", total=4)

            def progress(name: str, k: int, n: int) -> None:
                prog.update(task, total=n, completed=k, description=f"scenario {name}" if name else "scenarios")

            study = run_scenario_study(cs, strategy=strategy, weights=weights, n_scenarios=scenarios, sigma=sigma,
                                       seed=seed, contingencies=_contingencies(contingencies), executor=ex, out=out,
                                       compare_strategies=compare_strategies, resume=resume, progress=progress,
                                       say=lambda m: prog.console.print(f"[dim]{m}[/]"))
        t = _table(f"scenarios on {case} ({strategy}, VSM and reserve constraints): reserve held and demanded")
        rows = [("T reserve held (Mvar)", "q_reserve_t_mvar", 1), ("D reserve held (Mvar)", "q_reserve_d_mvar", 1),
                ("T reserve required (Mvar)", "q_demand_t_mvar", 1), ("D reserve required (Mvar)", "q_demand_d_mvar", 1),
                ("largest T node demand", "node_demand_max_t_mvar", 2), ("largest D node demand", "node_demand_max_d_mvar", 2),
                ("loss (MW)", "p_loss_mw", 3), ("min VSM (p.u.)", "vsm_min_pu", 3), ("max |V-1| (p.u.)", "dv_max_pu", 4),
                ("buses outside band", "n_violations", 0), ("time (s)", "time_s", 1), ("converged", "converged", 0),
                ("reserve met", "reserve_met", 0)]
        t.add_column("")
        for r in study.rows:
            t.add_column(r["name"], justify="right")
        for label, key, d in rows:
            t.add_row(label, *[_fmt(r.get(key), d) if r.get(key) is not None else "-" for r in study.rows])
        console.print(t)
        if any(len(r.get("strategies", {})) > 1 for r in study.rows):
            console.print(_strategy_table(study.rows))
        for r in study.rows:
            for m in r.get("messages", []):
                console.print(f"[yellow]{r['name']}:[/] {m}")
        summary = study.summary()
        summary["scenarios"] = [{k: r.get(k) for k in r} for r in study.rows]
        write_json(out / "summary.json", summary)
        write_json(json_out, summary)
        console.print(f"written to {out}/ in {study.time_s:.1f} s")
        bad = [r["name"] for r in study.rows if not r.get("converged")]
        if bad:
            raise Failed(f"scenarios without a converged, verified optimum: {', '.join(bad)}")

    guarded(body, debug, out=out, resume=resume, resumable=True)


@study_app.command("double-time-scale")
def study_double_time_scale(
    case: Annotated[str, typer.Option(help="AC/DC system with a day of 5-minute time series")] = "ieee30-acdc",
    solver: Annotated[str, typer.Option(help="slow step: exact (relaxation + neighbourhood search) | bonmin | pso")]
    = "exact",
    hours: Annotated[int, typer.Option(help="hours of the day to run, from 00:00")] = 24,
    compare: Annotated[bool, Flag("--compare/--no-compare", help="also solve one slow step exactly and by PSO "
                                                                 "over --pso-seeds seeds")] = True,
    compare_hour: Annotated[int, typer.Option(help="hour of the exact-vs-PSO slow step")] = 19,
    pso_seeds: Annotated[int, typer.Option(help="PSO runs (seeds) in the comparison")] = 20,
    pso_generations: Annotated[int, typer.Option(help="PSO generations (population 50)")] = 40,
    executor: Annotated[str, typer.Option("--executor", help="where the comparison's PSO seeds run: serial | "
                                                              "process | ray")] = "serial",
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out/double-time-scale"),
    resume: Annotated[bool, Flag("--resume", help="continue an interrupted run in --out: keep the hours it "
                                                  "finished (same settings only)")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Double time scale on an AC/DC grid: hourly tap changer, capacitor and UPFC schedule, 5-minute UPFC
    correction; three scenarios (no control, slow only, both) over a day."""

    def body() -> None:
        from tdcoord.cases.registry import load_case
        from tdcoord.errors import InputError
        from tdcoord.network.network import Network
        from tdcoord.network.validate import validate
        from tdcoord.reporting.volt_var import write_outputs
        from tdcoord.studies.double_time_scale import DtsSettings, run_study

        if solver not in ("exact", "bonmin", "pso"):
            raise InputError(f"--solver {solver!r}: expected exact, bonmin or pso")
        if not 1 <= hours <= 24:
            raise InputError(f"--hours {hours}: expected 1 to 24")
        if not 0 <= compare_hour <= 23:
            raise InputError(f"--compare-hour {compare_hour}: expected 0 to 23")
        if pso_seeds < 1 or pso_generations < 1:
            raise InputError("--pso-seeds and --pso-generations: expected at least 1")
        net = load_case(case)
        if not isinstance(net, Network):
            raise InputError(f"case {case!r} is a coupled system; the study needs one AC/DC network "
                             f"(e.g. ieee30-acdc)")
        validate(net, radial=False)
        settings = DtsSettings(solver=solver, hours=hours, compare_hour=compare_hour, pso_seeds=pso_seeds,
                               pso_generations=pso_generations)
        say = lambda m: err_console.print(f"[dim]{m}[/]", highlight=False, soft_wrap=True)  # noqa: E731
        ex = _executor(executor, workers) if compare else None
        study = run_study(net, settings, out=out, resume=resume, compare=compare, progress=say, executor=ex)
        summary = write_outputs(study, out, json_out)
        record_outputs(sorted(p for p in out.iterdir() if p.is_file()))
        t = _table(f"double time scale on {case}: the day's three scenarios (AC/DC power flow re-check)",
                   caption="loss MWh; cost: losses at 450/MWh + 60/tap step + 50/capacitor step + 150/Mvarh of UPFC; "
                           "viol: bus-steps outside [0.95, 1.05]; taps, CB: moves")
        for col in ("scenario", "loss", "cost", "V min", "V max", "viol", "taps", "CB", "s"):
            t.add_column(col, justify="left" if col == "scenario" else "right")
        for r in summary["scenarios"]:
            t.add_row(r["name"], _fmt(r["loss_mwh"], 2), _fmt(r["cost"], 0), _fmt(r["vm_min_pu"], 3),
                      _fmt(r["vm_max_pu"], 3), str(r["violations"]), _fmt(r["tap_moves"], 0), _fmt(r["cb_moves"], 0),
                      _fmt(r["time_s"], 1))
        console.print(t)
        sc = summary.get("slow") or {}
        if sc:
            e, p_ = sc["exact"], sc["pso"]
            sp = p_["objective_spread"]
            console.print(f"slow step at {sc['hour']:02d}:00: exact {e['objective']:.2f} in {e['time_s']:.2f} s; "
                          f"PSO best of {p_['seeds']} seeds {p_['objective']:.2f} (median {sp['median']:.2f}, worst "
                          f"{sp['max']:.2f}) in {p_['time_s']:.1f} s per run")
        w = summary.get("weights") or {}
        if w:
            m = w["mean"]
            console.print(f"weights (mean over slow steps): W_UPFC {m['upfc']:.3f}, W_OLTC {m['oltc']:.3f}, "
                          f"W_CB {m['cb']:.3f}; ordered as W_UPFC >= W_OLTC >= W_CB in {w['hours_ordered']} of "
                          f"{w['hours']} steps")
        console.print(f"{len(summary['retriggers'])} re-triggers of the slow step; written to {out}/ in "
                      f"{summary['time_s']:.1f} s")

    guarded(body, debug, out=out, resume=resume, resumable=True)


@study_app.command("dso-led")
def study_dso_led(
    feeders: Annotated[int, typer.Option(help="IEEE 33-bus feeders on the IEEE 30-bus grid (1 to 21)")] = 5,
    periods: Annotated[int, typer.Option(help="hourly periods of the day, from 00:00 (1 to 24)")] = 24,
    method: Annotated[str, typer.Option(help="complementarity of the TSO's KKT conditions: sos1 | bigm")] = "sos1",
    gap: Annotated[float, typer.Option(help="relative MIP gap at which SCIP stops")] = 0.005,
    time_limit: Annotated[float, typer.Option(help="SCIP time limit per MISOCP, s")] = 300.0,
    band_mw: Annotated[float, typer.Option(help="TSO-led: deviation allowed around the TSO's scheduled exchange, "
                                                "MW")] = 1.0,
    growth: Annotated[bool, Flag("--growth/--no-growth", help="also solve the DSO-led model for "
                                                              "--growth-feeders feeders")] = True,
    growth_feeders: Annotated[str, typer.Option(help="feeder counts of the growth table, comma separated")]
    = "1,2,5,10,20",
    growth_time_limit: Annotated[float, typer.Option(help="SCIP time limit per growth model, s")] = 300.0,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out/dso-led"),
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """DSO-led bilevel coordination (one MISOCP via the TSO's KKT conditions) against the TSO-led sequence on
    IEEE 30-bus + N IEEE 33-bus feeders with PV, batteries and P2P trades; growth with N."""

    def body() -> None:
        from tdcoord.reporting.dso_led import write_outputs
        from tdcoord.studies.dso_led import DsoLedSettings, run_study

        check_json(json_out)
        counts = tuple(_integers(growth_feeders, "--growth-feeders", "1,2,5"))
        settings = DsoLedSettings(feeders=feeders, periods=periods, method=method, gap=gap, time_limit=time_limit,
                                  band_mw=band_mw, growth=counts, growth_time_limit=growth_time_limit)
        say = lambda m: err_console.print(f"[dim]{m}[/]", highlight=False, soft_wrap=True)  # noqa: E731
        study = run_study(settings, progress=say, growth=growth)
        summary = write_outputs(study, out, json_out)
        record_outputs(sorted(p for p in out.iterdir() if p.is_file()))
        t = _table(f"DSO-led vs TSO-led on {study.system.name}, {periods} h",
                   caption="costs $ over the day; energy MWh; DSO cost: energy at the locational price, network "
                           "charges, P2P fees and payments, battery wear; TSO cost: generation")
        for col in ("scheme", "total", "DSO", "TSO", "imports", "self-cons. %", "battery MWh", "cycles", "P2P MWh",
                    "gap", "s"):
            t.add_column(col, justify="left" if col == "scheme" else "right")
        for key, label in (("dso_led", "DSO-led"), ("tso_led", "TSO-led")):
            r = summary[key]
            t.add_row(label, _fmt(r["total_cost"], 0), _fmt(r["dso_cost"], 0), _fmt(r["tso_cost"], 0),
                      _fmt(r["imports_mwh"], 1), _fmt(r["self_consumption_pct"], 1),
                      _fmt(r["battery_throughput_mwh"], 2), _fmt(r["battery_cycles"], 2), _fmt(r["p2p_mwh"], 1),
                      _fmt(r["mip_gap"], 4), _fmt(r["time_s"], 1))
        console.print(t)
        k = summary["kkt_check"]
        console.print(f"KKT check (TSO alone at the DSO-led exchanges): objective gap {_fmt(k['tso_objective_gap'], 2)}"
                      f" (relative), largest price gap {_fmt(k['max_price_gap'], 2)} $/MWh; SOC gap max "
                      f"{_fmt(summary['soc_gap_max'], 2)} p.u.^2")
        if summary["growth"]:
            g = _table("growth of the DSO-led MISOCP", caption=f"size exponent (variables ~ N^a): "
                                                               f"{_fmt(summary['growth_exponent'], 2)}")
            for col in ("N", "variables", "constraints", "binaries", "SOS1 sets", "s", "gap"):
                g.add_column(col, justify="right")
            for e in summary["growth"]:
                g.add_row(str(e["feeders"]), str(e["variables"]), str(e["constraints"]), str(e["binaries"]),
                          str(e.get("sos1_sets", 0)), _fmt(e["time_s"], 1), _fmt(e["mip_gap"], 4))
            console.print(g)
        console.print(f"written to {out}/ in {summary['time_s']:.1f} s")

    guarded(body, debug, out=out)


@study_app.command("smart-inverters")
def study_smart_inverters(
    feeder_load: Annotated[float, typer.Option(help="feeders' load at the study point, per unit of peak")] = 0.5,
    pv: Annotated[float, typer.Option(help="PV output at the study point, per unit of installed")] = 1.0,
    transmission_load: Annotated[float, typer.Option(help="transmission load at the study point, per unit of "
                                                          "peak")] = 0.93,
    category: Annotated[str, typer.Option(help="IEEE 1547 category of the inverters: A | B")] = "B",
    outage_line: Annotated[int, typer.Option(help="transmission line out of service in the contingency case "
                                                  "(-1: none); 1 is ieee9's line 4-5")] = 1,
    periods: Annotated[int, typer.Option(help="hours of the multi-period scale run on ieee123, spaced evenly from "
                                              "noon (0: none)")] = 0,
    form: Annotated[str, typer.Option(help="formulation of the loop's dispatches: sos1 | sos2 | binary")] = "binary",
    solver: Annotated[str, typer.Option(help="solver of the loop's dispatches: SCIP | HIGHS (binary form only)")]
    = "HIGHS",
    time_limit: Annotated[float, typer.Option(help="time limit per MILP, s")] = 120.0,
    rls_steps: Annotated[int, typer.Option(help="measurement steps of the RLS estimation")] = 300,
    seed: Annotated[int, typer.Option(help="seed of the RLS excitation and measurement noise")] = 0,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out/smart-inverters"),
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Smart-inverter dispatch with IEEE 1547 modes (seed 002) on WSCC 9-bus + IEEE 13 + IEEE 123: default
    volt-var against optimized droop, PCC capability, the MILP's formulations side by side, RLS sensitivities,
    and the TSO-DSO loop with and without a line outage."""

    def body() -> None:
        from tdcoord.errors import InputError
        from tdcoord.reporting.smart_inverters import write_outputs
        from tdcoord.studies.smart_inverters import SmartInverterSettings, run_study

        check_json(json_out)
        if category not in ("A", "B"):
            raise InputError(f"--category {category!r}: expected A or B")
        if form not in ("sos1", "sos2", "binary"):
            raise InputError(f"--form {form!r}: expected sos1, sos2 or binary")
        if solver.upper() not in ("SCIP", "HIGHS"):
            raise InputError(f"--solver {solver!r}: expected SCIP or HIGHS")
        if solver.upper() == "HIGHS" and form != "binary":
            raise InputError(f"--form {form} has special ordered sets: only SCIP solves it (use --solver SCIP)")
        st = SmartInverterSettings(feeder_load=feeder_load, pv=pv, transmission_load=transmission_load,
                                   category=category, outage_line=None if outage_line < 0 else outage_line,
                                   loop_form=form, loop_solver=solver.upper(), time_limit_s=time_limit,
                                   rls_steps=rls_steps, seed=seed, periods=periods)
        result = run_study(st)
        summary = write_outputs(result, out, json_out)
        record_outputs(sorted(p for p in out.iterdir() if p.is_file()))
        pr = summary["paper"]
        t = _table("smart-inverter study against the paper")
        for col in ("figure", "tdcoord", "paper"):
            t.add_column(col, justify="left" if col == "figure" else "right")
        cur, rng = summary["curtailment_pct"], summary["pcc_q_range_mvar"]
        width = lambda r: None if r is None else r[1] - r[0]  # noqa: E731
        t.add_row("curtailment, default volt-var (%)", _fmt(cur["default_vv"], 2),
                  _fmt(pr["curtailment_pct"]["default_vv"], 1))
        t.add_row("curtailment, optimized droop (%)", _fmt(cur["optimized"], 2),
                  _fmt(pr["curtailment_pct"]["optimized"], 1))
        t.add_row("PCC Q range width, default (Mvar)", _fmt(width(rng["default_vv"]), 3),
                  _fmt(pr["pcc_q_range_mvar"]["default_vv"], 1))
        t.add_row("PCC Q range width, optimized (Mvar)", _fmt(width(rng["optimized"]), 3),
                  _fmt(pr["pcc_q_range_mvar"]["optimized"], 1))
        t.add_row("TSO-DSO loop iterations (normal / outage)",
                  f"{summary['loop_iterations']} / {summary['loop'].get('outage', {}).get('iterations', '-')}",
                  pr["loop_iterations"])
        t.add_row("V min / max after AC re-checks (p.u.)",
                  f"{summary['vm_min_pu']:.4f} / {summary['vm_max_pu']:.4f}", "0.95 / 1.05")
        t.add_row("RLS relative error", _fmt(summary["rls_error"], 4), "-")
        console.print(t)
        r = _table("the dispatch MILP of ieee123 (one period), four formulations")
        for col in ("formulation", "objective", "time (s)"):
            r.add_column(col, justify="left" if col == "formulation" else "right")
        for key in ("sos1", "sos2", "binary_scip", "binary_highs"):
            r.add_row(key, _fmt(summary["objective"].get(key), 8), _fmt(summary["runtime_s"].get(key), 3))
        console.print(r)
        console.print(f"written to {out}/ in {summary['time_s']:.1f} s")

    guarded(body, debug, out=out)


@study_app.command("stvs-flex")
def study_stvs_flex(
    model: Annotated[Optional[Path], typer.Option(help="CNN surrogate from `tdcoord stvs train` (the proposed "
                                                       "method's STVS loop and the methods' STVS indices need it)")]
    = None,
    penetration: Annotated[str, typer.Option(help="DER penetration: base | high (Table 3 x3, the stress case) | "
                                                  "both")] = "base",
    eps: Annotated[float, typer.Option(help="risk preference: weight of the operating cost against the "
                                            "flexibility risk, in [0, 1]")] = 0.5,
    faults: Annotated[str, typer.Option(help="critical fault buses of the STVS assessment (IEEE 14-bus), comma "
                                             "separated")] = "2,4,5",
    fault_duration: Annotated[float, typer.Option(help="their duration, s")] = 0.2,
    max_iter: Annotated[int, typer.Option(help="STVS iterations (schedule, assess, constrain) at most")] = 10,
    confirm_hours: Annotated[int, typer.Option(help="hours whose final schedules are simulated whole, per "
                                                    "method")] = 2,
    eps_grid: Annotated[str, typer.Option(help="eps values of the sensitivity sweep, comma separated (empty: "
                                               "none)")] = "0.1,0.5,0.8,0.9,0.95,0.98,1",
    executor: Annotated[str, typer.Option("--executor", help="where the stability assessments run: serial | "
                                                             "process | ray")] = "process",
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("tdcoord-out/stvs-flex"),
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """T-D coordinated day-ahead scheduling with the flexibility balance and short-term voltage stability (seed
    001): three methods on IEEE 14 + two IEEE 13 feeders, every hour re-checked by an AC power flow."""

    def body() -> None:
        from tdcoord.errors import InputError
        from tdcoord.reporting.stvs_flex import write_outputs
        from tdcoord.studies.stvs_flex import StvsFlexSettings, run_study

        check_json(json_out)
        grid = _floats(eps_grid, "--eps-grid", "0.5,0.9,1")
        buses = tuple(b.strip() for b in faults.split(",") if b.strip())
        if not buses:
            raise InputError(f"--faults {faults!r}: expected comma-separated bus numbers, e.g. 2,4,5")
        _check_executor(executor)
        settings = StvsFlexSettings(model=None if model is None else str(model), penetration=penetration, eps=eps,
                                    faults=buses, duration_s=fault_duration, max_iter=max_iter,
                                    confirm_hours=confirm_hours, eps_grid=tuple(grid))
        ex = _executor(executor, workers if executor != "serial" else None) if model is not None else None
        say = lambda m: err_console.print(f"[dim]{escape(m)}[/]", highlight=False, soft_wrap=True)  # noqa: E731
        study = run_study(settings, progress=say, executor=ex)
        summary = write_outputs(study, out, json_out)
        record_outputs(sorted(p for p in out.iterdir() if p.is_file()))
        for key, title in (("methods", summary["penetration"]), ("stress", "high")):
            block = summary if key == "methods" else summary.get("stress")
            if not block:
                continue
            t = _table(f"three methods, {title} DER penetration",
                       caption="costs $ over the day (operating, flexibility risk); V p.u. and violations after "
                               "the AC re-check; unstable faults and VDSI max from whole simulations of the "
                               f"critical faults at the hours {block.get('confirm_hours') or '-'}; STVS iterations")
            for col in ("method", "cost", "oper.", "risk", "V min", "V max", "viol.", "unst.", "VDSI", "iter"):
                t.add_column(col, justify="left" if col == "method" else "right")
            for m in block["methods"]:
                t.add_row(m["name"], _fmt(round(m["cost"])), _fmt(round(m["operating_cost"])),
                          _fmt(round(m["flex_risk_cost"])),
                          _fmt(m["vm_min_pu"], 4), _fmt(m["vm_max_pu"], 4), str(m["violations"]),
                          _fmt(m["tvci_unstable_faults"], 0), _fmt(m["vdsi_max"], 3), str(m["stvs_iterations"]))
            console.print(t)
        f = _table("flexibility margins by source (MW, largest over the day; Table 5)")
        for col in ("source", "up", "down", "paper up", "paper down"):
            f.add_column(col, justify="left" if col == "source" else "right")
        paper = summary["paper"]["flex_margins_mw"]
        for src, v in summary["flex_margins_mw"].items():
            p = paper.get(src, {})
            f.add_row(src, _fmt(v["up"], 1), _fmt(v["down"], 1), _fmt(p.get("up"), 0), _fmt(p.get("down"), 0))
        console.print(f)
        for note in summary["notes"]:
            console.print(f"[dim]{escape(note)}[/]", highlight=False)
        console.print(f"written to {escape(str(out))}/ in {summary['time_s']:.1f} s")

    guarded(body, debug, out=out)


@app.command()
def dispatch(
    spec: Annotated[str, typer.Argument(help="coupled spec or case file")] = DEFAULT_CASE,
    hours: Annotated[int, typer.Option(help="number of hours (at most 24)")] = 24,
    start_hour: Annotated[int, typer.Option("--start-hour", help="first hour of the day, 0-23")] = 0,
    strategy: Annotated[str, typer.Option(help="centralized | admm")] = "centralized",
    scenario: Annotated[Optional[str], typer.Option(help="high-re | peak-load | n-1 | combined (applied before the profiles)")] = None,
    profiles: Annotated[Optional[Path], typer.Option(help="CSV of hourly profiles (columns hour, load, wind, pv)")] = None,
    weights: Weights_ = "entropy",
    vsm_on: Annotated[bool, Flag("--vsm/--no-vsm", help=VSM_HELP)] = True,
    executor: ExecutorOpt = "serial",
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="output folder (one file per finished hour, tables, plots)")] = Path("tdcoord-out/dispatch"),
    resume: Annotated[bool, Flag("--resume", help="continue an interrupted run in --out")] = False,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Hourly joint dispatch over a day: one optimization per hour, warm-started from the previous one."""

    def body() -> None:
        from tdcoord.problems.vsm import VsmSettings
        from tdcoord.reporting.dispatch import write_dispatch_outputs
        from tdcoord.studies.dispatch import run_dispatch

        cs = _coupled(spec)
        ex = _executor(executor, workers) if strategy == "admm" else None
        with _progress() as prog:
            task = prog.add_task("hours", total=hours)

            def progress(hour: int, done: int, total: int) -> None:
                prog.update(task, total=total, completed=done, description=f"hour {hour:02d}:00")

            result = run_dispatch(cs, hours=hours, start_hour=start_hour, strategy=strategy, weights=weights,
                                  scenario=scenario, vsm=VsmSettings() if vsm_on else None, executor=ex, out=out,
                                  resume=resume, progress=progress, profiles=profiles)
        files = write_dispatch_outputs(result, out)
        record_outputs(files)
        df = result.periods()
        t = _table(f"{strategy} dispatch of {spec}" + (f" [{scenario}]" if scenario else ""))
        for c in ("hour", "load", "wind", "PV", "obj.", "loss MW", "VSM", "T res.", "D res.", "viol.", "conv."):
            t.add_column(c, justify="right")
        for hour, r in df.iterrows():
            t.add_row(f"{hour:02d}", f"{r['load']:.2f}", f"{r['wind']:.2f}", f"{r['pv']:.2f}", _fmt(r.objective),
                      _fmt(r.p_loss_mw, 3), _fmt(r.vsm_min_pu, 3), _fmt(r.q_reserve_t_mvar, 1), _fmt(r.q_reserve_d_mvar, 1),
                      _fmt(r.n_violations), "yes" if r.converged else "NO", style="dim" if r.resumed else None)
        console.print("load, wind, PV: per unit of the day's peak; T/D res.: reactive reserve held, Mvar; VSM: the "
                      "smallest voltage-stability margin, p.u.")
        console.print(t)
        tot = result.totals()
        left_out = tot["hours_not_counted"]
        not_counted = (f" (hour{'s' if len(left_out) > 1 else ''} {', '.join(f'{h:02d}' for h in left_out)} failed, "
                       "not counted)") if left_out else ""
        console.print(f"energy lost {tot['energy_loss_mwh']:.2f} MWh over {tot['n_hours_counted']} h{not_counted}; "
                      f"min VSM {df.vsm_min_pu.min():.4f}; {len(result.resumed)} hour(s) resumed; "
                      f"{len(files)} files in {out}/; {result.time_s:.1f} s")
        summary = json.loads((out / "summary.json").read_text())
        write_json(json_out, summary)
        bad = [int(h) for h, r in df.iterrows() if not r.converged]
        if bad:
            raise Failed(f"hours without a converged, verified optimum: {', '.join(f'{h:02d}' for h in bad)}")

    guarded(body, debug, out=out, resume=resume, resumable=True)


stvs_app = typer.Typer(no_args_is_help=True, help="Short-term voltage stability: time-domain dataset (ANDES), surrogate.")
app.add_typer(stvs_app, name="stvs")


@stvs_app.command("dataset")
def stvs_dataset(
    out: Annotated[Path, typer.Option("--out", help="dataset folder (chunks and manifest); a run with the same "
                                      "settings resumes it")],
    samples: Annotated[int, typer.Option("--samples", help="Monte-Carlo samples (the paper: 12000)")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="seed of the sampling (same seed, same dataset)")] = 0,
    executor: Annotated[str, typer.Option("--executor", help="where simulations run: serial | process | ray")] = "process",
    workers: Annotated[Optional[int], typer.Option("--workers", help="worker processes (Ray actors)")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="samples per checkpointed chunk")] = 25,
    key_nodes: Annotated[Optional[str], typer.Option("--key-nodes", help="key nodes, e.g. '14,13,12,10' (default: "
                                                     "the three-step selection with pilot faults)")] = None,
    durations: Annotated[str, typer.Option("--durations", help="range of the fault durations, s: LOW,HIGH")] = \
        "0.1,0.5",
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Simulate faults on sampled operating points of the seed-001 system and label them with TVCI and VDSI."""

    def body() -> None:
        from tdcoord.errors import InputError
        from tdcoord.stability.time_domain import require_andes
        from tdcoord.studies.stvs_dataset import DatasetSettings, SampleRanges, generate_dataset

        require_andes()
        check_json(json_out)
        _check_executor(executor)
        ex = _executor(executor, workers if executor != "serial" else None)  # its workers: one chunk each
        if chunk_size < 1:
            raise InputError(f"--chunk-size {chunk_size}: expected at least 1")
        nodes = tuple(b.strip() for b in key_nodes.split(",") if b.strip()) if key_nodes else ()
        lo, hi = _pair(durations, "--durations", "0.1,0.5 (seconds)")
        settings = DatasetSettings(samples=samples, seed=seed, chunk_size=chunk_size, key_nodes=nodes,
                                   ranges=SampleRanges(duration=(lo, hi)))
        with _status() as status:
            run = generate_dataset(out, settings, executor=ex, progress=lambda m: status.update(m))
        s = run.summary()
        console.print(f"{run.samples} samples in {escape(str(out))} ({run.computed_samples} simulated now in "
                      f"{run.time_s:.1f} s, "
                      f"{run.kept_chunks} chunk(s) kept): {run.stable} stable, {run.unstable} unstable, "
                      f"{run.failed} failed simulations; key nodes {', '.join(run.key_nodes)}")
        write_json(json_out, s)

    guarded(body, debug)


@stvs_app.command("train")
def stvs_train(
    data: Annotated[Path, typer.Option("--data", help="dataset folder made by `tdcoord stvs dataset`")],
    out: Annotated[Path, typer.Option("--out", help="model file to write (PyTorch)")],
    test_data: Annotated[Optional[Path], typer.Option("--test-data", help="a separately generated dataset to test on "
                                                      "(default: --test-samples held out of --data)")] = None,
    test_samples: Annotated[Optional[int], typer.Option("--test-samples", help="labelled samples held out of --data "
                                                        "for the test (default 100, the paper's)")] = None,
    max_train: Annotated[Optional[int], typer.Option("--max-train", help="use at most this many of the other samples "
                                                     "for training and validation")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="most training epochs (early stopping ends sooner)")] = 100,
    batch: Annotated[int, typer.Option("--batch", help="mini-batch size")] = 32,
    lr: Annotated[float, typer.Option("--lr", help="Adam's learning rate")] = 1e-3,
    patience: Annotated[int, typer.Option("--patience", help="epochs without a better validation loss before "
                                          "stopping")] = 10,
    class_weight: Annotated[str, typer.Option("--class-weight", help="none | balanced (weigh the rare unstable "
                                              "class up in the cross-entropy)")] = "none",
    seed: Annotated[int, typer.Option("--seed", help="seed of the split, the initial weights and the batches")] = 0,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="train gradient boosting on the same "
                                           "rows for comparison")] = True,
    curve: Annotated[Optional[str], typer.Option("--learning-curve", help="training sizes, e.g. 250,500,1000: each "
                                                 "is trained and tested on the same test samples")] = None,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Train the CNN surrogate (TVCI and VDSI) on a dataset and evaluate it on held-out samples."""

    def body() -> None:
        from tdcoord.errors import InputError
        from tdcoord.stability.surrogate import TrainSettings, require_torch
        from tdcoord.studies.stvs_surrogate import TEST_SAMPLES, train_on_dataset

        require_torch()
        check_json(json_out)
        check_json(out, "--out")
        if test_data is not None and test_samples is not None:
            raise InputError("--test-samples holds samples out of --data; with --test-data the test is that dataset: "
                             "give one of the two")
        st = TrainSettings(epochs=epochs, batch=batch, lr=lr, patience=patience, seed=seed, class_weight=class_weight)
        sizes = _integers(curve, "--learning-curve", "250,500,1000")
        with _status() as status:
            status.update(f"training on {escape(str(data))}")
            model, rep = train_on_dataset(data, st, test_samples=test_samples or TEST_SAMPLES, test_folder=test_data,
                                          max_train=max_train, baseline=baseline, curve=sizes)
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
        t = _table(f"STVS surrogate on {rep.test_samples} held-out samples ({rep.unstable_test} unstable); trained on "
                   f"{rep.train_samples} ({rep.epochs} epochs, {rep.train_time_s:.1f} s)")
        for c in ("model", "TVCI accuracy", "balanced acc.", "VDSI MAE", "VDSI rel. error %"):
            t.add_column(c, justify="left" if c == "model" else "right")
        t.add_row("CNN", f"{rep.accuracy:.3f}", f"{rep.balanced_accuracy:.3f}", f"{rep.vdsi_mae:.4f}",
                  f"{rep.vdsi_rel_error_pct:.1f}")
        if rep.baseline_accuracy is not None:
            t.add_row("gradient boosting", f"{rep.baseline_accuracy:.3f}", f"{rep.baseline_balanced_accuracy:.3f}",
                      f"{rep.baseline_vdsi_mae:.4f}", f"{rep.baseline_vdsi_rel_error_pct:.1f}")
        t.add_row("majority class", f"{rep.majority_accuracy:.3f}", f"{rep.majority_balanced_accuracy:.3f}", "", "")
        console.print(t)
        (ss, su), (us, uu) = rep.confusion
        console.print(f"confusion (simulated x predicted): stable {ss} stable / {su} unstable; unstable {us} stable / "
                      f"{uu} unstable. {rep.unlabelled} sample(s) of the data without a label (failed simulations) "
                      "left out.")
        if rep.baseline_beats_cnn:
            console.print("[yellow]the gradient-boosting baseline classifies TVCI at least as accurately as the "
                          "CNN[/yellow]")
        if rep.baseline_beats_cnn_vdsi:
            console.print("[yellow]the gradient-boosting baseline estimates VDSI with a smaller error than the "
                          "CNN[/yellow]")
        for r in rep.learning_curve:
            console.print(f"learning curve: {r['train_samples']} samples -> accuracy {r['accuracy']:.3f} (balanced "
                          f"{r['balanced_accuracy']:.3f}), VDSI MAE {r['vdsi_mae']:.4f}"
                          + (f"; baseline {r['baseline_accuracy']:.3f}" if r["baseline_accuracy"] is not None else ""))
        console.print(f"model written to {escape(str(out))} ({rep.time_s:.1f} s in all)")
        write_json(json_out, rep.as_dict() | {"model": str(out)})

    guarded(body, debug)


@stvs_app.command("assess")
def stvs_assess(
    model_path: Annotated[Path, typer.Option("--model", help="model file made by `tdcoord stvs train`")],
    data: Annotated[Optional[Path], typer.Option("--data", help="judge the model on every labelled sample of this "
                                                 "dataset instead of assessing an operating point")] = None,
    load: Annotated[float, typer.Option("--load", help="factor on every transmission load")] = 1.0,
    gen_share: Annotated[float, typer.Option("--gen-share", help="factor on every machine's share of the "
                                             "generation")] = 1.0,
    feeder_load: Annotated[float, typer.Option("--feeder-load", help="factor on the feeders' loads")] = 1.0,
    der: Annotated[float, typer.Option("--der", help="inverters' output, per unit of their availability")] = 1.0,
    faults: Annotated[Optional[str], typer.Option("--faults", help="fault buses, e.g. '14,13' (default: the model's "
                                                  "key nodes)")] = None,
    duration: Annotated[float, typer.Option("--duration", help="fault duration, s (the fault starts at 0.2 s)")] = 0.2,
    confirm: Annotated[int, typer.Option("--confirm", help="predictions checked by a whole time-domain run (all of "
                                         "them when there are fewer)")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="seed of the choice of predictions to confirm")] = 0,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Predict TVCI and VDSI of faults at an operating point of the seed-001 system, or judge the model on a dataset."""

    def body() -> None:
        from tdcoord.stability.surrogate import load_surrogate

        check_json(json_out)
        model = load_surrogate(model_path)
        if data is not None:
            from tdcoord.studies.stvs_surrogate import evaluate_on_dataset

            ev = evaluate_on_dataset(model, data)
            (ss, su), (us, uu) = ev["confusion"]
            console.print(f"{escape(str(model_path))} on {ev['test_samples']} labelled samples of {escape(str(data))} "
                          f"({ev['unstable_test']} "
                          f"unstable): TVCI accuracy {ev['accuracy']:.3f} (balanced {ev['balanced_accuracy']:.3f}), "
                          f"VDSI MAE {ev['vdsi_mae']:.4f}, relative {ev['vdsi_rel_error_pct']:.1f} %; confusion "
                          f"(simulated x predicted) stable {ss}/{su}, unstable {us}/{uu}")
            write_json(json_out, ev | {"model": str(model_path), "data": str(data)})
            return
        from tdcoord.cases.stvs_flex import stvs_flex_system
        from tdcoord.stability.time_domain import T_FAULT, FaultSpec, require_andes
        from tdcoord.studies.stvs_dataset import sample_operating_point, uniform_point
        from tdcoord.studies.stvs_surrogate import assess, check_faults

        require_andes()
        buses = [b.strip() for b in faults.split(",") if b.strip()] if faults else list(model.key_nodes)
        specs = [FaultSpec(b, T_FAULT + duration) for b in buses]
        check_faults(specs)  # before the case and its power flow are built
        base = stvs_flex_system()
        op = sample_operating_point(base, uniform_point(base, load, gen_share, feeder_load, der))
        with _status() as status:
            status.update(f"assessing {len(specs)} fault(s)")
            a = assess(model, op, specs, confirm=confirm, seed=seed)
        t = _table(f"STVS assessment: load x{load:g}, machine shares x{gen_share:g}, feeder load x{feeder_load:g}, "
                   f"DER x{der:g}; faults of {duration:g} s")
        for c in ("fault bus", "TVCI", "P(stable)", "VDSI", "from", "simulated TVCI", "simulated VDSI"):
            t.add_column(c, justify="right")
        for f in a.faults:
            t.add_row(f.bus, {1: "stable", 0: "unstable"}.get(f.tvci, "n/a"), f"{f.p_stable:.3f}", f"{f.vdsi:.4f}",
                      f.source, "" if f.simulated_tvci is None else {1: "stable", 0: "unstable"}[f.simulated_tvci],
                      "" if f.simulated_vdsi is None else f"{f.simulated_vdsi:.4f}")
        console.print(t)
        console.print(f"{a.confirmed} prediction(s) confirmed by simulation, {a.agree} agree; {a.time_s:.1f} s "
                      f"({a.window_time_s:.1f} s simulating the windows after clearing, {a.confirm_time_s:.1f} s "
                      "confirming)")
        for f in a.faults:
            if f.source == "failed":
                console.print(f"[yellow]fault at bus {f.bus}: no prediction: {escape(f.reason)}[/yellow]")
        write_json(json_out, a.as_dict() | {"model": str(model_path)})

    guarded(body, debug)


bench_app = typer.Typer(no_args_is_help=True, help="Measurements of tdcoord's own performance.")
app.add_typer(bench_app, name="bench")


@bench_app.command("scale")
def bench_scale(
    feeders: Annotated[int, typer.Option("--feeders", help="number of ieee33 feeders")] = 10,
    transmission: Annotated[str, typer.Option(help="transmission case")] = "ieee118",
    feeder: Annotated[str, typer.Option(help="feeder case")] = "ieee33",
    seed: Annotated[int, typer.Option(help="seed of the feeders' load factors")] = 0,
    executor: ExecutorOpt = "serial",
    workers: Workers = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="join an existing Ray cluster (auto or ray://host:port)")] = None,
    strategies: Annotated[str, typer.Option(help="comma-separated: centralized,admm")] = "centralized,admm",
    tol: Tol = 1e-2,
    max_iter: MaxIter = 300,
    batch: Batch = 50,
    json_out: JsonOut = None,
    debug: Debug = False,
) -> None:
    """Centralized vs ADMM on a transmission grid with many feeders: times, iterations, gap, memory."""

    def body() -> None:
        import resource
        import time

        import numpy as np

        from tdcoord.cases.scale import build_scale_case
        from tdcoord.coordination.admm import AdmmSettings
        from tdcoord.errors import InputError
        from tdcoord.execution import make_executor
        from tdcoord.studies.comparison import compare

        chosen = tuple(x.strip() for x in strategies.split(",") if x.strip())
        if not chosen or any(x not in ("centralized", "admm") for x in chosen):
            raise InputError(f"--strategies {strategies!r}: expected centralized, admm or both")
        t0 = time.perf_counter()
        cs = build_scale_case(transmission, feeder, feeders, seed=seed)
        build_s = time.perf_counter() - t0
        kw = {"address": ray_address} if executor == "ray" and ray_address else {}
        ex = make_executor(executor, workers, **kw)
        if batch < 1:
            raise InputError(f"--batch {batch}: expected 1 or more feeders")
        settings = AdmmSettings(max_iter=max_iter, tol_primal=tol, tol_dual=tol, batch=batch)
        stamps: dict[str, float] = {}
        with _status() as status:
            def say(m: str) -> None:
                stamps[m] = time.perf_counter() - t0
                status.update(f"{feeders} feeders: {m}")

            comp = compare(cs, strategies=chosen, weights="equal", executor=ex, admm=settings, progress=say)
        self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        each = list(getattr(ex, "worker_peak_mb", None) or [])  # process workers and Ray actors report their own peaks
        child_mb = float(sum(each)) if each else (0.0 if executor == "serial" else float("nan"))
        out: dict[str, Any] = {"feeders": feeders, "transmission": transmission, "executor": executor,
                               "workers": getattr(ex, "workers", 1), "buses": int(len(cs.transmission.bus) + sum(len(f.bus) for f in cs.feeders.values())),
                               "build_time_s": build_s, "setup_time_s": stamps.get(chosen[0], 0.0) - build_s,
                               "peak_memory_mb": self_mb + (0.0 if child_mb != child_mb else child_mb),
                               "peak_memory_driver_mb": self_mb, "peak_memory_workers_mb": child_mb,
                               "peak_memory_each_worker_mb": each, "tol": tol, "batch": batch}
        t = _table(f"{transmission} + {feeders} x {feeder} ({out['buses']} buses), executor {executor}")
        for c in ("strategy", "objective", "time (s)", "iter.", "s/iter.*", "conv.", "PF resid."):
            t.add_column(c, justify="left" if c == "strategy" else "right")
        for name in chosen:
            r = comp.results[name]
            entry = {"objective": r.objective, "time_s": r.time_s, "converged": bool(r.converged), "iterations": r.iterations,
                     "pf_mismatch_pu": r.pf_mismatch_pu}
            per_it = float("nan")
            if name == "admm" and len(r.history):
                h = r.history.time_s.to_numpy()
                per_it = float(np.median(np.diff(h))) if len(h) > 1 else float(h[0])
                entry.update({"time_per_iteration_s": per_it,
                              "startup_time_s": (r.admm.time_phases_s or {}).get("build") if r.admm else None,
                              "worker_restarts": r.admm.worker_restarts if r.admm else 0,
                              "critical_path_s": r.admm.time_critical_path_s if r.admm else None,
                              "bytes_per_iteration": 12 * 8 * feeders,
                              "time_phases_s": r.admm.time_phases_s if r.admm else None})
            out[name] = entry
            t.add_row(name, _fmt(r.objective, 6), f"{r.time_s:.2f}", str(r.iterations), _fmt(per_it, 3),
                      "yes" if r.converged else "NO", _sci(r.pf_mismatch_pu))
        if "centralized" in out and "admm" in out:
            c = out["centralized"]["objective"]
            out["gap"] = (out["admm"]["objective"] - c) / abs(c) if c == c else float("nan")
        console.print(t)
        if "admm" in out and out["admm"].get("startup_time_s") is not None:
            a = out["admm"]
            console.print(f"* median time of one ADMM iteration, without the start-up: workers started and "
                          f"subproblems built in {a['startup_time_s']:.2f} s"
                          + (f"; {a['worker_restarts']} worker restart(s)" if a["worker_restarts"] else ""))
        for name in chosen:
            for m in comp.results[name].messages:
                err_console.print(f"[yellow]{name}:[/] {m}", highlight=False)
        console.print(f"case built in {build_s:.1f} s; peak memory {out['peak_memory_mb']:.0f} MB "
                      f"(this process {self_mb:.0f} MB, workers "
                      + (f"{child_mb:.0f} MB" if child_mb == child_mb else "not measured") + ")"
                      + (f"; ADMM vs centralized objective gap {out['gap']:+.2e}" if "gap" in out else ""))
        write_json(json_out, out)

    guarded(body, debug)


class _HelpIsAFlag:
    """--help, a flag, shown without a type."""

    def get_help_option(self, ctx: Any) -> Any:
        opt = super().get_help_option(ctx)  # type: ignore[misc]
        if opt is not None:
            opt.metavar = ""
        return opt


class _Command(_HelpIsAFlag, typer.core.TyperCommand):
    pass


class _Group(_HelpIsAFlag, typer.core.TyperGroup):
    pass


def _flags_without_types(t: typer.Typer) -> None:
    from typer.models import DefaultPlaceholder

    t.info.cls = _Group
    for info in t.registered_commands:
        if info.cls is None or isinstance(info.cls, DefaultPlaceholder) or info.cls is typer.core.TyperCommand:
            info.cls = _Command
    for group in t.registered_groups:
        group.cls = _Group
        _flags_without_types(group.typer_instance)


_flags_without_types(app)


# The cyclic garbage collector's default thresholds (700, 10, 10) make a command that holds a large model (a
# thousand feeders: millions of small objects, hardly any in reference cycles) spend a sixth of its time scanning
# them. A command is one short-lived process, so it collects less often; the library leaves the setting alone.
GC_THRESHOLDS = (100_000, 50, 100)


def main() -> None:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
