/* Force-included (-include) into every kernel module on x86-64 glibc Linux by setup.py: bind the
 * libm functions whose current symbol versions are newer than the manylinux baseline to their
 * oldest ones, so that the extensions need no glibc newer than 2.14 (the wheel's policy then
 * depends on the vendored OpenMP runtime only).  glibc 2.29 gave exp and log new entry points
 * (GLIBC_2.29, without the SVID error wrapper); the GLIBC_2.2.5 entry points run the same code
 * behind that wrapper, so results are the same bit for bit.  cxent calls them once per row at
 * most (the element loops use their own polynomials). */
#ifndef CXENT_GLIBC_COMPAT_H
#define CXENT_GLIBC_COMPAT_H
#include <features.h>
#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver exp,exp@GLIBC_2.2.5");
__asm__(".symver log,log@GLIBC_2.2.5");
#endif
#endif
