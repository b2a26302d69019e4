# Raw data -> dataset.npz per dataset -> long-tailed split index files. Both live under a
# folder named by the fingerprint of what they are made from (params.raw_path / split_path).


rule inat_list:
    output:
        "data/lists/{dataset}/{name}.txt",
    params:
        # the JSON is checked (checksum, then every image labelled) by the command, not planned on:
        # `snakemake -n` works before the annotations are downloaded
        spec=lambda wc: json.dumps(config["datasets"][wc.dataset]["source"]["annotations"][wc.name], sort_keys=True),
    wildcard_constraints:
        name="[A-Za-z0-9_.-]+",
    log:
        "results/logs/lists/{dataset}/{name}.log",
    shell:
        "python -m ltgrid.data.inat --spec {params.spec:q} --out {output} 2> {log}"


rule prepare_dataset:
    input:
        annotation_lists,
        source_plugin_files,
    output:
        f"{RAW}/{{dataset}}/{{key}}/dataset.npz",
    params:
        source=lambda wc: json.dumps(config["datasets"][wc.dataset]["source"], sort_keys=True),
        plugins=lambda wc: ",".join(ltplugins.source_plugin(config, wc.dataset)),
    log:
        "results/logs/prepare/{dataset}/{key}.log",
    shell:
        "python -m ltgrid prepare --source {params.source:q} --plugins '{params.plugins}' --out {output} 2> {log}"


rule split:
    input:
        # ancient: `dvc pull` checks data and splits out in no fixed order, and a dataset newer
        # than its splits must not redraw them. Its path is keyed by its source, and the split
        # file names the labels it was drawn on, which training checks (data/splits.py).
        ancient(lambda wc: ltparams.raw_path(config, wc.dataset)),
    output:
        f"{SPLITS}/{{dataset}}/{{key}}/rho{{rho}}_split{{split}}.json",
    params:
        options=split_options,
    log:
        "results/logs/split/{dataset}/{key}/rho{rho}_split{split}.log",
    shell:
        "python -m ltgrid split --data {input} --dataset {wildcards.dataset} --rho {wildcards.rho} "
        "--seed {wildcards.split} --options {params.options:q} --out {output} 2> {log}"


rule data_all:
    input:
        sorted({ltparams.split_path(config, c.dataset, c.rho, c.split) for c in CELLS}),
