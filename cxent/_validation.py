"""The input funnel: every public function checks and converts its arguments here, and nowhere else.

Policy (``spec/api.md``): anything ``np.asarray`` accepts; float32/float64 computed natively;
bool/integer inputs computed in float64 and float16 in float32 (a widening of torch, which rejects
integer softmax); complex, object, structured, string, datetime and masked arrays raise TypeError.
Error messages name the argument, the bad value and what was expected.
"""

import math
import numbers
import operator
from typing import NamedTuple

import numpy as np

from numpy.exceptions import AxisError  # NumPy >= 1.25 (pyproject.toml)

from cxent._common import as_dtype

REDUCTIONS = ("none", "mean", "sum")
_INT64 = np.iinfo(np.int64)


def float_dtype(dtype, name):
    """The dtype an input of ``dtype`` is computed in: float32/float64 as they are, float16 in
    float32, bool/integer in float64; any other kind raises TypeError.  (``cxent.dask`` applies the
    same rule to arrays it has not read yet.)"""
    dtype = np.dtype(dtype)
    kind = dtype.kind
    if kind == "f":
        if dtype.itemsize == 2:
            return np.dtype(np.float32)
        if dtype.itemsize not in (4, 8):
            raise TypeError(f"`{name}` has dtype {dtype}; expected float32 or float64 "
                            f"(cast it with .astype(np.float64))")
        return dtype.newbyteorder("=")
    if kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"`{name}` has dtype {dtype}; expected a real floating, integer or bool "
                    f"array (complex, object, structured and string arrays are not supported)")


def float_array(x, name):
    """``x`` as a native, aligned float32/float64 array (a copy only when a conversion is needed)."""
    reject_masked(x, name)
    a = np.asarray(x)
    dtype = float_dtype(a.dtype, name)
    if a.dtype.kind != "f" or a.dtype.itemsize != dtype.itemsize:
        a = a.astype(dtype)
    if not a.dtype.isnative or not a.flags.aligned:
        a = a.astype(a.dtype.newbyteorder("="), order="K")  # documented: one copy
    return a


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of 'none', 'mean', 'sum'; got {reduction!r}")


def real_number(value, name):
    """``value`` as a float: a real number (Python or NumPy, bool included, as torch); strings,
    arrays and other objects raise TypeError (torch: "must be float")."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {value!r} "
                        f"({type(value).__name__})")
    return float(value)


def check_label_smoothing(label_smoothing):
    """Torch's rule: values > 1 raise, negative values are silently treated as 0."""
    eps = real_number(label_smoothing, "label_smoothing")
    if not eps <= 1.0:
        raise ValueError(f"`label_smoothing` must be between 0.0 and 1.0; got {label_smoothing!r}")
    return max(eps, 0.0)


def integer(value, name, expected):
    """``value`` as a Python int: any integer (NumPy's included) but a bool; else a TypeError
    saying that ``name`` must be ``expected``."""
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"`{name}` must be {expected}; got {value!r}")


class _DefaultAxis(int):
    """The default ``axis=-1``, told apart from an explicit -1 (``dim=`` is torch's name)."""

    def __repr__(self):
        return "-1"


#: The default of every ``axis=`` argument: -1, unless ``dim=`` is given instead.
DEFAULT_AXIS = _DefaultAxis(-1)


def axis_or_dim(axis, dim):
    """The axis a call asked for: ``axis`` or torch's ``dim`` (the same meaning), not both."""
    if dim is None:
        return -1 if axis is DEFAULT_AXIS else axis
    if axis is not DEFAULT_AXIS:
        raise TypeError(f"pass `axis` or its alias `dim`, not both; got axis={axis!r}, "
                        f"dim={dim!r}")
    return dim


def cast_to(x, dtype, name="x"):
    """torch's ``dtype=`` of softmax/log_softmax: ``x`` cast to float32/float64 before computing
    (None: ``x`` as it is)."""
    if dtype is None:
        return x
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"`dtype` must be float32, float64 or None; got {dt}")
    reject_masked(x, name)
    a = np.asarray(x)
    float_dtype(a.dtype, name)  # complex, object, ... still raise
    return a.astype(dt, copy=False)


