"""Does the fast path work on this machine? No sync in the step, CUDA, bf16, torch.compile, determinism.

    python benchmarks/gpu_check.py [--json PATH]

Each check trains a few ResNet-32 steps on random CIFAR-shaped batches and reports
ok / skipped / FAILED with a reason; the exit status is 1 when any check failed. The sync
check runs the trainer's own step loop (plan, feed, UniMix, Bayias loss, SGD, device
tallies), eagerly and as a captured CUDA graph, under torch.cuda.set_sync_debug_mode("error"):
any host-device synchronisation inside a step raises. Off CUDA the CUDA checks are skipped
(tests/unit/test_step_sync.py counts host reads there) and compile is skipped too (inductor
takes minutes to compile on a small CPU); the determinism check then runs on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ltgrid.train.accel import FastForward, set_deterministic
from ltgrid.io import write_json
from ltgrid.models import build_model

Check = dict[str, Any]


def _steps(device: torch.device, steps: int, seed: int = 0, **fast: Any) -> tuple[FastForward, list[float]]:
    """`steps` SGD steps of ResNet-32 on seeded random batches through FastForward; the losses."""
    torch.manual_seed(seed)
    model = build_model("resnet32", 10, 3).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    forward = FastForward(model, device, **fast)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    forward.train()
    for _ in range(steps):
        x = torch.randn(64, 3, 32, 32, generator=gen).to(device)
        y = torch.randint(0, 10, (64,), generator=gen).to(device)
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return forward, losses


def check_cuda(device: torch.device) -> Check:
    if device.type != "cuda":
        return {"status": "skipped", "detail": "no CUDA device visible"}
    forward, losses = _steps(device, 3)
    on_gpu = all(p.is_cuda for p in forward.parameters())
    name = torch.cuda.get_device_name(0)
    return {"status": "ok" if on_gpu else "FAILED", "detail": f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}"}


def check_bf16(device: torch.device) -> Check:
    if device.type != "cuda":
        return {"status": "skipped", "detail": "bf16 autocast is used on CUDA only"}
    if not torch.cuda.is_bf16_supported():
        return {"status": "FAILED", "detail": "this GPU does not support bf16"}
    torch.manual_seed(0)
    model = build_model("resnet32", 10, 3).to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        inner = model.forward_features(torch.randn(8, 3, 32, 32, device=device))
    forward, losses = _steps(device, 5, amp_bf16=True)
    finite = all(map(lambda v: v == v and abs(v) < 1e4, losses))
    ok = inner.dtype == torch.bfloat16 and forward.amp_active and finite
    return {"status": "ok" if ok else "FAILED", "detail": f"activations {inner.dtype}, losses {losses[0]:.3f} -> {losses[-1]:.3f}"}


def check_compile(device: torch.device, mode: str | None) -> Check:
    if device.type != "cuda":
        return {"status": "skipped", "detail": "inductor compiles for minutes on a small CPU; checked on CUDA"}
    t0 = time.perf_counter()
    forward, losses = _steps(device, 5, compile=True, compile_mode=mode, amp_bf16=True)
    first = time.perf_counter() - t0
    if not forward.compiled:
        return {"status": "FAILED", "detail": "torch.compile fell back to eager (see the note above)"}
    _, eager = _steps(device, 5, amp_bf16=True)
    close = abs(losses[0] - eager[0]) < 0.05 * max(1.0, abs(eager[0]))
    return {"status": "ok" if close else "FAILED",
            "detail": f"mode {mode or 'default'}, {first:.0f} s incl. compilation; first loss {losses[0]:.4f} vs eager {eager[0]:.4f}"}


def check_determinism(device: torch.device) -> Check:
    """Two seeded runs with deterministic algorithms must give bit-identical losses."""
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_deterministic(True)
        _, a = _steps(device, 3, seed=3)
        _, b = _steps(device, 3, seed=3)
    except RuntimeError as exc:  # an op without a deterministic kernel on this device
        return {"status": "FAILED", "detail": f"deterministic mode raises: {str(exc).splitlines()[0][:200]}"}
    finally:
        set_deterministic(before)
    return {"status": "ok" if a == b else "FAILED", "detail": f"{device.type}: losses {'identical' if a == b else 'differ'} over 3 steps"}


def _sync_free_steps(device: torch.device, graph: bool, steps_checked: int = 40) -> str:
    """Run the trainer's steps with sync debug mode on "error" once warm; raises on a synchronisation."""
    import numpy as np

    from ltgrid.data.arrays import ArrayDataset
    from ltgrid.data.feed import InMemoryFeed
    from ltgrid.methods import build_method
    from ltgrid.train.graph import WARMUP_STEPS, GraphSteps
    from ltgrid.train.loop import EagerSteps, plan_epoch, train_step
    from ltgrid.train.optim import build_optimizer
    from ltgrid.params import fill_recipe
    from ltgrid.train.stages import stage_one

    rng = np.random.default_rng(0)
    counts = [400, 200, 100, 60, 40, 30, 20, 10, 8, 4]  # long-tailed, 872 images
    y = np.repeat(np.arange(10), counts)
    ds = ArrayDataset(rng.integers(0, 256, (len(y), 32, 32, 3), dtype=np.uint8), y,
                      rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), np.arange(100) % 10, tuple("abcdefghij"))
    feed = InMemoryFeed(ds, {"train_indices": list(range(len(y))), "counts": counts}, device,
                        {"crop_padding": 4, "hflip": True}, channels_last=True)
    spec = {"loss": {"name": "bayias"}, "mixing": {"name": "unimix", "alpha": 0.8, "tau": -0.5}}
    method = build_method("unimix_bayias", spec, torch.tensor(counts, dtype=torch.float64)).to(device)
    torch.manual_seed(0)
    model = build_model("resnet32", 10, 3).to(device).to(memory_format=torch.channels_last)
    recipe = fill_recipe({"epochs": 2, "batch_size": 64,
                          "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4}})
    stage = stage_one(model, method, recipe, [])
    optimizer = build_optimizer(stage.params, stage.optimizer)
    steps = GraphSteps(stage, optimizer, method, device) if graph else EagerSteps(stage, optimizer, method, device)
    gen = torch.Generator().manual_seed(0)
    method.start_epoch(0, 2)
    plan = plan_epoch(stage, 0, method, feed, gen, 16, drop_last=True)
    model.train()
    steps.start_epoch()
    warm = WARMUP_STEPS + 1 if graph else 1  # the graph's eager warm-up and its capture come first
    for b in range(warm):
        train_step(steps, method, feed, plan, b, 0, gen)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for b in range(warm, warm + steps_checked):
            train_step(steps, method, feed, plan, b, 0, gen)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    loss_sum, _, first_bad, _ = steps.tally.read()
    replays = f", {steps.replays} graph replays" if graph else ""
    return f"{steps_checked} steps{replays}, no synchronisation (loss sum {loss_sum:.1f}, first bad batch {first_bad})"


def check_sync(device: torch.device) -> Check:
    if device.type != "cuda":
        return {"status": "skipped", "detail": "set_sync_debug_mode is CUDA's; on the CPU tests/unit/test_step_sync.py counts host reads"}
    details = []
    for graph in (False, True):
        try:
            details.append(("graph: " if graph else "eager: ") + _sync_free_steps(device, graph))
        except RuntimeError as exc:
            return {"status": "FAILED", "detail": f"{'graph' if graph else 'eager'} step synchronised: {str(exc).splitlines()[0][:200]}"}
    return {"status": "ok", "detail": "; ".join(details)}


def run_checks(device: torch.device) -> dict[str, Check]:
    checks: dict[str, Callable[[], Check]] = {
        "step sync check": lambda: check_sync(device),
        "cuda in use": lambda: check_cuda(device),
        "bf16 autocast": lambda: check_bf16(device),
        "torch.compile": lambda: check_compile(device, None),
        "compile + CUDA graphs": lambda: check_compile(device, "reduce-overhead"),
        "determinism": lambda: check_determinism(device),
    }
    out: dict[str, Check] = {}
    for name, fn in checks.items():
        try:
            out[name] = fn()
        except Exception as exc:  # noqa: BLE001 - a check that crashes is a failed check, the rest still run
            out[name] = {"status": "FAILED", "detail": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
        print(f"{name:<24} {out[name]['status']:<8} {out[name]['detail']}", flush=True)
    return out


def bench_lines(bench: dict[str, Any]) -> list[str]:
    """Throughput rows of the table: (a), (b), (c), their ratios, cells per hour for each K."""
    lines = [f"{'machine':<32} {bench['machine']}"]
    for key, label in (("conventional", "(a) conventional"), ("project", "(b) this project"), ("fast", "(c) graph + bf16 + NHWC")):
        r = bench.get(key)
        if r:
            lines.append(f"{'train img/s ' + label:<32} {r['train_img_per_s']:.0f}  ({r['s_per_epoch']:.2f} s/epoch, eval {r['eval_s']:.2f} s)")
    for key, label in (("ratio", "throughput ratio b/a"), ("ratio_fast", "throughput ratio c/a")):
        if key in bench:
            lines.append(f"{label:<32} {bench[key]['train_img_per_s']:.2f}x  (target >= 10x on a GPU)")
    if bench["project"].get("data_side_pct") is not None:
        lines.append(f"{'data side of a step (b)':<32} {bench['project']['data_side_pct']:.1f} %  (target < 5 %)")
    for c in bench.get("concurrency", []):
        per_hour = c["cells_per_hour_k"]
        lines.append(f"{'200-epoch cells / hour / device':<32} K=1: {c['cells_per_hour_1']:.1f}, K={c['processes']}: {per_hour:.1f}"
                     f"  (312-cell paper-cifar grid: {312 / per_hour:.2f} GPU-hours at K={c['processes']}; target < 1)")
    return lines


def summary(out: Path) -> str:
    """The short table gpu_check.sh ends with, from the JSON files its steps wrote into `out`."""
    lines = []
    read = lambda name: json.loads((out / name).read_text()) if (out / name).exists() else None  # noqa: E731
    checks, bench, cell = read("checks.json"), read("bench.json"), read("cell.json")
    for name, c in (checks or {}).items():
        lines.append(f"{name:<32} {c['status']:<8} {c['detail']}")
    if bench:
        lines += bench_lines(bench)
    if cell:
        lines.append(f"{'full cell':<32} {cell['epochs']} epochs, {cell['train_images']} images on {cell['device']}: "
                     f"{cell['wall_s']:.0f} s wall ({cell['train_s']:.0f} s training)  (target < 60 s on an H100/H200)")
        lines.append(f"{'full cell test metrics':<32} top-1 error {cell['top1_err']:.2f} %, ECE {cell['ece']:.2f} %")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--summary", type=Path, default=None, help="print the table of a gpu_check.sh output folder, nothing else")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(args.summary))
        return 0
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    results = run_checks(device)
    if args.json:
        write_json(args.json, results)
    return 1 if any(c["status"] == "FAILED" for c in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
