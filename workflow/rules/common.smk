# Load + validate the grid before any job; expose its cells to the other rules.
import functools
import json
import os
import sys

from ltgrid import cell_files as ltcell
from ltgrid import params as ltparams
from ltgrid.params import plugins as ltplugins
from ltgrid.params import sweeps as ltsweeps
from ltgrid.report.outputs import comparison_stems, references
from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.report.render import FORMATS
from ltgrid.report.outputs import agnostic_stems, grid_protocols, has_validation, html_tables, table_files
from ltgrid.tracking.grid import grid_spec


def load_grid(given):
    """The grid Snakemake runs: the embedded default without config; `--config grid=<name>` for
    params/<name>.yaml (read here, so a YAML error names its file, line and column), with any
    other config given merged over it; or a whole grid given with `--configfile`, which replaces
    the default instead of being merged into it (a paper grid must not inherit the digits cells)."""
    if not given:
        return ltparams.load_yaml("params/default.yaml")
    if "grid" in given and "datasets" not in given:
        return ltparams.deep_merge(ltparams.load_yaml(ltparams.grid_file(given["grid"])), dict(given))
    return dict(given)


# Any bad params stop Snakemake here, before any job, with one line (no traceback around it).
# A dry run plans without the local files the sources name (they are checked when jobs run).
try:
    from ltgrid.locks import is_dry_run

    # validate() returns the grid with its sweeps expanded into methods (ltgrid.params.sweeps).
    _resolved = ltparams.validate(ltparams.resolve_includes(load_grid(config)), check_files=not is_dry_run(sys.argv))
except ltparams.ParamsError as _exc:
    raise SystemExit(f"error: {_exc}")
config.clear()
config.update(_resolved)

GRID = config["grid"]
RUNS = f"results/runs/{GRID}"
# What names the grid's MLflow store and experiment. Jobs find it in the environment, not in a
# file or a param: where a cell logs is not what it is made from, and a new store (a fresh clone
# that pulled the cells) must retrain nothing.
TRACKING = json.dumps({"grid": GRID, "tracking": config.get("tracking") or {}}, sort_keys=True)
os.environ["LTGRID_TRACKING"] = TRACKING
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


# One cell's folder and its job logs, as Snakemake wildcards (ltgrid.cell_files: the one layout).
CELL = ltcell.CELL_DIR.replace("{grid}", GRID)
CELL_LOG = ltcell.CELL_LOG.replace("{grid}", GRID)
@functools.cache
def resolved(cell):
    """A cell's fully resolved recipe (what trains it, what MLflow logs), computed once."""
    return ltparams.resolve_cell(config, cell)


@functools.cache
def cell_dir(cell):
    """results/runs/<grid>/.../seed<s>/<key>: the key names everything the cell is made from."""
    return cell.path(GRID, ltparams.cell_key(resolved(cell)))


def cell_of(wc):
    return ltparams.Cell(wc.dataset, wc.rho, int(wc.split), wc.method, int(wc.seed))


def cell_json(wc):
    """The resolved recipe, passed to the train job (its fingerprint is the folder's key)."""
    return json.dumps(resolved(cell_of(wc)), sort_keys=True)


def split_options(wc):
    """`--options` of the split command: what the split file depends on."""
    return json.dumps(ltparams.split_options(config, wc.dataset), sort_keys=True)


def cell_dirs():
    return [cell_dir(cell) for cell in CELLS]


# Everything a finished cell's folder holds. `rule all` asks for each by name: a deleted (or,
# after a failed job, removed) file is remade, with the tables after it, instead of being taken
# for an intermediate that the existing tables make unnecessary. The benchmark files (wall time,
# peak memory of each job) live in the folder too, so a pulled cell brings them along.
CELL_RESULTS = [f"{d}/{name}" for d in cell_dirs() for name in ltcell.CELL_FILES]
@functools.cache
def complete(cell):
    """Whether a cell's folder holds every file (as a finished cell leaves it, or a pull brings it),
    looked at once per parse."""
    return all(os.path.isfile(f"{cell_dir(cell)}/{name}") for name in ltcell.CELL_FILES)


def cell_file(cell, name):
    """A cell's file as an input of the grid's reports. A complete cell's is ancient(): its time
    says nothing (a pull or checkout writes files in any order), and a changed cell is a new
    folder. A cell with a file missing is being (re)made in this run, and its reports with it."""
    path = f"{cell_dir(cell)}/{name}"
    return ancient(path) if complete(cell) else path


def cell_files(name, cells=None):
    return [cell_file(c, name) for c in (CELLS if cells is None else cells)]


def annotation_lists(wc):
    """List files a dataset's source makes from JSON annotations (iNat): rule inat_list's outputs."""
    names = config["datasets"][wc.dataset]["source"].get("annotations") or {}
    return [f"data/lists/{wc.dataset}/{name}.txt" for name in names]


def stage1_input(wc):
    """A stage-2 method (cRT, tau-norm) on a shared stage 1 reads its base cell's model."""
    base = ltparams.stage1_base(config, wc.dataset, wc.method)
    if base is None:
        return {}
    cell = ltparams.Cell(wc.dataset, wc.rho, int(wc.split), base, int(wc.seed))
    return {"stage1": ancient(f"{cell_dir(cell)}/{ltcell.MODEL}")}