def scalar_if_0d(res):
    """A 0-d result as a NumPy scalar of its dtype, as NumPy's reductions and ufuncs return."""
    return res[()] if isinstance(res, np.ndarray) and res.ndim == 0 else res


def int_axis(axis, ndim, name="axis"):
    """``axis`` as a non-negative int for an array of ``ndim`` dims (0-d arrays accept 0 and -1)."""
    ax = integer(axis, name, "an integer, a tuple of integers or None")
    n = max(ndim, 1)  # a 0-d array takes axis 0 or -1 (torch's rule for softmax of a scalar)
    if not -n <= ax < n:
        raise AxisError(ax, ndim, msg_prefix=f"`{name}`")
    return ax % n


def axes_tuple(axis, ndim, name="axis"):
    """``axis`` (int, tuple of ints, or None for all) as a sorted tuple of distinct axes."""
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis % ndim,)  # the common case
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = [int_axis(a, ndim, name) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"`{name}` contains a repeated axis: {tuple(axis)!r}")
        if ndim == 0:
            return ()
        return tuple(sorted(axes))
    ax = int_axis(axis, ndim, name)
    return (ax,) if ndim else ()


def check_out(out, shape, dtype, name="out"):
    """``out`` must be an ndarray of exactly ``shape`` and ``dtype``, and writeable (never copied)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"`{name}` has dtype {out.dtype}; expected {np.dtype(dtype)}")
    if out.shape != tuple(shape):
        raise ValueError(f"`{name}` has shape {out.shape}; expected {tuple(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` is read-only; expected a writeable array")
    if not out.dtype.isnative or not out.flags.aligned:
        raise ValueError(f"`{name}` must be aligned and in native byte order")
    return out


def class_weight(weight, n_classes, dtype, name="weight"):
    """A 1-d contiguous weight of length C in ``dtype``; None stays None (the kernels take no
    weights as all ones, without an array of C ones)."""
    if weight is None:
        return None
    w = float_array(weight, name)
    check_class_weight_shape(w.shape, n_classes, name)
    return np.ascontiguousarray(as_dtype(w, dtype))


def check_class_weight_shape(shape, n_classes, name="weight"):
    if len(shape) != 1 or shape[0] != n_classes:
        raise ValueError(f"`{name}` must be a 1-d array with one value per class ({n_classes}); "
                         f"got shape {tuple(shape)}")


def reject_masked(x, name):
    """Masked arrays raise TypeError: cxent would silently use the hidden values."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"`{name}` is a masked array; cxent ignores masks, pass `{name}.filled()` "
                        f"or the unmasked data explicitly")


def index_dtype(dtype, name="target"):
    """Class-index targets have an integer dtype (any: torch takes int64/uint8 only)."""
    if np.dtype(dtype).kind not in "iu":
        raise TypeError(f"`{name}` has dtype {dtype}; class-index targets must have an integer "
                        f"dtype (probability targets must be floating with the input's shape)")


def index_target(target, ignore_index, name="target", offset=()):
    """``(target, has_ignore, ignore)`` for the kernels: class indices of any integer dtype (torch
    accepts only int64/uint8: a documented widening), and the int64 form of ``ignore_index``."""
    reject_masked(target, name)
    t = np.asarray(target)
    index_dtype(t.dtype, name)
    has_ignore, ign = ignore_as_int64(ignore_index)
    if t.dtype == np.uint64 and t.size and t.max() > _INT64.max:
        big = t > _INT64.max
        if not has_ignore:  # an ignore_index beyond int64 may match these values
            big &= t != ignore_index
        if big.any():
            pos = tuple(int(i) for i in np.argwhere(big)[0]) if t.ndim else ()
            raise IndexError(f"`{name}` value {t[pos]} at index {_shifted(pos, offset)} is out of "
                             f"bounds")
        # every value beyond int64 is the ignore_index: map it to -1, which uint64 cannot hold
        t = np.where(t == ignore_index, np.int64(-1), t.astype(np.int64))
        has_ignore, ign = True, -1
    return t, has_ignore, ign


