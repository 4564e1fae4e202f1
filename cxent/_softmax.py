"""softmax, log_softmax, logsumexp, sigmoid and log_sigmoid: validate -> allocate -> kernel."""

import math

import numpy as np

from cxent import _config, _layout
from cxent._config import use_threads
from cxent._lib import _softmax as _k
from cxent._validation import axes_tuple, check_out, float_array, int_axis

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid", "softmax_backward",
           "log_softmax_backward"]


def _reduction_layout(a, axes):
    """``(a, groups, orders, perm)``: groups ``(outer, reduced, inner)`` of ``a`` that merge.

    A contiguous run of reduced axes keeps the axes on either side as ``outer``/``inner``, so a class
    axis in the middle needs no copy.  Otherwise ``a`` is copied once with the reduced axes moved to
    the end (``perm`` says how; None when no copy was made).
    """
    nd = a.ndim
    kept = [d for d in range(nd) if d not in axes]
    if axes and list(axes) == list(range(axes[0], axes[-1] + 1)):
        groups = [list(range(axes[0])), list(axes), list(range(axes[-1] + 1, nd))]
    else:
        groups = [kept, list(axes), []]
    orders = _layout.group_orders(a, groups)
    if orders is not None:
        return a, groups, orders, None
    perm = kept + list(axes)
    a = np.ascontiguousarray(a.transpose(perm))
    groups = [list(range(len(kept))), list(range(len(kept), nd)), []]
    return a, groups, [list(g) for g in groups], perm


def _map_rows(a, others, axis, out, kernel):
    """Apply a row kernel ``kernel(views_of_others..., view_of_a, view_of_result, threads)`` along
    ``axis``: the result has ``a``'s shape (and memory order), ``others`` have ``a``'s shape and are
    walked like it.  Handles the C-contiguous fast path, strided layouts, copies and ``out=``."""
    if out is not None:
        check_out(out, a.shape, a.dtype)
    if (a.flags.c_contiguous and all(o.flags.c_contiguous for o in others)
            and isinstance(axis, int) and a.ndim
            and (out is None or out.flags.c_contiguous)):  # the common case: plain reshapes
        ax = int_axis(axis, a.ndim)
        shape3 = (math.prod(a.shape[:ax]), a.shape[ax], math.prod(a.shape[ax + 1:]))
        res = np.empty_like(a) if out is None else out
        if a.size:
            kernel(*[o.reshape(shape3) for o in others], a.reshape(shape3), res.reshape(shape3),
                   use_threads(a.size))
        return res
    a, groups, orders, perm = _reduction_layout(a, axes_tuple(axis, a.ndim))
    views = []
    for o in others:
        if perm is not None:
            o = np.ascontiguousarray(o.transpose(perm))
        v = _layout.view_groups(o, groups, orders)
        if v is None:  # walk it like `a`: one copy into a's layout
            oc = _layout.empty_grouped(o.shape, groups, orders, o.dtype)
            np.copyto(oc, o)
            v = _layout.view_groups(oc, groups, orders)
        views.append(v)
    direct = None  # write straight into `out` when it has a compatible layout
    if out is not None and perm is None:
        direct = _layout.view_groups(out, groups, orders)
    res = _layout.empty_like_grouped(a, groups, orders) if direct is None else out
    if a.size:
        kernel(*views, _layout.view_groups(a, groups, orders),
               _layout.view_groups(res, groups, orders), use_threads(a.size))
    if perm is not None:
        res = res.transpose(np.argsort(perm))
    if out is None or res is out:
        return res
    np.copyto(out, res)
    return out


def _normalize(x, axis, out, log_out):
    small = _k.softmax_small(x, axis, out, log_out, _config.PARALLEL_THRESHOLD)
    if small is not None:  # the common small call, served in one compiled step
        return small
    return _map_rows(float_array(x, "x"), [], axis, out,
                     lambda a, res, threads: _k.softmax_rows(a, res, log_out, threads))


