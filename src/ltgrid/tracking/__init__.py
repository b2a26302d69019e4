"""The one place that talks to MLflow: the store, experiments, one run per cell."""
