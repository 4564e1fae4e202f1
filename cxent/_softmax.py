"""softmax, log_softmax, logsumexp, sigmoid and log_sigmoid: validate -> allocate -> kernel."""

from __future__ import annotations


import numpy as np

from cxent import _layout
from cxent._config import PARALLEL_THRESHOLD, use_threads
from numpy.typing import DTypeLike

from cxent._typing import ArrayLike, Axis, FloatArray
from cxent._lib import _softmax as _k
from cxent._validation import (
    DEFAULT_AXIS,
    axes_tuple,
    axis_or_dim,
    backward_operands,
    cast_to,
    check_out_of,
    float_array,
    scalar_if_0d,
)

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid", "softmax_backward",
           "log_softmax_backward"]


def _map_rows(arrays, axis, out, kernel):
    """``kernel(*views_of_arrays, view_of_result, threads)`` along ``axis`` of same-shaped
    ``arrays``: the result has their shape (and the first one's memory order); a 0-d result
    without ``out`` is a NumPy scalar."""
    a = arrays[0]
    if out is not None:
        check_out_of(out, a.shape, a.dtype, arrays)
    views, res, view, copy_to = _layout.reduction_views(arrays, axes_tuple(axis, a.ndim), out)
    if a.size:
        kernel(*views, view, use_threads(a.size))
    if copy_to is None:
        return res if out is not None else scalar_if_0d(res)
    np.copyto(copy_to, res)
    return copy_to


def _normalize(x, axis, dim, dtype, out, log_out):
    axis = axis_or_dim(axis, dim)
    x = cast_to(x, dtype)
    small = _k.rows_small(int(log_out), x, None, axis, PARALLEL_THRESHOLD, out)
    if small is not None:  # the common small call, through its compiled gate
        return small
    return _map_rows([float_array(x, "x")], axis, out,
                     lambda a, res, threads: _k.softmax_rows(a, res, log_out, threads))


def softmax(x: ArrayLike, axis: Axis = DEFAULT_AXIS, *, dim: Axis = None,
            dtype: DTypeLike | None = None, out: FloatArray | None = None) -> FloatArray:
    r"""Softmax along ``axis``: :math:`\mathrm{softmax}(x)_c = e^{x_c - m} / \sum_k e^{x_k - m}`.

    Parameters
    ----------
    x : array_like
        Input.  float32/float64 are computed natively; bool/integer inputs in float64, float16 in
        float32.
    axis : int, tuple of ints or None, default -1
        Axis (or axes) along which the values sum to one; None means all axes.
    dim : int or tuple of ints, optional
        torch's name for ``axis``, with the same meaning (passing both raises TypeError).
    dtype : float32 or float64, optional
        torch's ``dtype=``: ``x`` is cast to it before computing (float16 input with
        ``dtype=np.float32`` is computed and returned in float32).
    out : ndarray, optional
        Output of ``x``'s shape and result dtype; written and returned.

    Returns
    -------
    ndarray
        Same shape as ``x``, same memory order, dtype float32 or float64 as described above (a
        NumPy scalar for 0-d ``x`` without ``out``).

    Raises
    ------
    TypeError
        For complex, object, structured or masked input, or a non-integer axis.
    IndexError
        If an axis is out of range (``numpy.exceptions.AxisError``).
    ValueError
        For repeated axes or a bad ``out``.

    Notes
    -----
    Torch's semantics (``torch.softmax``): the row maximum ``m`` is subtracted first, so a row with
    ``+inf`` or only ``-inf`` gives nan (pytorch#6864, #25110).  Computed as
    ``exp(x - m) / (1 + rest)``, ``rest`` the sum without the max term.
    How it runs (``_lib/_rows.pyx``): rows of up to 32 classes go 16 at a time, one per vector lane,
    each row's max and sum of ``exp(x - m)`` taken in class order (float32: float lanes over blocks
    of 8 classes, added in double); longer rows through unit-stride kernels that sum float blocks into double (rows of
    more than 65536 classes: their statistics in one read, by blocks of 8192 combined in double).
    exp is a polynomial (float32: <= 1.03 ulp; float64: <= 1 ulp).  Which of these runs depends on C
    only, never on the memory layout, so every layout gives the same bits; the AVX-512 and AVX2
    kernels give the same bits too (16 and 8 lanes of one operation sequence, tested).
    The stored ``exp(x - m)`` carries the rounding error of ``x - m`` (an exact Fast2Sum and one
    FMA, ``_lib/_simd.h`` note H).  Accuracy: <= 4 ulp of the exact value for float32, <= 7 for
    float64 (portable build, float64: <= 25, its row sum in class order), tested on 2e6 values per
    row length (``tests/test_accuracy_bounds.py``; 3.0 ulp measured at float32 C = 1000).  The class axis is
    read with its stride: C- and F-ordered inputs and a class axis that is not last run without a
    copy (strided rows are gathered per tile).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.softmax(np.array([1.0, 2.0, 3.0]))
    array([0.09003057, 0.24472847, 0.66524096])
    """
    return _normalize(x, axis, dim, dtype, out, False)


