"""cxent: fast, numerically stable softmax-family math and classification losses for NumPy arrays,
with PyTorch's exact semantics.

Public functions: softmax, log_softmax, logsumexp, sigmoid, log_sigmoid, nll_loss, cross_entropy,
binary_cross_entropy, binary_cross_entropy_with_logits, linear_cross_entropy, kl_div (and the
*_and_grad forms), softmax_kl_div; classes CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss;
show_config().  ``cxent.dask``: the same on Dask arrays (imported on demand).
"""

from cxent._binary import (
    BCELoss,
    BCEWithLogitsLoss,
    binary_cross_entropy,
    binary_cross_entropy_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_and_grad,
    KLDivLoss,
    kl_div,
    kl_div_and_grad,
)
from cxent._config import show_config
from cxent._distill import softmax_kl_div, softmax_kl_div_and_grad
from cxent._linear import linear_cross_entropy, linear_cross_entropy_and_grad
from cxent._losses import (
    CrossEntropyLoss,
    NLLLoss,
    cross_entropy,
    cross_entropy_and_grad,
    nll_loss,
    nll_loss_and_grad,
)
from cxent._softmax import (
    log_sigmoid,
    log_softmax,
    log_softmax_backward,
    logsumexp,
    sigmoid,
    softmax,
    softmax_backward,
)
from cxent._interop import interop
from cxent._version import __version__

# torch tensors and JAX arrays in, the same type out (cxent/_interop.py); NumPy calls go straight on
softmax = interop(softmax)
log_softmax = interop(log_softmax)
logsumexp = interop(logsumexp)
sigmoid = interop(sigmoid)
log_sigmoid = interop(log_sigmoid)
softmax_backward = interop(softmax_backward)
log_softmax_backward = interop(log_softmax_backward)
nll_loss = interop(nll_loss)
nll_loss_and_grad = interop(nll_loss_and_grad)
cross_entropy = interop(cross_entropy)
cross_entropy_and_grad = interop(cross_entropy_and_grad)
binary_cross_entropy = interop(binary_cross_entropy)
binary_cross_entropy_and_grad = interop(binary_cross_entropy_and_grad)
binary_cross_entropy_with_logits = interop(binary_cross_entropy_with_logits)
binary_cross_entropy_with_logits_and_grad = interop(binary_cross_entropy_with_logits_and_grad)
linear_cross_entropy = interop(linear_cross_entropy)
linear_cross_entropy_and_grad = interop(linear_cross_entropy_and_grad)
kl_div = interop(kl_div)
kl_div_and_grad = interop(kl_div_and_grad)
softmax_kl_div = interop(softmax_kl_div)
softmax_kl_div_and_grad = interop(softmax_kl_div_and_grad)

__all__ = [
    "__version__",
    "show_config",
    "softmax",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "log_sigmoid",
    "softmax_backward",
    "log_softmax_backward",
    "nll_loss",
    "cross_entropy",
    "nll_loss_and_grad",
    "cross_entropy_and_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_and_grad",
    "binary_cross_entropy_with_logits_and_grad",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "kl_div",
    "kl_div_and_grad",
    "softmax_kl_div",
    "softmax_kl_div_and_grad",
    "KLDivLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
]
