"""What ``bench/run.py`` times: inputs, implementations and the registry of functions.

A. Registry.  ``FUNCTIONS`` lists one :class:`Function` per benchmarked call (a public cxent
   function, or a variant such as ``cross_entropy(ls=0.1)``).  A case is a function x a shape
   ``(N, C)`` x a dtype; run.py builds the cases and times every available implementation of each.
B. Implementations.  ``IMPLS`` names the columns: ``cxent`` (the package under test), ``numpy-ref``
   (``cxent._reference``, the plain-NumPy long-double twin of every public function), ``numpy`` (a
   lean NumPy composition written here: the input's dtype, no upcast, few temporaries), ``torch``
   (``torch.nn.functional``), ``torch-compile`` (the same torch calls through ``torch.compile``,
   static shapes, compiled by the untimed warm-up of each case for its thread count; skipped when
   no C++ compiler is found), ``scipy`` (``scipy.special``), ``jax`` (``jax.nn`` and optax's losses,
   ``jax.jit``-compiled, inputs on the device before timing, ``block_until_ready``) and ``sklearn``
   (scikit-learn's ``HalfMultinomialLoss`` / ``HalfBinomialLoss``, its Cython loss kernels).  An
   implementation whose module does not import is skipped; a function an implementation does not
   offer is left blank.  ``Impl.threaded`` says how it uses threads: "openmp" (cxent, torch,
   sklearn: run.py limits them per thread setting), "own" (JAX/XLA: its pool is fixed at start-up,
   so it is timed in the all-threads setting, and at 1 thread by a worker process pinned to one CPU)
   or "none" (NumPy, SciPy: single-threaded, timed in the 1-thread setting only).
C. Factories.  Each implementation of a function is a factory ``make(mod, a) -> fn``: ``mod`` is the
   loaded module and ``a`` the dict of NumPy inputs of the case; it prepares everything once
   (``torch.from_numpy`` shares memory, no copy; scratch buffers of the lean NumPy versions) and
   returns a zero-argument callable whose return value is the result (compared with cxent's).
   cxent and numpy-ref share the public signature: their factory is ``Function._mirror``.
D. Inputs.  ``make_input(kind, shape, dtype)`` builds one named input deterministically (a seed per
   kind): logits ``standard_normal * 3``, int64 class targets, probability targets (rows of a
   softmax), log-probabilities, BCE probabilities in (0, 1) and soft targets in [0, 1), upstream
   gradients.  All outputs are fresh arrays on every call (what users get); ``log_softmax(out=)``
   is the pre-allocated-output variant, where page faults of a fresh output do not count.

Adding a peer: one ``Impl`` in ``IMPLS`` and one factory per function in ``Function.peers``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

# ----------------------------------------------------------------------------- implementations


@dataclass(frozen=True)
class Impl:
    name: str  # column name
    module: str  # what to import; ImportError -> the column is skipped
    label: str  # one line for the header
    threaded: str = "none"  # "openmp" | "own" | "none" (note B)

    def load(self):
        if self.name == "jax":
            return _load_jax()
        if self.name == "torch-compile":
            return _load_torch_compile()
        return importlib.import_module(self.module)


def _load_jax():
    """jax with float64 enabled (float32 inputs stay float32) and optax, as one namespace."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import optax

    jax.optax = optax  # the factories reach optax through the loaded module
    return jax


def _load_torch_compile():
    """torch, when ``torch.compile``'s inductor backend can build its C++ kernels here."""
    import os
    import shutil

    import torch

    cxx = os.environ.get("CXX") or "g++"
    if not (shutil.which(cxx) or shutil.which("c++") or shutil.which("clang++")):
        raise ImportError(f"no C++ compiler ({cxx}, c++, clang++) on PATH: torch.compile's "
                          "inductor backend needs one")
    return torch


