"""The loss (cross-entropy with class weights + soft Dice) and the validation metrics.

torch is imported inside the functions only.
"""

from __future__ import annotations

import numpy as np

from ..common import ClassTable
from ..labels.scores import pixel_figures

__all__ = ["EvalMetrics", "Loss", "argmax_logits", "class_weights", "torch_confusion"]


def torch_confusion(pred, target, n: int):
    """``(n, n)`` int64 counts (torch, on the CPU), rows = truth, columns = prediction.

    Pixels whose ``target`` is negative (ignored) are dropped.
    """
    import torch

    valid = target >= 0
    idx = target[valid] * n + pred[valid]
    return torch.bincount(idx.reshape(-1), minlength=n * n).reshape(n, n).cpu()


def class_weights(counts: list[int]):
    """Median-frequency balancing, clipped to [0.25, 4]; absent classes weigh 1."""
    import torch

    c = np.asarray(counts, np.float64)
    present = c > 0
    w = np.ones_like(c)
    if present.any():
        freq = c[present] / c[present].sum()
        w[present] = np.clip(np.median(freq) / freq, 0.25, 4.0)
    return torch.tensor(w, dtype=torch.float32)


class Loss:
    """Cross-entropy with class weights + soft Dice over the foreground classes.

    Keeps the running loss and confusion matrix of training steps (those run
    with gradients) for the next validation's record.
    """

    def __init__(self, weights, n: int):
        self.weights = weights
        self.n = n
        self.reset()

    def reset(self):
        import torch

        self.sum = 0.0
        self.count = 0
        self.conf = torch.zeros(self.n, self.n, dtype=torch.int64)

    def __call__(self, outputs, labels, num_items_in_batch=None):
        import torch
        import torch.nn.functional as F

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits.float()
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear",
                                   align_corners=False)
        w = self.weights.to(logits.device)
        ce = F.cross_entropy(logits, labels, weight=w, ignore_index=-100)
        prob = logits.softmax(1)
        valid = (labels >= 0).unsqueeze(1)
        onehot = F.one_hot(labels.clamp(min=0), self.n).permute(0, 3, 1, 2).float() * valid
        prob = prob * valid
        dims = (0, 2, 3)
        inter = (prob * onehot).sum(dims)
        denom = prob.sum(dims) + onehot.sum(dims)
        dice = 1 - (2 * inter + 1.0) / (denom + 1.0)
        loss = ce + dice[1:].mean()
        if torch.is_grad_enabled():
            self.sum += float(loss.detach()) * labels.shape[0]
            self.count += labels.shape[0]
            self.conf += torch_confusion(logits.detach().argmax(1), labels, self.n)
        return loss


class EvalMetrics:
    """``compute_metrics`` for ``batch_eval_metrics``: a confusion matrix over batches."""

    def __init__(self, classes: ClassTable):
        self.classes = classes
        self.conf = None
        self.last_conf = None

    def __call__(self, eval_pred, compute_result: bool = True):
        import torch

        n = len(self.classes)
        preds = torch.as_tensor(eval_pred.predictions)
        labels = torch.as_tensor(eval_pred.label_ids)
        c = torch_confusion(preds, labels.to(preds.device), n)
        self.conf = c if self.conf is None else self.conf + c
        if not compute_result:
            return {}
        iou = pixel_figures(self.conf.numpy())[0]
        self.last_conf = self.conf.numpy()
        self.conf = None
        fg = [v for v in iou[1:] if v is not None]
        out = {"miou": float(np.mean(fg)) if fg else 0.0}
        for name, v in zip(self.classes.names, iou, strict=True):
            out[f"iou_{name}"] = v if v is not None else float("nan")
        return out


def argmax_logits(logits, labels):
    """``preprocess_logits_for_metrics``: class indices at the labels' size."""
    import torch.nn.functional as F

    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits.float(), size=labels.shape[-2:], mode="bilinear",
                               align_corners=False)
    return logits.argmax(1)
