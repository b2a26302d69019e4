"""Speed options of a recipe: bf16 autocast, torch.compile (optionally with CUDA graphs), determinism.

The trainer calls the model through `FastForward`, which applies what the recipe asks for
and falls back to plain eager execution wherever an option cannot work, saying why once:

- `amp_bf16`: the forward runs under `torch.autocast("cuda", dtype=torch.bfloat16)`; logits
  come back as float32 so every loss is computed in full precision. CUDA only: on the CPU
  bf16 convolutions are slower than float32, so the option is ignored there (with a note).
- `compile`: `torch.compile` of the model. `compile_mode: reduce-overhead` also records
  CUDA graphs (one replay per step instead of hundreds of kernel launches, what a
  ResNet-32 at batch 64 needs on a large GPU). If compilation fails (no C++ compiler,
  unsupported backend), the first call says so and the model runs eagerly.
- `deterministic`: seeded, deterministic algorithms. A CUDA kernel without a deterministic
  version raises under it (torch.use_deterministic_algorithms lists them); ResNet-32 avoids
  them (its 1x1 adaptive pooling runs as a mean), and benchmarks/gpu_check.py verifies it.

The wrapper is an `nn.Module` holding the model, so `.train()`/`.eval()` reach it; the
model's own state_dict keeps its plain keys (the trainer saves `model`, not the wrapper).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, ContextManager

import torch
from torch import Tensor, nn
from ltgrid.errors import SettingError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def note(message: str) -> None:
    """Options that are ignored or fall back are reported, never silently dropped."""
    print(f"[ltgrid.train.accel] {message}", file=sys.stderr, flush=True)


def autocast_context(device: torch.device, amp_bf16: bool) -> Callable[[], ContextManager[Any]]:
    """A factory of the context each forward runs in: bf16 autocast on CUDA, else nothing."""
    if amp_bf16 and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def set_deterministic(enabled: bool) -> None:
    """Deterministic algorithms (and no cuDNN autotuning) on; or the fast defaults back."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


class FastForward(nn.Module):
    """Calls `model` compiled and/or under autocast; float32 logits out.

    A compiled call that fails on first use (compiler missing or broken) is replaced by
    the eager model for good; any other failure is re-raised by the eager retry itself.
    """

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        amp_bf16: bool = False,
        compile: bool = False,
        compile_mode: str | None = None,
        backend: str | Callable[..., Any] = "inductor",
    ) -> None:
        super().__init__()
        self.model = model
        self.amp_active = bool(amp_bf16 and device.type == "cuda")
        if amp_bf16 and not self.amp_active:
            note(f"amp_bf16 ignored on {device.type}: bf16 autocast is used on CUDA only")
        self._autocast = autocast_context(device, amp_bf16)
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise SettingError(f"compile_mode {compile_mode!r} is not one of {', '.join(COMPILE_MODES)}")
        if compile_mode and not compile:
            note(f"compile_mode={compile_mode} ignored: compile is off")
        if compile and compile_mode in ("reduce-overhead", "max-autotune") and device.type != "cuda":
            note(f"compile_mode={compile_mode} records CUDA graphs on CUDA only; on {device.type} it compiles without them")
        # Kept out of the module tree: it shares the model's parameters.
        self._compiled: list[Callable[[Tensor], Tensor]] = []
        self._fell_back = False
        # CUDA graph trees need each step marked, else a replay may overwrite live outputs.
        self._mark_steps = bool(compile and compile_mode in ("reduce-overhead", "max-autotune") and device.type == "cuda")
        if compile:
            mode = None if compile_mode in (None, "default") else compile_mode
            self._compiled.append(torch.compile(model, mode=mode, backend=backend, dynamic=False))
        self._tried = False

    @property
    def compiled(self) -> bool:
        """True while calls go through torch.compile (False after a fallback)."""
        return bool(self._compiled) and not self._fell_back

    def _call(self, x: Tensor) -> Tensor:
        if not self.compiled:
            return self.model(x)
        if self._mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        if self._tried:
            return self._compiled[0](x)
        try:
            out = self._compiled[0](x)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
            self._fell_back = True
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            note(f"torch.compile failed ({type(exc).__name__}: {first_line}); running the model eagerly")
            return self.model(x)
        self._tried = True
        return out

    def forward(self, x: Tensor) -> Tensor:
        with self._autocast():
            out = self._call(x)
        return out.float()


def channels_last(recipe: dict[str, Any], device: torch.device) -> bool:
    """A resolved recipe's `channels_last`; null (the default) means on for CUDA, off elsewhere."""
    return device.type == "cuda" if recipe["channels_last"] is None else recipe["channels_last"]


def fast_forward(model: nn.Module, recipe: dict[str, Any], device: torch.device) -> FastForward:
    """The wrapper a resolved recipe's `amp_bf16`, `compile` and `compile_mode` keys ask for."""
    return FastForward(model, device, amp_bf16=recipe["amp_bf16"], compile=recipe["compile"], compile_mode=recipe["compile_mode"])