def ignore_as_int64(ignore_index):
    """(has_ignore, value) for the kernels: an ignore_index beyond int64 can never match a target."""
    try:
        v = operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"`ignore_index` must be an integer; got {ignore_index!r}") from None
    if _INT64.min <= v <= _INT64.max:
        return True, v
    return False, 0


def broadcast_weight(weight, shape, dtype, name):
    """``weight`` cast to ``dtype`` and broadcast to ``shape`` (a view), which it may not enlarge;
    None stays None."""
    if weight is None:
        return None
    w = as_dtype(float_array(weight, name), dtype)
    if w.shape == tuple(shape):
        return w
    k = len(shape) - w.ndim
    if w.flags.c_contiguous and k >= 0 and all(
            m == n or m == 1 for m, n in zip(w.shape, shape[k:])):  # the common case, quickly
        st = [0] * k + [s if m == n else 0 for s, m, n in zip(w.strides, w.shape, shape[k:])]
        return np.ndarray(shape, w.dtype, buffer=w, strides=st)
    try:  # broadcast_to never enlarges `shape`: it raises for any weight that would
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"`{name}` of shape {w.shape} cannot be broadcast to the input's shape "
                         f"{tuple(shape)}") from None


class ClassOperands(NamedTuple):
    """The converted operands of a class loss (``class_operands``)."""

    input: np.ndarray  # float32/float64 (a float32 input with float64 probabilities is upcast)
    target: np.ndarray  # index targets: int64 of ``loss_shape``; probabilities: like ``input``
    probs: bool  # probability targets
    weight: np.ndarray | None  # (C,) contiguous, the input's dtype; None: no weights
    has_ignore: bool  # an ignore_index that an int64 target can equal
    ignore: int  # its int64 value
    loss_shape: tuple
    n_classes: int


class ClassSpec(NamedTuple):
    """What ``class_spec`` decides from shapes and dtypes alone."""

    dtype: np.dtype  # the dtype computed in (float32 input, float64 probabilities: float64)
    probs: bool  # probability targets
    has_ignore: bool
    ignore: int
    loss_shape: tuple
    n_classes: int


def class_spec(input_shape, input_dtype, target_shape, target_dtype, ignore_index, *,
               fn="cross_entropy"):
    """The checks of ``class_operands`` that read no values: the input's dimensions, the kind of
    target (a float target of the input's shape holds probabilities, ``cross_entropy`` only), its
    shape and dtype, and ``ignore_index``.  ``input_dtype`` is already a computing dtype
    (``float_dtype``).  ``cxent.dask`` calls it on arrays it has not read."""
    ashape, tshape = tuple(input_shape), tuple(target_shape)
    tdtype = np.dtype(target_dtype)
    if not ashape:
        raise ValueError("`input` must have 1 or more dimensions, (C,), (N, C) or (N, C, d1, ..., dk); "
                         "got a 0-d array")
    n_classes = ashape[0] if len(ashape) == 1 else ashape[1]
    loss_shape = () if len(ashape) == 1 else (ashape[0],) + ashape[2:]
    if fn == "cross_entropy" and tshape == ashape:
        if tdtype.kind != "f":
            raise TypeError(f"`target` has the input's shape {ashape}, so it holds class "
                            f"probabilities and must be floating; got dtype {tdtype}")
        ignore_as_int64(ignore_index)  # type check
        if ignore_index >= 0:
            raise ValueError(f"`ignore_index` is not supported with probability targets; got "
                             f"{ignore_index} (leave the default -100)")
        tdtype = float_dtype(tdtype, "target")
        dtype = input_dtype if tdtype == input_dtype else np.result_type(input_dtype, tdtype)
        return ClassSpec(np.dtype(dtype), True, False, 0, loss_shape, n_classes)
    if tdtype.kind == "f":
        if fn == "nll_loss":
            raise TypeError("`target` of nll_loss must hold class indices (an integer array); got a "
                            "floating array (for probability targets use cross_entropy)")
        raise TypeError(f"a floating `target` means class probabilities and must have the input's "
                        f"shape {ashape}; got shape {tshape}. For class indices pass an integer "
                        f"array (e.g. target.astype(np.int64))")
    index_dtype(tdtype)
    has_ignore, ign = ignore_as_int64(ignore_index)
    _check_index_target_shape(ashape, tshape, loss_shape)
    return ClassSpec(np.dtype(input_dtype), False, has_ignore, ign, loss_shape, n_classes)


