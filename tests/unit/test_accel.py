"""accel: bf16 autocast (CUDA only), torch.compile with eager fallback, deterministic switch.

Inductor needs about 90 s to compile even the digits CNN on these 2-core machines, so the
CPU tests drive torch.compile with the "eager" backend (dynamo traces, no code generation)
and a backend that fails; the inductor/CUDA-graph path is checked by benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import pytest
import torch

from ltgrid.train.accel import FastForward, autocast_context, fast_forward, set_deterministic
from ltgrid.models import build_model
from ltgrid.params import fill_recipe

CPU = torch.device("cpu")


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("digits_cnn", 10, 1)


def _batch() -> torch.Tensor:
    return torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_plain_forward_is_the_model_itself() -> None:
    model = _model()
    fast = fast_forward(model, fill_recipe({"epochs": 1, "batch_size": 4, "optimizer": {"lr": 0.1}}), CPU)
    x = _batch()
    assert not fast.compiled and not fast.amp_active
    assert torch.equal(fast(x), model(x))
    assert [id(p) for p in fast.parameters()] == [id(p) for p in model.parameters()]


def test_train_and_eval_reach_the_model() -> None:
    model = _model()
    fast = FastForward(model, CPU)
    fast.eval()
    assert not model.training
    fast.train()
    assert model.training


def test_amp_bf16_is_ignored_on_cpu_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    model = _model().eval()
    fast = fast_forward(model, fill_recipe({"epochs": 1, "batch_size": 4, "optimizer": {"lr": 0.1}, "amp_bf16": True}), CPU)
    x = _batch()
    assert not fast.amp_active
    out = fast(x)
    assert out.dtype == torch.float32 and torch.equal(out, model(x))
    assert "amp_bf16 ignored on cpu" in capsys.readouterr().err


def test_autocast_context_is_bf16_on_cuda_only() -> None:
    assert autocast_context(CPU, True) is autocast_context(CPU, False)
    if torch.cuda.is_available():
        with autocast_context(torch.device("cuda"), True)():
            assert torch.get_autocast_dtype("cuda") == torch.bfloat16


def test_compiled_forward_matches_eager_and_trains() -> None:
    model = _model()
    fast = FastForward(model, CPU, compile=True, backend="eager")
    x = _batch()
    out = fast(x)
    assert fast.compiled
    torch.testing.assert_close(out, model(x))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.state_dict().keys() == _model().state_dict().keys()  # no "_orig_mod." prefixes


def test_compile_failure_falls_back_to_eager(capsys: pytest.CaptureFixture[str]) -> None:
    def broken_backend(graph_module, example_inputs):  # noqa: ANN001, ANN202 - dynamo backend signature
        raise RuntimeError("no C++ compiler here")

    torch._dynamo.reset()
    model = _model().eval()
    fast = FastForward(model, CPU, compile=True, backend=broken_backend)
    x = _batch()
    out = fast(x)
    assert not fast.compiled
    assert torch.equal(out, model(x))
    assert "running the model eagerly" in capsys.readouterr().err
    assert torch.equal(fast(x), out)  # later calls stay eager


def test_a_genuine_model_error_still_raises() -> None:
    fast = FastForward(_model(), CPU, compile=True, backend="eager")
    with pytest.raises(RuntimeError):
        fast(torch.randn(4, 3, 8, 8))  # 3 channels into a 1-channel network


def test_compile_mode_is_checked_and_cuda_graphs_noted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="compile_mode"):
        FastForward(_model(), CPU, compile=True, compile_mode="fastest")
    FastForward(_model(), CPU, compile=True, compile_mode="reduce-overhead", backend="eager")
    assert "CUDA graphs on CUDA only" in capsys.readouterr().err
    FastForward(_model(), CPU, compile=False, compile_mode="reduce-overhead")
    assert "compile is off" in capsys.readouterr().err


def test_set_deterministic_switches_both_ways() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        set_deterministic(False)
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    finally:
        set_deterministic(before)
