# One job per cell: train (one GPU each, leased by the package) then evaluate.


rule tracking_store:
    output:
        f"{RUNS}/tracking.json",
    params:
        config=lambda wc: json.dumps(config, sort_keys=True),
    log:
        f"results/logs/{GRID}/tracking.log",
    shell:
        "python -m ltgrid init-tracking --config {params.config:q} --out {output} 2> {log}"


rule train:
    input:
        data="data/raw/{dataset}/dataset.npz",
        split="data/splits/{dataset}/rho{rho}_split{split}.json",
        tracking=f"{RUNS}/tracking.json",
    output:
        predictions=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/predictions.npz",
        run=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/run.json",
    params:
        cell=cell_json,
        out_dir=lambda wc, output: os.path.dirname(output.run),
    threads: 1
    resources:
        gpu=1,
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}.train.log",
    shell:
        "python -m ltgrid train --cell {params.cell:q} --data {input.data} --split {input.split} "
        "--tracking {input.tracking} --out-dir {params.out_dir} --threads {threads} 2> {log}"


rule evaluate:
    input:
        predictions=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/predictions.npz",
        run=f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/run.json",
    output:
        f"{RUNS}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}/metrics.json",
    log:
        f"results/logs/{GRID}/{{dataset}}/rho{{rho}}/split{{split}}/{{method}}/seed{{seed}}.evaluate.log",
    shell:
        "python -m ltgrid evaluate --cell-dir $(dirname {output}) 2> {log}"
