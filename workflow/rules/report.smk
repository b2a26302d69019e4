# Every cell's metrics.json -> the grid's tables; per (dataset, rho) a reliability overlay.
# Outputs marked report(...) go into `snakemake --report results/report.html` with the
# captions in workflow/report/.
report: "../report/workflow.rst"


rule tables:
    input:
        metrics=cell_files(ltcell.METRICS),
        published=PUBLISHED,
    output:
        TABLES,
        files=TABLE_FILES,
        html=HTML_TABLES,
        test_agnostic=TEST_AGNOSTIC_TABLES,
        test_agnostic_html=TEST_AGNOSTIC_HTML,
        cells=f"{TABLE_DIR}/cells.csv",
        summary=SUMMARY,
    params:
        methods=",".join(METHOD_ORDER),
        protocols=",".join(GRID_PROTOCOLS),
        library=",".join(config.get("method_library") or {}),
        spec=json.dumps(grid_spec(config), sort_keys=True),
        # the current recipe of every cell, in input order: a stale metrics.json stops the tables
        recipes=RECIPE_FINGERPRINTS,
    log:
        f"results/logs/{GRID}/tables.log",
    shell:
        "python -m ltgrid report --grid {GRID} --methods {params.methods} --protocols {params.protocols} "
        "--out-dir {TABLE_DIR} --summary {output.summary} --published {input.published} "
        "--method-library {params.library:q} --grid-spec {params.spec:q} "
        "--recipes {params.recipes} "
        "{input.metrics} 2> {log}"


rule job_costs:
    # wall time and peak memory of every train and evaluate job (Snakemake's benchmark files)
    input:
        JOB_BENCHMARKS,
    output:
        csv=JOB_COSTS[0],
        md=JOB_COSTS[1],
    log:
        f"results/logs/{GRID}/job_costs.log",
    shell:
        "python -m ltgrid job-costs --csv {output.csv} --md {output.md} {input} 2> {log}"


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
    # The tables and figures it logs are ancient() inputs: they order it after the rules that make
    # them, and a pull's file times do not rerun it. It reruns with them: when a cell is (re)made
    # or the published figures change.
    input:
        cells=cell_files(ltcell.METRICS),
        published=PUBLISHED,
        tables=[ancient(path) for path in rules.tables.output if not path.endswith(".json")] + [ancient(p) for p in JOB_COSTS],
        summary=ancient(SUMMARY),
        figures=[ancient(p) for p in OVERLAYS + TEST_AGNOSTIC_FIGURES],
    output:
        f"{RUNS}/grid_run.json",
    log:
        f"results/logs/{GRID}/grid_run.log",
    shell:
        "python -m ltgrid log-grid --grid {GRID} --summary {input.summary} "
        "--tables {input.tables} --figures {input.figures} --out {output} 2> {log}"
