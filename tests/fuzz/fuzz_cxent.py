"""atheris (libFuzzer) harness: every public function of cxent on inputs decoded from the
fuzzer's bytes: shape (0-size axes included), dtype, memory layout, values (nan, +-inf, +-0,
subnormal, huge), axis, options, targets (out of range, negative) and out=/grad_out= buffers that alias an argument.

A call must return or raise TypeError, ValueError or IndexError; it must not modify an input
(other than an out=/grad_out= it was given), and its result must be bit for bit the result of the
same call on C-contiguous copies.  Anything else (a crash, another exception, a changed input,
different bits) is a finding.

    python tests/fuzz/fuzz_cxent.py -atheris_runs=1000000      # one campaign
    python tests/fuzz/fuzz_cxent.py corpus_dir/                 # keep a corpus

``tests/test_fuzz.py`` runs the same checks under hypothesis in the normal suite.
"""

import sys
import warnings

import numpy as np

import cxent

ALLOWED = (TypeError, ValueError, IndexError)
SPECIAL = np.array(
    [
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        1e-40,
        -1e-310,
        3e38,
        -3e38,
        1e300,
        88.7,
        -103.9,
        1.0,
        -1.0,
        0.5,
    ]
)
# every public function (the torch-style classes wrap them; show_config prints)
FUNCTIONS = [n for n in cxent.__all__ if n[0].islower() and n not in ("show_config",)]
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.bool_, np.complex64]


class _Bytes:
    """Decodes small integers and floats from the fuzzer's input (atheris's provider when there)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def int(self, n):  # in [0, n)
        if self.pos >= len(self.data):
            return 0
        v = self.data[self.pos]
        self.pos += 1
        return v % n

    def values(self, size):
        out = np.empty(size)
        for k in range(size):
            kind = self.int(4)
            out[k] = SPECIAL[self.int(len(SPECIAL))] if kind == 0 else (self.int(256) - 128) / 8.0
        return out


def _layout(b, a):
    kind = b.int(7)
    if a.ndim == 0 or kind == 0:
        return a.copy()
    if kind == 1:
        return np.array(a, order="F", copy=True)
    if kind == 2:
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        v = big[tuple(slice(None, None, 2) for _ in a.shape)]
        v[...] = a
        return v
    if kind == 3:
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return a[flip].copy()[flip]
    if kind == 4 and a.dtype.kind == "f":
        return a.astype(a.dtype.newbyteorder())
    if kind == 5 and a.dtype.itemsize > 1:
        raw = np.empty(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
        raw[...] = a
        return raw
    c = a.copy()
    c.flags.writeable = False
    return c


def _bytes_of(r):
    parts = r if isinstance(r, tuple) else (r,)
    return b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


def one_input(data):
    with np.errstate(all="ignore"):  # building the arguments (casts of huge values) is quiet
        built = _arguments(_Bytes(data))
    _check(*built)


def _arguments(b):
    name = FUNCTIONS[b.int(len(FUNCTIONS))]
    shape = tuple(b.int(6) for _ in range(b.int(5)))
    dtype = DTYPES[b.int(len(DTYPES))] if b.int(4) == 0 else (np.float32, np.float64)[b.int(2)]
    size = int(np.prod(shape))
    a = b.values(size).reshape(shape).astype(dtype)
    args, kwargs = [a], {}
    if name in ("softmax", "log_softmax", "logsumexp") + (
        "softmax_backward",
        "log_softmax_backward",
    ):
        axis = [None, 0, 1, -1, 2, (0, 1), 5][b.int(7)]
        kwargs["axis"] = axis
        if "backward" in name:
            args.append(b.values(size).reshape(shape).astype(dtype))
    elif "nll" in name or "cross" in name:
        if b.int(3) == 0:
            args.append(b.values(size).reshape(shape).astype(dtype))  # probabilities (or junk)
        else:
            tshape = shape[:1] + shape[2:] if len(shape) >= 2 else ()
            args.append(
                (np.array([b.int(9) for _ in range(int(np.prod(tshape)))], np.int64) - 2).reshape(
                    tshape
                )
            )
        kwargs["reduction"] = ("mean", "sum", "none", "bad")[b.int(4)]
        if b.int(2):
            kwargs["ignore_index"] = (-100, 0, 1, 2**70)[b.int(4)]
        if b.int(2) and len(shape) >= 1:
            c = shape[0] if len(shape) == 1 else shape[1]
            kwargs["weight"] = b.values(c).astype(dtype) if b.int(4) else b.values(c + 1)
        if "cross" in name and b.int(2):
            kwargs["label_smoothing"] = (0.0, 0.1, 1.0, -0.5, 1.5)[b.int(5)]
        if "cross" in name and b.int(3) == 0:
            kwargs["z_loss"] = (1e-4, -1.0)[b.int(2)]
    elif "binary" in name:
        args.append(b.values(size).reshape(shape).astype(dtype))
        kwargs["reduction"] = ("mean", "sum", "none")[b.int(3)]
        if b.int(2) and shape:
            kwargs["weight"] = b.values(shape[-1])
        if "logits" in name and b.int(2) and shape:
            kwargs["pos_weight"] = b.values(shape[-1])
    contiguous = [np.array(x, copy=True) for x in args]
    args = [_layout(b, x) for x in args]
    if "and_grad" in name and b.int(3) == 0:
        kwargs["grad_out"] = args[0]  # in place (refused when the input is read-only)
    elif name in ("softmax", "log_softmax", "sigmoid", "log_sigmoid") and b.int(3) == 0:
        kwargs["out"] = args[0] if b.int(2) else np.empty(shape, np.float32)
    return name, args, kwargs, contiguous


def _check(name, args, kwargs, contiguous):
    before = [np.array(x, copy=True) for x in args]
    fn = getattr(cxent, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NumPy warning may leak out of cxent
            result = fn(*args, **kwargs)
    except ALLOWED:
        return
    written = [kwargs.get("out"), kwargs.get("grad_out")]
    for x, x0 in zip(args, before):
        if not any(x is w for w in written):
            assert np.array_equal(x, x0, equal_nan=True), f"{name} modified an input"
    base_kwargs = {k: v for k, v in kwargs.items() if k not in ("out", "grad_out")}
    base = fn(*contiguous, **base_kwargs)  # in place or not: the bits of the plain call
    assert _bytes_of(result) == _bytes_of(base), f"{name}: the layout changed the bits"


def main():
    import atheris

    atheris.instrument_all()  # coverage of cxent's Python layer guides the fuzzer
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
