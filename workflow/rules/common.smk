# Load + validate the grid before any job; expose its cells to the other rules.
import json
import os

from ltgrid import params as ltparams

# `--configfile` replaces the default grid instead of being merged into it: a paper grid
# must not inherit the embedded digits cells.
if not config:
    config.update(ltparams.load_yaml("params/default.yaml"))
_resolved = ltparams.resolve_includes(config)
config.clear()
config.update(_resolved)
ltparams.validate(config, "workflow/schemas/params.schema.yaml")

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

wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    rho="[0-9.]+",
    split="[0-9]+",
    method="[A-Za-z0-9_.-]+",
    seed="[0-9]+",


def cell_of(wc):
    return ltparams.Cell(wc.dataset, wc.rho, int(wc.split), wc.method, int(wc.seed))


def cell_json(wc):
    """The resolved recipe: a Snakemake param, so editing a method's params reruns its cells."""
    return json.dumps(ltparams.resolve_cell(config, cell_of(wc)), sort_keys=True)


def cell_dirs():
    return [cell.path(GRID) for cell in CELLS]
