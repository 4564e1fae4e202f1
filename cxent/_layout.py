"""Views of N-d arrays as the few-dimensional layouts the kernels take, without copies where possible.

The row kernels see every operand as ``(outer, C, inner)``: the axes before the class (reduced) axes,
the class axes, and the axes after them, each group merged into one dimension **in logical order**
(row ``o * inner + i`` and class ``c`` are the same logical elements in every operand, whatever its
memory layout).  A group merges when each of its axes steps exactly over the next one, as in any C- or
F-ordered array with a single class axis, a class axis that is not last, transposes of 2-d arrays,
broadcast and most sliced views.  Each operand has its own strides; the kernels gather what is not
unit-stride (``_lib/_rows.pyx``), so the layout never changes the result.  An operand whose groups
cannot merge (e.g. an F-ordered 4-d array, whose two spatial axes step the wrong way) is copied once
into C order (inputs) or computed into a C-ordered temporary and copied back (outputs).

This module is the only place where layouts are decided.
"""

import math

import numpy as np

from cxent import _config
from cxent._lib._rows import cached_empty

__all__ = ["empty", "empty_like",
           "row_groups", "class_groups", "rows_shape", "merged", "merged_or_copy", "result_like",
           "reduction_views", "reduction_input", "flat_2d", "flat_2d_or_copies"]


def empty(shape, dtype):
    """A new C-ordered output: from the cache of large outputs (``_lib/_pool.h``) when it has at
    least ``OUTPUT_CACHE_MIN`` bytes and the cache is on, else ``np.empty``."""
    if (_config._output_cache
            and math.prod(shape) * np.dtype(dtype).itemsize >= _config.OUTPUT_CACHE_MIN):
        return cached_empty(None, shape, dtype)
    return np.empty(shape, dtype)


def empty_like(a, dtype=None):
    """``np.empty_like(a, dtype)`` (a's layout, NumPy's order 'K'), from the cache as ``empty``."""
    if _config._output_cache and a.size * (
            a.itemsize if dtype is None else np.dtype(dtype).itemsize) >= _config.OUTPUT_CACHE_MIN:
        return cached_empty(a, None, dtype)
    return np.empty_like(a, dtype=dtype)


def row_groups(ndim, axes):
    """``(perm, groups)`` for reducing over sorted ``axes`` of an ``ndim``-d array.

    ``perm`` is None when the axes are a contiguous run (groups: axes before, the run, axes after);
    otherwise the kept axes are moved in front (``a.transpose(perm)``, a view) and ``groups`` refer
    to the transposed axes.
    """
    axes = list(axes)
    if not axes:  # no reduced axis: every element is a row of one class
        return None, [list(range(ndim)), [], []]
    if axes == list(range(axes[0], axes[-1] + 1)):
        return None, [list(range(axes[0])), axes, list(range(axes[-1] + 1, ndim))]
    kept = [d for d in range(ndim) if d not in axes]
    k = len(kept)
    return kept + axes, [list(range(k)), list(range(k, ndim)), []]


def _merge_start(shape, strides):
    """The first axis k such that axes [k, ndim) step over each other (size-1 axes ignored)."""
    k, prev = len(shape), None
    for d in range(len(shape) - 1, -1, -1):
        if shape[d] != 1:
            if prev is not None and strides[d] != prev:
                return k
            prev = strides[d] * shape[d]
        k = d
    return 0


def merged(a, groups):
    """``a`` with each group of consecutive axes merged into one dimension (in logical order), or
    None when a group's axes do not step over each other (or are empty of elements)."""
    new_shape = [math.prod(a.shape[g[0]:g[-1] + 1]) if g else 1 for g in groups]
    if a.flags.c_contiguous and sum(map(len, groups)) == a.ndim:
        return a.reshape(new_shape)  # the common case
    if a.size and any(_merge_start(a.shape[g[0]:g[-1] + 1], a.strides[g[0]:g[-1] + 1])
                      for g in groups if g):
        return None
    return a.reshape(new_shape)  # a view: the merged axes step over each other (tested)


def _shape3(shape, ax):
    """``(outer, C, inner)`` of a C-contiguous array of ``shape`` reduced over axis ``ax``."""
    return (math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:]))


