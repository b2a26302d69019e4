"""LOS (Sun et al., ICLR 2025, bilibili/LOS): label over-smoothing in a classifier-only second stage.

The loss against its equation on a hand-checkable 3-class case, the parts the library entry resolves
to on the grids that run it, what its stage 2 trains, and the two pieces of its stage-1 recipe this
project did not have (a cosine learning rate, a CIFAR ResNet-34)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ltgrid import params
from ltgrid.methods import MixedBatch, build_method, validate_method
from ltgrid.methods.losses import build_loss
from ltgrid.models import build_model, count_parameters
from ltgrid.train.optim import build_optimizer, lr_at, set_lr
from ltgrid.train.stages import prepare_classifier, stage_two

COUNTS = torch.tensor([100.0, 10.0, 1.0])
EPS = 0.98  # the readme's --label_smooth for CIFAR-100-LT rho = 100


@pytest.fixture(scope="module")
def library(repo_root) -> dict:
    return yaml.safe_load((repo_root / "params" / "methods.yaml").read_text())["method_library"]


def test_label_over_smoothing_by_hand() -> None:
    """C = 3, p = (1/4, 1/2, 1/4), y = 1: the target is (eps/3, 1 - eps + eps/3, eps/3), so the loss is
    (eps/3) 2 ln 2 + (1 - eps + eps/3) ln 2 + (eps/3) 2 ln 2 = (1 - eps + 5 eps / 3) ln 2."""
    loss = build_loss("las", COUNTS, head=EPS, tail=EPS)  # one factor for every class
    logits = torch.log(torch.tensor([[1.0, 2.0, 1.0]]))
    got = loss(logits, torch.tensor([1])).item()
    assert got == pytest.approx((1 - EPS + 5 * EPS / 3) * math.log(2), rel=1e-6)
    assert got == pytest.approx(1.6533333 * math.log(2), rel=1e-6)
    # the true class gets a little more than 1/C, every other class a little less (the paper's description)
    target = (1 - EPS) * F.one_hot(torch.tensor(1), 3).double() + EPS / 3
    assert target[1] > 1 / 3 > target[0] == target[2]


def test_it_is_pytorch_label_smoothing_as_the_authors_call_it() -> None:
    """main_stage2.py trains with nn.CrossEntropyLoss(label_smoothing=args.label_smooth), every class alike."""
    counts = torch.tensor([500.0, 120.0, 30.0, 7.0, 5.0])
    loss = build_loss("las", counts, head=EPS, tail=EPS)
    g = torch.Generator().manual_seed(0)
    logits, y = 3 * torch.randn(16, 5, generator=g), torch.randint(0, 5, (16,), generator=g)
    want = F.cross_entropy(logits, y, label_smoothing=EPS, reduction="none")
    assert torch.allclose(loss(logits, y), want, atol=1e-6)


def test_the_library_entry_resolves_to_the_authors_parts(library) -> None:
    los, stage1 = library["los"], library["los_stage1"]
    validate_method("los", los)
    validate_method("los_stage1", stage1)
    s2 = los["stage2"]
    assert (s2["kind"], s2["base"], s2["sampler"], s2["epochs"], s2["lr"], s2["weight_decay"], s2["shift_bn"]) == (
        "finetune", "los_stage1", {"name": "instance"}, 20, 0.0005, 0.0, True)
    assert s2["loss"] == {"name": "las", "head": EPS, "tail": EPS}
    method = build_method("los", los, COUNTS)
    assert method.stage2.kind == "finetune" and not method.stage2.scaled and method.stage2.max_norm is None
    assert torch.allclose(method.stage2_loss.epsilon, torch.full((3,), EPS))
    assert stage1["loss"] == {"name": "ce"} and "stage2" not in stage1 and "mixing" not in stage1
    assert stage1["model"] == "resnet34_cifar"


def test_the_cifar_cells_train_resnet34_with_the_authors_recipe(repo_root, monkeypatch) -> None:
    monkeypatch.chdir(repo_root)
    config = params.load("params/paper-cifar.yaml", check_files=False)
    cells = {(c.dataset, c.rho, c.method): params.resolve_cell(config, c) for c in params.cells(config)
             if c.method in ("los", "los_stage1") and c.seed == 0}
    base, los = cells[("cifar100", "100", "los_stage1")], cells[("cifar100", "100", "los")]
    assert base["model"] == los["model"] == "resnet34_cifar"  # stage 2 continues its base's network
    rec = base["recipe"]
    assert (rec["epochs"], rec["batch_size"]) == (200, 64)
    assert rec["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5.0e-3, "nesterov": False}
    assert rec["lr_schedule"] == {"warmup_epochs": 0, "steps": [], "cosine": True}
    assert rec["augment"] == {"crop_padding": 4, "hflip": True}
    assert los["recipe"]["batch_size"] == 64 and los["recipe"]["optimizer"]["momentum"] == 0.9
    # one smoothing factor at every ratio of both datasets (the only value the authors give)
    assert {c["method_spec"]["stage2"]["loss"]["head"] for k, c in cells.items() if k[2] == "los"} == {EPS}


def test_the_digits_grid_trains_los_on_the_digits_cnn(repo_root, monkeypatch) -> None:
    monkeypatch.chdir(repo_root)
    config = params.load("params/recent-digits.yaml", check_files=False)
    got = {c.method: params.resolve_cell(config, c) for c in params.cells(config) if c.method in ("los", "los_stage1")}
    assert got["los_stage1"]["model"] == got["los"]["model"] == "digits_cnn"
    assert got["los_stage1"]["recipe"]["optimizer"]["lr"] == 0.01
    assert got["los_stage1"]["recipe"]["lr_schedule"]["cosine"] is True


def test_stage_two_fine_tunes_only_the_classifier_and_re_estimates_bn(library) -> None:
    """model.fc.parameters() alone in the optimiser, from the stage-1 weights (not re-initialised), weight
    decay 0, cosine from 5e-4; the backbone in train() mode, so only its BN running statistics move."""
    torch.manual_seed(0)
    model = build_model("digits_cnn", 3, 1)
    method = build_method("los", library["los"], COUNTS)
    prepare_classifier(model, method)
    recipe = params.fill_recipe({"epochs": 2, "batch_size": 8,
                                 "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4}})
    stage = stage_two(model, method, COUNTS, recipe)
    stage.prepare()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert stage.optimizer["weight_decay"] == 0.0 and stage.epochs == 20
    assert [stage.lr(e) for e in (0, 10)] == pytest.approx([5e-4, 2.5e-4])
    optimizer = build_optimizer(stage.params, stage.optimizer)
    set_lr(optimizer, stage.lr(0))
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(1)) + 3.0, torch.tensor([0, 1, 2] * 2 + [0, 1])
    stage.loss(stage.forward(x), MixedBatch.unmixed(x, y)).backward()
    optimizer.step()
    diff = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert {"classifier.weight", "classifier.bias"} <= diff
    assert {k for k in diff if not k.startswith("classifier.")} == {
        k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert not any(k.startswith("body.") and k.endswith((".weight", ".bias")) for k in diff)


def test_cosine_lr_is_pytorch_cosine_annealing_per_epoch() -> None:
    """main_stage1.py: CosineAnnealingLR(optimizer, 200, eta_min=0), stepped after every epoch."""
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 200, eta_min=0)
    for epoch in range(200):
        assert lr_at(epoch, 0.01, 0, [], cosine_epochs=200) == pytest.approx(sched.get_last_lr()[0], rel=1e-9, abs=1e-15)
        opt.step()
        sched.step()
    # after a warm-up W the cosine runs over the remaining E - W epochs
    want = [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    assert [lr_at(e, 1.0, 2, [], cosine_epochs=6) for e in range(6)] == pytest.approx(want)


def test_cosine_with_steps_is_refused_naming_them(repo_root, monkeypatch) -> None:
    monkeypatch.chdir(repo_root)
    config = params.resolve_includes(params.load_yaml(repo_root / "params/default.yaml"), repo_root)
    config["method_library"]["own"] = {"loss": {"name": "ce"}, "recipe": {"lr_schedule": {"cosine": True}}}
    config["methods"] = ["ce", "own"]
    with pytest.raises(params.ParamsError, match=r"method_library.own \(dataset digits\).recipe: lr_schedule.steps = "
                                                  r"\[\{\"epoch\": 160.*is expected to be empty"):
        params.validate(copy.deepcopy(config), check_files=False)


def test_resnet34_cifar_is_resnet34_with_a_3x3_stem() -> None:
    """bilibili/LOS models/resnet.py resnet34(pool_size=4): 3-4-6-3 basic blocks at 64..512, a 3x3 stride-1
    first convolution, no max-pool, so a 32x32 image reaches the last stage at 4x4 and pools to 512.
    Parameters: torchvision's ResNet-34 (21,797,672) - 7x7 stem (9,408) + 3x3 stem (1,728), 100-way fc."""
    model = build_model("resnet34_cifar", 100, 3).eval()
    assert count_parameters(model) == 21_797_672 - 9_408 + 1_728 - (512 * 1000 + 1000) + (512 * 100 + 100) == 21_328_292
    x = torch.zeros(2, 3, 32, 32)
    last = model.body[:-2](x)  # before the global pool and flatten
    assert last.shape == (2, 512, 4, 4) and model(x).shape == (2, 100)


def test_the_published_figure_says_its_protocol(repo_root, library) -> None:
    from ltgrid.params import published

    pub = published.load(repo_root / "params" / "published.yaml", library)
    los = [f for f in pub.figures if f.method == "los"]
    assert [(f.dataset, f.rho, f.metric, f.value) for f in los] == [("cifar100", "100", "top1_acc", 54.9)]
    source = pub.sources[los[0].source]
    assert "best epoch on the test set" in source.selection and "ResNet-34" in source.where
    assert source.protocol == "best_test"
