"""A dataset's methods checked before any job: every part (torch-free, methods/spec.py), the model
each trains and whether its loss can read that model's outputs, its own recipe changes, a
stage-2 base, and augmentation the dataset's feed can apply."""

from __future__ import annotations

from typing import Any

from ltgrid.errors import PartError
from ltgrid.params.library import dataset_methods, method_model, method_recipe, method_spec, stage1_base
from ltgrid.params.loading import DEFAULT_SCHEMA, _schema, deep_merge, fill_recipe, recipe_problems, schema_errors


def method_errors(config: dict[str, Any], ds_name: str, skip: set[str] = frozenset()) -> list[str]:
    """A dataset's methods: every part checked (torch-free), stage-2 bases one-stage methods."""
    from ltgrid.methods.validation import validate_method

    errors, library = [], config["method_library"]
    for method in (m for m in dataset_methods(config, ds_name) if m in library and m not in skip):
        try:
            validate_method(method, method_spec(config, ds_name, method))
        except PartError as exc:
            errors.append(f"method_library.{method} (dataset {ds_name}): {exc}")
            continue
        errors += _method_model_recipe_errors(config, ds_name, method)
        errors += _listfile_augment_errors(config, ds_name, method)
        base = stage1_base(config, ds_name, method)
        if base is not None and base not in library:
            errors.append(f"method_library.{method}.stage2.base = {base!r}: unknown method; defined: {sorted(library)}")
        elif base is not None and stage1_base(config, ds_name, base) is not None:
            errors.append(f"method_library.{method}.stage2.base = {base!r}: a base must be a one-stage method")
    return errors


# Augmentation parts the in-memory feed applies in batches (padded crops among them); list-file
# datasets decode per image (data/listfile_feed.py): random-resized crops, no such parts.
BATCHED_AUGMENT = ("crop_padding", "autoaugment", "cutout", "rotate")


def _listfile_augment_errors(config: dict[str, Any], ds_name: str, method: str) -> list[str]:
    """A list-file dataset's cells may not ask for the in-memory feed's batched augmentation, and
    their eval resize may not be smaller than the crop."""
    if config["datasets"][ds_name]["source"]["kind"] != "listfile":
        return []
    where = f"method_library.{method} (dataset {ds_name}): recipe.augment"
    augment = method_recipe(config, ds_name, method).get("augment") or {}
    errors = [f"{where}.{key} = {augment[key]!r}: list-file datasets decode each image and take random-resized "
              "crops (image_size, crop_scale_min, eval_resize), not the in-memory feed's batched parts; leave it out"
              for key in BATCHED_AUGMENT if augment.get(key)]
    size = int(augment.get("image_size", 224))
    resize = int(augment.get("eval_resize", round(size * 256 / 224)))
    if resize < size:
        errors.append(f"{where}.eval_resize = {resize}: must be at least image_size = {size}")
    return errors


def _method_model_recipe_errors(config: dict[str, Any], ds_name: str, method: str) -> list[str]:
    """A method's own `model` is a known one; its `recipe` changes leave a valid recipe."""
    from ltgrid.methods.catalog import model_problem
    from ltgrid.methods.spec import method_parts
    from ltgrid.models.names import EXPERTS, MODEL_NAMES, MODEL_OUTPUTS

    where, spec = f"method_library.{method} (dataset {ds_name})", method_spec(config, ds_name, method)
    errors = []
    model = spec.get("model")
    if model is not None and model not in MODEL_NAMES and not plugin_model(config, model):
        errors.append(f"{where}.model = {model!r}: unknown model; known: {sorted(MODEL_NAMES)}")
    trained = method_model(config, ds_name, method)
    if trained in MODEL_OUTPUTS:  # a plugin's model declares nothing: its pairing is its author's to check
        problem = model_problem(method_parts(method, spec), trained, MODEL_OUTPUTS[trained], EXPERTS.get(trained))
        if problem:
            errors.append(f"{where}: {problem}")
    if spec.get("recipe"):
        merged = deep_merge(config["recipes"][config["datasets"][ds_name]["recipe"]], spec["recipe"])
        recipe_schema = {"$defs": _schema(str(DEFAULT_SCHEMA))["$defs"], "$ref": "#/$defs/recipe"}
        errors += [f"{where}.recipe: {e}".replace(": <top level>:", ":") for e in schema_errors(merged, recipe_schema)]
        if not errors:
            errors += recipe_problems(fill_recipe(merged), f"{where}.recipe")
    return errors


def plugin_model(config: dict[str, Any], name: str) -> bool:
    """A model a plugin registered (only a grid with plugins pays for the model registry's torch)."""
    if not config.get("plugins"):
        return False
    from ltgrid.models import MODELS

    return name in MODELS
