"""Params: a grid file read, checked before any job, and expanded into fully resolved cells.

The grid lives once, in params/*.yaml. The Snakefile, the CLI and the jobs all go through this
package, so the cell list, a cell's resolved recipe and the error messages are the same
everywhere; it is the one place that fills defaults and raises ParamsError. Its modules, from
the bottom: loading (YAML, includes, schema defaults), library (a method as a dataset and ratio
run it), sweeps and plugins (what extends the library), ratio_overrides and checks (validation),
cells (the grid's cells, resolved).
"""

from __future__ import annotations

from ltgrid.errors import ParamsError
from ltgrid.params.cells import (CELL_DIR, Cell, base_fields, cell_key, cells, extension_fields, raw_path,
                                 resolve_cell, resolve_spec, split_key, split_options, split_params, split_path, split_seeds)
from ltgrid.params.checks import expected_train_size, load, validate
from ltgrid.params.library import (dataset_methods, method_model, method_order, method_recipe, method_spec,
                                   ratio_override, stage1_base)
from ltgrid.cell_spec import fingerprint
from ltgrid.params.loading import (DEFAULT_SCHEMA, dataset, deep_merge, fill_optimizer, fill_recipe,
                                   format_rho, grid_file, load_yaml, recipe, resolve_includes, with_defaults,
                                   yaml_problem)

__all__ = [
    "CELL_DIR", "Cell", "DEFAULT_SCHEMA", "ParamsError", "base_fields", "cell_key", "cells",
    "dataset", "dataset_methods", "deep_merge", "expected_train_size", "extension_fields", "fill_optimizer",
    "fill_recipe", "fingerprint", "format_rho", "grid_file", "load", "load_yaml", "method_model", "method_order",
    "method_recipe", "method_spec", "ratio_override", "raw_path", "recipe", "resolve_cell", "resolve_includes", "resolve_spec",
    "split_key", "split_options", "split_params", "split_path", "split_seeds", "stage1_base", "validate",
    "with_defaults", "yaml_problem",
]
