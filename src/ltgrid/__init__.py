"""ltgrid: long-tailed recognition grids (UniMix, Bayias and baselines), reproducibly.

The package reads like the pipeline: data -> splits -> models -> methods -> train ->
evaluate (metrics) -> report, with tracking (MLflow) and gpu (lease) beside them.
"""

__version__ = "0.1.0"