def softmax(x, axis=-1, *, out=None):
    r"""Softmax along ``axis``: :math:`\mathrm{softmax}(x)_c = e^{x_c - m} / \sum_k e^{x_k - m}`.

    Parameters
    ----------
    x : array_like
        Input.  float32/float64 are computed natively; bool/integer inputs in float64, float16 in
        float32.
    axis : int, tuple of ints or None, default -1
        Axis (or axes) along which the values sum to one; None means all axes.
    out : ndarray, optional
        Output of ``x``'s shape and result dtype; written and returned.

    Returns
    -------
    ndarray
        Same shape as ``x``, same memory order, dtype float32 or float64 as described above.

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
    Exactly torch's CPU algorithm (``torch.softmax``): the row maximum ``m`` is subtracted first, so
    a row with ``+inf`` or only ``-inf`` gives nan (pytorch#6864, #25110).  The sum of exponentials
    accumulates in double, so float32 rows of a million classes keep full float32 accuracy.
    The class axis is read with its stride: C- and F-ordered inputs and a class axis that is not last
    run without a copy.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.softmax(np.array([1.0, 2.0, 3.0]))
    array([0.09003057, 0.24472847, 0.66524096])
    """
    return _normalize(x, axis, out, False)


def log_softmax(x, axis=-1, *, out=None):
    r"""Log-softmax along ``axis``: :math:`x_c - m - \log \sum_k e^{x_k - m}`.

    Parameters and dtype rules as :func:`softmax`.

    Notes
    -----
    Computed as ``(x - m) - L`` in torch's order (pytorch#11752), with
    ``L = log1p(sum of exp(x - m) without the arg-max term)``: a dominant logit keeps its tiny
    log-probability (``log_softmax([20, 0])[0] = -2.06e-9`` where torch's float32 gives 0).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.log_softmax(np.array([1.0, 2.0, 3.0]))
    array([-2.40760596, -1.40760596, -0.40760596])
    """
    return _normalize(x, axis, out, True)


def logsumexp(x, axis=-1, *, keepdims=False, out=None):
    r"""Log of the sum of exponentials over ``axis``: :math:`\log \sum_k e^{x_k}`.

    Parameters
    ----------
    x : array_like
        Input (dtype rules as :func:`softmax`).
    axis : int, tuple of ints or None, default -1
        Axes to reduce; None reduces all axes; ``()`` reduces none (NumPy's convention: the result
        equals ``x``, where torch raises).
    keepdims : bool, default False
        Keep the reduced axes with size one.
    out : ndarray, optional
        Output of the result's shape and dtype.

    Returns
    -------
    ndarray or scalar-shaped ndarray
        The reduced array (0-d when every axis is reduced), dtype as :func:`softmax`.

    Notes
    -----
    Torch's rule: ``m = max``, set to 0 where ``|m| = inf``, then ``log(sum exp(x - m)) + m``: so
    ``+inf`` rows give ``inf``, all ``-inf`` rows ``-inf``, nan rows nan, an empty reduction ``-inf``.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> float(cxent.logsumexp(np.array([1.0, 2.0, 3.0])))
    3.40760596444438
    """
    a = float_array(x, "x")
    if a.flags.c_contiguous and isinstance(axis, int) and a.ndim and out is None and a.size:
        ax = int_axis(axis, a.ndim)  # the common case: plain reshapes
        outer, inner = math.prod(a.shape[:ax]), math.prod(a.shape[ax + 1:])
        res = np.empty(a.shape[:ax] + a.shape[ax + 1:], a.dtype)
        _k.logsumexp_rows(a.reshape(outer, a.shape[ax], inner), res.reshape(outer, inner),
                          use_threads(a.size))
        return np.expand_dims(res, ax) if keepdims else res
    axes = axes_tuple(axis, a.ndim)
    kept_shape = tuple(n for d, n in enumerate(a.shape) if d not in axes)
    full_shape = tuple(1 if d in axes else n for d, n in enumerate(a.shape))
    if out is not None:
        check_out(out, full_shape if keepdims else kept_shape, a.dtype)
    a, groups, orders, perm = _reduction_layout(a, axes)
    # The result's axes are the kept ones, in order; its groups are x's outer and inner groups.
    kept = {d: i for i, d in enumerate(d for d in range(a.ndim) if d not in groups[1])}
    rgroups = [[kept[d] for d in groups[0]], [kept[d] for d in groups[2]]]
    rorders = [[kept[d] for d in orders[0]], [kept[d] for d in orders[2]]]
    res = _layout.empty_grouped(kept_shape, rgroups, rorders, a.dtype)
    if res.size:
        if a.size:
            _k.logsumexp_rows(_layout.view_groups(a, groups, orders),
                              _layout.view_groups(res, rgroups, rorders), use_threads(a.size))
        else:
            res.fill(-np.inf)  # the log of an empty sum
    if keepdims:
        res = res.reshape(full_shape)
    if out is None:
        return res
    np.copyto(out, res)
    return out


