# Stubs of the compiled module cxent._lib._softmax (C types in trailing comments).
import numpy as np
import numpy.typing as npt

def softmax_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    out: npt.NDArray[np.floating],  # floating[:, :, :]
    log_out: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
def logsumexp_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    out: npt.NDArray[np.floating],  # floating[:, :]
    use_threads: bool,  # bint
) -> None: ...
def sigmoid_2d(
    x: npt.NDArray[np.floating],  # const floating[:, :]
    out: npt.NDArray[np.floating],  # floating[:, :]
    log_out: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
def openmp_info() -> tuple[bool, int]: ...
def stream_read_sum(
    a: npt.NDArray[np.float32],  # const float[::1]
    use_threads: bool,  # bint
) -> float: ...
def softmax_small(
    x: object,
    axis: object,
    out: object,
    log_out: bool,  # bint
    max_elements: int,  # Py_ssize_t
) -> npt.NDArray[np.floating] | None: ...
