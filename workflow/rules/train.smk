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
        predictions=f"{CELL}/{ltcell.PREDICTIONS}",
        model=f"{CELL}/{ltcell.MODEL}",
        run=f"{CELL}/{ltcell.RUN}",
    params:
        cell=cell_json,
        out_dir=lambda wc, output: os.path.dirname(output.run),
        stage1=lambda wc, input: f"--stage1-model {input.stage1}" if "stage1" in input.keys() else "",
    benchmark:
        f"{CELL}/{ltcell.benchmark('train')}"
    threads: 1
    resources:
        gpu=1,
    log:
        CELL_LOG.replace("{job}", "train"),
    shell:
        "python -m ltgrid train --cell {params.cell:q} --data {input.data} --split {input.split} "
        "--out-dir {params.out_dir} --threads {threads} {params.stage1} 2> {log}"


rule evaluate:
    input:
        # the same folder's training outputs: one missing (deleted, or never pulled) retrains the
        # cell and so re-evaluates it; present ones are the cell's, whatever their times
        predictions=ancient(f"{CELL}/{ltcell.PREDICTIONS}"),
        model=ancient(f"{CELL}/{ltcell.MODEL}"),
        run=ancient(f"{CELL}/{ltcell.RUN}"),
    output:
        metrics=f"{CELL}/{ltcell.METRICS}",
        per_class=f"{CELL}/{ltcell.PER_CLASS_CSV}",
        # The cell's figures (final epoch), also logged to its MLflow run under figures/.
        reliability=cell_figure(ltcell.FIGURES["reliability"], "cell_reliability.rst", "reliability diagram"),
        per_class_plot=cell_figure(ltcell.FIGURES["per_class"], "cell_per_class.rst", "per-class accuracy"),
        curves=cell_figure(ltcell.FIGURES["curves"], "cell_curves.rst", "training curves"),
    benchmark:
        f"{CELL}/{ltcell.benchmark('evaluate')}"
    log:
        CELL_LOG.replace("{job}", "evaluate"),
    shell:
        "python -m ltgrid evaluate --cell-dir $(dirname {output.metrics}) 2> {log}"
