"""Fixed cost of one pipeline job: Snakefile parse (dry run) and a train job's start to its first step.

    python benchmarks/job_start.py [--repeats 3] [--grids params/paper-cifar.yaml params/paper-inat.yaml]

- dry run: wall time of `snakemake -n --quiet --configfile <grid>` in the repository (what every
  SLURM job pays again when the executor re-parses the Snakefile), and whether torch was imported
  while parsing (`-X importtime` of the same command);
- train job: `python -m ltgrid train` on a digits cell of params/default.yaml (its data, split and
  MLflow store made first by the real `prepare`, `split` and `init-tracking` commands), timed
  from just before the process is started to the end of the first optimiser step (a global
  optimiser step hook prints the time and ends the process).
Prints one table of medians; `--json PATH` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs the train command in a process whose first optimiser step prints seconds since T0 and exits.
FIRST_STEP = """
import os, sys, time
from torch.optim.optimizer import register_optimizer_step_post_hook
t0 = float(os.environ["LTGRID_T0"])
def done(*_):
    print(f"FIRST_STEP {time.time() - t0:.3f}", flush=True)
    os._exit(0)
register_optimizer_step_post_hook(done)
from ltgrid.cli import main
sys.exit(main(sys.argv[1:]))
"""


def dry_run(grid: str) -> tuple[float, bool]:
    cmd = ["snakemake", "-n", "--quiet", "--cores", "1", "--configfile", grid]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, env=env)
    imported = any(re.search(r"\|\s+torch$", line.rstrip()) for line in proc.stderr.splitlines())
    return wall, imported


def cli(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "ltgrid", *args], cwd=cwd, check=True, capture_output=True)


def train_inputs(work: Path) -> list[str]:
    """The digits cell's data, split and store through the real commands; the train arguments."""
    from ltgrid import params

    config = params.load(ROOT / "params" / "default.yaml", ROOT / "workflow" / "schemas" / "params.schema.yaml", root=ROOT)
    ds = config["datasets"]["digits"]
    cell = params.resolve_cell(config, params.Cell("digits", "10", 0, "unimix_bayias", 0))
    cli("prepare", "--source", json.dumps(ds["source"]), "--out", "dataset.npz", cwd=work)
    cli("split", "--data", "dataset.npz", "--dataset", "digits", "--rho", "10", "--seed", "0",
        "--options", json.dumps(params.split_options(config, "digits")), "--out", "split.json", cwd=work)
    cli("init-tracking", "--config", json.dumps({"grid": "job-start"}), "--out", "tracking.json", cwd=work)
    return ["train", "--cell", json.dumps(cell), "--data", "dataset.npz", "--split", "split.json",
            "--tracking-config", json.dumps({"grid": "job-start"}), "--threads", "1"]


def first_step(work: Path, args: list[str], run: int) -> float:
    env = {**os.environ, "LTGRID_T0": repr(time.time())}
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_STEP, *args, "--out-dir", f"cell{run}"],
        cwd=work, capture_output=True, text=True, env=env, check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("FIRST_STEP "):
            return float(line.split()[1])
    raise RuntimeError(f"the train job never reached a step:\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--grids", nargs="+", default=["params/paper-cifar.yaml", "params/paper-inat.yaml"])
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    figures: dict[str, dict[str, object]] = {}
    for grid in args.grids:
        runs = [dry_run(grid) for _ in range(args.repeats)]
        figures[f"snakemake -n {grid}"] = {"seconds": [w for w, _ in runs], "imports_torch": runs[0][1]}
    with tempfile.TemporaryDirectory(prefix="ltgrid-job-start-") as tmp:
        work = Path(tmp)
        train_args = train_inputs(work)
        figures["train job: start -> first step"] = {
            "seconds": [first_step(work, train_args, i) for i in range(args.repeats)], "imports_torch": True,
        }
    print(f"{'what':<45} {'median s':>9} {'all s':>24} torch imported")
    for name, fig in figures.items():
        secs = fig["seconds"]
        print(f"{name:<45} {statistics.median(secs):>9.2f} {' '.join(f'{s:.2f}' for s in secs):>24} {fig['imports_torch']}")
    if args.json:
        from ltgrid.io import write_json

        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
