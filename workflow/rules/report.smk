# Every cell's metrics.json -> the grid's tables.


rule tables:
    input:
        [f"{d}/metrics.json" for d in cell_dirs()],
    output:
        TABLES,
        summary=f"results/metrics/{GRID}.json",
    params:
        methods=",".join(METHOD_ORDER),
        out_dir=f"results/tables/{GRID}",
    log:
        f"results/logs/{GRID}/tables.log",
    shell:
        "python -m ltgrid report --grid {GRID} --methods {params.methods} --out-dir {params.out_dir} "
        "--summary {output.summary} {input} 2> {log}"
