# Beyond the paper's tables: a sweep's ablation (table + figure per dataset and ratio) and
# every method against the reference methods with 95% intervals (ltgrid.report.ablation,
# ltgrid.report.compare).

rule ablation_table:
    input:
        sweep_metrics,
    output:
        [f"{TABLE_DIR}/ablation_{{sweep}}{ext}" for ext in FORMATS],
    wildcard_constraints:
        sweep="[A-Za-z0-9_.-]+",
    log:
        f"results/logs/{GRID}/ablation_{{sweep}}.log",
    shell:
        "python -m ltgrid ablation --grid {GRID} --sweep {wildcards.sweep} --out-dir {TABLE_DIR} {input} 2> {log}"


rule ablation_figure:
    input:
        sweep_metrics,
    output:
        f"{FIGURE_DIR}/ablation_{{sweep}}/{{dataset}}_rho{{rho}}.png",
    wildcard_constraints:
        sweep="[A-Za-z0-9_.-]+",
    log:
        f"results/logs/{GRID}/figures/ablation_{{sweep}}_{{dataset}}_rho{{rho}}.log",
    shell:
        "python -m ltgrid ablation --grid {GRID} --sweep {wildcards.sweep} --figure {output} {input} 2> {log}"


if COMPARISONS:  # a grid without a reference method has no comparison to make

    rule comparison:
        input:
            cell_files(ltcell.METRICS),
        output:
            COMPARISONS,
        params:
            methods=",".join(METHOD_ORDER),
            references=",".join(COMPARE_REFS),
            protocols=",".join(GRID_PROTOCOLS),
        log:
            f"results/logs/{GRID}/comparison.log",
        shell:
            "python -m ltgrid compare --grid {GRID} --references {params.references} --methods {params.methods} "
            "--protocols {params.protocols} --out-dir {TABLE_DIR} {input} 2> {log}"
