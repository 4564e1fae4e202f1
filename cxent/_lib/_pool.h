/* cxent's cache of large output buffers: a NumPy memory handler (NEP 49) that cxent installs only
 * around its own allocations of new outputs of at least CX_POOL_MIN bytes (cxent/_layout.py).
 *
 * A. Why: the kernel zeroes every fresh page it hands out.  A new 44 MB gradient costs about 5 ms
 *    of page faults on the 2-core development VM (clear_page_erms: 31 % of a (8, 21, 256, 256)
 *    cross_entropy_and_grad), more than the kernel itself spends writing it.  glibc returns blocks
 *    above its mmap threshold (at most 32 MiB) to the OS at each free, so a loop that allocates
 *    and drops a large output pays the faults on every call.  The cache keeps the mappings of
 *    freed outputs for the next one of the same rounded size instead.
 * B. Bounds: idle blocks total at most `cx_pool.max_idle` bytes (CXENT_OUTPUT_CACHE, default 1 GiB;
 *    0 turns the cache off), at most CX_POOL_SLOTS of them, the oldest evicted first; a block idle
 *    for more than `max_idle_s` seconds (5) is unmapped at the next allocation or free.
 * C. Blocks: mmap'ed, a multiple of 2 MiB, advised MADV_HUGEPAGE when NumPy advises its own
 *    large allocations (NUMPY_MADVISE_HUGEPAGE); the data starts CX_POOL_HEAD bytes in, after a
 *    header that records the mapping, so free and realloc need no lookup.  Requests below
 *    CX_POOL_MIN (a resize that shrinks an array) go to malloc, with the same header.
 * D. Thread safety: one mutex around the idle list; NumPy calls the handler with the GIL held,
 *    but nothing here relies on it.  Outputs are written completely by the kernels, so a reused
 *    block's old contents never show (calloc clears a reused block).
 */
#ifndef CXENT_POOL_H
#define CXENT_POOL_H

#include <Python.h>
#include <numpy/arrayobject.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define CX_POOL_MIN ((size_t)4 << 20)
#define CX_POOL_GRAIN ((size_t)2 << 20)
#define CX_POOL_HEAD 64
#define CX_POOL_SLOTS 16
#define CX_POOL_MAGIC_MAP 0x63786d6170ULL    /* "cxmap" */
#define CX_POOL_MAGIC_HEAP 0x6378686561ULL   /* "cxhea" */

typedef struct {
    uint64_t magic;
    uint64_t len;  /* bytes mapped (or malloc'ed), header included */
    uint64_t size; /* bytes asked for */
} cx_pool_head;

typedef struct {
    void *base;
    size_t len;
    double idle_since;
} cx_pool_block;

static struct {
    pthread_mutex_t lock;
    cx_pool_block idle[CX_POOL_SLOTS];
    int n;
    size_t idle_bytes, max_idle;
    double max_idle_s;
    int hugepage;
    unsigned long long hits, misses;
} cx_pool = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 0, (size_t)1 << 30, 5.0, 1, 0, 0};

static double cx_pool_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Under the lock: take blocks out of the idle list that are too old, or (need > 0) the oldest ones
   until `need` more bytes and one more slot fit; they are unmapped by the caller, unlocked. */
static int cx_pool_evict_locked(size_t need, double now, cx_pool_block *out) {
    int k = 0, j = 0;
    for (int i = 0; i < cx_pool.n; i++) { /* oldest first: the list is in order of freeing */
        cx_pool_block b = cx_pool.idle[i];
        int over = need && (cx_pool.idle_bytes + need > cx_pool.max_idle ||
                            cx_pool.n - k >= CX_POOL_SLOTS);
        if (over || now - b.idle_since > cx_pool.max_idle_s) {
            out[k++] = b;
            cx_pool.idle_bytes -= b.len;
        } else {
            cx_pool.idle[j++] = b;
        }
    }
    cx_pool.n = j;
    return k;
}

static void cx_pool_unmap(cx_pool_block *b, int k) {
    for (int i = 0; i < k; i++) munmap(b[i].base, b[i].len);
}

