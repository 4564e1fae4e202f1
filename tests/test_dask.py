"""cxent.dask on a real dask.distributed cluster (2 worker processes), against the NumPy functions.

Class axis in one chunk (any chunking of rows and of the other axes): bitwise equal, dtype and
result type included.  Class axis split (vocabulary-parallel): within a few ulp (float32: 8 eps
relative, 8 eps of the gradient's largest value absolute; float64: 64 eps).
"""


import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="cxent.dask needs dask: pip install 'cxent[dask]'")
distributed = pytest.importorskip("distributed",
                                  reason="the cluster tests need distributed: pip install "
                                         "'cxent[dask]'")

import dask

import cxent
import cxent.dask as cd


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="2GiB")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


RNG = np.random.default_rng(2026)


def _same(got, want):
    """Bitwise equality (sign bits of zeros and nan positions included) and the same type."""
    assert type(got) is type(want), (type(got), type(want))
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def _close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    eps = np.finfo(want.dtype).eps * (8 if want.dtype == np.float32 else 64)
    scale = np.max(np.abs(want[np.isfinite(want)]), initial=0.0)
    np.testing.assert_allclose(got, want, rtol=eps, atol=eps * scale)


def _check(results, wants, split):
    for got, want in zip(results, wants):
        if want is None:
            assert got is None
        elif split:
            _close(got, want)
        else:
            _same(got, want)


def _compute(*objs):
    return dask.compute(*objs)


# shape, chunks: rows uneven, class axis whole or split, spatial axes chunked
CLASS_CASES = [
    ((37, 11), ((10, 27), 11)),
    ((37, 11), ((5, 7, 11, 14), 11)),
    ((37, 11), ((10, 27), (5, 6))),
    ((37, 11), (37, (3, 3, 5))),
    ((6, 7, 5, 4), ((2, 4), 7, (2, 3), 4)),
    ((6, 7, 5, 4), (6, 7, 5, (1, 3))),
    ((6, 7, 5, 4), ((1, 5), (1, 6), 5, (1, 3))),
    ((6, 7, 5, 4), (3, (3, 4), (2, 3), 4)),
    ((11,), (11,)),
    ((11,), ((4, 7),)),
]
OPTIONS = [
    {},
    {"weight": np.linspace(0.5, 2.0, 11)},
    {"ignore_index": 3},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"weight": np.linspace(0.5, 2.0, 11), "label_smoothing": 0.2, "z_loss": 1e-3,
     "ignore_index": 2},
]


def _split(x):
    return len(x.chunks[0 if x.ndim == 1 else 1]) > 1


def _index_case(shape, dtype):
    x = (RNG.normal(size=shape) * 3).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    t = RNG.integers(0, c, () if len(shape) == 1 else (shape[0],) + shape[2:])
    if t.ndim:
        t.flat[::5] = -100
    return x, t


