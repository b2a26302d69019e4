"""Training throughput: the conventional pipeline (a) against this project's (b), on one machine.

    python benchmarks/train_bench.py [--device cpu|cuda] [--epochs 1] [--images N] [--fast] [--processes K[,K...]]

Same ResNet-32, recipe (batch 64, SGD, crop+flip, UniMix+Bayias) and data (CIFAR-10-LT rho=100
from the shared image archive, or random images without it) for both. Each pipeline runs in
its own process, one after the other, so peak memory is its own. Prints a table: training
images/s, seconds per epoch, evaluation seconds (test images), peak memory, the share of a
training step spent outside forward/backward/step (data side), and the ratio b/a. `--fast`
adds (c): this path with whole-step CUDA graph capture, bf16 autocast and channels_last.
`--processes 4,8` then runs K training processes at once on the same device, for each K (what
LTGRID_SLOTS_PER_GPU=K lets the pipeline do), of (c) with --fast, else (b), and reports
200-epoch cells per hour.
`--json PATH` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ltgrid.io import write_json

HERE = Path(__file__).resolve().parent
CELL_EPOCHS = 200  # a paper cell, for the cells-per-hour extrapolation


def peak_memory(device: Any) -> dict[str, Any]:
    import torch

    if device.type == "cuda":
        return {"peak_mb": torch.cuda.max_memory_allocated() / 2**20, "memory_kind": "cuda max_memory_allocated"}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb": own, "workers_peak_mb": workers, "memory_kind": "max RSS (ru_maxrss)"}


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One pipeline in this process: warm-up, timed epochs, evaluation, step attribution."""
    import torch

    import bench_data

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ds, split, what = bench_data.load(args.images, args.test_images)
    recipe = bench_data.paper_recipe(
        epochs=CELL_EPOCHS, amp_bf16=args.amp_bf16, compile=args.compile, compile_mode=args.compile_mode,
        channels_last=device.type == "cuda", cuda_graph=args.cuda_graph,
    )
    spec = bench_data.method_spec("unimix_bayias")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if args.worker == "conventional":
        from conventional import Conventional

        pipe: Any = Conventional(ds, split, recipe, spec, device, workers=args.workers)
        t0 = time.perf_counter()
        pipe.train_epoch(max_steps=3)
        warmup_s = time.perf_counter() - t0
    else:
        from project import Project

        pipe = Project(ds, split, recipe, spec, device)
        warmup_s = pipe.warmup()
    epoch_s, eval_s = [], []
    for _ in range(args.epochs):
        epoch_s.append(pipe.train_epoch())
        if args.eval_each_epoch or not eval_s:
            eval_s.append(pipe.evaluate())
    if args.attribute_steps:
        if args.worker == "conventional":
            pipe.train_epoch(max_steps=args.attribute_steps, attribute=True)
        else:
            pipe.attribute_steps(args.attribute_steps)
    t = pipe.timing
    step_total = t["data_s"] + t["compute_s"] + t.get("bookkeeping_s", 0.0)
    mean_epoch = sum(epoch_s) / len(epoch_s)
    return {
        "pipeline": args.worker, "device": str(device), "data": what, "train_images": pipe.n_train,
        "test_images": pipe.n_test, "epochs": args.epochs, "epoch_s": epoch_s, "s_per_epoch": mean_epoch,
        "train_img_per_s": pipe.n_train / mean_epoch, "eval_s": sum(eval_s) / len(eval_s), "warmup_s": warmup_s,
        "attributed_steps": t["steps"],
        "data_side_pct": 100.0 * (step_total - t["compute_s"]) / step_total if t["steps"] else None,
        "threads": torch.get_num_threads(), "workers": args.workers if args.worker == "conventional" else 0,
        **peak_memory(device),
    }


def worker_command(args: argparse.Namespace, pipeline: str, out: Path, **overrides: Any) -> list[str]:
    opts = {**vars(args), **overrides}
    cmd = [sys.executable, str(HERE / "train_bench.py"), "--worker", pipeline, "--result", str(out),
           "--device", opts["device"], "--epochs", str(opts["epochs"]), "--test-images", str(opts["test_images"]),
           "--workers", str(opts["workers"]), "--attribute-steps", str(opts["attribute_steps"])]
    if opts["images"] is not None:
        cmd += ["--images", str(opts["images"])]
    if opts["threads"]:
        cmd += ["--threads", str(opts["threads"])]
    if opts["eval_each_epoch"]:
        cmd.append("--eval-each-epoch")
    if pipeline == "project":
        cmd += ["--compile-mode", opts["compile_mode"]] if opts["compile_mode"] else []
        cmd += ["--amp-bf16"] if opts["amp_bf16"] else []
        cmd += ["--compile"] if opts["compile"] else []
        cmd += ["--cuda-graph"] if opts["cuda_graph"] else []
    return cmd


