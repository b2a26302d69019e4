# One job per cell: train (one GPU each, leased by the package) then evaluate, in the cell's
# folder (CELL, keyed by what the cell is made from). Inputs that are themselves named by what
# they are made from are ancient(): a file's time says nothing about its content, and a `dvc
# pull` or checkout writes files in no fixed order, which must not retrain a cell.


rule train:
    input:
        unpack(stage1_input),
        data=lambda wc: ancient(ltparams.raw_path(config, wc.dataset)),
        split=lambda wc: ancient(ltparams.split_path(config, wc.dataset, wc.rho, wc.split)),
    output:
        predictions=f"{CELL}/predictions.npz",
        model=f"{CELL}/model.pt",
        run=f"{CELL}/run.json",
    params:
        cell=cell_json,
        out_dir=lambda wc, output: os.path.dirname(output.run),
        stage1=lambda wc, input: f"--stage1-model {input.stage1}" if "stage1" in input.keys() else "",
    benchmark:
        f"{CELL}/train.benchmark.tsv"
    threads: 1
    resources:
        gpu=1,
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/{{key}}.train.log",
    shell:
        "python -m ltgrid train --cell {params.cell:q} --data {input.data} --split {input.split} "
        "--out-dir {params.out_dir} --threads {threads} {params.stage1} 2> {log}"


rule evaluate:
    input:
        # the same folder's training outputs: one missing (deleted, or never pulled) retrains the
        # cell and so re-evaluates it; present ones are the cell's, whatever their times
        predictions=ancient(f"{CELL}/predictions.npz"),
        model=ancient(f"{CELL}/model.pt"),
        run=ancient(f"{CELL}/run.json"),
    output:
        metrics=f"{CELL}/metrics.json",
        per_class=f"{CELL}/per_class_acc.csv",
        # The cell's figures (final epoch), also logged to its MLflow run under figures/.
        reliability=cell_figure("reliability.png", "cell_reliability.rst", "reliability diagram"),
        per_class_plot=cell_figure("per_class_acc.png", "cell_per_class.rst", "per-class accuracy"),
        curves=cell_figure("training_curves.png", "cell_curves.rst", "training curves"),
    benchmark:
        f"{CELL}/evaluate.benchmark.tsv"
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/{{key}}.evaluate.log",
    shell:
        "python -m ltgrid evaluate --cell-dir $(dirname {output.metrics}) 2> {log}"
