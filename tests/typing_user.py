"""Code as a user writes it, type-checked with ``mypy --strict`` by test_stubs.py: every public
call must be typed (no "Call to untyped function"), results usable as NumPy arrays and scalars."""

import numpy as np
from numpy.typing import NDArray

import cxent

x: NDArray[np.float32] = np.zeros((4, 3), np.float32)
t = np.array([0, 1, 2, 0])
p: NDArray[np.floating] = cxent.softmax(x, axis=1)
lp = cxent.log_softmax(x, axis=-1, out=np.empty_like(x))
lse = cxent.logsumexp(x, axis=(0, 1), keepdims=True)
s = cxent.sigmoid(x) + cxent.log_sigmoid(x)
g = cxent.softmax_backward(x, p) + cxent.log_softmax_backward(x, lp, axis=1)
loss = cxent.cross_entropy(x, t, label_smoothing=0.1, z_loss=1e-4)
loss2, grad = cxent.cross_entropy_and_grad(x, t, reduction="none", grad_output=np.ones(4))
nll = cxent.nll_loss(lp, t, weight=np.ones(3))
nll2, ngrad = cxent.nll_loss_and_grad(lp, t, grad_out=np.empty_like(lp))
b = cxent.binary_cross_entropy(s * 0 + 0.5, np.ones((4, 3)))
bl = cxent.binary_cross_entropy_with_logits(x, np.ones((4, 3)), pos_weight=np.ones(3))
bg = cxent.binary_cross_entropy_and_grad(s * 0 + 0.5, np.ones((4, 3)))[1]
blg = cxent.binary_cross_entropy_with_logits_and_grad(x, np.ones((4, 3)))[1]
ce = cxent.CrossEntropyLoss(label_smoothing=0.1)
value = ce(x, t)
value2, grad2 = ce.and_grad(x, t)
values = [cxent.NLLLoss()(lp, t), cxent.BCELoss()(s * 0 + 0.5, np.ones((4, 3))),
          cxent.BCEWithLogitsLoss(pos_weight=np.ones(3))(x, np.ones((4, 3)))]
total: float = float(np.sum(grad) + np.sum(g) + float(loss) + float(nll))
cxent.show_config()