IMPLS = (
    Impl("cxent", "cxent", "cxent (the package under test)", "openmp"),
    Impl("numpy-ref", "cxent._reference", "cxent._reference: plain NumPy float64 twin"),
    Impl("numpy", "numpy", "lean NumPy composition in the input dtype (bench/_peers.py)"),
    Impl("torch", "torch", "torch.nn.functional on torch.from_numpy views", "openmp"),
    Impl("torch-compile", "torch", "torch.compile (inductor's C++) of the same torch calls, "
         "compiled in the untimed warm-up for the case's shape and thread count", "openmp"),
    Impl("scipy", "scipy.special", "scipy.special (softmax, log_softmax, logsumexp, expit, ...)"),
    Impl("jax", "jax", "jax.jit of jax.nn / optax losses (XLA CPU, its own thread pool)", "own"),
    Impl("sklearn", "sklearn._loss.loss",
         "scikit-learn HalfMultinomialLoss / HalfBinomialLoss (n_threads = the setting)", "openmp"),
)

#: Implementations that mirror cxent's public signatures.
MIRRORS = ("cxent", "numpy-ref")


# ----------------------------------------------------------------------------- inputs

_SEEDS = {"x": 1, "target": 2, "probs": 3, "logp": 4, "p": 5, "t": 6, "grad": 7, "y_soft": 8,
          "y_log": 9}


def _softmax_rows(z, log=False):
    """Row softmax (or log-softmax) of ``z`` in its own dtype, in place; returns ``z``."""
    for i in range(0, z.shape[0], 512):  # row blocks: bounded temporaries for 1 GiB inputs
        b = z[i:i + 512]
        b -= b.max(axis=1, keepdims=True)
        if log:
            b -= np.log(np.exp(b).sum(axis=1, keepdims=True))
        else:
            np.exp(b, out=b)
            b /= b.sum(axis=1, keepdims=True)
    return z


def make_input(kind, shape, dtype):
    """Input ``kind`` of the case ``shape=(N, C)``, ``dtype``; deterministic."""
    rng = np.random.default_rng(_SEEDS[kind])
    n, c = shape
    if kind == "target":
        return rng.integers(0, c, size=n, dtype=np.int64)
    if kind in ("x", "grad"):
        a = rng.standard_normal(shape, dtype=dtype)
        a *= 3
        return a
    if kind in ("probs", "logp", "y_soft", "y_log"):  # rows of a softmax / log_softmax
        z = rng.standard_normal(shape, dtype=dtype)
        z *= 3
        return _softmax_rows(z, log=kind in ("logp", "y_log"))
    if kind == "p":  # BCE probabilities, strictly inside (0, 1)
        a = rng.random(shape, dtype=dtype)
        a *= 0.998
        a += 0.001
        return a
    if kind == "t":  # BCE soft targets in [0, 1)
        return rng.random(shape, dtype=dtype)
    raise KeyError(kind)


# ----------------------------------------------------------------------------- the registry

Factory = Callable[[Any, Dict[str, np.ndarray]], Callable[[], Any]]


@dataclass(frozen=True)
class Function:
    name: str  # case label
    api: str  # the public cxent function it times
    args: Tuple[str, ...]  # input kinds, passed positionally to the public function
    kwargs: Dict[str, Any] = field(default_factory=dict)
    peers: Dict[str, Factory] = field(default_factory=dict)  # non-mirror implementations
    out: bool = False  # pass a pre-allocated ``out=`` (made once by the factory)
    grad: bool = False  # returns (loss, grad) (the checks compare any tuple member-wise)
    #: The (N, C) inputs the function must read in full: the bytes of run.py's ``bw`` column.
    #: None: every input but the class targets; () for the gathers (nll_loss): no ``bw``.
    streams: Optional[Tuple[str, ...]] = None

    def streamed(self):
        """The input kinds read in full (``streams``, else every (N, C) input)."""
        if self.streams is not None:
            return self.streams
        return tuple(k for k in self.args if k != "target")

    def factory(self, impl: str) -> Optional[Factory]:
        if impl in MIRRORS:
            return self._mirror
        return self.peers.get(impl)

    def _mirror(self, mod, a):
        fn = getattr(mod, self.api)  # run.py skips a module without it
        args = tuple(a[k] for k in self.args)
        kwargs = dict(self.kwargs)
        if self.out:
            kwargs["out"] = np.empty_like(args[0])
            kwargs["out"].fill(0)  # pre-fault the pages
        return lambda: fn(*args, **kwargs)


