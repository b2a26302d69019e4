"""Params: load a grid file, validate it (schema + semantics) before any job, expand it to cells.

The grid lives once, in params/*.yaml. The Snakefile and the CLI both go through this
module, so the cell list, the resolved recipe of a cell and the error messages are the same
everywhere.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from ltgrid.data.normalization import resolve_normalize
from ltgrid.errors import ParamsError  # noqa: F401  (re-exported: callers catch params.ParamsError)

# The project's schema (the package runs from a checkout: workflow/ sits beside src/).
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"


def yaml_problem(path: str | Path, exc: yaml.YAMLError) -> str:
    """A YAML error as one line: file, line and column (1-based, as editors count), the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"params file {path} does not exist")
    with open(path) as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ParamsError(f"params file {yaml_problem(path, exc)}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"params file {path} must hold a mapping, got {type(data).__name__}")
    return data


def grid_file(name: str, root: str | Path = ".") -> Path:
    """params/<name>.yaml: the grid `--config grid=<name>` runs (a grid is named as its file)."""
    path = Path(root) / "params" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / "params").glob("*.yaml") if "grid" in (load_yaml(p) or {}))
        raise ParamsError(f"grid = {name!r}: no file {path}; the grids in params/: {', '.join(known)}")
    return path


def resolve_includes(config: dict[str, Any], root: str | Path = ".", _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge the files named in `include:` (paths from the project root) under the grid's own keys.

    Lets every grid share one method library (params/methods.yaml) instead of copying it;
    included files may include others.
    """
    includes = config.get("include") or []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ParamsError(f"include = {includes!r}: must be a list of params file paths")
    merged: dict[str, Any] = {}
    for inc in includes:
        path = Path(root) / inc
        if inc in _seen:
            raise ParamsError(f"include = {inc!r}: includes itself through {' -> '.join(_seen)}")
        if not path.exists():
            raise ParamsError(f"include = {inc!r}: file {path} does not exist")
        merged = deep_merge(merged, resolve_includes(load_yaml(path), root, (*_seen, inc)))
    own = {k: v for k, v in config.items() if k != "include"}
    return deep_merge(merged, own)


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> dict[str, Any]:
    return load_yaml(path)


def with_defaults(value: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `value` with every absent key that the schema gives a `default` filled in,
    recursively through object properties (a defaulted object gets its own keys' defaults)."""
    out = copy.deepcopy(value)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and sub.get("properties"):
            out[key] = with_defaults(out[key], sub)
    return out


def fill_recipe(recipe: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A recipe with the schema's defaults filled in: the one place recipe defaults live."""
    return with_defaults(recipe, _schema(str(schema_path))["$defs"]["recipe"])


def fill_optimizer(optimizer: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A recipe's `optimizer` entry with the schema's defaults (momentum, weight decay, nesterov)."""
    return with_defaults(optimizer, _schema(str(schema_path))["$defs"]["recipe"]["properties"]["optimizer"])


def recipe(config: dict[str, Any], name: str, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    return fill_recipe(config["recipes"][name], schema_path)


def dataset(config: dict[str, Any], name: str, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A dataset entry with the schema's defaults (split, shots) filled in."""
    return with_defaults(config["datasets"][name], _schema(str(schema_path))["properties"]["datasets"]["additionalProperties"])


def _key_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = _key_path(err.absolute_path)
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            messages.append(f"{where}: unknown key(s) {extra}" + (f"; allowed: {known}" if known else ""))
        else:
            messages.append(f"{where} = {json.dumps(err.instance, default=str)[:80]}: {err.message}")
    return messages


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataset_methods(config: dict[str, Any], dataset: str) -> list[str]:
    return list(config["datasets"][dataset].get("methods") or config["methods"])


def method_order(config: dict[str, Any]) -> list[str]:
    """Every method of the grid once, in first-seen order over the datasets: rows and legends."""
    return list(dict.fromkeys(m for ds in config["datasets"] for m in dataset_methods(config, ds)))


def method_spec(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None) -> dict[str, Any]:
    """The method's library entry with the dataset's overrides merged in (its parts only), then,
    given a ratio, the dataset's overrides for that ratio (ltgrid.ratio_overrides)."""
    from ltgrid.ratio_overrides import ratio_override

    spec = {k: v for k, v in config["method_library"][method].items() if k != "description"}
    ds = config["datasets"][dataset]
    override = (ds.get("method_overrides") or {}).get(method, {})
    return deep_merge(deep_merge(spec, override), ratio_override(ds, method, rho))


def method_model(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None) -> str:
    """The model a method's cells train: its own `model` (a multi-expert net, say), else its stage-1
    base's (a stage 2 continues that very network), else the dataset's."""
    own = method_spec(config, dataset, method, rho).get("model")
    base = stage1_base(config, dataset, method)
    if own is None and base is not None:
        own = method_spec(config, dataset, base, rho).get("model")
    return own or config["datasets"][dataset]["model"]


def method_recipe(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None,
                  schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """The dataset's recipe with the method's own `recipe` changes deep-merged over it (its authors'
    epochs, batch, lr, augmentation), defaults filled: the one recipe its cells train with."""
    own = method_spec(config, dataset, method, rho).get("recipe") or {}
    return fill_recipe(deep_merge(config["recipes"][config["datasets"][dataset]["recipe"]], own), schema_path)


def stage1_base(config: dict[str, Any], dataset: str, method: str) -> str | None:
    """The method whose finished cell is this method's stage 1 (`stage2.base`), if any."""
    return (method_spec(config, dataset, method).get("stage2") or {}).get("base")


def _credential_errors(value: Any, where: str = "") -> list[str]:
    """Params are committed and logged to MLflow: a key that names a secret, or a URL with a
    password in it, is refused (the value is not echoed)."""
    from ltgrid.project import SECRET_WORDS

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
    from ltgrid import plugins, sweeps

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


def _plugin_model(config: dict[str, Any], name: str) -> bool:
    """A model a plugin registered (only a grid with plugins pays for the model registry's torch)."""
    if not config.get("plugins"):
        return False
    from ltgrid.models import MODELS

    return name in MODELS


def _semantic_errors(config: dict[str, Any], skip: set[str] = frozenset()) -> list[str]:
    """Names and values the schema cannot check: registries, method parts (methods/catalog.py),
    cross-references. Imports nothing heavy: `snakemake -n` runs this on every parse."""
    from ltgrid.data import SOURCES
    from ltgrid.data.source_checks import source_problems
    from ltgrid.models.names import MODEL_NAMES
    from ltgrid.ratio_overrides import ratio_override_errors

    errors = _repeated(config["methods"], "methods")
    library = config["method_library"]
    for i, name in enumerate(config["methods"]):
        if name not in library:
            errors.append(f"methods[{i}] = {name!r}: unknown method; defined in method_library: {sorted(library)}")
    for ds_name, ds in config["datasets"].items():
        where = f"datasets.{ds_name}"
        if ds["source"]["kind"] not in SOURCES:
            errors.append(f"{where}.source.kind = {ds['source']['kind']!r}: unknown; known: {SOURCES.names()}")
        if ds["model"] not in MODEL_NAMES and not _plugin_model(config, ds["model"]):
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
            rec = recipe(config, ds["recipe"])
            for step in rec["lr_schedule"]["steps"]:
                if step["epoch"] >= rec["epochs"]:
                    errors.append(
                        f"recipes.{ds['recipe']}.lr_schedule.steps: epoch {step['epoch']} is not before "
                        f"epochs = {rec['epochs']}"
                    )
        errors += _method_errors(config, ds_name, skip)
        errors += ratio_override_errors(config, ds_name, skip)
    return errors


def _method_errors(config: dict[str, Any], ds_name: str, skip: set[str] = frozenset()) -> list[str]:
    """A dataset's methods: every part checked (torch-free), stage-2 bases one-stage methods."""
    from ltgrid.errors import PartError
    from ltgrid.methods.spec import validate_method

    errors, library = [], config["method_library"]
    for method in (m for m in dataset_methods(config, ds_name) if m in library and m not in skip):
        try:
            validate_method(method, method_spec(config, ds_name, method))
        except PartError as exc:
            errors.append(f"method_library.{method} (dataset {ds_name}): {exc}")
            continue
        errors += _method_model_recipe_errors(config, ds_name, method)
        base = stage1_base(config, ds_name, method)
        if base is not None and base not in library:
            errors.append(f"method_library.{method}.stage2.base = {base!r}: unknown method; defined: {sorted(library)}")
        elif base is not None and stage1_base(config, ds_name, base) is not None:
            errors.append(f"method_library.{method}.stage2.base = {base!r}: a base must be a one-stage method")
    return errors


def _method_model_recipe_errors(config: dict[str, Any], ds_name: str, method: str) -> list[str]:
    """A method's own `model` is a known one; its `recipe` changes leave a valid recipe."""
    from ltgrid.models.names import MODEL_NAMES

    where, spec = f"method_library.{method} (dataset {ds_name})", method_spec(config, ds_name, method)
    errors = []
    model = spec.get("model")
    if model is not None and model not in MODEL_NAMES and not _plugin_model(config, model):
        errors.append(f"{where}.model = {model!r}: unknown model; known: {sorted(MODEL_NAMES)}")
    if spec.get("recipe"):
        merged = deep_merge(config["recipes"][config["datasets"][ds_name]["recipe"]], spec["recipe"])
        recipe_schema = {"$defs": _schema(str(DEFAULT_SCHEMA))["$defs"], "$ref": "#/$defs/recipe"}
        errors += [f"{where}.recipe: {e}".replace(": <top level>:", ":") for e in _schema_errors(merged, recipe_schema)]
        if not errors:
            rec = fill_recipe(merged)
            errors += [f"{where}.recipe.lr_schedule.steps: epoch {st['epoch']} is not before epochs = {rec['epochs']}"
                       for st in rec["lr_schedule"]["steps"] if st["epoch"] >= rec["epochs"]]
    return errors


# Classes and default head-class size of sources whose split size is known before any download.
KNOWN_PROFILES = {"cifar10": (10, 5000), "cifar100": (100, 500), "sklearn_digits": (10, None)}


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
    classes, head = KNOWN_PROFILES.get(source["kind"], (None, None))
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

    Returns the grid with its sweeps expanded into methods (ltgrid.sweeps): use the return value.
    """
    from ltgrid import sweeps

    errors = _schema_errors(config, _schema(str(schema_path)))
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


def format_rho(rho: float) -> str:
    """10 -> '10', 12.5 -> '12.5': the form used in paths and tables."""
    return str(int(rho)) if float(rho).is_integer() else str(rho)


# A cell's folder, named by what it is and by the key of everything it is made from (its fully
# resolved recipe, which names its data and split): an edited hyperparameter is a new folder,
# so neither Snakemake's metadata nor file times are needed to know a cell is stale, and a
# pulled or checked-out cell is reused as it is. The rules and Python both use this one pattern.
CELL_DIR = "results/runs/{grid}/{dataset}/rho{rho}/split{split}/{method}/seed{seed}/{key}"


@dataclass(frozen=True, order=True)
class Cell:
    """One training run of the grid."""

    dataset: str
    rho: str
    split: int
    method: str
    seed: int

    def path(self, grid: str, key: str) -> str:
        return CELL_DIR.format(grid=grid, dataset=self.dataset, rho=self.rho, split=self.split,
                               method=self.method, seed=self.seed, key=key)


def split_seeds(config: dict[str, Any], name: str) -> list[int]:
    return list(dataset(config, name)["split"]["seeds"])


def cells(config: dict[str, Any]) -> list[Cell]:
    out = []
    for ds_name, ds in config["datasets"].items():
        for rho, split, method, seed in itertools.product(
            ds["ratios"], split_seeds(config, ds_name), dataset_methods(config, ds_name), config["seeds"]
        ):
            out.append(Cell(ds_name, format_rho(rho), split, method, seed))
    return out


def resolve_cell(config: dict[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything one training run needs, fully resolved: this is what MLflow logs as params."""
    ds = dataset(config, cell.dataset)
    resolved = {
        "grid": config["grid"],
        "dataset": cell.dataset,
        "rho": float(cell.rho),
        "split_seed": cell.split,
        "method": cell.method,
        "seed": cell.seed,
        "model": method_model(config, cell.dataset, cell.method, cell.rho),
        "recipe_name": ds["recipe"],
        "recipe": method_recipe(config, cell.dataset, cell.method, cell.rho),
        "method_spec": method_spec(config, cell.dataset, cell.method, cell.rho),
        "shots": ds["shots"],
        "val_per_class": ds["split"]["val_per_class"],
        "test_holdout_per_class": ds["split"]["test_holdout_per_class"],
        "normalize": resolve_normalize(ds.get("normalize"), ds["source"]["kind"]),
        "data_key": split_key(config, cell.dataset),  # the source and split options: which images
        **base_fields(config, cell),
    }
    return {**resolved, **extension_fields(config, resolved)}


def extension_fields(config: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """A sweep variant's swept values and the plugin modules a cell uses: present only when
    there are some, so cells of plain built-in methods keep the recipe they always had."""
    from ltgrid import plugins, sweeps

    out: dict[str, Any] = {}
    variant = sweeps.variants(config).get(resolved["method"])
    if variant is not None:
        out["sweep"] = variant.record()
    used = plugins.cell_plugins(config, resolved)
    if used:
        out["plugins"] = used
        # their code is part of what the cell is made from: an edited plugin is a new cell folder
        out["plugin_code"] = plugins.code_digest(used)
    return out


def cell_key(resolved: dict[str, Any]) -> str:
    """The key in a cell's folder name (CELL_DIR): the fingerprint of its resolved recipe."""
    return fingerprint(resolved)


def base_fields(config: dict[str, Any], cell: Cell) -> dict[str, Any]:
    """For a stage-2 method on a shared stage 1: the base method and its spec (a change reruns us)."""
    base = stage1_base(config, cell.dataset, cell.method)
    if base is None:
        return {}
    return {"base_method": base, "base_method_spec": method_spec(config, cell.dataset, base, cell.rho)}


def split_params(config: dict[str, Any], name: str) -> dict[str, Any]:
    """What a split file's indices depend on besides its mode (Snakemake reruns the split when
    it changes), every key given."""
    split = dataset(config, name)["split"]
    return {"n_max": split.get("n_max"), "val_per_class": split["val_per_class"],
            "test_holdout_per_class": split["test_holdout_per_class"]}


def split_options(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The `--options` of `python -m ltgrid split`: split_params and the split mode, every key given."""
    return {**split_params(config, name), "mode": dataset(config, name)["split"]["mode"]}


def fingerprint(obj: Any) -> str:
    """16 hex digits naming a JSON-able value: a resolved cell (what a result records, compared
    with the params now), or what prepared data is made from (its folder name)."""
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def raw_path(config: dict[str, Any], dataset: str) -> str:
    """A prepared dataset, under its grid (each grid's data is its own DVC stage's output) and
    keyed by its source, so a failed prepare for other params cannot remove the data in use."""
    return f"data/raw/{config['grid']}/{dataset}/{fingerprint(config['datasets'][dataset]['source'])}/dataset.npz"


def split_key(config: dict[str, Any], dataset: str) -> str:
    ds = config["datasets"][dataset]
    return fingerprint({"source": ds["source"], "split": split_params(config, dataset), "mode": (ds.get("split") or {}).get("mode")})


def split_path(config: dict[str, Any], dataset: str, rho: str, split: int | str) -> str:
    """A split file, keyed by the source and split options it is made from (as raw_path)."""
    return f"data/splits/{config['grid']}/{dataset}/{split_key(config, dataset)}/rho{rho}_split{split}.json"
