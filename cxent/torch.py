"""cxent inside torch's autograd: ``torch.autograd.Function`` wrappers with ``torch.nn.functional``'s
names and arguments, for CPU tensors (imported on demand: ``import cxent.torch``).

``loss = cxent.torch.cross_entropy(logits, target)`` then ``loss.backward()`` runs cxent's fused
loss-and-gradient sweep in the forward call (the gradient is kept for the backward call, which only
scales it by the upstream gradient), reading and writing the tensors' memory without a copy.  When
no input requires grad (evaluation, ``torch.no_grad()``) the forward-only kernel runs.

Gradients flow to ``input`` (and, for :func:`linear_cross_entropy`, to ``hidden``, ``weight`` and
``bias``); targets and class weights get none (torch gives a gradient to probability targets:
use torch's function where that is needed).  torch's deprecated ``size_average``/``reduce`` are
accepted only as None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cxent import _binary, _linear, _losses

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "linear_cross_entropy",
    "nll_loss",
]


def _np(t: Any, name: str) -> Any:
    """A CPU tensor's NumPy view (None and non-tensors as they are)."""
    if t is None or not isinstance(t, torch.Tensor):
        return t
    if t.device.type != "cpu":
        raise TypeError(f"`{name}` is on {t.device}; cxent.torch computes on the CPU")
    return t.detach().numpy()


def _legacy(size_average: Any, reduce: Any) -> None:
    if size_average is not None or reduce is not None:
        raise TypeError("`size_average` and `reduce` are deprecated in torch; pass `reduction=`")


def _tensor(a: Any) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a))


def _scale(g: torch.Tensor, grad_loss: torch.Tensor, row_axis: int | None) -> torch.Tensor:
    """The saved gradient (for an upstream gradient of 1) times the upstream gradient: a scalar
    for 'mean'/'sum', per row ('none', broadcast along the class axis ``row_axis``)."""
    if grad_loss.ndim == 0 or row_axis is None:
        return g * grad_loss
    return g * grad_loss.unsqueeze(row_axis)


class _ClassLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, target: torch.Tensor, weight: Any,
                opts: dict[str, Any], fn: str) -> torch.Tensor:
        x, t, w = _np(input, "input"), _np(target, "target"), _np(weight, "weight")
        f = _losses.nll_loss if fn == "nll_loss" else _losses.cross_entropy
        if not ctx.needs_input_grad[0]:
            return _tensor(f(x, t, w, **opts))
        loss, g = (_losses.nll_loss_and_grad if fn == "nll_loss" else
                   _losses.cross_entropy_and_grad)(x, t, w, **opts)
        ctx.save_for_backward(_tensor(g))
        ctx.row_axis = (1 if input.ndim > 1 else None) if opts["reduction"] == "none" else None
        return _tensor(loss)

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
        (g,) = ctx.saved_tensors
        return _scale(g, grad_loss, ctx.row_axis), None, None, None, None


def cross_entropy(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0, *,
                  z_loss: float = 0.0) -> torch.Tensor:
    """:func:`torch.nn.functional.cross_entropy` computed by :func:`cxent.cross_entropy_and_grad`
    (class-index or probability targets, ``weight``, ``ignore_index``, ``label_smoothing``, and
    cxent's ``z_loss``); differentiable with respect to ``input``."""
    _legacy(size_average, reduce)
    opts = {"ignore_index": ignore_index, "reduction": reduction,
            "label_smoothing": label_smoothing, "z_loss": z_loss}
    return _ClassLoss.apply(input, target, weight, opts, "cross_entropy")


def nll_loss(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> torch.Tensor:
    """:func:`torch.nn.functional.nll_loss` computed by :func:`cxent.nll_loss_and_grad`."""
    _legacy(size_average, reduce)
    return _ClassLoss.apply(input, target, weight,
                            {"ignore_index": ignore_index, "reduction": reduction}, "nll_loss")


class _BCELogits(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, target: torch.Tensor, weight: Any,
                pos_weight: Any, reduction: str) -> torch.Tensor:
        args = (_np(input, "input"), _np(target, "target"), _np(weight, "weight"), reduction,
                _np(pos_weight, "pos_weight"))
        if not ctx.needs_input_grad[0]:
            return _tensor(_binary.binary_cross_entropy_with_logits(*args))
        loss, g = _binary.binary_cross_entropy_with_logits_and_grad(*args)
        ctx.save_for_backward(_tensor(g))
        ctx.elementwise = reduction == "none"
        return _tensor(loss)

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
        (g,) = ctx.saved_tensors
        return g * grad_loss, None, None, None, None


def binary_cross_entropy_with_logits(input: torch.Tensor, target: torch.Tensor,
                                     weight: torch.Tensor | None = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`torch.nn.functional.binary_cross_entropy_with_logits` computed by
    :func:`cxent.binary_cross_entropy_with_logits_and_grad`."""
    _legacy(size_average, reduce)
    return _BCELogits.apply(input, target, weight, pos_weight, reduction)


class _LinearCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                bias: Any, opts: dict[str, Any]) -> torch.Tensor:
        args = (_np(hidden, "hidden"), _np(weight, "weight"), _np(target, "target"),
                _np(bias, "bias"))
        if not any(ctx.needs_input_grad):
            return _tensor(_linear.linear_cross_entropy(*args, **opts))
        loss, gh, gw, gb = _linear.linear_cross_entropy_and_grad(*args, **opts)
        ctx.save_for_backward(_tensor(gh), _tensor(gw), *(() if gb is None else (_tensor(gb),)))
        ctx.none = opts["reduction"] == "none"
        return _tensor(loss)

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
        if ctx.none and grad_loss.ndim:
            raise RuntimeError("cxent.torch.linear_cross_entropy with reduction='none' "
                               "differentiates a sum of the row losses only (pass "
                               "reduction='sum' or 'mean', or take .sum() of the result)")
        saved = ctx.saved_tensors
        gb = saved[2] * grad_loss if len(saved) > 2 else None
        return saved[0] * grad_loss, saved[1] * grad_loss, None, gb, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                         bias: torch.Tensor | None = None, *, ignore_index: int = -100,
                         reduction: str = "mean", label_smoothing: float = 0.0,
                         z_loss: float = 0.0, softcap: float | None = None,
                         chunk_size: int | None = None) -> torch.Tensor:
    """:func:`cxent.linear_cross_entropy` (``F.cross_entropy(F.linear(hidden, weight, bias),
    target)`` without the logits) as a differentiable torch function: gradients for ``hidden``,
    ``weight`` and ``bias``.  With ``reduction='none'`` the backward call takes the gradient of
    ``loss.sum()`` only (the per-row gradients are summed into ``grad_weight`` in the forward
    sweep)."""
    opts = {"ignore_index": ignore_index, "reduction": reduction,
            "label_smoothing": label_smoothing, "z_loss": z_loss, "softcap": softcap,
            "chunk_size": chunk_size}
    return _LinearCE.apply(hidden, weight, target, bias, opts)