def log_softmax(x: ArrayLike, axis: Axis = DEFAULT_AXIS, *, dim: Axis = None,
                dtype: DTypeLike | None = None, out: FloatArray | None = None) -> FloatArray:
    r"""Log-softmax along ``axis``: :math:`x_c - m - \log \sum_k e^{x_k - m}`.

    Parameters and dtype rules as :func:`softmax`.

    Notes
    -----
    Computed as ``(x - m) - L`` in torch's order (pytorch#11752), with
    ``L = log1p(sum of exp(x - m) without the arg-max term)``: a dominant logit keeps its tiny
    log-probability (``log_softmax([20, 0])[0] = -2.06e-9`` where torch's float32 gives 0).  Rows
    run as in :func:`softmax`.  Accuracy: <= 8 ulp of ``max(|result|, |m|, L)`` (tested).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.log_softmax(np.array([1.0, 2.0, 3.0]))
    array([-2.40760596, -1.40760596, -0.40760596])
    """
    return _normalize(x, axis, dim, dtype, out, True)


def logsumexp(x: ArrayLike, axis: Axis = DEFAULT_AXIS, *, keepdims: bool = False,
              dim: Axis = None, out: FloatArray | None = None) -> FloatArray:
    r"""Log of the sum of exponentials over ``axis``: :math:`\log \sum_k e^{x_k}`.

    Parameters
    ----------
    x : array_like
        Input (dtype rules as :func:`softmax`).
    axis : int, tuple of ints or None, default -1
        Axes to reduce; None reduces all axes; ``()`` reduces none (NumPy's convention: the result
        equals ``x``, where torch raises).
    dim : int or tuple of ints, optional
        torch's name for ``axis``, with the same meaning (passing both raises TypeError).
    keepdims : bool, default False
        Keep the reduced axes with size one.
    out : ndarray, optional
        Output of the result's shape and dtype.

    Returns
    -------
    ndarray or NumPy scalar
        The reduced array (a NumPy scalar when every axis is reduced and ``out`` is not given),
        dtype as :func:`softmax`.

    Notes
    -----
    Torch's rule: ``m = max``, set to 0 where ``|m| = inf``, then ``log(sum exp(x - m)) + m``: so
    ``+inf`` rows give ``inf``, all ``-inf`` rows ``-inf``, nan rows nan, an empty reduction ``-inf``.
    Rows run as in :func:`softmax` (``m + L``); accuracy: <= 8 ulp of ``max(|result|, |m|)``
    (tested).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> float(cxent.logsumexp(np.array([1.0, 2.0, 3.0])))
    3.40760596444438
    """
    axis = axis_or_dim(axis, dim)
    if out is None and not keepdims:
        small = _k.rows_small(2, x, None, axis, PARALLEL_THRESHOLD)
        if small is not None:  # the common small call, through its compiled gate
            return small
    a = float_array(x, "x")
    if a.ndim == 0:
        axes_tuple(axis, 0)  # validated as for a 0-d array: 0, -1, () or None
        a = a.reshape(1)
        res = np.asarray(logsumexp(a, axis if axis is None else 0, keepdims=False)).reshape(())
        return _finish_out(res, out)
    axes = axes_tuple(axis, a.ndim)
    kept_shape = tuple(n for d, n in enumerate(a.shape) if d not in axes)
    full_shape = tuple(1 if d in axes else n for d, n in enumerate(a.shape))
    if out is not None:
        check_out_of(out, full_shape if keepdims else kept_shape, a.dtype, [a])
    if not axes:  # NumPy's convention: reducing no axis returns the input (as float)
        res = a.copy()
    else:
        res = _layout.empty(kept_shape, a.dtype)
        if res.size and not a.size:
            res.fill(-np.inf)  # the log of an empty sum
        elif res.size:
            x3 = _layout.reduction_input(a, axes)
            _k.logsumexp_rows(x3, res.reshape(x3.shape[0], x3.shape[2]), use_threads(a.size))
    if keepdims:
        res = res.reshape(full_shape)
    return _finish_out(res, out)


def _finish_out(res, out):
    if out is None:
        return scalar_if_0d(res)
    np.copyto(out, res)
    return out


def _elementwise(x, out, log_out):
    if out is None:
        small = _k.sigmoid_small(x, log_out, PARALLEL_THRESHOLD)
        if small is not None:  # the common small call, through its compiled gate
            return small
    a = float_array(x, "x")
    if out is not None:
        check_out_of(out, a.shape, a.dtype, [a])
    res = _layout.empty_like(a) if out is None else out
    if a.size == 0:
        return res
    views, copies = _layout.flat_2d_or_copies([a], [res])
    _k.sigmoid_flat(views[0], views[1], log_out, use_threads(a.size))
    for target, tmp in copies:
        np.copyto(target, tmp)
    return res if out is not None else scalar_if_0d(res)


