# Stubs of the compiled module cxent._lib._softmax (C types in trailing comments; "floating" is
# float32 or float64, the same for every array argument of a call).
import numpy as np
import numpy.typing as npt

def openmp_info() -> tuple[bool, int]: ...
def softmax_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]  (outer, C, inner)
    out: npt.NDArray[np.floating],  # floating[:, :, :]
    log_out: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
def rows_small(
    kind: int,  # int: 0 softmax, 1 log_softmax, 2 logsumexp, 3 softmax_backward, 4 log_softmax_backward
    x: object,
    y: object,  # the backward functions' output; None otherwise
    axis: object,
    max_elements: int,  # Py_ssize_t
    out: object = None,  # the caller's out= (kinds 0, 1, 3, 4), or None
) -> npt.NDArray[np.floating] | None: ...
def logsumexp_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    out: npt.NDArray[np.floating],  # floating[:, :]  (outer, inner)
    use_threads: bool,  # bint
) -> None: ...
def softmax_backward_rows(
    g: npt.NDArray[np.floating],  # const floating[:, :, :]
    y: npt.NDArray[np.floating],  # const floating[:, :, :]
    out: npt.NDArray[np.floating],  # floating[:, :, :]
    log_out: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
def sigmoid_small(
    x: object,
    log_out: bool,  # bint
    max_elements: int,  # Py_ssize_t
) -> npt.NDArray[np.floating] | None: ...
def sigmoid_flat(
    x: npt.NDArray[np.floating],  # const floating[:, :]  (rows, cols), logical order
    out: npt.NDArray[np.floating],  # floating[:, :]
    log_out: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
