"""One cell's folder and the files in it: the one place their names and layout are written.

The folder is named by what the cell is (grid, dataset, ratio, split, method, seed) and by the
key of everything it is made from (its fully resolved recipe), so an edited hyperparameter is a
new folder and neither Snakemake's metadata nor file times are needed to know a cell is stale.
The rules, the train job (which writes predictions.npz, model.pt, then run.json last) and the
evaluate job (which reads them) all use these names. Plain strings: the workflow reads this on
every parse.
"""

from __future__ import annotations

import re

CELL_DIR = "results/runs/{grid}/{dataset}/rho{rho}/split{split}/{method}/seed{seed}/{key}"
CELL_LOG = "results/logs/{grid}/{dataset}/rho{rho}/split{split}/{method}/seed{seed}/{key}.{job}.log"

PREDICTIONS = "predictions.npz"
MODEL = "model.pt"
RUN = "run.json"  # written last: a cell is trained once its run.json exists
METRICS = "metrics.json"
PER_CLASS_CSV = "per_class_acc.csv"
FIGURES = {"reliability": "reliability.png", "per_class": "per_class_acc.png", "curves": "training_curves.png"}
JOBS = ("train", "evaluate")

TRAINED = (PREDICTIONS, MODEL, RUN)
EVALUATED = (METRICS, PER_CLASS_CSV, *FIGURES.values())


def benchmark(job: str) -> str:
    """Snakemake's benchmark file of a cell's job (wall time, peak memory), kept in the folder."""
    return f"{job}.benchmark.tsv"


# Everything a finished cell's folder holds (what `rule all` asks for, what a pull brings).
CELL_FILES = (*TRAINED, *EVALUATED, *(benchmark(job) for job in JOBS))

# predictions.npz, what training hands to evaluation: labels and train counts, and the logits used
# for prediction of each evaluation set (`test`, and `val` when the split has one) under each
# model selection (`final`, or `best_<set>`: the best epoch on that set). A newer format than this
# code knows is refused; a file without a version is format 1 (the format before it was written).
PREDICTIONS_FORMAT = 1
FORMAT_KEY = "format_version"
TRAIN_COUNTS = "train_counts"


def labels_key(which: str) -> str:
    return f"{which}_labels"


def logits_key(which: str, selection: str) -> str:
    return f"{which}_logits_{selection}"


_FIELD = {"split": r"\d+", "seed": r"\d+", "key": r"[0-9a-f]+"}


def _regex(template: str) -> str:
    """CELL_DIR as a regular expression with a named group per field."""
    pieces = re.split(r"\{(\w+)\}", template)
    return "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_FIELD.get(p, '[^/]+')})" for i, p in enumerate(pieces))


# A benchmark file's path, read back into its cell and job (job costs).
BENCHMARK_PATH = re.compile(_regex(CELL_DIR) + r"/(?P<job>\w+)\.benchmark\.tsv$")
