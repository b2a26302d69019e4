# Raw data -> dataset.npz per dataset -> long-tailed split index files.


def annotation_lists(wc):
    """List files a dataset's source makes from JSON annotations (iNat): rule inat_list's outputs."""
    names = config["datasets"][wc.dataset]["source"].get("annotations") or {}
    return [f"data/lists/{wc.dataset}/{name}.txt" for name in names]


def split_options(wc):
    split = config["datasets"][wc.dataset].get("split") or {}
    options = ltparams.split_params(config, wc.dataset)
    if "mode" in split:  # only when set: existing profile splits keep their params
        options["mode"] = split["mode"]
    return json.dumps(options, sort_keys=True)


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
    output:
        f"{RAW}/{{dataset}}/dataset.npz",
    params:
        source=lambda wc: json.dumps(config["datasets"][wc.dataset]["source"], sort_keys=True),
    log:
        f"results/logs/{GRID}/prepare/{{dataset}}.log",
    shell:
        "python -m ltgrid prepare --source {params.source:q} --out {output} 2> {log}"


rule split:
    input:
        f"{RAW}/{{dataset}}/dataset.npz",
    output:
        f"{SPLITS}/{{dataset}}/rho{{rho}}_split{{split}}.json",
    params:
        options=split_options,
    log:
        f"results/logs/{GRID}/split/{{dataset}}/rho{{rho}}_split{{split}}.log",
    shell:
        "python -m ltgrid split --data {input} --dataset {wildcards.dataset} --rho {wildcards.rho} "
        "--seed {wildcards.split} --options {params.options:q} --out {output} 2> {log}"


rule data_all:
    input:
        sorted({f"{SPLITS}/{c.dataset}/rho{c.rho}_split{c.split}.json" for c in CELLS}),