def _elementwise(x, out, log_out):
    a = float_array(x, "x")
    if out is not None:
        check_out(out, a.shape, a.dtype)
    res = np.empty_like(a) if (out is None or a.size == 0) else out
    if a.size == 0:
        return res if out is None else out
    if a.flags.c_contiguous and res.flags.c_contiguous:
        views = [a.reshape(1, -1), res.reshape(1, -1)]
    else:
        views = _layout.coalesce_2d(a, res)
    if views is None:  # a view whose axes do not merge: compute on one contiguous copy
        a = np.ascontiguousarray(a)
        tmp = np.empty_like(a)
        _k.sigmoid_2d(a.reshape(1, -1), tmp.reshape(1, -1), log_out, use_threads(a.size))
        res = res if out is None else out
        np.copyto(res, tmp)
        return res
    _k.sigmoid_2d(views[0], views[1], log_out, use_threads(a.size))
    return res


def sigmoid(x, *, out=None):
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`, element-wise.

    Parameters and dtype rules as :func:`softmax` (element-wise, so no axis).

    Notes
    -----
    Evaluated in double and rounded once: for float32 below -88.7 the result is the correctly
    rounded subnormal (e.g. ``sigmoid(-100) = 3.78e-44``) where torch's float32 flushes to 0.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.sigmoid(np.array([-1.0, 0.0, 1.0]))
    array([0.26894142, 0.5       , 0.73105858])
    """
    return _elementwise(x, out, False)


def log_sigmoid(x, *, out=None):
    r"""Log of the sigmoid, :math:`\min(x, 0) - \log(1 + e^{-|x|})`, element-wise (never overflows).

    Parameters and dtype rules as :func:`softmax` (element-wise, so no axis).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.log_sigmoid(np.array([-1.0, 0.0, 1.0]))
    array([-1.31326169, -0.69314718, -0.31326169])
    """
    return _elementwise(x, out, True)


def _backward(grad_output, output, axis, out, log_out):
    y = float_array(output, "output")
    g = float_array(grad_output, "grad_output")
    if g.shape != y.shape:
        raise ValueError(f"`grad_output` must have the shape of `output` {y.shape}; got {g.shape}")
    dtype = np.result_type(y.dtype, g.dtype)
    y, g = y.astype(dtype, copy=False), g.astype(dtype, copy=False)
    return _map_rows(y, [g], axis, out, lambda gv, yv, res, threads:
                     _k.softmax_backward_rows(gv, yv, res, log_out, threads))


def softmax_backward(grad_output, output, axis=-1, *, out=None):
    r"""Vector-Jacobian product of :func:`softmax`, from its output: :math:`y (g - \sum_c g_c y_c)`.

    Parameters
    ----------
    grad_output : array_like
        Upstream gradient, the shape of ``output``.
    output : array_like
        ``softmax(x, axis)``.
    axis : int, tuple of ints or None, default -1
        The axis the forward call normalised over.
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
    return _backward(grad_output, output, axis, out, False)


def log_softmax_backward(grad_output, output, axis=-1, *, out=None):
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
    return _backward(grad_output, output, axis, out, True)
