/* OpenMP is optional: without it the kernels run serially and these report one thread. */
#ifndef CXENT_OMP_SHIM_H
#define CXENT_OMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
static inline int cxent_has_openmp(void) { return 1; }
static inline int cxent_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int cxent_has_openmp(void) { return 0; }
static inline int cxent_max_threads(void) { return 1; }
#endif
#endif