def _t(m, a, *kinds):
    """``torch.from_numpy`` views (no copy) of the inputs ``kinds``."""
    return tuple(m.from_numpy(a[k]) for k in kinds)


# --- lean NumPy compositions: the input dtype, row-max shift, reused scratch where it helps


def _np_lse(x, buf):
    m = x.max(axis=1)
    np.subtract(x, m[:, None], out=buf)
    np.exp(buf, out=buf)
    s = buf.sum(axis=1)
    np.log(s, out=s)
    s += m
    return s


def _np_softmax(a):
    x = a["x"]

    def run():
        out = np.subtract(x, x.max(axis=1, keepdims=True))
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    return run


def _np_log_softmax(a, prealloc=False):
    x = a["x"]
    buf = np.empty_like(x)
    out = np.zeros_like(x) if prealloc else None  # zeros: pages touched once, here

    def run():
        lse = _np_lse(x, buf)
        return np.subtract(x, lse[:, None], out=out)

    return run


def _np_logsumexp(a):
    x, buf = a["x"], np.empty_like(a["x"])
    return lambda: _np_lse(x, buf)


def _np_sigmoid(a):
    x = a["x"]

    def run():
        with np.errstate(over="ignore"):
            out = np.negative(x)
            np.exp(out, out=out)
            out += 1
            return np.reciprocal(out, out=out)

    return run


def _np_log_sigmoid(a):
    x = a["x"]

    def run():
        out = np.logaddexp(0, -x, dtype=x.dtype)
        return np.negative(out, out=out)

    return run


def _np_softmax_backward(a):
    g, y = a["grad"], a["y_soft"]

    def run():
        s = np.einsum("ij,ij->i", g, y)
        out = np.subtract(g, s[:, None])
        out *= y
        return out

    return run


def _np_log_softmax_backward(a):
    g, y = a["grad"], a["y_log"]

    def run():
        out = np.exp(y)
        out *= g.sum(axis=1, keepdims=True)
        return np.subtract(g, out, out=out)

    return run


def _np_cross_entropy(a, label_smoothing=0.0):
    x, t = a["x"], a["target"]
    buf, rows, eps = np.empty_like(x), np.arange(x.shape[0]), label_smoothing

    def run():
        loss = _np_lse(x, buf)
        if eps:
            loss -= (1 - eps) * x[rows, t] + eps * x.mean(axis=1)
        else:
            loss -= x[rows, t]
        return loss.mean()

    return run


def _np_cross_entropy_probs(a):
    x, p, buf = a["x"], a["probs"], np.empty_like(a["x"])

    def run():
        lse = _np_lse(x, buf)
        loss = lse * p.sum(axis=1) - np.einsum("ij,ij->i", p, x)
        return loss.mean()

    return run


def _np_cross_entropy_and_grad(a):
    x, t = a["x"], a["target"]
    rows, n = np.arange(x.shape[0]), x.shape[0]

    def run():  # grad = (softmax(x) - onehot(t)) / N, written into one fresh array
        m = x.max(axis=1)
        g = np.subtract(x, m[:, None])
        np.exp(g, out=g)
        s = g.sum(axis=1)
        loss = (np.log(s) + m - x[rows, t]).mean()
        g *= (1 / (n * s)).astype(x.dtype)[:, None]
        g[rows, t] -= x.dtype.type(1 / n)
        return loss, g

    return run


def _np_nll_loss(a):
    lp, t, rows = a["logp"], a["target"], np.arange(a["logp"].shape[0])
    return lambda: -lp[rows, t].mean()


def _np_bce(a):
    p, t = a["p"], a["t"]

    def run():
        lp = np.log(p)
        np.maximum(lp, -100, out=lp)
        lq = np.log1p(-p)
        np.maximum(lq, -100, out=lq)
        lp -= lq  # loss = -(t * log p + (1 - t) * log(1 - p)) = -(t * (lp - lq) + lq)
        lp *= t
        lp += lq
        return -lp.mean()

    return run