def class_operands(input, target, weight, ignore_index, *, fn="cross_entropy"):
    """Every argument of ``nll_loss``/``cross_entropy`` checked and converted once.

    ``class_spec`` checks shapes, dtypes and ``ignore_index``; the class weight's length is checked
    here.  Index values are range-checked by the kernel (``bad_target_error``).
    """
    a = float_array(input, "input")
    reject_masked(target, "target")
    t = np.asarray(target)
    sp = class_spec(a.shape, a.dtype, t.shape, t.dtype, ignore_index, fn=fn)
    if sp.probs:
        t = float_array(t, "target")
        a = a.astype(sp.dtype, copy=False)  # documented: float32 input, float64 target: float64
        return ClassOperands(a, t.astype(sp.dtype, copy=False), True,
                             class_weight(weight, sp.n_classes, sp.dtype), False, 0, sp.loss_shape,
                             sp.n_classes)
    t, has_ignore, ign = index_target(t, ignore_index)
    if t.dtype != np.int64 or not t.flags.aligned or not t.dtype.isnative:
        t = t.astype(np.int64)  # lossless: uint64 beyond int64 was mapped or rejected
    return ClassOperands(a, t.reshape(sp.loss_shape), False,
                         class_weight(weight, sp.n_classes, a.dtype), has_ignore, ign,
                         sp.loss_shape, sp.n_classes)


def _check_index_target_shape(ashape, tshape, expected):
    if len(ashape) == 1:
        if not (len(tshape) == 0 or tshape == (1,)):
            raise ValueError(f"For a 1-d `input`, `target` must be 0-d or have shape (1,); "
                             f"got shape {tshape}")
        return
    if len(tshape) != len(ashape) - 1:
        raise ValueError(f"`target` must have shape {expected} (input shape {ashape} without the "
                         f"class axis 1); got shape {tshape}")
    if tshape[0] != ashape[0]:
        raise ValueError(f"`target` batch size {tshape[0]} does not match `input` batch size "
                         f"{ashape[0]}; expected shape {expected}")
    if tshape != expected:
        raise ValueError(f"`target` has shape {tshape}; expected {expected} for input shape "
                         f"{ashape}")


def _shifted(pos, offset):
    """An index inside a block as an index of the whole array (``offset``: the block's start)."""
    return tuple(p + o for p, o in zip(pos, offset)) if offset else pos


def bad_target_error(t, n_classes, has_ignore, ignore_index, offset=()):
    """The IndexError for the first target outside [0, C) that is not ignore_index (after the
    kernel has reported that there is one); ``offset``: where ``t`` starts in the whole target
    (``cxent.dask``'s blocks)."""
    t = np.asarray(t)
    bad = (t < 0) | (t >= n_classes)
    if has_ignore:
        bad &= t != ignore_index
    pos = tuple(int(i) for i in np.argwhere(bad)[0]) if t.ndim else ()
    return IndexError(f"`target` value {t[pos]} at index {_shifted(pos, offset)} is out of bounds: "
                      f"expected a class index in [0, {n_classes}) or ignore_index={ignore_index}")


class LossOptions(NamedTuple):
    reduction: str
    label_smoothing: float  # >= 0 (torch: negative means 0)
    z_loss: float
    cap: float = 0.0  # softcap, or 0.0 for none (the kernels' convention)


def loss_options(reduction, label_smoothing=0.0, z_loss=0.0, softcap=None):
    """``reduction``, ``label_smoothing``, ``z_loss`` (torch's rules) and ``softcap`` checked."""
    check_reduction(reduction)
    eps = check_label_smoothing(label_smoothing)
    z = real_number(z_loss, "z_loss")
    if not (z >= 0.0 and z < math.inf):
        raise ValueError(f"`z_loss` must be a finite number >= 0; got {z_loss!r}")
    cap = softcap_value(softcap)
    return LossOptions(reduction, eps, z, 0.0 if cap is None else cap)