def spawn(cmds: list[list[str]], tmp: Path) -> tuple[list[dict[str, Any]], float]:
    """Run the commands at once; their results and the wall seconds until all finished."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=HERE.parent) for cmd in cmds]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"benchmark worker failed (exit codes {codes}); its error is printed above")
    results = [json.loads(Path(cmd[cmd.index("--result") + 1]).read_text()) for cmd in cmds]
    return results, wall


def machine() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {load:.2f} at start"


def ratio(b: dict[str, Any], a: dict[str, Any]) -> dict[str, float]:
    return {k: b[k] / a[k] for k in ("train_img_per_s", "s_per_epoch", "eval_s", "peak_mb")}


def concurrent(args: argparse.Namespace, k: int, single: dict[str, Any], tmp: Path, fast: dict[str, Any]) -> dict[str, Any]:
    """K processes of the path at once: 200-epoch cells per hour against one process (`single`)."""
    threads = args.threads or (max(1, (os.cpu_count() or 1) // k) if args.device == "cpu" else None)
    cmds = [worker_command(args, "project", tmp / f"k{k}-{i}.json", threads=threads, eval_each_epoch=True,
                           attribute_steps=0, **fast) for i in range(k)]
    results, wall = spawn(cmds, tmp)
    return {"processes": k, "wall_s": wall, "results": results, "cells_per_hour_1": 1 / cell_hours(single),
            "cells_per_hour_k": k / max(cell_hours(r) for r in results)}


def cell_hours(result: dict[str, Any]) -> float:
    """A 200-epoch cell's hours at this result's pace (training plus one evaluation per epoch)."""
    return CELL_EPOCHS * (result["s_per_epoch"] + result["eval_s"]) / 3600


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = [("", "train img/s", "s/epoch", "eval s", "peak MB", "data side %")]
    for name, label in (("conventional", "(a) conventional"), ("project", "(b) this project"), ("fast", "(c) graph+bf16+NHWC")):
        r = results.get(name)
        if r is None:
            continue
        side = "-" if r["data_side_pct"] is None else f"{r['data_side_pct']:.1f}"
        rows.append((label, f"{r['train_img_per_s']:.0f}", f"{r['s_per_epoch']:.2f}", f"{r['eval_s']:.2f}",
                     f"{r['peak_mb']:.0f}", side))
    for key, label in (("ratio", "ratio b/a"), ("ratio_fast", "ratio c/a")):
        if key in results:
            q = results[key]
            rows.append((label, f"{q['train_img_per_s']:.2f}x", f"{q['s_per_epoch']:.2f}x", f"{q['eval_s']:.2f}x",
                         f"{q['peak_mb']:.2f}x", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per pipeline")
    p.add_argument("--images", type=int, default=None, help="train images (a seeded subset of the 12,406 of CIFAR-10-LT rho=100)")
    p.add_argument("--test-images", type=int, default=10000, help="evaluation images (balanced subset of the 10k)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers of (a)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--attribute-steps", type=int, default=30, help="steps timed segment by segment (0: skip)")
    p.add_argument("--processes", default="1", help="K[,K...]: also run K concurrent processes on the device, for each K > 1")
    p.add_argument("--fast", action="store_true", help="also time (c): whole-step CUDA graph + bf16 + channels_last")
    p.add_argument("--skip-conventional", action="store_true")
    p.add_argument("--eval-each-epoch", action="store_true", help="evaluate after every timed epoch")
    p.add_argument("--amp-bf16", action="store_true", help="(b) under bf16 autocast (CUDA)")
    p.add_argument("--compile", action="store_true", help="(b) through torch.compile")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode; reduce-overhead = CUDA graphs")
    p.add_argument("--cuda-graph", action="store_true", help="(b) with whole-step CUDA graph capture (CUDA)")
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    p.add_argument("--worker", choices=["conventional", "project"], help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.processes = [int(k) for k in str(args.processes).split(",") if k.strip()]
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sys.path.insert(0, str(HERE))
    if args.worker:
        args.result.write_text(json.dumps(run_worker(args)))
        return 0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible")
    import bench_data

    bench_data.cifar10_npz()  # decode (once) before workers start, so none of them times it
    report: dict[str, Any] = {"machine": machine(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pipelines = ["project"] if args.skip_conventional else ["conventional", "project"]
        for name in pipelines:
            (results[name],), _ = spawn([worker_command(args, name, tmp / f"{name}.json")], tmp)
        fast = {"amp_bf16": True, "cuda_graph": True, "compile": False, "compile_mode": None} if args.fast else {}
        if fast:
            (results["fast"],), _ = spawn([worker_command(args, "project", tmp / "fast.json", **fast)], tmp)
        for key, name in (("ratio", "project"), ("ratio_fast", "fast")):
            if "conventional" in results and name in results:
                results[key] = ratio(results[name], results["conventional"])
        best = results.get("fast", results["project"])
        runs = [concurrent(args, k, best, tmp, fast) for k in args.processes if k > 1]
        if runs:
            results["concurrency"] = runs
            results["concurrent"] = runs[-1]
    report.update(results)
    print(f"\nmachine: {report['machine']}; data: {results['project']['data']}, "
          f"{results['project']['train_images']} train / {results['project']['test_images']} test images, "
          f"{args.epochs} timed epoch(s), device {args.device}")
    print(table(results))
    for c in results.get("concurrency", []):
        print(f"200-epoch cells per hour per device: 1 process {c['cells_per_hour_1']:.2f}, "
              f"{c['processes']} processes {c['cells_per_hour_k']:.2f} (extrapolated from {args.epochs} epoch(s) each)")
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