def _np_bce_with_logits(a):
    x, t = a["x"], a["t"]

    def run():  # max(x, 0) - x t + log1p(exp(-|x|))
        out = np.abs(x)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += np.maximum(x, 0)
        out -= x * t
        return out.mean()

    return run


def _np_bce_with_logits_and_grad(a):
    x, t = a["x"], a["t"]
    loss = _np_bce_with_logits(a)

    def run():  # grad = (sigmoid(x) - t) / numel
        with np.errstate(over="ignore"):
            g = np.negative(x)
            np.exp(g, out=g)
            g += 1
            np.reciprocal(g, out=g)
        g -= t
        g *= x.dtype.type(1 / x.size)
        return loss(), g

    return run


# --- scipy.special compositions


def _sp_cross_entropy(mod, a):
    x, t = a["x"], a["target"]
    return lambda: -np.take_along_axis(mod.log_softmax(x, axis=1), t[:, None], axis=1).mean()


def _sp_cross_entropy_probs(mod, a):
    x, p = a["x"], a["probs"]
    return lambda: -np.einsum("ij,ij->i", p, mod.log_softmax(x, axis=1)).mean()


def _sp_bce(mod, a):
    p, t = a["p"], a["t"]
    return lambda: -(mod.xlogy(t, p) + mod.xlog1py(1 - t, -p)).mean()


def _sp_bce_with_logits(mod, a):
    x, t = a["x"], a["t"]
    return lambda: -(t * mod.log_expit(x) + (1 - t) * mod.log_expit(-x)).mean()


def _np(fn):
    """Adapt a NumPy factory ``fn(a)`` to the ``(mod, a)`` factory signature."""
    return lambda mod, a: fn(a)


def _torch(call, *kinds, **kw):
    """Factory: ``call(torch)(*tensors, **kw)`` on ``torch.from_numpy`` views of ``kinds``."""
    def make(m, a):
        fn, ts = call(m), _t(m, a, *kinds)
        return lambda: fn(*ts, **kw)
    return make


def _torch_and_grad(call, *kinds, **kw):
    """Factory: the loss and ``torch.autograd.grad`` of it w.r.t. the first input."""
    def make(m, a):
        fn, ts = call(m), _t(m, a, *kinds)
        x = ts[0].requires_grad_(True)

        def run():
            loss = fn(x, *ts[1:], **kw)
            (g,) = m.autograd.grad(loss, x)
            return loss.detach(), g
        return run
    return make


def _compiled(m, fn):
    """``torch.compile(fn)`` for this case: static shapes, inductor's C++ kernels built for the
    thread count now set (its generated OpenMP loops fix their thread count when compiled)."""
    import torch._dynamo
    import torch._inductor.config as cfg

    torch._dynamo.reset()  # no graph of an earlier case (another shape or thread count) is reused
    cfg.cpp.threads = m.get_num_threads()
    return m.compile(fn, dynamic=False)


def _torch_compile(call, *kinds, **kw):
    """Factory: ``torch.compile`` of ``call(torch)(*tensors, **kw)``; compiled by the first call
    (run.py's untimed warm-up)."""
    def make(m, a):
        f, ts = call(m), _t(m, a, *kinds)
        fn = _compiled(m, lambda *args: f(*args, **kw))
        return lambda: fn(*ts)
    return make


def _torch_compile_and_grad(call, *kinds, **kw):
    """Factory: the compiled loss and ``torch.autograd.grad`` of it (AOTAutograd compiles the
    backward graph too)."""
    def make(m, a):
        f, ts = call(m), _t(m, a, *kinds)
        fn = _compiled(m, lambda *args: f(*args, **kw))
        x = ts[0].requires_grad_(True)

        def run():
            loss = fn(x, *ts[1:])
            (g,) = m.autograd.grad(loss, x)
            return loss.detach(), g
        return run
    return make


def _torch_log_softmax_out(m, a):
    (x,) = _t(m, a, "x")
    out = m.zeros_like(x)  # pre-faulted
    return lambda: m.log_softmax(x, 1, out=out)