def reduction_views(arrays, axes, out=None):
    """``(views, result, result_view, copy_to)`` for a row kernel over the sorted ``axes`` of the
    same-shaped ``arrays`` (a 0-d array is one row of one class): an ``(outer, C, inner)`` view of
    each input, the result (``out``, or a new array laid out like the first input), the view of it
    the kernel writes, and the array to copy the result into afterwards (or None)."""
    a = arrays[0]
    if a.ndim == 0:
        res = empty_like(a) if out is None else out
        return [x.reshape(1, 1, 1) for x in arrays], res, res.reshape(1, 1, 1), None
    if len(axes) == 1 and (out is None or out.flags.c_contiguous):
        for x in arrays:
            if not x.flags.c_contiguous:
                break
        else:  # the common case: plain reshapes
            shape3 = _shape3(a.shape, axes[0])
            res = empty_like(a) if out is None else out
            return [x.reshape(shape3) for x in arrays], res, res.reshape(shape3), None
    perm, groups = row_groups(a.ndim, axes)
    if perm is None:
        res, view, copy_to = result_like(a, groups, out)
        return [merged_or_copy(x, groups) for x in arrays], res, view, copy_to
    # the reduced axes moved last: the result keeps a's axis order, written through the transpose
    res = empty_like(a) if out is None else out
    view, copy_to = merged(res.transpose(perm), groups), None
    if view is None:  # a C-ordered temporary in the transposed axis order, copied back after
        tmp = empty([a.shape[p] for p in perm], a.dtype)
        res, view, copy_to = tmp.transpose(np.argsort(perm)), merged(tmp, groups), res
    return [merged_or_copy(x.transpose(perm), groups) for x in arrays], res, view, copy_to


def reduction_input(a, axes):
    """The ``(outer, C, inner)`` view (or copy) of ``a`` reduced over the sorted ``axes``."""
    if len(axes) == 1 and a.flags.c_contiguous:
        return a.reshape(_shape3(a.shape, axes[0]))  # the common case
    perm, groups = row_groups(a.ndim, axes)
    return merged_or_copy(a if perm is None else a.transpose(perm), groups)


def merged_or_copy(a, groups, dtype=None):
    """``merged(a, groups)``, after one C-order copy (or dtype conversion) when needed."""
    if dtype is not None and a.dtype != dtype:
        a = np.ascontiguousarray(a, dtype=dtype)
    v = merged(a, groups)
    if v is None:
        v = merged(np.ascontiguousarray(a), groups)
    return v


def result_like(a, groups, out=None, dtype=None):
    """``(result, view, copy_to)`` for an output shaped like ``a``.

    Without ``out``: a new array laid out like ``a`` (NumPy's order 'K'), or C-ordered when that
    layout does not merge.  With ``out``: ``out`` itself when it merges, else a C-ordered temporary
    that the caller copies into ``copy_to`` (= ``out``) after the kernel.
    """
    if out is not None:
        v = merged(out, groups)
        if v is not None:
            return out, v, None
        tmp = empty(out.shape, out.dtype)
        return tmp, merged(tmp, groups), out
    res = empty_like(a, dtype=dtype)
    v = merged(res, groups)
    if v is None:
        res = empty(a.shape, res.dtype)
        v = merged(res, groups)
    return res, v, None


def class_groups(ndim):
    """Axis groups ``(N, C, inner)`` of a class-loss input with ``ndim`` dims, and ``(N, inner)``
    of its target (a 1-d input is one row: ``(1, C, 1)``)."""
    if ndim == 1:
        return [[], [0], []], [[], []]
    return [[0], [1], list(range(2, ndim))], [[0], list(range(1, ndim - 1))]


def rows_shape(shape):
    """(N, inner) of an input of ``shape`` viewed as (N, C, inner)."""
    return (shape[0], math.prod(shape[2:])) if len(shape) > 1 else (1, 1)


def flat_2d(*arrays):
    """Views of same-shaped arrays as ``(rows, cols)`` in logical (C) order, or None.

    Trailing logical axes merge while they merge in every array; the rest must merge into the rows
    dimension too.  Element ``k`` of the flat logical index is ``(k // cols, k % cols)`` in every
    view, so a walk over the flat index is the same walk whatever the layouts.
    """
    shape = arrays[0].shape
    split = 0  # cols = axes [split, ndim); a C-contiguous array merges all of them
    for a in arrays:
        if not a.flags.c_contiguous:
            split = max(split, _merge_start(shape, a.strides))
    if split == 0:
        return [a.reshape(1, -1) for a in arrays]
    if split > 1 and any(_merge_start(shape[:split], a.strides[:split]) for a in arrays):
        return None
    rc = (math.prod(shape[:split]), math.prod(shape[split:]))
    return [a.reshape(rc) for a in arrays]  # views: both groups step over themselves (tested)


def flat_2d_or_copies(inputs, outputs):
    """``(views, copies)``: ``flat_2d`` views of the same-shaped ``inputs`` then ``outputs`` (None
    entries stay None).  When their axes do not merge, inputs are copied in C order and outputs
    get C-ordered temporaries; ``copies`` lists the ``(output, temporary)`` pairs to copy back."""
    arrays = inputs + outputs
    present = [k for k, o in enumerate(arrays) if o is not None]
    views = flat_2d(*[arrays[k] for k in present])
    copies = []
    if views is None:
        views = []
        for k in present:
            if k >= len(inputs):  # an output (it may be an input too: in place)
                c = empty(arrays[k].shape, arrays[k].dtype)
                copies.append((arrays[k], c))
            else:
                c = np.ascontiguousarray(arrays[k])
            views.append(c.reshape(1, -1))
    res = [None] * len(arrays)
    for k, v in zip(present, views):
        res[k] = v
    return res, copies
