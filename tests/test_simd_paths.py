"""The AVX-512 path gives the AVX2 path's bits (``_simd.h`` note G).

The AVX-512 table runs the same operations per element as AVX2, 16 lanes wide, and pairs its
lanes back into AVX2's partial sums, so every public function must return the same bits on
both.  Run on a CPU with AVX-512 (where it is the default path): the same battery of calls in
this process and in a child process with ``CXENT_SIMD=avx2``, compared with
``assert_array_equal``.  The battery covers every row length class (short rows, the 32-class
steps and their tails, the blocks of 256), the column layouts (class axis not last, F order, the
group copy), special values (inf, nan, ties, all -inf rows), element-wise spans of every tail
length, probability targets, BCE and BCE-with-logits with their options and gradients, and kl_div.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import cxent

PATH = cxent._config.simd_path()


def _battery():
    rng = np.random.default_rng(20261202)
    out = {}
    for dt in (np.float32, np.float64):
        name = np.dtype(dt).name
        for c in (1, 2, 7, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 1000, 4099):
            x = (rng.standard_normal((19, c)) * 4).astype(dt)
            x[1, c // 2] = 60  # a dominant class
            x[2] = -np.inf
            x[3, 0] = np.nan
            x[4] = x[4, 0]  # all tied
            x[5, -1] = np.inf
            x[6, c // 3] = -np.inf
            t = rng.integers(0, c, 19)
            k = f"{name}_{c}"
            out["log_softmax_" + k] = cxent.log_softmax(x, axis=1)
            out["softmax_" + k] = cxent.softmax(x, axis=1)
            out["logsumexp_" + k] = cxent.logsumexp(x, axis=1)
            out["ce_none_" + k] = cxent.cross_entropy(x, t, reduction="none")
            out["ce_" + k] = np.asarray(cxent.cross_entropy(x[7:], t[7:]))
            out["ce_ls_" + k] = np.asarray(cxent.cross_entropy(x[7:], t[7:], label_smoothing=0.1))
            loss, grad = cxent.cross_entropy_and_grad(x[7:], t[7:])
            out["ceg_" + k], out["ceg_grad_" + k] = np.asarray(loss), grad
            wc = rng.random(c).astype(dt) + 0.5
            loss, grad = cxent.cross_entropy_and_grad(x[7:], t[7:], weight=wc, label_smoothing=0.1)
            out["cegw_" + k], out["cegw_grad_" + k] = np.asarray(loss), grad
            out["cew_none_" + k] = cxent.cross_entropy(x, t, weight=wc, reduction="none")
            pt = cxent.softmax((rng.standard_normal((19, c)) * 2).astype(dt), axis=1)
            out["cep_none_" + k] = cxent.cross_entropy(x, pt, reduction="none")
            loss, grad = cxent.cross_entropy_and_grad(x[7:], pt[7:], weight=wc, label_smoothing=0.2)
            out["cepg_" + k], out["cepg_grad_" + k] = np.asarray(loss), grad
            wi = wc.copy()
            wi[0] = np.inf  # an infinite w q: the maximum's term exactly 0
            out["cep_inf_" + k] = cxent.cross_entropy(x[7:], pt[7:], weight=wi, reduction="none")
            g = rng.standard_normal(x.shape).astype(dt)
            y = cxent.softmax(x[7:], axis=1)
            out["smb_" + k] = cxent.softmax_backward(g[7:], y, axis=1)
            out["lsmb_" + k] = cxent.log_softmax_backward(g[7:], np.log(y), axis=1)
            xf = np.asfortranarray(np.concatenate([x] * 14))  # 266 rows: the group copy and its tail
            out["F_log_softmax_" + k] = cxent.log_softmax(xf, axis=1)
            out["F_ce_none_" + k] = cxent.cross_entropy(xf, np.concatenate([t] * 14), reduction="none")
            out["F_lse_" + k] = cxent.logsumexp(xf, axis=1)
        for shape in ((2, 21, 9, 17), (3, 150, 5, 7), (2, 1000, 3, 50), (2, 40, 130), (1, 5, 300)):
            x = (rng.standard_normal(shape) * 4).astype(dt)
            x[0, :, 0] = -np.inf
            x[0, 3, 1] = np.nan
            t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
            k = f"{name}_{'x'.join(map(str, shape))}"
            out["nc_ce_none_" + k] = cxent.cross_entropy(x, t, reduction="none")
            out["nc_log_softmax_" + k] = cxent.log_softmax(x, axis=1)
            out["nc_softmax_" + k] = cxent.softmax(x, axis=1)
            loss, grad = cxent.cross_entropy_and_grad(x, t, label_smoothing=0.05)
            out["nc_ceg_" + k], out["nc_ceg_grad_" + k] = np.asarray(loss), grad
            pt = cxent.softmax(rng.standard_normal(shape).astype(dt), axis=1)
            out["nc_cep_none_" + k] = cxent.cross_entropy(x, pt, reduction="none", label_smoothing=0.1)
        for n in list(range(0, 40)) + [255, 256, 257, 1000, 4097]:
            v = (rng.standard_normal(n) * 12).astype(dt)
            s = min(n // 7, 7)  # special values in the first lanes
            v[:s] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 100.0, -100.0][:s]
            yt = rng.random(n).astype(dt)
            w = rng.random(n).astype(dt)
            k = f"{name}_{n}"
            out["sigmoid_" + k] = cxent.sigmoid(v)
            out["log_sigmoid_" + k] = cxent.log_sigmoid(v)
            out["bcel_none_" + k] = cxent.binary_cross_entropy_with_logits(v, yt, reduction="none")
            out["bcel_sum_" + k] = np.asarray(cxent.binary_cross_entropy_with_logits(v, yt, reduction="sum"))
            loss, grad = cxent.binary_cross_entropy_with_logits_and_grad(v, yt, weight=w, pos_weight=w + 0.5)
            out["bcelg_" + k], out["bcelg_grad_" + k] = np.asarray(loss), grad
            loss, grad = cxent.binary_cross_entropy_with_logits_and_grad(v, yt, pos_weight=dt(3))
            out["bcelp_" + k], out["bcelp_grad_" + k] = np.asarray(loss), grad
            pr = rng.random(n).astype(dt)
            # 0, 1 and small p (below 2^-29 log1p(-p) takes its factor t / (u - 1))
            pr[: min(n, 6)] = [0.0, 1.0, 0.5, 1e-10, 1e-30, 1 - 2.0**-20][: min(n, 6)]
            out["bce_none_" + k] = cxent.binary_cross_entropy(pr, yt, reduction="none")
            loss, grad = cxent.binary_cross_entropy_and_grad(pr, yt, weight=w)
            out["bceg_" + k], out["bceg_grad_" + k] = np.asarray(loss), grad
            lq = np.log(rng.random(n) + 0.01).astype(dt)
            out["kl_" + k] = cxent.kl_div(lq, pr, reduction="none")
            out["kl_log_" + k] = cxent.kl_div(lq, np.log(pr + 0.01).astype(dt), reduction="none",
                                            log_target=True)
        # sums of spans that end inside a 16-lane vector: the 8-lane partials' order shows in the
        # float32 result only now and then, so many of them
        sums = []
        for n in range(9, 48):
            for _ in range(40):
                v = (rng.standard_normal(n) * 3).astype(dt)
                sums.append(cxent.binary_cross_entropy_with_logits(v, rng.random(n).astype(dt), reduction="sum"))
        out["bcel_sums_" + name] = np.array(sums)
    return out


@pytest.mark.skipif(PATH != "avx512", reason=f"the AVX-512 path is not active here ({PATH})")
def test_avx512_bits_equal_avx2(tmp_path):
    dump = tmp_path / "avx2.npz"
    env = dict(os.environ, CXENT_SIMD="avx2")
    subprocess.run([sys.executable, __file__, str(dump)], env=env, check=True, timeout=600)
    with np.load(dump) as ref:
        ours = _battery()
        assert set(ref.files) == set(ours) and len(ours) > 1000
        for k, v in ours.items():
            np.testing.assert_array_equal(v, ref[k], err_msg=k, strict=True)


def test_forced_path_is_reported(tmp_path):
    # CXENT_SIMD=avx2 selects AVX2 (on a CPU without AVX2 the portable path), =portable the
    # portable one; the name is what cxent.show_config() prints
    for forced, allowed in (("avx2", {"avx2_fma", "portable"}), ("portable", {"portable"})):
        got = subprocess.run([sys.executable, "-c", "import cxent; print(cxent._config.simd_path())"],
                             env=dict(os.environ, CXENT_SIMD=forced), check=True,
                             capture_output=True, text=True).stdout.strip()
        assert got in allowed, (forced, got)


if __name__ == "__main__":
    assert PATH != "avx512", "the child must run another path"
    np.savez(sys.argv[1], **_battery())