def _scipy(name, *kinds, **kw):
    def make(m, a):
        fn, arrs = getattr(m, name), tuple(a[k] for k in kinds)
        return lambda: fn(*arrs, **kw)
    return make


# --- JAX (+ optax): jitted, inputs on the device before timing


def _jax(build, *kinds):
    """Factory: ``jax.jit(build(jax))`` on device copies of ``kinds``; waits for the result."""
    def make(jax, a):
        fn = jax.jit(build(jax))
        args = tuple(jax.device_put(a[k]) for k in kinds)

        def run():
            return jax.block_until_ready(fn(*args))
        return run
    return make


def _jax_ce(jax):
    return lambda x, t: jax.optax.softmax_cross_entropy_with_integer_labels(x, t).mean()


def _jax_ce_smooth(jax):
    optax = jax.optax

    def f(x, t):
        q = optax.smooth_labels(jax.nn.one_hot(t, x.shape[1], dtype=x.dtype), 0.1)
        return optax.softmax_cross_entropy(x, q).mean()
    return f


def _jax_ce_grad(jax):
    return jax.value_and_grad(_jax_ce(jax))


def _jax_bce_logits(jax):
    return lambda x, t: jax.optax.sigmoid_binary_cross_entropy(x, t).mean()


def _jax_bce(jax):
    jnp = jax.numpy

    def f(p, t):  # torch's BCELoss: each log clamped at -100
        lp = jnp.maximum(jnp.log(p), -100.0)
        lq = jnp.maximum(jnp.log1p(-p), -100.0)
        return -(t * lp + (1 - t) * lq).mean()
    return f


def _jax_nll(jax):
    jnp = jax.numpy
    return lambda lp, t: -jnp.take_along_axis(lp, t[:, None], axis=1).mean()


# --- scikit-learn's loss module (Cython, OpenMP): the multinomial loss is cross-entropy


def _sk_labels(a):
    return a["target"].astype(a["x"].dtype)  # float labels, of the logits' dtype


def _sk_threads():
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"),
               default=1)


def _sk_cross_entropy(mod, a):
    x, y = a["x"], _sk_labels(a)
    loss = mod.HalfMultinomialLoss(n_classes=x.shape[1])
    n = _sk_threads()
    return lambda: loss.loss(y_true=y, raw_prediction=x, n_threads=n).mean()


class LossOnly(float):
    """A peer's loss whose gradient is on another scale (sklearn's is per sample, not divided by N
    as a mean's): only the loss is compared with cxent's ``(loss, grad)``."""


def _sk_cross_entropy_and_grad(mod, a):
    x, y = a["x"], _sk_labels(a)
    loss = mod.HalfMultinomialLoss(n_classes=x.shape[1])
    n = _sk_threads()

    def run():  # the gradient (softmax - onehot per sample) is computed and written, not compared
        lv, _ = loss.loss_gradient(y_true=y, raw_prediction=x, n_threads=n)
        return LossOnly(lv.mean())
    return run


def _sk_bce_logits(mod, a):
    x, t = a["x"].reshape(-1), a["t"].reshape(-1)  # HalfBinomialLoss is 1-d
    loss = mod.HalfBinomialLoss()
    n = _sk_threads()
    return lambda: loss.loss(y_true=t, raw_prediction=x, n_threads=n).mean()


_F = "nn.functional."


def _tf(path, **bound):
    """``torch`` attribute path as a callable getter, e.g. ``_tf(_F + "softmax", dim=1)``."""
    def get(m):
        obj = m
        for part in path.split("."):
            obj = getattr(obj, part)
        return functools.partial(obj, **bound) if bound else obj
    return get


