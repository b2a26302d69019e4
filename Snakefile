# ltgrid: one command trains every (dataset x ratio x method x seed) cell of a grid.
#   snakemake --cores all                                    # the embedded default grid (CPU, minutes)
#   snakemake --cores all --resources gpu=4 --configfile params/paper-cifar.yaml
# The grid lives in params/*.yaml only; workflow/rules/common.smk expands it.

from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/analysis.smk"


# Small jobs that may need the internet (downloads, a remote tracking server) run on the
# submitting machine, not on cluster compute nodes.
localrules:
    all,
    prepare_dataset,
    grid_run,


# Every file the grid's DVC stage declares (grids/dvc.yaml) is asked for here by name, so a
# missing one is remade instead of being taken for an unneeded intermediate.
rule all:
    input:
        rules.tables.output,
        JOB_COSTS,
        FIGURES,
        ANALYSES,
        CELL_RESULTS,
        f"{RUNS}/grid_run.json",  # the tables and overlays as one MLflow run


# The tracking store is made once, before any job, on the submitting machine: jobs that all
# found a new SQLite store at once would race to create it (cluster nodes share it by file).
# tracking.json records it for `python -m ltgrid ui` and the next run's store check.
onstart:
    from ltgrid.io import write_json
    from ltgrid.tracking.store import grid_experiment

    write_json(f"{RUNS}/tracking.json", grid_experiment(json.loads(TRACKING)))
