"""Checking a grid before any job: the schema, then what the schema cannot see (names in the
registries, method parts, cross-references, the data each split will have). Every problem is
one line naming the key and the value; `validate` raises them all at once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ltgrid.data.normalization import resolve_normalize
from ltgrid.data.source_table import SOURCE_TABLE
from ltgrid.errors import ParamsError
from ltgrid.params import plugins, sweeps
from ltgrid.params.cells import raw_path, split_path
from ltgrid.params.library import dataset_methods, method_spec
from ltgrid.params.method_checks import method_errors, plugin_model
from ltgrid.params.loading import (DEFAULT_SCHEMA, _schema, dataset, format_rho, load_yaml, recipe, resolve_includes,
                                   recipe_problems, schema_errors)
from ltgrid.params.ratio_overrides import ratio_override_errors
from ltgrid.project import SECRET_WORDS


def _credential_errors(value: Any, where: str = "") -> list[str]:
    """Params are committed and logged to MLflow: a key that names a secret, or a URL with a
    password in it, is refused (the value is not echoed)."""
    if isinstance(value, dict):
        errors = []
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if any(word in str(key).lower() for word in SECRET_WORDS):
                errors.append(f"{name}: looks like a credential; params must not hold secrets (use environment variables)")
            else:
                errors += _credential_errors(item, name)
        return errors
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _credential_errors(item, f"{where}[{i}]")]
    if isinstance(value, str) and re.search(r"://[^/\s@]*:[^/\s@]*@", value):
        return [
            f"{where}: a URL with user:password@ in it; params must not hold secrets "
            "(for MLflow use MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)"
        ]
    return []


def _extension_errors(config: dict[str, Any]) -> tuple[list[str], set[str]]:
    """Plugins load (their parts are unknown until then), each swept value passes its part's
    checks, `compare_to` names methods the grid runs. Also returns the variants of sweeps
    already reported, so they are not reported again one by one."""
    errors = plugins.load_errors(config)
    if errors:
        return errors, set()
    errors = sweeps.value_errors(config)
    failed = {e.split(".", 2)[1] for e in errors}
    skip = {name for name, v in sweeps.variants(config).items() if v.sweep in failed}
    run = {m for ds in config["datasets"] for m in dataset_methods(config, ds)}
    for i, ref in enumerate(config.get("compare_to") or []):
        if ref not in run:
            errors.append(f"compare_to[{i}] = {ref!r}: not a method this grid runs; it runs: {sorted(run)}")
    return errors, skip


def _repeated(names: list[Any], where: str) -> list[str]:
    """A name listed twice would silently train its cells once: say so instead."""
    first: dict[Any, int] = {}
    errors = []
    for i, name in enumerate(names):
        if name in first:
            errors.append(f"{where}[{i}] = {name!r}: listed twice (also {where}[{first[name]}])")
        first.setdefault(name, i)
    return errors


def _dataset_method_errors(ds: dict[str, Any], where: str, library: dict[str, Any]) -> list[str]:
    """A dataset's own method list and overrides: known methods, each listed once."""
    errors = _repeated(ds.get("methods") or [], f"{where}.methods")
    for i, name in enumerate(ds.get("methods") or []):
        if name not in library:
            errors.append(f"{where}.methods[{i}] = {name!r}: unknown method; defined: {sorted(library)}")
    for name in ds.get("method_overrides") or {}:
        if name not in library:
            errors.append(f"{where}.method_overrides.{name}: unknown method; defined: {sorted(library)}")
    return errors


def _semantic_errors(config: dict[str, Any], skip: set[str] = frozenset()) -> list[str]:
    """Names and values the schema cannot check: registries, method parts (methods/catalog.py),
    cross-references. Imports nothing heavy: `snakemake -n` runs this on every parse."""
    from ltgrid.data import SOURCES
    from ltgrid.data.source_checks import source_problems
    from ltgrid.models.names import MODEL_NAMES

    errors = _repeated(config["methods"], "methods")
    library = config["method_library"]
    for i, name in enumerate(config["methods"]):
        if name not in library:
            errors.append(f"methods[{i}] = {name!r}: unknown method; defined in method_library: {sorted(library)}")
    for ds_name, ds in config["datasets"].items():
        where = f"datasets.{ds_name}"
        if ds["source"]["kind"] not in SOURCES:
            errors.append(f"{where}.source.kind = {ds['source']['kind']!r}: unknown; known: {SOURCES.names()}")
        if ds["model"] not in MODEL_NAMES and not plugin_model(config, ds["model"]):
            errors.append(f"{where}.model = {ds['model']!r}: unknown model; known: {sorted(MODEL_NAMES)}")
        if ds["recipe"] not in config["recipes"]:
            errors.append(f"{where}.recipe = {ds['recipe']!r}: not in recipes {sorted(config['recipes'])}")
        errors += source_problems(ds["source"], f"{where}.source") + _dataset_method_errors(ds, where, library)
        try:
            if resolve_normalize(ds.get("normalize"), ds["source"]["kind"])["mean"] is None and ds["source"]["kind"] == "listfile":
                errors.append(f"{where}.normalize = 'split': list-file datasets are decoded per image; give constants")
        except ValueError as exc:
            errors.append(f"{where}.{exc}")
        filled = dataset(config, ds_name)
        if filled["split"]["test_holdout_per_class"] and filled["split"]["val_per_class"]:
            errors.append(f"{where}.split: test_holdout_per_class and val_per_class both give a validation set; set one")
        if filled["split"]["test_holdout_per_class"] and ds["source"]["kind"] == "listfile":
            errors.append(f"{where}.split.test_holdout_per_class: list-file datasets take their validation set from a val list")
        shots = filled["shots"]
        if shots["few"] > shots["many"]:
            errors.append(f"{where}.shots: few = {shots['few']} must not exceed many = {shots['many']}")
        if ds["recipe"] in config["recipes"]:
            errors += recipe_problems(recipe(config, ds["recipe"]), f"recipes.{ds['recipe']}")
        errors += method_errors(config, ds_name, skip)
        errors += ratio_override_errors(config, ds_name, skip)
    return errors