FUNCTIONS = (
    Function("softmax", "softmax", ("x",), {"axis": -1}, peers={
        "numpy": _np(_np_softmax),
        "torch": _torch(_tf(_F + "softmax", dim=1), "x"),
        "scipy": _scipy("softmax", "x", axis=1),
        "jax": _jax(lambda j: lambda x: j.nn.softmax(x, axis=1), "x"),
    }),
    Function("log_softmax", "log_softmax", ("x",), {"axis": -1}, peers={
        "numpy": _np(_np_log_softmax),
        "torch": _torch(_tf(_F + "log_softmax", dim=1), "x"),
        "torch-compile": _torch_compile(_tf(_F + "log_softmax", dim=1), "x"),
        "scipy": _scipy("log_softmax", "x", axis=1),
        "jax": _jax(lambda j: lambda x: j.nn.log_softmax(x, axis=1), "x"),
    }),
    Function("log_softmax(out=)", "log_softmax", ("x",), {"axis": -1}, out=True, peers={
        "numpy": _np(lambda a: _np_log_softmax(a, prealloc=True)),
        "torch": _torch_log_softmax_out,
    }),
    Function("logsumexp", "logsumexp", ("x",), {"axis": -1}, peers={
        "numpy": _np(_np_logsumexp),
        "torch": _torch(_tf("logsumexp", dim=1), "x"),
        "scipy": _scipy("logsumexp", "x", axis=1),
        "jax": _jax(lambda j: lambda x: j.nn.logsumexp(x, axis=1), "x"),
    }),
    Function("sigmoid", "sigmoid", ("x",), peers={
        "numpy": _np(_np_sigmoid),
        "torch": _torch(_tf("sigmoid"), "x"),
        "scipy": _scipy("expit", "x"),
        "jax": _jax(lambda j: j.nn.sigmoid, "x"),
    }),
    Function("log_sigmoid", "log_sigmoid", ("x",), peers={
        "numpy": _np(_np_log_sigmoid),
        "torch": _torch(_tf(_F + "logsigmoid"), "x"),
        "scipy": _scipy("log_expit", "x"),
        "jax": _jax(lambda j: j.nn.log_sigmoid, "x"),
    }),
    Function("softmax_backward", "softmax_backward", ("grad", "y_soft"), {"axis": -1}, peers={
        "numpy": _np(_np_softmax_backward),
        # aten's kernel behind softmax's autograd node: (grad_output, output, dim, input_dtype)
        "torch": _torch(lambda m: lambda g, y: m._softmax_backward_data(g, y, 1, y.dtype),
                        "grad", "y_soft"),
    }),
    Function("log_softmax_backward", "log_softmax_backward", ("grad", "y_log"), {"axis": -1},
             peers={
        "numpy": _np(_np_log_softmax_backward),
        "torch": _torch(lambda m: lambda g, y: m._log_softmax_backward_data(g, y, 1, y.dtype),
                        "grad", "y_log"),
    }),
    Function("cross_entropy", "cross_entropy", ("x", "target"), peers={
        "numpy": _np(_np_cross_entropy),
        "torch": _torch(_tf(_F + "cross_entropy"), "x", "target"),
        "torch-compile": _torch_compile(_tf(_F + "cross_entropy"), "x", "target"),
        "scipy": _sp_cross_entropy,
        "jax": _jax(_jax_ce, "x", "target"),
        "sklearn": _sk_cross_entropy,
    }),
    Function("cross_entropy(ls=0.1)", "cross_entropy", ("x", "target"), {"label_smoothing": 0.1},
             peers={
        "numpy": _np(lambda a: _np_cross_entropy(a, label_smoothing=0.1)),
        "torch": _torch(_tf(_F + "cross_entropy"), "x", "target", label_smoothing=0.1),
        "jax": _jax(_jax_ce_smooth, "x", "target"),
    }),
    Function("cross_entropy(probs)", "cross_entropy", ("x", "probs"), peers={
        "numpy": _np(_np_cross_entropy_probs),
        "torch": _torch(_tf(_F + "cross_entropy"), "x", "probs"),
        "scipy": _sp_cross_entropy_probs,
        "jax": _jax(lambda j: lambda x, p: j.optax.softmax_cross_entropy(x, p).mean(),
                    "x", "probs"),
    }),
    Function("cross_entropy_and_grad", "cross_entropy_and_grad", ("x", "target"), grad=True,
             peers={
        "numpy": _np(_np_cross_entropy_and_grad),
        "torch": _torch_and_grad(_tf(_F + "cross_entropy"), "x", "target"),
        "torch-compile": _torch_compile_and_grad(_tf(_F + "cross_entropy"), "x", "target"),
        "jax": _jax(_jax_ce_grad, "x", "target"),
        "sklearn": _sk_cross_entropy_and_grad,
    }),
    Function("nll_loss", "nll_loss", ("logp", "target"), streams=(), peers={
        "numpy": _np(_np_nll_loss),
        "torch": _torch(_tf(_F + "nll_loss"), "logp", "target"),
        "jax": _jax(_jax_nll, "logp", "target"),
    }),
    Function("nll_loss_and_grad", "nll_loss_and_grad", ("logp", "target"), grad=True, streams=(),
             peers={
        "torch": _torch_and_grad(_tf(_F + "nll_loss"), "logp", "target"),
    }),
    Function("binary_cross_entropy", "binary_cross_entropy", ("p", "t"), peers={
        "numpy": _np(_np_bce),
        "torch": _torch(_tf(_F + "binary_cross_entropy"), "p", "t"),
        "scipy": _sp_bce,
        "jax": _jax(_jax_bce, "p", "t"),
    }),
    Function("binary_cross_entropy_and_grad", "binary_cross_entropy_and_grad", ("p", "t"),
             grad=True, peers={
        "torch": _torch_and_grad(_tf(_F + "binary_cross_entropy"), "p", "t"),
        "jax": _jax(lambda j: j.value_and_grad(_jax_bce(j)), "p", "t"),
    }),
    Function("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", ("x", "t"),
             peers={
        "numpy": _np(_np_bce_with_logits),
        "torch": _torch(_tf(_F + "binary_cross_entropy_with_logits"), "x", "t"),
        "torch-compile": _torch_compile(_tf(_F + "binary_cross_entropy_with_logits"), "x", "t"),
        "scipy": _sp_bce_with_logits,
        "jax": _jax(_jax_bce_logits, "x", "t"),
        "sklearn": _sk_bce_logits,
    }),
    Function("binary_cross_entropy_with_logits_and_grad",
             "binary_cross_entropy_with_logits_and_grad", ("x", "t"), grad=True, peers={
        "numpy": _np(_np_bce_with_logits_and_grad),
        "torch": _torch_and_grad(_tf(_F + "binary_cross_entropy_with_logits"), "x", "t"),
        "jax": _jax(lambda j: j.value_and_grad(_jax_bce_logits(j)), "x", "t"),
    }),
)


