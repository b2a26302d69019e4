"""Everything that talks to MLflow: the store and experiments (store), one run per cell
(cell_run.CellRun, opened by training, completed by evaluation), and a grid's runs read back
for tables (grid), and the grid's own run holding its tables and figures (grid_run)."""