static void *cx_pool_malloc_impl(size_t size, int *fresh) {
    size_t total = size + CX_POOL_HEAD;
    cx_pool_head *h;
    cx_pool_block gone[CX_POOL_SLOTS];
    int k;
    *fresh = 1;
    if (total < size) return NULL; /* overflow */
    if (total < CX_POOL_MIN) {
        h = (cx_pool_head *)malloc(total);
        if (!h) return NULL;
        h->magic = CX_POOL_MAGIC_HEAP;
        h->len = total;
    } else {
        size_t len = (total + CX_POOL_GRAIN - 1) / CX_POOL_GRAIN * CX_POOL_GRAIN;
        void *base = NULL;
        pthread_mutex_lock(&cx_pool.lock);
        k = cx_pool_evict_locked(0, cx_pool_now(), gone);
        for (int i = cx_pool.n - 1; i >= 0; i--) /* the most recently freed block of this size */
            if (cx_pool.idle[i].len == len) {
                base = cx_pool.idle[i].base;
                cx_pool.idle_bytes -= len;
                memmove(cx_pool.idle + i, cx_pool.idle + i + 1,
                        (size_t)(cx_pool.n - i - 1) * sizeof(cx_pool_block));
                cx_pool.n--;
                break;
            }
        if (base) cx_pool.hits++; else cx_pool.misses++;
        pthread_mutex_unlock(&cx_pool.lock);
        cx_pool_unmap(gone, k);
        if (base) {
            *fresh = 0;
        } else {
            base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (base == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
            if (cx_pool.hugepage) madvise(base, len, MADV_HUGEPAGE);
#endif
        }
        h = (cx_pool_head *)base;
        h->magic = CX_POOL_MAGIC_MAP;
        h->len = len;
    }
    h->size = size;
    return (char *)h + CX_POOL_HEAD;
}

static void cx_pool_free_impl(void *p) {
    cx_pool_head *h;
    cx_pool_block gone[CX_POOL_SLOTS + 1];
    int k;
    if (!p) return;
    h = (cx_pool_head *)((char *)p - CX_POOL_HEAD);
    if (h->magic == CX_POOL_MAGIC_HEAP) {
        free(h);
        return;
    }
    size_t len = (size_t)h->len;
    double now = cx_pool_now();
    pthread_mutex_lock(&cx_pool.lock);
    if (len <= cx_pool.max_idle) {
        k = cx_pool_evict_locked(len, now, gone);
        cx_pool.idle[cx_pool.n].base = h;
        cx_pool.idle[cx_pool.n].len = len;
        cx_pool.idle[cx_pool.n].idle_since = now;
        cx_pool.n++;
        cx_pool.idle_bytes += len;
    } else { /* larger than the whole cache (or the cache is off): straight back to the OS */
        k = cx_pool_evict_locked(0, now, gone);
        gone[k].base = h;
        gone[k++].len = len;
    }
    pthread_mutex_unlock(&cx_pool.lock);
    cx_pool_unmap(gone, k);
}

static void *cx_pool_malloc(void *ctx, size_t size) {
    int fresh;
    (void)ctx;
    return cx_pool_malloc_impl(size, &fresh);
}

static void *cx_pool_calloc(void *ctx, size_t nelem, size_t elsize) {
    int fresh;
    void *p;
    (void)ctx;
    if (elsize && nelem > SIZE_MAX / elsize) return NULL;
    p = cx_pool_malloc_impl(nelem * elsize, &fresh);
    if (p && !(fresh && nelem * elsize + CX_POOL_HEAD >= CX_POOL_MIN)) /* fresh maps are zero */
        memset(p, 0, nelem * elsize);
    return p;
}

static void *cx_pool_realloc(void *ctx, void *p, size_t size) {
    int fresh;
    void *q;
    (void)ctx;
    if (!p) return cx_pool_malloc_impl(size, &fresh);
    cx_pool_head *h = (cx_pool_head *)((char *)p - CX_POOL_HEAD);
    q = cx_pool_malloc_impl(size, &fresh);
    if (!q) return NULL;
    memcpy(q, p, (size_t)h->size < size ? (size_t)h->size : size);
    cx_pool_free_impl(p);
    return q;
}

static void cx_pool_free(void *ctx, void *p, size_t size) {
    (void)ctx;
    (void)size;
    cx_pool_free_impl(p);
}

static PyDataMem_Handler cx_pool_handler = {
    "cxent_output_cache",
    1,
    {NULL, cx_pool_malloc, cx_pool_calloc, cx_pool_realloc, cx_pool_free},
};

/* The handler as NumPy's PyCapsule (a new reference). */
static PyObject *cx_pool_capsule(void) {
    return PyCapsule_New(&cx_pool_handler, "mem_handler", NULL);
}

static void cx_pool_configure(size_t max_idle, double max_idle_s, int hugepage) {
    cx_pool_block gone[CX_POOL_SLOTS];
    int k;
    pthread_mutex_lock(&cx_pool.lock);
    cx_pool.max_idle = max_idle;
    cx_pool.max_idle_s = max_idle_s;
    cx_pool.hugepage = hugepage;
    k = cx_pool_evict_locked(1, cx_pool_now(), gone); /* what no longer fits (all, for 0) */
    pthread_mutex_unlock(&cx_pool.lock);
    cx_pool_unmap(gone, k);
}

static void cx_pool_stats(size_t *idle_bytes, int *idle_blocks, unsigned long long *hits,
                          unsigned long long *misses) {
    pthread_mutex_lock(&cx_pool.lock);
    *idle_bytes = cx_pool.idle_bytes;
    *idle_blocks = cx_pool.n;
    *hits = cx_pool.hits;
    *misses = cx_pool.misses;
    pthread_mutex_unlock(&cx_pool.lock);
}

#endif
