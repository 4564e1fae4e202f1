# Stubs of the compiled module cxent._lib._losses (C types in trailing comments).
import numpy as np
import numpy.typing as npt

def class_index_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    target: npt.NDArray[np.int64],  # const int64_t[:, :]
    weight: npt.NDArray[np.floating],  # const floating[::1]
    has_ignore: bool,  # bint
    ignore_index: int,  # int64_t
    logits: bool,  # bint
    eps: float,  # double
    loss_out: npt.NDArray[np.float64],  # double[:, :]
    wsum_out: npt.NDArray[np.float64],  # double[:, :]
    use_threads: bool,  # bint
) -> int: ...
def class_prob_rows(
    x: npt.NDArray[np.floating],  # const floating[:, :, :]
    target: npt.NDArray[np.floating],  # const floating[:, :, :]
    weight: npt.NDArray[np.floating],  # const floating[::1]
    eps: float,  # double
    loss_out: npt.NDArray[np.float64],  # double[:, :]
    use_threads: bool,  # bint
) -> None: ...
def pairwise_sum(a: npt.NDArray[np.float64]) -> float: ...  # const double[::1]