def cell_figure(name, caption, figure):
    """A per-cell PNG marked for `snakemake --report` (workflow/report/ holds the captions)."""
    return report(
        f"{CELL}/{name}",
        caption=f"../report/{caption}", category="Cell figures", subcategory="{dataset} rho={rho}",
        labels={"method": "{method}", "seed": "{seed}", "split": "{split}", "figure": figure},
    )


def overlay_inputs(wc):
    return cell_files(ltcell.METRICS, [c for c in CELLS if c.dataset == wc.dataset and c.rho == wc.rho])


# ---- outputs of the grid (report.smk's rules and `rule all`)
TABLE_DIR = f"results/tables/{GRID}"
FIGURE_DIR = f"results/figures/{GRID}"
PUBLISHED = "params/published.yaml"
GRID_PROTOCOLS = grid_protocols(config)
CALIBRATED = any(has_validation(ds) for ds in config["datasets"].values())  # temperature-scaling tables
OVERLAYS = sorted({f"{FIGURE_DIR}/reliability_{c.dataset}_rho{c.rho}.png" for c in CELLS})
CELL_FIGURES = [f"{d}/{name}" for d in cell_dirs() for name in ltcell.FIGURES.values()]
TEST_AGNOSTIC = agnostic_stems((c.dataset, c.rho) for c in CELLS)  # a table and a figure per (dataset, rho)
TEST_AGNOSTIC_FIGURES = [f"{FIGURE_DIR}/{stem}.png" for stem in TEST_AGNOSTIC]
TEST_AGNOSTIC_TABLES = [f"{TABLE_DIR}/{stem}{ext}" for stem in TEST_AGNOSTIC for ext in FORMATS if ext != ".html"]
FIGURES = OVERLAYS + TEST_AGNOSTIC_FIGURES + CELL_FIGURES  # `rule all` asks for them: a results tree from before they existed gets them too
TABLE_FILES = table_files(TABLE_DIR, GRID_PROTOCOLS, CALIBRATED, exclude=TABLES)
JOB_BENCHMARKS = [cell_file(c, ltcell.benchmark(job)) for c in CELLS for job in ltcell.JOBS]
# each cell's resolved recipe, named (the tables check every metrics.json was made from it)
RECIPE_FINGERPRINTS = ",".join(ltparams.cell_key(resolved(c)) for c in CELLS)
JOB_COSTS = [f"{TABLE_DIR}/job_costs.csv", f"{TABLE_DIR}/job_costs.md"]
# the grid's headline figures, DVC's metrics (`dvc metrics show`, `dvc exp show`)
SUMMARY = f"results/metrics/{GRID}.json"


def table_report(path, kind, protocol):
    """The HTML rendering of a table, for the report; its kind picks the caption."""
    return report(
        path, caption=f"../report/table_{kind}.rst", category="Tables", subcategory=f"model selection: {PROTOCOLS[protocol]}",
    )


HTML_TABLES = [table_report(path, kind, protocol) for path, kind, protocol in html_tables(TABLE_DIR, GRID_PROTOCOLS, CALIBRATED)]


def agnostic_report(stem):
    """A test-agnostic table's HTML rendering, for the report."""
    return report(
        f"{TABLE_DIR}/{stem}.html", caption="../report/table_test_agnostic.rst", category="Tables",
        subcategory="test-agnostic evaluation",
    )


TEST_AGNOSTIC_HTML = [agnostic_report(stem) for stem in TEST_AGNOSTIC]


def source_plugin_files(wc):
    """A dataset whose source kind a plugin provides depends on that plugin's files."""
    return ltplugins.source_files(ltplugins.source_plugin(config, wc.dataset))


# ---- analysis.smk's outputs: a sweep's ablation, the comparisons
SWEEP_OF = {name: v.sweep for name, v in ltsweeps.variants(config).items()}
SWEPT = sorted({SWEEP_OF[c.method] for c in CELLS if c.method in SWEEP_OF})
COMPARE_REFS = references(METHOD_ORDER, config.get("compare_to"))
ABLATION_TABLES = [f"{TABLE_DIR}/ablation_{s}{ext}" for s in SWEPT for ext in FORMATS]
ABLATION_FIGURES = sorted({
    f"{FIGURE_DIR}/ablation_{SWEEP_OF[c.method]}/{c.dataset}_rho{c.rho}.png" for c in CELLS if c.method in SWEEP_OF
})
COMPARISONS = [f"{TABLE_DIR}/{stem}{ext}" for stem in comparison_stems(COMPARE_REFS, GRID_PROTOCOLS) for ext in FORMATS]
ANALYSES = ABLATION_TABLES + ABLATION_FIGURES + COMPARISONS


def sweep_metrics(wc):
    """metrics.json of the sweep's cells (of one dataset and ratio when the wildcards name them)."""
    return cell_files(ltcell.METRICS, [
        c for c in CELLS
        if SWEEP_OF.get(c.method) == wc.sweep and ("rho" not in wc.keys() or (c.dataset, c.rho) == (wc.dataset, wc.rho))
    ])