def sigmoid(x: ArrayLike, *, out: FloatArray | None = None) -> FloatArray:
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`, element-wise.

    Parameters and dtype rules as :func:`softmax` (element-wise, so no axis).

    Notes
    -----
    With ``e = exp(-|x|)``: ``1 / (1 + e)`` for ``x >= 0``, ``e / (1 + e)`` below (one rounded
    division), in the input dtype's vector lanes (float32 lanes for float32: a polynomial exp,
    <= 0.91 ulp on AVX2 and AVX-512, <= 1.03 ulp portable, that keeps subnormals, so ``sigmoid(-100) =
    3.8e-44`` where torch's float32 flushes to 0).  Every element goes through the same vector
    code wherever it sits (strided spans are gathered).  Accuracy: <= 2.5 ulp for float32
    (tested on 1e7 values), <= 2.5 ulp for float64 (2.32 measured; portable, libm: 2.36).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.sigmoid(np.array([-1.0, 0.0, 1.0]))
    array([0.26894142, 0.5       , 0.73105858])
    """
    return _elementwise(x, out, False)


def log_sigmoid(x: ArrayLike, *, out: FloatArray | None = None) -> FloatArray:
    r"""Log of the sigmoid, :math:`\min(x, 0) - \log(1 + e^{-|x|})`, element-wise (never overflows).

    Parameters and dtype rules as :func:`softmax` (element-wise, so no axis).

    Notes
    -----
    Evaluated as :func:`sigmoid` is (vector lanes of the input dtype).  float32: ``e`` by the
    polynomial exp together with its last rounding's error ``elo``; ``log1p(e + elo)`` by Cephes'
    log polynomial on ``u = 1 + e``, with ``u``'s rounding error and ``elo`` added (divided by
    ``u``) among its small terms before the one last rounding.  Accuracy: <= 1.35 ulp for float32
    (tested on 1e7 values and on every float32 in [1, 2) and (-2, -1]; 1.27 measured, torch 2.13:
    1.45), <= 2 ulp for float64 (tested on 2e6 values; AVX2 and AVX-512 take log1p from a
    division-free table-driven log within 0.52 ulp and exp within 0.98 ulp: 1.45 measured;
    portable, libm: 1.51).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.log_sigmoid(np.array([-1.0, 0.0, 1.0]))
    array([-1.31326169, -0.69314718, -0.31326169])
    """
    return _elementwise(x, out, True)


def _backward(grad_output, output, axis, out, log_out):
    small = _k.rows_small(4 if log_out else 3, grad_output, output, axis, PARALLEL_THRESHOLD, out)
    if small is not None:  # the common small call, through its compiled gate
        return small
    y, g = backward_operands(grad_output, output)
    return _map_rows([y, g], axis, out, lambda yv, gv, res, threads:
                     _k.softmax_backward_rows(gv, yv, res, log_out, threads))


def softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: Axis = DEFAULT_AXIS, *,
                     dim: Axis = None, out: FloatArray | None = None) -> FloatArray:
    r"""Vector-Jacobian product of :func:`softmax`, from its output: :math:`y (g - \sum_c g_c y_c)`.

    Parameters
    ----------
    grad_output : array_like
        Upstream gradient, the shape of ``output``.
    output : array_like
        ``softmax(x, axis)``.
    axis : int, tuple of ints or None, default -1
        The axis the forward call normalised over.
    dim : int or tuple of ints, optional
        torch's name for ``axis``, with the same meaning (passing both raises TypeError).
    out : ndarray, optional
        Buffer for the result; may be ``grad_output`` itself.

    Returns
    -------
    ndarray
        The gradient with respect to ``x``; dtype ``np.result_type(grad_output, output)``.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> y = cxent.softmax(np.array([-np.inf, 0.0, 1.0]))
    >>> cxent.softmax_backward(np.array([0.0, 0.0, 1.0]), y)
    array([-0.        , -0.19661193,  0.19661193])
    """
    return _backward(grad_output, output, axis_or_dim(axis, dim), out, False)


def log_softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: Axis = DEFAULT_AXIS,
                         *, dim: Axis = None, out: FloatArray | None = None) -> FloatArray:
    r"""Vector-Jacobian product of :func:`log_softmax`, from its output:
    :math:`g - e^{y} \sum_c g_c`.

    Parameters and returns as :func:`softmax_backward`, with ``output = log_softmax(x, axis)``.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> y = cxent.log_softmax(np.array([1.0, 2.0, 3.0]))
    >>> cxent.log_softmax_backward(np.array([0.0, 0.0, -1.0]), y)
    array([ 0.09003057,  0.24472847, -0.33475904])
    """
    return _backward(grad_output, output, axis_or_dim(axis, dim), out, True)
