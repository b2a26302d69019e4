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
    tracking_store,
    grid_run,


rule all:
    input:
        TABLES,
        FIGURES,
        ANALYSES,
        CELL_RESULTS,
        f"{RUNS}/grid_run.json",  # the tables and overlays as one MLflow run
