# Stubs of the compiled module cxent._lib._binary (C types in trailing comments; "floating" is
# float32 or float64, the same for every floating array argument of a call).
import numpy as np
import numpy.typing as npt

def bce_flat(
    x: npt.NDArray[np.floating],  # const floating[:, :]  (rows, cols), logical order
    y: npt.NDArray[np.floating],  # const floating[:, :]
    w: npt.NDArray[np.floating] | None,  # const floating[:, :]
    pos_weight: npt.NDArray[np.floating] | None,  # const floating[:, :]
    out: npt.NDArray[np.floating] | None,  # floating[:, :]
    grad: npt.NDArray[np.floating] | None,  # floating[:, :]
    gout: npt.NDArray[np.floating] | None,  # const floating[:, :]
    scale: float,  # double
    kind: int,  # int: 0 BCE, 1 BCE with logits, 2 kl_div, 3 kl_div with log targets
    partial: npt.NDArray[np.float64],  # double[::1]
    use_threads: bool,  # bint
) -> tuple[int, int]: ...
def bce_small(
    x: object,  # a C-contiguous float32/float64 ndarray, or the gate declines
    y: object,  # the same shape and type
    w: object,  # None, or the same type, of the input's shape or of its last axis
    pw: object,  # as w (pos_weight: logits only)
    logits: bool,  # bint
    reduction: object,  # 'mean' or 'sum'
    max_elements: int,  # Py_ssize_t
) -> np.floating | None: ...