def to_numpy(r):
    """A result as NumPy (torch tensors viewed, not copied; tuples element-wise)."""
    if isinstance(r, tuple):
        return tuple(to_numpy(v) for v in r)
    if hasattr(r, "detach"):  # torch.Tensor
        return r.detach().numpy()
    return np.asarray(r)


def max_rel_error(got, want, block=1 << 22):
    """``max|got - want| / max|want|`` over all elements; inf if the shapes differ, nan if ``got``
    has a nan.  Computed in blocks, in the wider of the two floating dtypes (a float32 difference
    is exact to 2**-24 of itself: ample for a 1e-4 tolerance), so a 1 GiB check takes ~0.3 s."""
    if isinstance(got, LossOnly) and isinstance(want, tuple):
        got, want = float(got), want[0]
    got, want = to_numpy(got), to_numpy(want)
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            return float("inf")
        return max(max_rel_error(g, w) for g, w in zip(got, want))
    if got.shape != want.shape:
        return float("inf")
    g, w = got.reshape(-1), want.reshape(-1)
    dtype = np.promote_types(g.dtype, w.dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    buf = np.empty(min(block, w.size), dtype)
    err = scale = 0.0
    for i in range(0, w.size, block):
        d = buf[:min(block, w.size - i)]
        np.subtract(g[i:i + block], w[i:i + block], out=d, casting="unsafe")
        e = float(np.abs(d, out=d).max())
        if np.isnan(e):
            return e
        err, scale = max(err, e), max(scale, float(np.abs(w[i:i + block]).max()))
    return err / scale if scale else err
