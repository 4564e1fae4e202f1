"""Views of N-d arrays as the few-dimensional layouts the kernels take, without copies where possible.

The kernels see every operand as a small number of dimensions ("groups" of the original axes merged
into one), each with its own stride: ``(outer, C, inner)`` for the softmax family and the class losses,
``(rows, cols)`` for element-wise functions.  A group of axes merges into one dimension when, taken in
order of decreasing stride, each axis steps exactly over the next one (as in a C- or F-contiguous
block).  This covers C- and F-ordered arrays, a class axis anywhere, transposes and most slices; a view
whose groups cannot merge (e.g. a 4-d array sliced with a step in two merged axes) is copied once.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["group_orders", "view_groups", "empty_grouped", "empty_like_grouped", "grouped_or_copy",
           "coalesce_2d"]


def _merge_order(shape, strides, axes):
    """``axes`` ordered so that they merge into one dimension, or None if they cannot."""
    order = sorted((a for a in axes if shape[a] != 1), key=lambda a: -abs(strides[a]))
    if math.prod(shape[a] for a in axes) == 0:
        return order
    for a, b in zip(order, order[1:]):
        if strides[a] != strides[b] * shape[b]:
            return None
    return order


def group_orders(a, groups):
    """Per group, the order of its axes that merges them (decreasing stride); None if impossible."""
    orders = [_merge_order(a.shape, a.strides, g) for g in groups]
    return None if any(o is None for o in orders) else orders


def view_groups(a, groups, orders):
    """View ``a`` with each group of axes merged (axes taken in ``orders``), or None if impossible."""
    shape, strides = [], []
    for group, order in zip(groups, orders):
        size = math.prod(a.shape[g] for g in group)
        live = [g for g in order if a.shape[g] != 1]
        if size and sorted(live) != sorted(g for g in group if a.shape[g] != 1):
            return None
        if size:
            for x, y in zip(live, live[1:]):
                if a.strides[x] != a.strides[y] * a.shape[y]:
                    return None
        shape.append(size)
        strides.append(a.strides[live[-1]] if (live and size) else a.itemsize)
    if a.flags.c_contiguous and all(list(o) == sorted(o) for o in orders) and _in_order(groups):
        return a.reshape(shape)  # the common case, without the cost of as_strided
    return as_strided(a, shape=shape, strides=strides, writeable=a.flags.writeable)


def _in_order(groups):
    flat = [g for group in groups for g in group]
    return flat == sorted(flat)


def empty_grouped(shape, groups, orders, dtype):
    """A new array of ``shape`` laid out so that ``view_groups(result, groups, orders)`` succeeds."""
    perm = []
    for group, order in zip(groups, orders):
        perm += list(order) + [g for g in group if g not in order]
    out = np.empty([shape[p] for p in perm], dtype=dtype)
    return out.transpose(np.argsort(perm))


def empty_like_grouped(a, groups, orders, dtype=None):
    """A new array shaped and laid out like ``a`` (NumPy's order 'K'), viewable with ``orders``."""
    out = np.empty_like(a, dtype=dtype)
    if view_groups(out, groups, orders) is None:  # e.g. ``a`` has broadcast (zero) strides
        out = empty_grouped(a.shape, groups, orders, out.dtype)
    return out


def grouped_or_copy(a, groups):
    """``(view, orders, copied)``: ``a`` viewed by groups, after one C-order copy if needed."""
    orders = group_orders(a, groups)
    if orders is None:
        a = np.ascontiguousarray(a)
        orders = [sorted(g) for g in groups]
        return view_groups(a, groups, orders), orders, True
    return view_groups(a, groups, orders), orders, False


def coalesce_2d(*arrays):
    """Views of same-shaped ``arrays`` as ``(rows, cols)`` walking them in one common order, or None.

    Axes are sorted by the first array's strides (decreasing); adjacent axes merge when they merge in
    every array.  The result is 2-d when at most two merged dimensions remain.
    """
    first = arrays[0]
    shape = first.shape
    if first.size == 0:
        return None
    if all(a.flags.c_contiguous for a in arrays):
        return [a.reshape(1, -1) for a in arrays]
    order = sorted((ax for ax in range(first.ndim) if shape[ax] != 1),
                   key=lambda ax: -abs(first.strides[ax]))
    dims = []  # merged dims: [size, [stride per array]]
    for ax in order:
        st = [a.strides[ax] for a in arrays]
        if dims and all(d == s * shape[ax] for d, s in zip(dims[-1][1], st)):
            dims[-1] = [dims[-1][0] * shape[ax], st]
        else:
            dims.append([shape[ax], st])
    if len(dims) > 2:
        return None
    while len(dims) < 2:
        dims.insert(0, [1, [a.itemsize for a in arrays]])
    return [as_strided(a, shape=(dims[0][0], dims[1][0]),
                       strides=(dims[0][1][k], dims[1][1][k]), writeable=a.flags.writeable)
            for k, a in enumerate(arrays)]