def expected_train_size(config: dict[str, Any], name: str, rho: float) -> int | None:
    """Training images of a dataset's split at `rho`: from a split file already drawn, else from
    the long-tail profile when the source's classes and head size are known; None if unknown."""
    from ltgrid.data.splits import lt_counts

    ds = dataset(config, name)
    for split in ds["split"]["seeds"]:
        drawn = Path(split_path(config, name, format_rho(rho), split))
        if drawn.is_file():
            try:
                return int(sum(json.loads(drawn.read_text())["counts"]))
            except (OSError, ValueError, KeyError, TypeError):
                break  # a damaged split file is named by the job that reads it
    source = ds["source"]
    if ds["split"]["mode"] == "given":
        return None
    entry = SOURCE_TABLE.get(source["kind"])
    classes, head = (entry.classes, entry.head_size) if entry is not None else (None, None)
    if source["kind"] == "image_folder_archive":
        classes = len(source.get("classes") or []) or None
    n_max = ds["split"].get("n_max") or head
    if classes is None or n_max is None:
        return None
    return sum(lt_counts(n_max, classes, float(rho)))


def _data_errors(config: dict[str, Any], check_files: bool) -> list[str]:
    """What the data allows, before any job: every source a job would read from this machine
    (unless its prepared dataset is already there, e.g. pulled), and a batch no larger than the
    training split (a larger one would make at most one short step an epoch, or none)."""
    from ltgrid.data.source_checks import local_source_problems

    errors = []
    for name, ds in config["datasets"].items():
        made = [f"data/lists/{name}/{n}.txt" for n in (ds["source"].get("annotations") or {})]
        if check_files and not Path(raw_path(config, name)).is_file():
            errors += local_source_problems(ds["source"], f"datasets.{name}.source", made)
        library = config["method_library"]
        for rho in ds["ratios"]:
            n_train = expected_train_size(config, name, rho)
            for method in [None, *(m for m in dataset_methods(config, name) if m in library)]:
                own = method is not None and (method_spec(config, name, method, rho).get("recipe") or {}).get("batch_size")
                if method is not None and not own:
                    continue  # the dataset's recipe, checked once (method None)
                batch = own or recipe(config, ds["recipe"])["batch_size"]
                what = f"method_library.{method}.recipe" if own else f"recipes.{ds['recipe']}"
                if n_train is not None and batch > n_train:
                    errors.append(
                        f"{what}.batch_size = {batch}: larger than the training split of dataset {name} "
                        f"at rho={format_rho(rho)} ({n_train} images); an epoch would make no full optimiser step. "
                        f"Use a batch of at most {n_train}"
                    )
    return errors


def validate(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA, check_files: bool = True) -> dict[str, Any]:
    """Check a grid before any job runs; raise ParamsError listing every problem found.
    `check_files` looks for the local files the sources name (a dry run plans without them).

    Returns the grid with its sweeps expanded into methods (params.sweeps): use the return value.
    """
    errors = schema_errors(config, _schema(str(schema_path)))
    if not errors:
        errors = _credential_errors(config)
    if not errors:
        config = sweeps.expand(config)  # a malformed sweep raises SweepError, a ParamsError
        errors, skip = _extension_errors(config)
        if not errors or skip:
            errors += _semantic_errors(config, skip)
        if not errors:
            errors += _data_errors(config, check_files)
    if errors:
        if len(errors) == 1:
            raise ParamsError(f"invalid params: {errors[0]}")
        raise ParamsError(f"invalid params ({len(errors)} problems):\n  - " + "\n  - ".join(errors))
    return config


def load(path: str | Path, schema_path: str | Path = DEFAULT_SCHEMA, root: str | Path = ".",
         check_files: bool = True) -> dict[str, Any]:
    return validate(resolve_includes(load_yaml(path), root), schema_path, check_files)
