# One job per cell: train (one GPU each, leased by the package) then evaluate.


rule tracking_store:
    output:
        f"{RUNS}/tracking.json",
    params:
        # Only what names the store and experiment: editing a method must not rerun every cell.
        tracking=json.dumps({"grid": GRID, "tracking": config.get("tracking") or {}}, sort_keys=True),
    log:
        f"results/logs/{GRID}/tracking.log",
    shell:
        "python -m ltgrid init-tracking --config {params.tracking:q} --out {output} 2> {log}"


rule train:
    input:
        unpack(stage1_input),
        plugins=plugin_sources,
        data=lambda wc: ltparams.raw_path(config, wc.dataset),
        split=lambda wc: ltparams.split_path(config, wc.dataset, wc.rho, wc.split),
        tracking=f"{RUNS}/tracking.json",
    output:
        predictions=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/predictions.npz",
        model=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/model.pt",
        run=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/run.json",
    params:
        cell=cell_json,
        out_dir=lambda wc, output: os.path.dirname(output.run),
        stage1=lambda wc, input: f"--stage1-model {input.stage1}" if "stage1" in input.keys() else "",
    benchmark:
        benchmark_file("train")
    threads: 1
    resources:
        gpu=1,
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}.train.log",
    shell:
        "python -m ltgrid train --cell {params.cell:q} --data {input.data} --split {input.split} "
        "--tracking {input.tracking} --out-dir {params.out_dir} --threads {threads} {params.stage1} 2> {log}"


rule evaluate:
    input:
        predictions=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/predictions.npz",
        run=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/run.json",
    output:
        metrics=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/metrics.json",
        per_class=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/per_class_acc.csv",
        # The cell's figures (final epoch), also logged to its MLflow run under figures/.
        reliability=cell_figure("reliability.png", "cell_reliability.rst", "reliability diagram"),
        per_class_plot=cell_figure("per_class_acc.png", "cell_per_class.rst", "per-class accuracy"),
        curves=cell_figure("training_curves.png", "cell_curves.rst", "training curves"),
    benchmark:
        benchmark_file("evaluate")
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}.evaluate.log",
    shell:
        "python -m ltgrid evaluate --cell-dir $(dirname {output.metrics}) 2> {log}"
