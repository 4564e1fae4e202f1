# Stubs of the compiled module cxent._lib._binary (C types in trailing comments).
import numpy as np
import numpy.typing as npt

def bce_2d(
    p: npt.NDArray[np.floating],  # const floating[:, :]
    y: npt.NDArray[np.floating],  # const floating[:, :]
    w: npt.NDArray[np.floating],  # const floating[:, :]
    out: npt.NDArray[np.floating],  # floating[:, :]
    partial: npt.NDArray[np.float64],  # double[::1]
    write_out: bool,  # bint
    has_w: bool,  # bint
    use_threads: bool,  # bint
) -> tuple[int, int]: ...
def bce_logits_2d(
    x: npt.NDArray[np.floating],  # const floating[:, :]
    y: npt.NDArray[np.floating],  # const floating[:, :]
    w: npt.NDArray[np.floating],  # const floating[:, :]
    pos_weight: npt.NDArray[np.floating],  # const floating[:, :]
    out: npt.NDArray[np.floating],  # floating[:, :]
    partial: npt.NDArray[np.float64],  # double[::1]
    write_out: bool,  # bint
    has_w: bool,  # bint
    has_pw: bool,  # bint
    use_threads: bool,  # bint
) -> None: ...
