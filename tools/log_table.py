"""Print the tables of the table-driven logs in cxent/_lib/_simd.h: for interval i of z in
[0.703125, 1.40625) (the bits of z minus those of 0.703125, the top mantissa bits), invc = 1 / c
with c the interval's midpoint (c = 1 exactly for the interval that holds 1), and -log(invc) as a
pair (hi, lo).

  python tools/log_table.py          cx_log_pd: 16 intervals, double invc, log c to 106 bits
  python tools/log_table.py --float  cx_log8_hl (float32 BCE): 8 intervals, float invc, log c
                                     to 48 bits (two floats)
"""
import struct
import sys

import mpmath
import numpy as np

mpmath.mp.prec = 200
FLOAT = "--float" in sys.argv[1:]
if FLOAT:
    OFF, SHIFT, N, FMT, INT = 0x3F340000, 20, 8, "<f", "<I"
    rnd = np.float32
else:
    OFF, SHIFT, N, FMT, INT = 0x3FE6800000000000, 48, 16, "<d", "<Q"
    rnd = float


def from_bits(b):
    return struct.unpack(FMT, struct.pack(INT, b))[0]


rows = []
for i in range(N):
    lo = from_bits(OFF + (i << SHIFT))
    hi = from_bits(OFF + ((i + 1) << SHIFT))
    invc = 1.0 if lo <= 1.0 < hi else float(rnd(1 / ((mpmath.mpf(lo) + mpmath.mpf(hi)) / 2)))
    lc = -mpmath.log(mpmath.mpf(invc))
    lc_hi = float(rnd(float(lc)))
    lc_lo = float(rnd(float(lc - mpmath.mpf(lc_hi))))
    rows.append((invc, lc_hi, lc_lo))
for name, k in (("invc", 0), ("logc_hi", 1), ("logc_lo", 2)):
    vals = ", ".join(float.hex(r[k]) + ("f" if FLOAT else "") for r in rows)
    print(f"{name}: {vals}")