class GradRequest:
    """What a gradient call asked for: upstream ``grad_output`` and the ``grad_out`` buffer."""

    def __init__(self, grad_output, grad_out):
        self.grad_output = grad_output
        self.grad_out = grad_out


def grad_output_factors(grad, reduction, loss_shape):
    """(scalar factor, array of the loss's shape or None): ``grad_output`` validated.

    A scalar for 'mean'/'sum'; a scalar or an array of the loss's shape for 'none'; None means 1.
    """
    g = grad.grad_output
    if g is None:
        return 1.0, None
    reject_masked(g, "grad_output")
    g = np.asarray(g)
    if g.dtype.kind not in "biuf":
        raise TypeError(f"`grad_output` must be real numbers; got dtype {g.dtype}")
    if g.ndim == 0:
        return float(g), None
    if reduction != "none" or g.shape != tuple(loss_shape):
        expected = "a scalar" if reduction != "none" else f"a scalar or shape {tuple(loss_shape)}"
        raise ValueError(f"`grad_output` must be {expected} for reduction={reduction!r}; "
                         f"got shape {g.shape}")
    return 1.0, g


def grad_out_buffer(grad, a, others):
    """``grad_out`` checked (exact shape and dtype, writeable, never copied), or None.  It may be
    ``a`` itself (in place) but may not share an element with ``a`` otherwise, nor with any of
    ``others`` (``(name, array or None)`` pairs)."""
    out = grad.grad_out
    if out is None:
        return None
    check_out(out, a.shape, a.dtype, "grad_out")
    if not same_view(out, a) and overlapping(out, a):
        raise ValueError("`grad_out` overlaps `input` without being `input` itself; pass the "
                         "input array itself (in place) or a separate buffer")
    for name, o in others:
        if o is not None and overlapping(out, o):
            raise ValueError(f"`grad_out` overlaps `{name}`; pass a separate buffer")
    return out


def check_out_of(out, shape, dtype, inputs):
    """``check_out``, and ``out`` may be one of ``inputs`` (the same view: in place) but may not
    share memory with one otherwise."""
    check_out(out, shape, dtype)
    for a in inputs:
        if not same_view(out, a) and overlapping(out, a):
            raise ValueError("`out` overlaps an input without being that input itself; pass the "
                             "input itself (in place) or a separate buffer")
    return out


def same_view(u, v):
    """Whether two arrays are the same elements in the same layout (an in-place request)."""
    return (u.shape == v.shape and u.strides == v.strides and u.dtype == v.dtype
            and u.__array_interface__["data"][0] == v.__array_interface__["data"][0])


def overlapping(u, v):
    """Whether ``u`` and ``v`` share an element (decided exactly, not by their bounds)."""
    return np.may_share_memory(u, v) and np.shares_memory(u, v)


def elementwise_dtype(input_dtype, target_dtype):
    """The result dtype of an element-wise loss (BCE, kl_div) of a computing ``input_dtype``: a
    float target promotes (``np.result_type``), an integer/bool one (0/1 labels: exact in any
    float dtype) takes the input's; other kinds raise TypeError."""
    tdt = np.dtype(target_dtype)
    if tdt.kind == "f":
        tdt = float_dtype(tdt, "target")
        return np.dtype(input_dtype if tdt == input_dtype else
                        np.result_type(input_dtype, tdt))
    if tdt.kind in "biu":
        return np.dtype(input_dtype)
    raise TypeError(f"`target` has dtype {tdt}; expected a real floating, integer or bool array")


def check_broadcast_to(shape, to_shape, name):
    """``shape`` must broadcast to ``to_shape`` without enlarging it."""
    try:
        if np.broadcast_shapes(tuple(shape), tuple(to_shape)) == tuple(to_shape):
            return
    except ValueError:
        pass
    raise ValueError(f"`{name}` of shape {tuple(shape)} cannot be broadcast to the input's shape "
                     f"{tuple(to_shape)}")


