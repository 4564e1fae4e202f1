"""Type aliases of the public API (NumPy's ``ArrayLike`` in, ``NDArray`` out)."""

from typing import Any, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "Axis", "FloatArray", "Loss", "LossAndGrad"]

#: A float32 or float64 array (the result dtype follows the inputs: ``spec/api.md``).
FloatArray = NDArray[np.floating[Any]]
#: An axis, several axes, or None for all of them.
Axis = Union[int, Tuple[int, ...], None]
#: A loss: a NumPy scalar for 'mean'/'sum', an array for reduction='none'.
Loss = Union[np.floating[Any], FloatArray]
#: ``(loss, gradient with respect to the input)``.
LossAndGrad = Tuple[Loss, FloatArray]