def _opts_for(opts, c):
    o = dict(opts)
    if "weight" in o:
        o["weight"] = np.resize(o["weight"], c)
    return o


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,chunks", CLASS_CASES)
def test_class_losses(client, shape, chunks, dtype):
    x, t = _index_case(shape, dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    X = da.from_array(x, chunks=chunks)
    T = da.from_array(t, chunks=-1) if t.ndim else t  # a Dask target, or NumPy
    lazy, wants = [], []
    for opts in OPTIONS:
        o = _opts_for(opts, c)
        tt, TT = t, T
        if "ignore_index" in o:  # the ignored rows marked with this ignore_index instead
            tt = np.where(t == -100, o["ignore_index"], t)
            TT = da.from_array(tt, chunks=-1) if t.ndim else tt
        for red in ("mean", "sum", "none"):
            for fn in ("cross_entropy", "nll_loss"):
                oo = o if fn == "cross_entropy" else {k: v for k, v in o.items()
                                                      if k in ("weight", "ignore_index")}
                lazy.append(getattr(cd, fn)(X, TT, reduction=red, **oo))
                wants.append(getattr(cxent, fn)(x, tt, reduction=red, **oo))
                lazy.extend(getattr(cd, fn + "_and_grad")(X, TT, reduction=red, **oo))
                wants.extend(getattr(cxent, fn + "_and_grad")(x, tt, reduction=red, **oo))
    _check(_compute(*lazy), wants, _split(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,chunks", CLASS_CASES)
def test_probability_targets(client, shape, chunks, dtype):
    x = (RNG.normal(size=shape) * 3).astype(dtype)
    p = RNG.random(shape).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    X = da.from_array(x, chunks=chunks)
    P = da.from_array(p, chunks=-1)  # rechunked to the input's blocks
    lazy, wants = [], []
    for opts in OPTIONS:
        o = {k: v for k, v in _opts_for(opts, c).items() if k != "ignore_index"}
        for red in ("mean", "sum", "none"):
            lazy.append(cd.cross_entropy(X, P, reduction=red, **o))
            wants.append(cxent.cross_entropy(x, p, reduction=red, **o))
            lazy.extend(cd.cross_entropy_and_grad(X, P, reduction=red, **o))
            wants.extend(cxent.cross_entropy_and_grad(x, p, reduction=red, **o))
    _check(_compute(*lazy), wants, _split(X))


@pytest.mark.parametrize("shape,chunks", CLASS_CASES[:8])
def test_grad_output(client, shape, chunks):
    x, t = _index_case(shape, np.float32)
    X = da.from_array(x, chunks=chunks)
    go = RNG.normal(size=t.shape)
    lazy = list(cd.cross_entropy_and_grad(X, t, reduction="none", grad_output=go))
    lazy += list(cd.cross_entropy_and_grad(X, t, reduction="none",
                                           grad_output=da.from_array(go, chunks=2)))
    lazy += list(cd.cross_entropy_and_grad(X, t, reduction="mean", grad_output=2.5))
    lazy += list(cd.nll_loss_and_grad(X, t, reduction="sum", grad_output=-1.5))
    wants = list(cxent.cross_entropy_and_grad(x, t, reduction="none", grad_output=go)) * 2
    wants += list(cxent.cross_entropy_and_grad(x, t, reduction="mean", grad_output=2.5))
    wants += list(cxent.nll_loss_and_grad(x, t, reduction="sum", grad_output=-1.5))
    _check(_compute(*lazy), wants, _split(X))


@pytest.mark.parametrize("chunks", [((10, 27), 11), (37, (5, 6))])
def test_all_ignored_and_edge_logits(client, chunks):
    x, _ = _index_case((37, 11), np.float32)
    t = np.full(37, -100)
    X = da.from_array(x, chunks=chunks)
    for red in ("mean", "sum", "none"):
        got = cd.cross_entropy(X, t, reduction=red).compute()
        want = cxent.cross_entropy(x, t, reduction=red)
        np.testing.assert_array_equal(got, want)  # mean: nan, as the NumPy call and torch
    x2 = x.copy()
    x2[0, 3], x2[1, :] = -np.inf, -np.inf
    x2[2, 4], x2[3, 5] = np.inf, np.nan
    t2 = RNG.integers(0, 11, 37)
    t2[0] = 1
    X2 = da.from_array(x2, chunks=chunks)
    for opts in ({}, {"label_smoothing": 0.1}):
        got = cd.cross_entropy(X2, t2, reduction="none", **opts).compute()
        want = cxent.cross_entropy(x2, t2, reduction="none", **opts)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        ok = np.isfinite(want)
        _close(got[ok], want[ok])
        for fn in ("softmax", "log_softmax"):
            g, w = getattr(cd, fn)(X2, axis=1).compute(), getattr(cxent, fn)(x2, axis=1)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            ok = np.isfinite(w)
            _close(g[ok], w[ok])


NORM_CASES = [((37, 11), ((10, 27), 11)), ((37, 11), (37, (5, 6))),
              ((6, 7, 5, 4), (3, (3, 4), (2, 3), 4)), ((6, 7, 5, 4), (2, 7, 5, (1, 3)))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,chunks", NORM_CASES)
def test_normalisers(client, shape, chunks, dtype):
    x = (RNG.normal(size=shape) * 3).astype(dtype)
    g = RNG.normal(size=shape).astype(dtype)
    X, G = da.from_array(x, chunks=chunks), da.from_array(g, chunks=chunks)
    for axis in range(-1, len(shape)):
        split = len(X.chunks[axis]) > 1
        lazy, wants = [], []
        for fn in ("softmax", "log_softmax"):
            lazy.append(getattr(cd, fn)(X, axis=axis))
            wants.append(getattr(cxent, fn)(x, axis=axis))
        y, ly = cxent.softmax(x, axis=axis), cxent.log_softmax(x, axis=axis)
        lazy.append(cd.softmax_backward(G, da.from_array(y, chunks=chunks), axis=axis))
        wants.append(cxent.softmax_backward(g, y, axis=axis))
        lazy.append(cd.log_softmax_backward(G, da.from_array(ly, chunks=chunks), axis=axis))
        wants.append(cxent.log_softmax_backward(g, ly, axis=axis))
        for keepdims in (False, True):
            lazy.append(cd.logsumexp(X, axis=axis, keepdims=keepdims))
            wants.append(cxent.logsumexp(x, axis=axis, keepdims=keepdims))
        _check(_compute(*lazy), wants, split)
    for axis in (None, (0, 1), (0, -1)):
        for keepdims in (False, True):
            got = cd.logsumexp(X, axis=axis, keepdims=keepdims).compute()
            want = cxent.logsumexp(x, axis=axis, keepdims=keepdims)
            axes = range(len(shape)) if axis is None else [a % len(shape) for a in axis]
            if all(len(X.chunks[a]) == 1 for a in axes):
                _same(got, want)
            else:
                _close(got, want)
    lazy = [cd.sigmoid(X), cd.log_sigmoid(X)]
    _check(_compute(*lazy), [cxent.sigmoid(x), cxent.log_sigmoid(x)], False)


BINARY_CASES = [((3000, 7), (1000, 7)), ((64 * 128 + 5, 3), (64 * 128, 3)),
                ((8192, 4), ((2048, 6144), 4)), ((41, 13), ((20, 21), (6, 7))), ((50,), (7,))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,chunks", BINARY_CASES)
def test_binary_losses(client, shape, chunks, dtype):
    x = (RNG.normal(size=shape) * 3).astype(dtype)
    p = cxent.sigmoid(x)
    y = (RNG.random(shape) > 0.5).astype(dtype)
    w = RNG.random(shape[-1:]).astype(dtype)
    X, Pr = da.from_array(x, chunks=chunks), da.from_array(p, chunks=chunks)
    lazy, wants = [], []
    for red in ("mean", "sum", "none"):
        for opts in ({}, {"weight": w}, {"weight": da.from_array(w)}):
            wo = {k: np.asarray(v) for k, v in opts.items()}
            lazy.append(cd.binary_cross_entropy(Pr, y, reduction=red, **opts))
            wants.append(cxent.binary_cross_entropy(p, y, reduction=red, **wo))
            lazy.extend(cd.binary_cross_entropy_and_grad(Pr, y, reduction=red, **opts))
            wants.extend(cxent.binary_cross_entropy_and_grad(p, y, reduction=red, **wo))
        for opts in ({}, {"weight": w, "pos_weight": w[::-1].copy()}):
            lazy.append(cd.binary_cross_entropy_with_logits(X, y, reduction=red, **opts))
            wants.append(cxent.binary_cross_entropy_with_logits(x, y, reduction=red, **opts))
            lazy.extend(cd.binary_cross_entropy_with_logits_and_grad(X, y, reduction=red,
                                                                      **opts))
            wants.extend(cxent.binary_cross_entropy_with_logits_and_grad(x, y, reduction=red,
                                                                         **opts))
    _check(_compute(*lazy), wants, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,chunks", BINARY_CASES)
def test_kl_div(client, shape, chunks, dtype):
    x = np.log(RNG.random(shape)).astype(dtype)
    p = RNG.random(shape).astype(dtype)
    X = da.from_array(x, chunks=chunks)
    lazy, wants = [], []
    for red in ("mean", "batchmean", "sum", "none"):
        for lt, t in ((False, p), (True, np.log(p)), (False, p[..., :1] if p.ndim else p)):
            lazy.append(cd.kl_div(X, t, red, lt))
            wants.append(cxent.kl_div(x, t, red, lt))
            lazy.extend(cd.kl_div_and_grad(X, da.from_array(t), red, lt, grad_output=1.5))
            wants.extend(cxent.kl_div_and_grad(x, t, red, lt, grad_output=1.5))
    _check(_compute(*lazy), wants, False)


SKL_CASES = [((40, 11), -1, (15, 11)), ((40, 11), -1, (15, (5, 6))), ((6, 7, 5), 1, (2, 7, (2, 3))),
             ((6, 7, 5), 1, (2, (3, 4), 5)), ((11,), 0, (11,)), ((11,), 0, ((4, 7),)),
             ((40, 11), 0, ((20, 20), 11))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis,chunks", SKL_CASES)
def test_softmax_kl_div(client, shape, axis, chunks, dtype):
    s = (RNG.normal(size=shape) * 2).astype(dtype)
    t = (RNG.normal(size=shape) * 2).astype(dtype)
    S = da.from_array(s, chunks=chunks)
    lazy, wants = [], []
    for red in ("batchmean", "mean", "sum", "none"):
        go = RNG.normal(size=shape) if red == "none" else 1.5
        lazy.append(cd.softmax_kl_div(S, t, 2.0, dim=axis, reduction=red))
        wants.append(cxent.softmax_kl_div(s, t, 2.0, dim=axis, reduction=red))
        lazy.extend(cd.softmax_kl_div_and_grad(S, da.from_array(t), 2.0, axis, reduction=red,
                                               grad_output=go))
        wants.extend(cxent.softmax_kl_div_and_grad(s, t, 2.0, axis, reduction=red,
                                                   grad_output=go))
    _check(_compute(*lazy), wants, len(S.chunks[axis]) > 1)


def test_classes(client):
    x, t = _index_case((37, 11), np.float32)
    X = da.from_array(x, chunks=(10, 11))
    w = np.linspace(0.5, 2.0, 11)
    _same(cd.CrossEntropyLoss(weight=w, label_smoothing=0.1)(X, t).compute(),
          cxent.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, t))
    _same(cd.NLLLoss(reduction="sum").and_grad(X, t)[1].compute(),
          cxent.NLLLoss(reduction="sum").and_grad(x, t)[1])
    p = cxent.sigmoid(x)
    y = (p > 0.5).astype(np.float32)
    _same(cd.BCELoss()(da.from_array(p, chunks=10), y).compute(), cxent.BCELoss()(p, y))
    lp = cxent.log_softmax(x, axis=1)
    _same(cd.KLDivLoss(reduction="batchmean").and_grad(da.from_array(lp, chunks=10), p)[1]
          .compute(), cxent.KLDivLoss(reduction="batchmean").and_grad(lp, p)[1])
    _same(cd.BCEWithLogitsLoss(pos_weight=w.astype(np.float32)).and_grad(X, y)[0].compute(),
          cxent.BCEWithLogitsLoss(pos_weight=w.astype(np.float32)).and_grad(x, y)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_cross_entropy(client, dtype):
    h = RNG.normal(size=(50, 8)).astype(dtype)
    w = RNG.normal(size=(13, 8)).astype(dtype)
    b = RNG.normal(size=13).astype(dtype)
    t = RNG.integers(0, 13, 50)
    t[::7] = -100
    H = da.from_array(h, chunks=(17, 4))
    for red in ("mean", "sum", "none"):
        for opts in ({}, {"label_smoothing": 0.1, "z_loss": 1e-3, "softcap": 5.0, "chunk_size": 3}):
            got = _compute(cd.linear_cross_entropy(H, w, t, b, reduction=red, **opts),
                           *cd.linear_cross_entropy_and_grad(H, w, da.from_array(t, chunks=9),
                                                             b, reduction=red, **opts))
            wants = [cxent.linear_cross_entropy(h, w, t, b, reduction=red, **opts),
                     *cxent.linear_cross_entropy_and_grad(h, w, t, b, reduction=red, **opts)]
            _check(got, wants, True)  # the row blocks' GEMMs may round differently
    _, gh, gw, gb = cd.linear_cross_entropy_and_grad(H, w, t)
    assert gb is None and gw.shape == (13, 8) and gh.chunks == ((17, 17, 16), (8,))


def test_values_raise_when_computed(client):
    x, t = _index_case((6, 7, 5, 4), np.float32)
    t[4, 3, 2] = 9
    for chunks in ((2, 7, 3, 4), (2, (3, 4), 3, 4)):
        X = da.from_array(x, chunks=chunks)
        for red in ("none", "mean", "sum"):
            loss = cd.cross_entropy(X, t, reduction=red)  # building the graph reads no value
            with pytest.raises(IndexError, match=r"value 9 at index \(4, 3, 2\)"):
                loss.compute()
    p = np.full((20, 3), 0.5, np.float32)
    p[13, 1] = 1.5
    with pytest.raises(ValueError, match=r"`input` must hold probabilities.*index \(13, 1\)"):
        cd.binary_cross_entropy(da.from_array(p, chunks=(5, 3)), p * 0, reduction="none").compute()
    h = np.ones((10, 4), np.float32)
    tl = np.zeros(10, np.int64)
    tl[8] = 5
    with pytest.raises(IndexError, match="value 5 at index 8"):
        cd.linear_cross_entropy(da.from_array(h, chunks=3), np.ones((5, 4), np.float32),
                                tl).compute()


def test_graph_time_errors_match_numpy():
    x = np.zeros((4, 3), np.float32)
    X = da.from_array(x, chunks=2)
    cases = [
        (lambda m, a: m.cross_entropy(a, np.zeros(5, np.int64)), ValueError),
        (lambda m, a: m.cross_entropy(a, np.zeros((4, 2), np.float32)), TypeError),
        (lambda m, a: m.cross_entropy(a, np.zeros(4, np.int64), reduction="avg"), ValueError),
        (lambda m, a: m.cross_entropy(a, np.zeros(4, np.int64), label_smoothing=2), ValueError),
        (lambda m, a: m.nll_loss(a, np.zeros(4, np.int64), weight=np.ones(2)), ValueError),
        (lambda m, a: m.softmax(a, axis=2), np.exceptions.AxisError),
        (lambda m, a: m.logsumexp(a.astype(np.complex64)), TypeError),
        (lambda m, a: m.binary_cross_entropy(a, np.zeros(3)), ValueError),
        (lambda m, a: m.linear_cross_entropy(a, np.zeros((5, 2)), np.zeros(4, np.int64)),
         ValueError),
    ]
    for make, exc in cases:
        with pytest.raises(exc) as want:
            make(cxent, x)
        with pytest.raises(exc) as got:
            make(cd, X)
        assert str(got.value) == str(want.value)


def test_tasks_run_one_thread(client):
    """Inside a task, cxent's OpenMP runtime (and BLAS) run one thread: the workers are the
    parallelism."""
    def probe():
        from threadpoolctl import threadpool_info
        return [(i["user_api"], i["num_threads"]) for i in threadpool_info()]

    inside = client.submit(cd._serial(probe), pure=False).result()
    assert inside and all(n == 1 for _, n in inside), inside


def test_no_rechunk_of_a_split_class_axis():
    x = da.zeros((64, 1000), chunks=(16, 250), dtype=np.float32)
    loss, g = cd.cross_entropy_and_grad(x, da.zeros(64, chunks=16, dtype=np.int64))
    assert g.chunks == x.chunks
    layers = loss.__dask_graph__().layers
    assert not any("rechunk" in name for name in layers), list(layers)
