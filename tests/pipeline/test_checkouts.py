"""Each checkout runs its own code: `make install` sets up a venv inside the checkout and leaves the
machine's Python as it was; two clones on one machine, one edited, do not see each other's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_project, run

pytestmark = pytest.mark.pipeline
BASE_VENV = Path(sys.executable).parent.parent  # the venv running the tests lends its packages


def base_python() -> str:
    """The machine's own interpreter, the one the venvs were made from."""
    return str(Path(sys.base_prefix) / "bin" / "python3")


def frozen(python: str) -> str:
    return subprocess.run([python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True).stdout


def in_checkout(root: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command run the way the README says, after `source .venv/bin/activate` in that checkout."""
    return run(["bash", "-c", f"source .venv/bin/activate && {' '.join(cmd)}"], root, check=check)


def test_two_clones_each_run_their_own_code(tmp_path):
    origin = copy_project(tmp_path / "origin")
    system_before = frozen(base_python())
    clones = {}
    for name in ("a", "b"):
        clones[name] = tmp_path / name
        run(["git", "clone", "-q", str(origin), str(clones[name])], tmp_path)
        run(["make", "install", f"LTGRID_BASE_VENV={BASE_VENV}"], clones[name], timeout=900)
    assert frozen(base_python()) == system_before, "make install changed the machine's own Python packages"

    for name, root in clones.items():
        where = in_checkout(root, "python -c 'import ltgrid; print(ltgrid.__file__)'").stdout.strip()
        assert where == str(root / "src/ltgrid/__init__.py"), where
        for tool in ("snakemake", "dvc", "mlflow"):
            assert in_checkout(root, "command -v", tool).stdout.strip() == str(root / ".venv/bin" / tool)
            assert (root / ".venv/bin" / tool).read_text().splitlines()[0] == f"#!{root / '.venv/bin/python'}"

    # An edit in one clone's src/ shows in that clone's runs only.
    params = clones["a"] / "src/ltgrid/params/loading.py"
    params.write_text(params.read_text().replace("no file {path}; the grids", "no file {path} (edited in a); the grids"))
    said = {}
    for name, root in clones.items():
        proc = in_checkout(root, "snakemake -n --cores 1 --config grid=nosuch", check=False)
        said[name] = proc.stdout + proc.stderr
    assert "(edited in a)" in said["a"], said["a"]
    assert "no file params/nosuch.yaml; the grids" in said["b"] and "(edited in a)" not in said["b"], said["b"]
