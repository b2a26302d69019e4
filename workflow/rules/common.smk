# Load + validate the grid before any job; expose its cells to the other rules.
import json
import os

from ltgrid import params as ltparams
from ltgrid import plugins as ltplugins

# `--configfile` replaces the default grid instead of being merged into it: a paper grid
# must not inherit the embedded digits cells.
if not config:
    config.update(ltparams.load_yaml("params/default.yaml"))
# validate() returns the grid with its sweeps expanded into methods (ltgrid.sweeps).
_resolved = ltparams.validate(ltparams.resolve_includes(config), "workflow/schemas/params.schema.yaml")
config.clear()
config.update(_resolved)

GRID = config["grid"]
RUNS = f"results/runs/{GRID}"
# Each grid owns its data and splits (one DVC stage's outputs each, pushed and pulled by grid);
# the iNat list files, made from annotation JSON that params name by path, stay shared.
RAW = f"data/raw/{GRID}"
SPLITS = f"data/splits/{GRID}"
CELLS = ltparams.cells(config)
METHOD_ORDER = ltparams.method_order(config)
TABLES = [f"results/tables/{GRID}/top1_err_final.md", f"results/tables/{GRID}/ece_final.md"]
os.environ.setdefault("LTGRID_PROJECT_ROOT", os.getcwd())


def preflight():
    """Before any job: a live run or a stale lock beside this one, a damaged or foreign
    tracking store. Each stops Snakemake with one line that says what to run."""
    import sys

    from ltgrid.locks import is_dry_run, lock_advice
    from ltgrid.tracking.health import store_problem
    from ltgrid.tracking.store import tracking_uri

    if not workflow.is_main_process or "--unlock" in sys.argv:
        return
    problem = None if is_dry_run(sys.argv) else lock_advice(os.getcwd(), sys.argv)
    uri = tracking_uri((config.get("tracking") or {}).get("uri"))
    problem = problem or store_problem(uri, f"{RUNS}/tracking.json")
    if problem:
        raise SystemExit(f"error: {problem}")


preflight()

wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    rho="[0-9.]+",
    split="[0-9]+",
    method="[A-Za-z0-9_.-]+",
    seed="[0-9]+",
    key="[0-9a-f]{16}",


def cell_of(wc):
    return ltparams.Cell(wc.dataset, wc.rho, int(wc.split), wc.method, int(wc.seed))


def cell_json(wc):
    """The resolved recipe: a Snakemake param, so editing a method's params reruns its cells."""
    return json.dumps(ltparams.resolve_cell(config, cell_of(wc)), sort_keys=True)


def cell_dirs():
    return [cell.path(GRID) for cell in CELLS]


# `rule all` asks for each cell's results by name: a deleted (or, after a failed job, removed)
# predictions.npz or metrics.json is remade, with the tables after it, instead of being taken
# for an intermediate that the existing tables make unnecessary.
CELL_RESULTS = [f"{d}/{name}" for d in cell_dirs() for name in ("predictions.npz", "run.json", "metrics.json")]


def plugin_sources(wc):
    """The source files of the plugin modules a cell uses: editing one reruns exactly its cells."""
    return ltplugins.source_files(ltparams.resolve_cell(config, cell_of(wc)).get("plugins", []))


def source_plugin_files(wc):
    """A dataset whose source kind a plugin provides depends on that plugin's files."""
    return ltplugins.source_files(ltplugins.source_plugin(config, wc.dataset))
