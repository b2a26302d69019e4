# Every cell's metrics.json -> the grid's tables; per (dataset, rho) a reliability overlay.
# Outputs marked report(...) go into `snakemake --report results/report.html` with the
# captions in workflow/report/.
from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.tracking.grid import grid_spec
from ltgrid.report.tables import FORMATS, table_stems, grid_protocols, has_validation, agnostic_stems

report: "../report/workflow.rst"

TABLE_DIR = f"results/tables/{GRID}"
FIGURE_DIR = f"results/figures/{GRID}"
PUBLISHED = "params/published.yaml"
GRID_PROTOCOLS = grid_protocols(config)
CALIBRATED = any(has_validation(ds) for ds in config["datasets"].values())  # temperature-scaling tables
OVERLAYS = sorted({f"{FIGURE_DIR}/reliability_{c.dataset}_rho{c.rho}.png" for c in CELLS})
CELL_FIGURES = [f"{d}/{name}" for d in cell_dirs() for name in ("reliability.png", "per_class_acc.png", "training_curves.png")]
TEST_AGNOSTIC = agnostic_stems((c.dataset, c.rho) for c in CELLS)  # a table and a figure per (dataset, rho)
TEST_AGNOSTIC_FIGURES = [f"{FIGURE_DIR}/{stem}.png" for stem in TEST_AGNOSTIC]
FIGURES = OVERLAYS + TEST_AGNOSTIC_FIGURES + CELL_FIGURES  # `rule all` asks for them: a results tree from before they existed gets them too


def table_report(stem, protocol):
    """The HTML rendering of a table, for the report; its kind picks the caption."""
    kind = stem[: -len(protocol) - 1]
    return report(
        f"{TABLE_DIR}/{stem}.html", caption=f"../report/table_{kind}.rst", category="Tables",
        subcategory=f"model selection: {PROTOCOLS[protocol]}",
    )


rule tables:
    input:
        metrics=[f"{d}/metrics.json" for d in cell_dirs()],
        published=PUBLISHED,
        tracking=f"{RUNS}/tracking.json",
    output:
        TABLES,
        files=[
            path for stem in table_stems(GRID_PROTOCOLS, CALIBRATED) for ext in FORMATS
            if ext != ".html" and (path := f"{TABLE_DIR}/{stem}{ext}") not in TABLES
        ],
        html=[table_report(stem, p) for p in GRID_PROTOCOLS for stem in table_stems([p], CALIBRATED)],
        test_agnostic=[f"{TABLE_DIR}/{stem}{ext}" for stem in TEST_AGNOSTIC for ext in FORMATS if ext != ".html"],
        test_agnostic_html=[
            report(f"{TABLE_DIR}/{stem}.html", caption="../report/table_test_agnostic.rst", category="Tables",
                   subcategory="test-agnostic evaluation")
            for stem in TEST_AGNOSTIC
        ],
        cells=f"{TABLE_DIR}/cells.csv",
        summary=f"results/metrics/{GRID}.json",
    params:
        methods=",".join(METHOD_ORDER),
        protocols=",".join(GRID_PROTOCOLS),
        library=",".join(config.get("method_library") or {}),
        spec=json.dumps(grid_spec(config), sort_keys=True),
        # the current recipe of every cell, in input order: a stale metrics.json stops the tables
        recipes=",".join(ltparams.fingerprint(ltparams.resolve_cell(config, c)) for c in CELLS),
    log:
        f"results/logs/{GRID}/tables.log",
    shell:
        "python -m ltgrid report --grid {GRID} --methods {params.methods} --protocols {params.protocols} "
        "--out-dir {TABLE_DIR} --summary {output.summary} --published {input.published} "
        "--method-library {params.library:q} --tracking {input.tracking} --grid-spec {params.spec:q} "
        "--recipes {params.recipes} "
        "{input.metrics} 2> {log}"


def overlay_inputs(wc):
    return [f"{c.path(GRID)}/metrics.json" for c in CELLS if c.dataset == wc.dataset and c.rho == wc.rho]


rule reliability_overlay:
    input:
        overlay_inputs,
    output:
        report(
            f"{FIGURE_DIR}/reliability_{{dataset}}_rho{{rho}}.png", caption="../report/figure_overlay.rst",
            category="Figures", subcategory="Reliability, methods overlaid", labels={"dataset": "{dataset}", "rho": "{rho}"},
        ),
    params:
        methods=",".join(METHOD_ORDER),
    log:
        f"results/logs/{GRID}/figures/reliability_{{dataset}}_rho{{rho}}.log",
    shell:
        "python -m ltgrid overlay --title '{GRID}: {wildcards.dataset} rho={wildcards.rho}' "
        "--methods {params.methods} --out {output} {input} 2> {log}"


rule test_agnostic_figure:
    input:
        overlay_inputs,
    output:
        report(
            f"{FIGURE_DIR}/test_agnostic_{{dataset}}_rho{{rho}}.png", caption="../report/figure_test_agnostic.rst",
            category="Figures", subcategory="Test-agnostic evaluation", labels={"dataset": "{dataset}", "rho": "{rho}"},
        ),
    params:
        methods=",".join(METHOD_ORDER),
    log:
        f"results/logs/{GRID}/figures/test_agnostic_{{dataset}}_rho{{rho}}.log",
    shell:
        "python -m ltgrid test-agnostic-figure --title '{GRID}: {wildcards.dataset} rho={wildcards.rho}' "
        "--methods {params.methods} --out {output} {input} 2> {log}"


rule grid_run:
    input:
        tables=[path for path in rules.tables.output if not path.endswith(".json")],
        summary=rules.tables.output.summary,
        figures=OVERLAYS + TEST_AGNOSTIC_FIGURES,
        tracking=f"{RUNS}/tracking.json",
    output:
        f"{RUNS}/grid_run.json",
    log:
        f"results/logs/{GRID}/grid_run.log",
    shell:
        "python -m ltgrid log-grid --grid {GRID} --tracking {input.tracking} --summary {input.summary} "
        "--tables {input.tables} --figures {input.figures} --out {output} 2> {log}"
