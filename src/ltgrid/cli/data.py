"""Params and data commands: validate, prepare, split."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _validate(args: argparse.Namespace) -> int:
    from ltgrid import params

    for path in args.params:
        config = params.load(path, args.schema or params.DEFAULT_SCHEMA, check_files=not args.skip_files)
        print(f"{path}: valid; {len(params.cells(config))} cells")
    return 0


def load_plugins(modules: list[str] | str | None) -> None:
    """Import the plugin modules a job's parts come from (a comma-separated string or a list)."""
    from ltgrid.params import plugins

    if isinstance(modules, str):
        modules = [m for m in modules.split(",") if m]
    plugins.load(modules or [])


def _prepare(args: argparse.Namespace) -> int:
    from ltgrid.data import prepare_dataset

    load_plugins(args.plugins)

    ds = prepare_dataset(json.loads(args.source), args.out)
    print(f"{args.out}: {len(ds.train_y)} train / {len(ds.test_y)} test images, {ds.num_classes} classes")
    return 0


def _split(args: argparse.Namespace) -> int:
    from ltgrid.data.splits import split_dataset

    split = split_dataset(args.data, args.dataset, args.rho, args.seed, json.loads(args.options), args.out)
    print(f"{args.out}: {len(split['train_indices'])} train, {len(split['val_indices'])} val; counts {split['counts']}")
    return 0


def commands(sub: Any) -> None:
    """Params and data: validate, prepare, split."""
    s = sub.add_parser("validate", help="check params files against the schema and the registries")
    s.add_argument("params", nargs="+")
    s.add_argument("--schema", default=None, help="default: the project's workflow/schemas/params.schema.yaml")
    s.add_argument("--skip-files", action="store_true",
                   help="do not look for the local files the sources name (a grid to run elsewhere)")
    s.set_defaults(func=_validate)

    s = sub.add_parser("prepare", help="build a dataset's dataset.npz from its source params")
    s.add_argument("--source", required=True, help="the dataset's `source` params as JSON")
    s.add_argument("--plugins", default="", help="comma-separated plugin modules to import first (a plugin's source kind)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_prepare)

    s = sub.add_parser("split", help="write a long-tailed split index file")
    s.add_argument("--data", required=True)
    s.add_argument("--dataset", required=True)
    s.add_argument("--rho", type=float, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--options", required=True,
                   help="JSON of params.split_options: n_max, val_per_class, test_holdout_per_class, mode (profile | given)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_split)
