"""Does the fast path work on this machine? CUDA in use, bf16 autocast, torch.compile, determinism.

    python benchmarks/gpu_check.py [--json PATH]

Each check trains a few ResNet-32 steps on random CIFAR-shaped batches and reports
ok / skipped / FAILED with a reason; the exit status is 1 when any check failed. Off CUDA
the CUDA checks are skipped and compile is skipped too (inductor takes minutes to compile
on a small CPU); the determinism check then runs on the CPU.
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


def run_checks(device: torch.device) -> dict[str, Check]:
    checks: dict[str, Callable[[], Check]] = {
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


def summary(out: Path) -> str:
    """The short table gpu_check.sh ends with, from the JSON files its steps wrote into `out`."""
    lines = []
    read = lambda name: json.loads((out / name).read_text()) if (out / name).exists() else None  # noqa: E731
    checks, bench, cell = read("checks.json"), read("bench.json"), read("cell.json")
    for name, c in (checks or {}).items():
        lines.append(f"{name:<32} {c['status']:<8} {c['detail']}")
    if bench:
        a, b = bench.get("conventional"), bench["project"]
        lines.append(f"{'machine':<32} {bench['machine']}")
        if a:
            lines.append(f"{'train img/s (a) conventional':<32} {a['train_img_per_s']:.0f}  ({a['s_per_epoch']:.2f} s/epoch, eval {a['eval_s']:.2f} s)")
        lines.append(f"{'train img/s (b) this project':<32} {b['train_img_per_s']:.0f}  ({b['s_per_epoch']:.2f} s/epoch, eval {b['eval_s']:.2f} s)")
        if "ratio" in bench:
            lines.append(f"{'throughput ratio b/a':<32} {bench['ratio']['train_img_per_s']:.2f}x  (target >= 5x on a GPU)")
        if b.get("data_side_pct") is not None:
            lines.append(f"{'data side of a step (b)':<32} {b['data_side_pct']:.1f} %  (target < 5 %)")
        if "concurrent" in bench:
            c = bench["concurrent"]
            lines.append(f"{'200-epoch cells / hour / device':<32} {c['cells_per_hour_1']:.2f} (1 process), "
                         f"{c['cells_per_hour_k']:.2f} ({c['processes']} processes)")
    if cell:
        lines.append(f"{'full cell':<32} {cell['epochs']} epochs, {cell['train_images']} images on {cell['device']}: "
                     f"{cell['wall_s']:.0f} s wall ({cell['train_s']:.0f} s training)  (target < 120 s on an H100)")
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