def distill_options(student_shape, teacher_shape, temperature, reduction):
    """The checks of ``softmax_kl_div`` that read no values; returns the temperature."""
    if tuple(student_shape) != tuple(teacher_shape):
        raise ValueError(f"`teacher_logits` must have the shape of `student_logits` "
                         f"{tuple(student_shape)}; got {tuple(teacher_shape)}")
    check_kl_options(reduction, False)
    temp = real_number(temperature, "temperature")
    if not (temp > 0.0 and temp < math.inf):
        raise ValueError(f"`temperature` must be a finite number > 0; got {temperature!r}")
    if not tuple(student_shape):
        raise ValueError("`student_logits` must have a class axis; got a 0-d array")
    return temp


def binary_operands(input, target, weight=None, pos_weight=None):
    """(input, target, weight, pos_weight, dtype) of the binary losses: same shapes; float targets
    promote (``np.result_type``), integer/bool ones are cast; weights broadcast (views) or None."""
    a = float_array(input, "input")
    reject_masked(target, "target")
    t = np.asarray(target)
    if t.shape != a.shape:
        raise ValueError(f"`target` must have the input's shape {a.shape}; got shape {t.shape} "
                         f"(torch deprecated broadcasting here)")
    dtype = elementwise_dtype(a.dtype, t.dtype)
    if t.dtype.kind == "f":
        t = float_array(t, "target")
    a, t = a.astype(dtype, copy=False), t.astype(dtype, copy=False)
    return (a, t, broadcast_weight(weight, a.shape, dtype, "weight"),
            broadcast_weight(pos_weight, a.shape, dtype, "pos_weight"), dtype)


KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def check_kl_options(reduction, log_target):
    """kl_div's ``reduction`` (torch's four) and ``log_target`` (a bool)."""
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"`reduction` must be one of 'none', 'mean', 'sum', 'batchmean'; got "
                         f"{reduction!r}")
    if not isinstance(log_target, (bool, np.bool_)):
        raise TypeError(f"`log_target` must be a bool; got {log_target!r}")


def kl_operands(input, target, reduction, log_target):
    """(input, target, dtype) of ``kl_div``: the target broadcast to the input's shape (a view; it
    may not enlarge it), float targets promoting (``np.result_type``) and integer ones cast;
    ``reduction`` one of torch's four, ``log_target`` a bool."""
    check_kl_options(reduction, log_target)
    a = float_array(input, "input")
    reject_masked(target, "target")
    t = np.asarray(target)
    dtype = elementwise_dtype(a.dtype, t.dtype)
    return a.astype(dtype, copy=False), broadcast_weight(t, a.shape, dtype, "target"), dtype


def probability_error(arr, name, offset=()):
    """The ValueError for values outside [0, 1] (after the kernel has counted some); ``offset``:
    where ``arr`` starts in the whole array (``cxent.dask``'s blocks, counted per block)."""
    bad = ~((arr >= 0) & (arr <= 1))
    pos = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
    where = " in its block" if offset else ""
    return ValueError(f"`{name}` must hold probabilities in [0, 1]; found {int(bad.sum())} values "
                      f"outside{where}, e.g. {arr[pos]} at index {_shifted(pos, offset)}")


def check_probabilities(a, t):
    """Input and target in [0, 1] (the in-place BCE gradient checks before overwriting)."""
    for arr, name in ((a, "input"), (t, "target")):
        if not np.all((arr >= 0) & (arr <= 1)):
            raise probability_error(arr, name)


def backward_operands(grad_output, output):
    """(output, grad_output) of the backward functions: same shape, ``np.result_type`` dtype."""
    y = float_array(output, "output")
    g = float_array(grad_output, "grad_output")
    if g.shape != y.shape:
        raise ValueError(f"`grad_output` must have the shape of `output` {y.shape}; got {g.shape}")
    if y.dtype == g.dtype:
        return y, g
    dtype = np.result_type(y.dtype, g.dtype)
    return y.astype(dtype, copy=False), g.astype(dtype, copy=False)


