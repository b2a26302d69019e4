"""Shared test helpers: the repository root and a throwaway copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a fresh clone of main does not have: outputs of a run in this checkout (`make run` leaves
# results, data, stores and the dvc.lock files, which main never carries) and local tool state.
COPY_IGNORE = shutil.ignore_patterns(
    ".git", "results", ".snakemake", "__pycache__", "*.egg-info", ".pytest_cache", "raw", "splits", "tmp", "cache",
    ".whl", ".gl", "mlflow.db", "mlflow.db.lock", "mlartifacts", ".venv", "mlruns", "dvc.lock",
)


TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def _clear_tracking_env() -> None:
    for var in TRACKING_ENV:
        os.environ.pop(var, None)


def pytest_configure(config) -> None:
    """Each test builds its own store: a developer's MLFLOW_TRACKING_URI must never receive test runs.
    The commands the tests run (snakemake, dvc, mlflow) are those beside the interpreter running
    the tests, the checkout's venv, even when it was not activated."""
    _clear_tracking_env()
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(autouse=True)
def _no_tracking_uri_leaks():
    """Whatever a test points MLflow at (mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI)
    is undone, or every later test's pipeline subprocess would log into that store."""
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
    _clear_tracking_env()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def copy_project(dest: Path) -> Path:
    """A fresh working copy of the project (code, params, workflow) as a new git repo."""
    shutil.copytree(ROOT, dest, ignore=COPY_IGNORE)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], cwd=dest, check=True
    )
    return dest


def tiny_grid(grid: str = "tiny", epochs: int = 3, ratios: tuple[float, ...] = (10,), methods: list[str] | None = None) -> dict:
    """The default digits grid cut down to a few epochs: a real pipeline run in about a minute."""
    import yaml

    config = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    config["grid"] = grid
    recipe = config["recipes"]["digits"]
    recipe["epochs"] = epochs
    recipe["lr_schedule"] = {"warmup_epochs": 1, "steps": [{"epoch": epochs - 1, "factor": 0.1}]}
    config["datasets"]["digits"]["ratios"] = list(ratios)
    if methods is not None:
        config["methods"] = methods
    return config


def data_file(root: Path, config: dict, dataset: str, rho: str | None = None, split: int = 0) -> Path:
    """Where the pipeline keeps a dataset's prepared data (rho=None) or a split file: folders
    named by what they are made from (ltgrid.params.raw_path / split_path)."""
    from ltgrid import params

    if rho is None:
        return root / params.raw_path(config, dataset)
    return root / params.split_path(config, dataset, rho, split)


def grid_config(root: Path, params_file: str | Path) -> dict:
    """A project's grid as Snakemake reads it (includes merged, sweeps expanded)."""
    from ltgrid import params

    path = Path(root) / params_file
    previous = os.environ.get("LTGRID_PROJECT_ROOT")
    os.environ["LTGRID_PROJECT_ROOT"] = str(root)  # its plugins/ are imported from there
    try:
        return params.validate(params.resolve_includes(params.load_yaml(path), root), check_files=False)
    finally:
        if previous is None:
            os.environ.pop("LTGRID_PROJECT_ROOT", None)
        else:
            os.environ["LTGRID_PROJECT_ROOT"] = previous


def cell_dir(root: Path, params_file: str | Path, method: str, dataset: str = "digits", rho: str = "10",
             seed: int = 0, split: int = 0) -> Path:
    """Where the pipeline keeps a cell of the grid as its params file says now: the folder named by
    the key of its resolved recipe (ltgrid.params.CELL_DIR)."""
    from ltgrid import params

    config = grid_config(root, params_file)
    cell = params.Cell(dataset, rho, split, method, seed)
    return Path(root) / cell.path(config["grid"], params.cell_key(params.resolve_cell(config, cell)))


def write_params(path: Path, config: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(cmd: list[str], cwd: Path, timeout: int = 900, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a real command; on failure show its output (the test's only window into it)."""
    import os

    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
