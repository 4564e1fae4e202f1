"""Print the 16-entry table of cx_log_pd (cxent/_lib/_simd.h): for interval i of z in
[0.703125, 1.40625) (the bits of z minus 0x3fe6800000000000, top four mantissa bits), invc = 1 / c
with c the interval's midpoint (c = 1 exactly for the interval that holds 1), and -log(invc)
to 106 bits as a double pair (hi, lo).  Run: python tools/log_table.py"""
import struct

import mpmath

mpmath.mp.prec = 200
OFF = 0x3FE6800000000000


def bits_to_double(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


rows = []
for i in range(16):
    lo = bits_to_double(OFF + (i << 48))
    hi = bits_to_double(OFF + ((i + 1) << 48))
    invc = 1.0 if lo <= 1.0 < hi else float(1 / ((mpmath.mpf(lo) + mpmath.mpf(hi)) / 2))
    lc = -mpmath.log(mpmath.mpf(invc))
    lc_hi = float(lc)
    lc_lo = float(lc - mpmath.mpf(lc_hi))
    rows.append((invc, lc_hi, lc_lo))
for name, k in (("invc", 0), ("logc_hi", 1), ("logc_lo", 2)):
    vals = ", ".join(float.hex(r[k]) for r in rows)
    print(f"{name}: {vals}")
