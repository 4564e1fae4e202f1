# Stubs of the compiled module cxent._lib._losses (C types in trailing comments; "floating" is
# float32 or float64, the same for every floating array argument of a call).
import numpy as np
import numpy.typing as npt

def target_weights(
    target: npt.NDArray[np.int64],  # const int64_t[:, :]  (N, inner)
    weight: npt.NDArray[np.floating] | None,  # const floating[::1] or NULL (all ones)
    n_classes: int,  # Py_ssize_t
    has_ignore: bool,  # bint
    ignore_index: int,  # int64_t
    use_threads: bool,  # bint
) -> tuple[int, float]: ...
def class_index_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]  (N, C, inner)
    target: npt.NDArray[np.int64],  # const int64_t[:, :]
    weight: npt.NDArray[np.floating] | None,  # const floating[::1] or NULL (all ones)
    has_ignore: bool,  # bint
    ignore_index: int,  # int64_t
    logits: bool,  # bint
    eps: float,  # double
    zloss: float,  # double
    loss_out: npt.NDArray[np.float64] | None,  # double[:, :]
    grad_out: npt.NDArray[np.floating] | None,  # floating[:, :, :]
    scale: float,  # double
    row_scale: npt.NDArray[np.float64] | None,  # const double[:, :]
    use_threads: bool,  # bint
    cap: float = 0.0,  # double: soft-capping (0: none)
) -> tuple[int, float, float]: ...
def xent_small(
    input: object,
    target: object,
    weight: object,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    z_loss: object,
    logits: bool = True,  # bint
) -> np.floating | npt.NDArray[np.floating] | None: ...
def xent_grad_small(
    input: object,
    target: object,
    weight: object,
    ignore_index: object,
    reduction: object,
    label_smoothing: object,
    z_loss: object,
) -> tuple[np.floating, npt.NDArray[np.floating]] | None: ...
def nll_grad_small(
    input: object,
    target: object,
    weight: object,
    ignore_index: object,
    reduction: object,
) -> tuple[np.floating, npt.NDArray[np.floating]] | None: ...
def class_prob_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    target: npt.NDArray[np.floating],  # const floating[:, :, :]
    weight: npt.NDArray[np.floating] | None,  # const floating[::1] or NULL (all ones)
    eps: float,  # double
    zloss: float,  # double
    loss_out: npt.NDArray[np.float64],  # double[:, :]
    grad_out: npt.NDArray[np.floating] | None,  # floating[:, :, :]
    scale: float,  # double
    row_scale: npt.NDArray[np.float64] | None,  # const double[:, :]
    use_threads: bool,  # bint
    cap: float = 0.0,  # double: soft-capping (0: none)
) -> None: ...
def pairwise_sum(a: npt.NDArray[np.float64]) -> float: ...  # const double[::1]
def row_total(rows: npt.NDArray[np.float64], n_classes: int) -> float: ...  # const double[::1]
def softmax_kl_rows(
    s: npt.NDArray[np.floating],  # const floating (outer, C, inner), any strides
    t: npt.NDArray[np.floating],  # the same
    temperature: float,  # double
    loss_out: npt.NDArray[np.float64],  # double (outer, inner)
    elem_out: npt.NDArray[np.floating] | None,  # floating (outer, C, inner)
    grad_out: npt.NDArray[np.floating] | None,  # floating (outer, C, inner)
    scale: float,  # double
    use_threads: bool,  # bint
) -> None: ...
