# Raw data -> dataset.npz per dataset -> long-tailed split index files.


rule prepare_dataset:
    output:
        "data/raw/{dataset}/dataset.npz",
    params:
        source=lambda wc: json.dumps(config["datasets"][wc.dataset]["source"], sort_keys=True),
    log:
        "results/logs/prepare/{dataset}.log",
    shell:
        "python -m ltgrid prepare --source {params.source:q} --out {output} 2> {log}"


rule split:
    input:
        "data/raw/{dataset}/dataset.npz",
    output:
        "data/splits/{dataset}/rho{rho}_split{split}.json",
    params:
        options=lambda wc: json.dumps(ltparams.split_params(config, wc.dataset), sort_keys=True),
    log:
        "results/logs/split/{dataset}/rho{rho}_split{split}.log",
    shell:
        "python -m ltgrid split --data {input} --dataset {wildcards.dataset} --rho {wildcards.rho} "
        "--seed {wildcards.split} --options {params.options:q} --out {output} 2> {log}"


rule data_all:
    input:
        sorted({f"data/splits/{c.dataset}/rho{c.rho}_split{c.split}.json" for c in CELLS}),
