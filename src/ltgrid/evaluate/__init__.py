"""Evaluating one cell: metrics, model-selection protocols, the cell's metrics.json and figures."""
