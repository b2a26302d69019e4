"""What a model predicts on an evaluation set, on its unaugmented training split and on the
validation split: the logits used for prediction stay on the device until a set is done."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ltgrid.methods.compose import Method

EVAL_BATCH_FACTOR = 4  # evaluation holds no gradients: batches this many times the training batch


def eval_batch(batch_size: int) -> int:
    return EVAL_BATCH_FACTOR * batch_size


@torch.no_grad()
def predict(model: nn.Module, feed: Any, method: Method, which: str, batch_size: int) -> np.ndarray:
    """Logits used for prediction (after any post-hoc adjustment) for a whole eval set; one copy
    to the host per set."""
    model.eval()
    out = [method.eval_logits(model(x)).float() for x, _ in feed.eval_batches(which, batch_size)]
    return torch.cat(out).cpu().numpy()


@torch.no_grad()
def clean_train_accuracy(model: nn.Module, feed: Any, batch_size: int,
                         joint: Callable[[Tensor], Tensor] = lambda outputs: outputs) -> float | None:
    """Top-1 accuracy (%) on the unaugmented training split in eval mode, None when the feed
    cannot replay it: whether the model fits its training set, as the paper's models do. `joint` makes
    the outputs one (N, C) logit (Method.joint_logits: a multi-expert model's experts combined)."""
    batches = getattr(feed, "train_eval_batches", None)
    if batches is None:
        return None
    model.eval()
    correct, seen = None, 0
    for x, y in batches(batch_size):
        hits = (joint(model(x)).argmax(1) == y).sum()
        correct = hits if correct is None else correct + hits
        seen += len(y)
    return 100.0 * float(correct.item()) / seen if seen else None  # one read, after the loop


def val_scorer(forward: nn.Module, feed: Any, method: Method, batch_size: int) -> Callable[[], float] | None:
    """Validation accuracy (%) of the model as it stands; None without a validation set."""
    if "val" not in feed.eval_sets:
        return None
    labels = feed.eval_labels("val").numpy()
    return lambda: 100.0 * float((predict(forward, feed, method, "val", batch_size).argmax(1) == labels).mean())