class LinearOperands(NamedTuple):
    hidden: np.ndarray  # (N, D), float32/float64
    weight: np.ndarray  # (V, D), the same dtype
    bias: np.ndarray | None  # (V,), the same dtype; None: no bias
    target: np.ndarray  # (N,) int64, every value a class index or the ignore_index
    has_ignore: bool
    ignore: int


def linear_spec(hshape, hdtype, wshape, wdtype, bshape, bdtype, tshape, tdtype, ignore_index):
    """The checks of ``linear_operands`` that read no values (``cxent.dask`` calls it on arrays it
    has not read); the dtypes are already computing dtypes.  Returns the common dtype."""
    if len(hshape) != 2:
        raise ValueError(f"`hidden` must be 2-d (N, D); got shape {tuple(hshape)}")
    if len(wshape) != 2:
        raise ValueError(f"`weight` must be 2-d (V, D), the layout of torch.nn.Linear(D, V).weight; "
                         f"got shape {tuple(wshape)}")
    if hshape[1] != wshape[1]:
        raise ValueError(f"`hidden` has D={hshape[1]} but `weight` has D={wshape[1]} "
                         f"(hidden {tuple(hshape)}, weight {tuple(wshape)}: weight must be (V, D))")
    if wshape[0] == 0:
        raise ValueError(f"`weight` must have at least one row (class); got shape {tuple(wshape)}")
    if bshape is not None and (len(bshape) != 1 or bshape[0] != wshape[0]):
        raise ValueError(f"`bias` must be 1-d of length V={wshape[0]} (weight's rows); got shape "
                         f"{tuple(bshape)}")
    index_dtype(tdtype)
    ignore_as_int64(ignore_index)
    if len(tshape) != 1 or tshape[0] != hshape[0]:
        raise ValueError(f"`target` must be 1-d of length N={hshape[0]} (hidden's rows); got shape "
                         f"{tuple(tshape)}")
    return np.result_type(hdtype, wdtype, *([] if bdtype is None else [bdtype]))


def linear_operands(hidden, weight, target, bias, ignore_index):
    """The operands of ``linear_cross_entropy``: 2-d ``hidden (N, D)`` and ``weight (V, D)`` with the
    same D, ``bias (V,)`` or None, ``target (N,)`` of class indices in ``[0, V)`` (or the
    ``ignore_index``), all converted to one float dtype (``np.result_type`` of the three; integer
    and bool inputs float64, float16 float32)."""
    h = float_array(hidden, "hidden")
    w = float_array(weight, "weight")
    b = None if bias is None else float_array(bias, "bias")
    reject_masked(target, "target")
    t0 = np.asarray(target)
    dtype = linear_spec(h.shape, h.dtype, w.shape, w.dtype, None if b is None else b.shape,
                        None if b is None else b.dtype, t0.shape, t0.dtype, ignore_index)
    t, has_ignore, ign = index_target(t0, ignore_index)
    t = t.astype(np.int64, copy=False)
    bad = (t < 0) | (t >= w.shape[0])
    if has_ignore:
        bad &= t != ign
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise IndexError(f"`target` value {t[k]} at index {k} is out of bounds for V={w.shape[0]} "
                         f"classes")
    return LinearOperands(as_dtype(h, dtype), as_dtype(w, dtype),
                          None if b is None else as_dtype(b, dtype), t, has_ignore, ign)


def chunk_rows(chunk_size, n_rows, n_classes, itemsize, budget):
    """Rows per chunk: ``chunk_size`` (a positive int), or as many rows as keep one chunk of logits
    within ``budget`` bytes (at least 1)."""
    if chunk_size is None:
        rows = budget // max(1, n_classes * itemsize)
    else:
        rows = integer(chunk_size, "chunk_size", "a positive integer or None")
        if rows < 1:
            raise ValueError(f"`chunk_size` must be a positive integer or None; got {chunk_size!r}")
    return max(1, min(rows, max(n_rows, 1)))


def softcap_value(softcap):
    """``softcap`` as a positive finite float, or None."""
    if softcap is None:
        return None
    c = real_number(softcap, "softcap")
    if not (c > 0.0 and c < math.inf):
        raise ValueError(f"`softcap` must be a finite number > 0 or None; got {softcap!r}")
    return c
