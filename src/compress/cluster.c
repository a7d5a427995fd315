/* cluster.c — 1-D k-means weight clustering, its fine-tuning helpers and index bit packing
 * (see cluster.h).
 *
 * The fit sorts the weights once (radix sort on the float bit patterns, O(n)) and builds prefix
 * sums of x and x^2. In one dimension with sorted centroids every cluster is a contiguous run
 * of the sorted weights, bounded by the midpoints between neighbouring centroids, so a Lloyd
 * iteration is k binary searches plus k differences of prefix sums: O(k log n) instead of
 * O(n k), and k-means++'s D^2 sampling is O(k log n) per draw the same way. Only the final
 * assignment of each weight, in its original order, is O(n log k). */
#include "compress/cluster.h"

#include "core/core.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

vg_status vg_cluster_init_parse(const char *s, vg_cluster_init *out, vg_err *err) {
    if (s && strcmp(s, "linear") == 0) {
        *out = VG_CLUSTER_LINEAR;
    } else if (s && (strcmp(s, "kmeans++") == 0 || strcmp(s, "kmeanspp") == 0)) {
        *out = VG_CLUSTER_KMEANSPP;
    } else if (s && strcmp(s, "density") == 0) {
        *out = VG_CLUSTER_DENSITY;
    } else {
        return vg_err_set(err, VG_ERR_ARG,
                          "unknown cluster initialisation '%s' (expected linear, kmeans++ or "
                          "density)",
                          s ? s : "(null)");
    }
    return VG_OK;
}

const char *vg_cluster_init_name(vg_cluster_init init) {
    switch (init) {
    case VG_CLUSTER_LINEAR: return "linear";
    case VG_CLUSTER_KMEANSPP: return "kmeans++";
    case VG_CLUSTER_DENSITY: return "density";
    }
    return "unknown";
}

/* ---- sorting floats by their bit patterns */

/* Maps a float's bits to an unsigned key with the same order (negative floats reversed). */
static uint32_t float_key(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static float key_float(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* LSD radix sort of a[0..m) (m > 0) with b as the second buffer; returns whichever of the two
 * holds the result. A byte on which all keys agree (common: weights share exponents) costs one
 * histogram pass and no scatter. */
static uint32_t *radix_sort(uint32_t *a, uint32_t *b, int64_t m) {
    static const int shifts[4] = {0, 8, 16, 24};
    size_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < m; i++) {
        uint32_t k = a[i];
        cnt[0][k & 255]++;
        cnt[1][(k >> 8) & 255]++;
        cnt[2][(k >> 16) & 255]++;
        cnt[3][k >> 24]++;
    }
    for (int p = 0; p < 4; p++) {
        int s = shifts[p];
        if (cnt[p][(a[0] >> s) & 255] == (size_t)m) continue;
        size_t off[256], sum = 0;
        for (int d = 0; d < 256; d++) {
            off[d] = sum;
            sum += cnt[p][d];
        }
        for (int64_t i = 0; i < m; i++)
            b[off[(a[i] >> s) & 255]++] = a[i];
        uint32_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* ---- the sorted weights and their prefix sums */

typedef struct {
    const float *xs;       /* sorted values, m of them */
    const double *s1, *s2; /* prefix sums of (x - shift) and (x - shift)^2, m + 1 each */
    int64_t m;
    double shift; /* the median: keeps the prefix sums small, so differences cancel less */
} sorted_set;

/* First p in [lo, hi) with xs[p] > v, or hi. Ties go to the lower cluster, as in assign(). */
static int64_t upper_bound(const float *xs, int64_t lo, int64_t hi, double v) {
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((double)xs[mid] > v) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* Sum over xs[a..b) of (x - c)^2, b > a. Exact when the run is one repeated value, so that
 * "every point sits on its centroid" reads as exactly 0 and is not undone by rounding. */
static double run_sse(const sorted_set *d, int64_t a, int64_t b, double c) {
    double cnt = (double)(b - a);
    if (d->xs[a] == d->xs[b - 1]) {
        double e = (double)d->xs[a] - c;
        return e * e * cnt;
    }
    double dc = c - d->shift;
    double s = (d->s2[b] - d->s2[a]) - 2.0 * dc * (d->s1[b] - d->s1[a]) + dc * dc * cnt;
    return s > 0 ? s : 0;
}

/* Mean of xs[a..b), b > a, kept inside [xs[a], xs[b-1]] despite rounding. */
static float run_mean(const sorted_set *d, int64_t a, int64_t b) {
    float lo = d->xs[a], hi = d->xs[b - 1];
    if (lo == hi) return lo;
    double mu = (d->s1[b] - d->s1[a]) / (double)(b - a) + d->shift;
    float f = (float)mu;
    if (f < lo) f = lo;
    if (f > hi) f = hi;
    return f;
}

static double midpoint(float a, float b) {
    return 0.5 * ((double)a + (double)b);
}

/* Cluster j of the ascending centroids c[0..kf) is the run ending before bnd[j]
 * (bnd[kf-1] = m): the values in (mid(j-1, j), mid(j, j+1)]. */
static void boundaries(const sorted_set *d, const float *c, int kf, int64_t *bnd) {
    int64_t lo = 0;
    for (int j = 0; j + 1 < kf; j++) {
        lo = upper_bound(d->xs, lo, d->m, midpoint(c[j], c[j + 1]));
        bnd[j] = lo;
    }
    bnd[kf - 1] = d->m;
}

static void sort_small(float *c, int kf) {
    for (int i = 1; i < kf; i++) {
        float v = c[i];
        int j = i;
        for (; j > 0 && c[j - 1] > v; j--)
            c[j] = c[j - 1];
        c[j] = v;
    }
}

/* uniform in [0, 1) with 53 bits */
static double uniform53(vg_rng *r) {
    return (double)(vg_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- initialisations: kf ascending centroids from m > 0 sorted values */

static void init_linear(const sorted_set *d, int kf, float *c) {
    double lo = d->xs[0], hi = d->xs[d->m - 1];
    for (int j = 0; j < kf; j++) {
        double t = kf > 1 ? (double)j / (kf - 1) : 0.5;
        c[j] = (float)(lo + (hi - lo) * t);
    }
    c[0] = d->xs[0]; /* exact ends, whatever the rounding above */
    if (kf > 1) c[kf - 1] = d->xs[d->m - 1];
}

/* The (j + 1/2) / kf quantiles: equal-mass bins of the empirical CDF. */
static void init_density(const sorted_set *d, int kf, float *c) {
    for (int j = 0; j < kf; j++) {
        int64_t p = (int64_t)(((double)j + 0.5) * (double)d->m / kf);
        c[j] = d->xs[p < d->m ? p : d->m - 1];
    }
}

/* k-means++: the first centroid uniformly from the values, each next one with probability
 * proportional to its squared distance to the nearest centroid so far. The centroids are kept
 * sorted, so the D^2 mass of each centroid's run is a prefix-sum difference and the point is
 * found by binary search on the run's cumulative mass. Once all values sit on centroids (fewer
 * distinct values than kf), the rest repeat the largest. */
static void init_kmeanspp(const sorted_set *d, int kf, uint64_t seed, float *c, int64_t *bnd) {
    vg_rng r = vg_rng_make(seed, 0x636C7573746572ull /* "cluster" */, 0);
    int64_t first = (int64_t)(uniform53(&r) * (double)d->m);
    c[0] = d->xs[first < d->m ? first : d->m - 1];
    int t = 1;
    double mass[VG_CLUSTER_K_MAX];
    for (; t < kf; t++) {
        boundaries(d, c, t, bnd);
        double total = 0;
        for (int j = 0; j < t; j++) {
            int64_t a = j ? bnd[j - 1] : 0;
            mass[j] = bnd[j] > a ? run_sse(d, a, bnd[j], c[j]) : 0;
            total += mass[j];
        }
        if (!(total > 0)) break;
        double u = uniform53(&r) * total;
        int j = 0;
        while (j + 1 < t && (u >= mass[j] || mass[j] == 0)) {
            u -= mass[j];
            j++;
        }
        while (j > 0 && mass[j] == 0)
            j--; /* rounding left u past the last massive run */
        int64_t a = j ? bnd[j - 1] : 0, lo = a, hi = bnd[j] - 1;
        while (lo < hi) { /* first p whose cumulative mass over [a, p] exceeds u */
            int64_t mid = lo + (hi - lo) / 2;
            if (run_sse(d, a, mid + 1, c[j]) > u) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        c[t] = d->xs[lo];
        sort_small(c, t + 1);
    }
    for (; t < kf; t++)
        c[t] = c[t - 1];
}

/* ---- Lloyd */

/* Up to max_iters assignment + update steps on ascending c[0..kf); returns the number of
 * updates. Converged when an assignment equals the previous one (the centroids are then the
 * means of their clusters). An empty cluster is moved onto the farthest value (an end of the
 * run, in 1-D) of the cluster with the largest squared error, which it then takes over at the
 * next assignment: the total squared error never increases. c is ascending on return. */
static int lloyd(const sorted_set *d, float *c, int kf, int max_iters) {
    int64_t bnd[VG_CLUSTER_K_MAX], prev[VG_CLUSTER_K_MAX];
    double sse[VG_CLUSTER_K_MAX];
    int it = 0;
    for (; it < max_iters; it++) {
        boundaries(d, c, kf, bnd);
        if (it > 0 && memcmp(bnd, prev, (size_t)kf * sizeof bnd[0]) == 0) break;
        memcpy(prev, bnd, (size_t)kf * sizeof bnd[0]);
        int empty = 0;
        for (int j = 0; j < kf; j++) {
            int64_t a = j ? bnd[j - 1] : 0;
            if (bnd[j] > a) {
                c[j] = run_mean(d, a, bnd[j]);
                sse[j] = run_sse(d, a, bnd[j], c[j]);
            } else {
                sse[j] = -1;
                empty++;
            }
        }
        for (int j = 0; j < kf && empty > 0; j++) {
            int64_t a = j ? bnd[j - 1] : 0;
            if (bnd[j] > a) continue;
            int donor = -1;
            for (int i = 0; i < kf; i++) {
                if (sse[i] > 0 && (donor < 0 || sse[i] > sse[donor])) donor = i;
            }
            if (donor < 0) break; /* every value sits on a centroid: nothing to split */
            int64_t da = donor ? bnd[donor - 1] : 0, db = bnd[donor];
            double lo_d = fabs((double)d->xs[da] - c[donor]);
            double hi_d = fabs((double)d->xs[db - 1] - c[donor]);
            c[j] = lo_d > hi_d ? d->xs[da] : d->xs[db - 1];
            sse[donor] = 0; /* one split per donor and iteration */
        }
        sort_small(c, kf);
    }
    return it;
}

/* Index of the nearest of ascending c[0..kf) (ties to the lower): the number of midpoints below
 * x, the same rule as boundaries(). Branch-free binary search (the comparison selects the base
 * with a conditional move): on weights in random order a branchy search mispredicts about
 * every other step, which made the assignment the slowest part of the fit. */
static int nearest(const double *mids, int kf, double x) {
    if (kf < 2) return 0;
    const double *base = mids;
    int len = kf - 1;
    while (len > 1) {
        int half = len / 2;
        base = base[half] < x ? base + half : base;
        len -= half;
    }
    return (int)(base - mids) + (*base < x);
}

vg_status vg_cluster_fit_iters(const float *w, int64_t n, int k, vg_cluster_init init,
                               uint64_t seed, bool keep_zero, int max_iters, float *centroids,
                               uint8_t *idx, int *iters, vg_err *err) {
    if (iters) *iters = 0;
    if (k < VG_CLUSTER_K_MIN || k > VG_CLUSTER_K_MAX)
        return vg_err_set(err, VG_ERR_ARG, "cluster: k = %d is out of range %d..%d", k,
                          VG_CLUSTER_K_MIN, VG_CLUSTER_K_MAX);
    if (n < 0) return vg_err_set(err, VG_ERR_ARG, "cluster: n = %lld is negative", (long long)n);
    if (max_iters < 0) max_iters = 0;
    if (init != VG_CLUSTER_LINEAR && init != VG_CLUSTER_KMEANSPP && init != VG_CLUSTER_DENSITY)
        return vg_err_set(err, VG_ERR_ARG, "cluster: unknown initialisation %d", (int)init);
    int64_t m = 0; /* the values to fit: all, or the non-zero ones with keep_zero */
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return vg_err_set(err, VG_ERR_ARG, "cluster: weight %lld is not finite (%g)",
                              (long long)i, (double)w[i]);
        m += !(keep_zero && w[i] == 0);
    }
    int off = keep_zero ? 1 : 0, kf = k - off; /* kf free centroids, after the pinned zero */
    float *c = centroids + off;
    if (keep_zero) centroids[0] = 0.0f;
    if (m == 0) {
        for (int j = 0; j < kf; j++)
            c[j] = 0.0f;
        for (int64_t i = 0; i < n; i++)
            idx[i] = 0; /* only possible: all zero with keep_zero */
        return VG_OK;
    }

    size_t bytes;
    if (!vg_mul_size((size_t)m + 1, sizeof(double), &bytes))
        return vg_err_set(err, VG_ERR_NOMEM, "cluster: %lld weights is too many", (long long)m);
    uint32_t *ka = vg_malloc((size_t)m * sizeof *ka), *kb = vg_malloc((size_t)m * sizeof *kb);
    float *xs = vg_malloc((size_t)m * sizeof *xs);
    if (!ka || !kb || !xs) {
        free(ka);
        free(kb);
        free(xs);
        return vg_err_set(err, VG_ERR_NOMEM, "cluster: out of memory sorting %lld weights",
                          (long long)m);
    }
    int64_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(keep_zero && w[i] == 0)) ka[p++] = float_key(w[i]);
    }
    const uint32_t *sorted = radix_sort(ka, kb, m);
    for (int64_t i = 0; i < m; i++)
        xs[i] = key_float(sorted[i]);
    free(ka);
    free(kb);
    double *s1 = vg_malloc((size_t)(m + 1) * sizeof *s1), *s2 = vg_malloc((size_t)(m + 1) * sizeof *s2);
    if (!s1 || !s2) {
        free(s1);
        free(s2);
        free(xs);
        return vg_err_set(err, VG_ERR_NOMEM, "cluster: out of memory for %lld weights",
                          (long long)m);
    }
    sorted_set d = {xs, s1, s2, m, (double)xs[m / 2]};
    s1[0] = s2[0] = 0;
    for (int64_t i = 0; i < m; i++) {
        double x = (double)xs[i] - d.shift;
        s1[i + 1] = s1[i] + x;
        s2[i + 1] = s2[i] + x * x;
    }

    int64_t bnd[VG_CLUSTER_K_MAX];
    switch (init) {
    case VG_CLUSTER_LINEAR: init_linear(&d, kf, c); break;
    case VG_CLUSTER_KMEANSPP: init_kmeanspp(&d, kf, seed, c, bnd); break;
    case VG_CLUSTER_DENSITY: init_density(&d, kf, c); break;
    }
    int it = lloyd(&d, c, kf, max_iters);
    if (iters) *iters = it;
    free(s1);
    free(s2);
    free(xs);

    double mids[VG_CLUSTER_K_MAX];
    for (int j = 0; j + 1 < kf; j++)
        mids[j] = midpoint(c[j], c[j + 1]);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = (keep_zero && w[i] == 0) ? 0 : (uint8_t)(off + nearest(mids, kf, w[i]));
    }
    return VG_OK;
}

vg_status vg_cluster_fit(const float *w, int64_t n, int k, vg_cluster_init init, uint64_t seed,
                         bool keep_zero, float *centroids, uint8_t *idx, vg_err *err) {
    return vg_cluster_fit_iters(w, n, k, init, seed, keep_zero, VG_CLUSTER_MAX_ITERS, centroids,
                                idx, NULL, err);
}

void vg_cluster_apply(float *w, int64_t n, const float *centroids, const uint8_t *idx) {
    for (int64_t i = 0; i < n; i++)
        w[i] = centroids[idx[i]];
}

/* Largest index, checked against k once rather than per element. */
static void check_indices(const uint8_t *idx, int64_t n, int k) {
    VG_ASSERT(n >= 0 && k >= 1 && k <= VG_CLUSTER_K_MAX);
    unsigned mx = 0;
    for (int64_t i = 0; i < n; i++)
        mx = idx[i] > mx ? idx[i] : mx;
    VG_ASSERT(n == 0 || (int)mx < k);
}

/* Per-cluster means of v in double (exact for a cluster of equal values), as floats. */
static void cluster_means(const float *v, int64_t n, const uint8_t *idx, int k, float *mean,
                          bool *nonempty) {
    double sum[VG_CLUSTER_K_MAX] = {0};
    int64_t cnt[VG_CLUSTER_K_MAX] = {0};
    for (int64_t i = 0; i < n; i++) {
        sum[idx[i]] += v[i];
        cnt[idx[i]]++;
    }
    for (int j = 0; j < k; j++) {
        nonempty[j] = cnt[j] > 0;
        mean[j] = cnt[j] ? (float)(sum[j] / (double)cnt[j]) : 0.0f;
    }
}

void vg_cluster_grad(float *grad, int64_t n, const uint8_t *idx, int k, bool keep_zero_pinned) {
    check_indices(idx, n, k);
    float mean[VG_CLUSTER_K_MAX];
    bool nonempty[VG_CLUSTER_K_MAX];
    cluster_means(grad, n, idx, k, mean, nonempty);
    if (keep_zero_pinned) mean[0] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        grad[i] = mean[idx[i]];
}

void vg_cluster_snap(float *w, int64_t n, const uint8_t *idx, int k, float *centroids,
                     bool keep_zero_pinned) {
    check_indices(idx, n, k);
    float mean[VG_CLUSTER_K_MAX];
    bool nonempty[VG_CLUSTER_K_MAX];
    cluster_means(w, n, idx, k, mean, nonempty);
    for (int j = 0; j < k; j++) {
        if (nonempty[j]) centroids[j] = mean[j];
    }
    if (keep_zero_pinned) centroids[0] = 0.0f;
    vg_cluster_apply(w, n, centroids, idx);
}

/* ---- weight sharing with a scale per output channel */

void vg_cluster_row_scales(const float *w, int64_t n, int64_t row, float *scale) {
    for (int64_t r = 0; r < n / row; r++) {
        float m = 0;
        for (int64_t i = 0; i < row; i++) {
            float a = fabsf(w[r * row + i]);
            if (a > m) m = a;
        }
        scale[r] = m > 0 ? m : 1.0f;
    }
}

vg_status vg_cluster_fit_scaled(const float *w, int64_t n, int64_t row, int k, vg_cluster_init init,
                                uint64_t seed, bool keep_zero, float *scale, float *centroids,
                                uint8_t *idx, vg_err *err) {
    if (row < 1 || n % row) return vg_err_set(err, VG_ERR_ARG, "%lld weights are not rows of %lld", (long long)n, (long long)row);
    vg_cluster_row_scales(w, n, row, scale);
    float *u = vg_malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!u) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) u[i] = w[i] / scale[i / row];
    vg_status st = vg_cluster_fit(u, n, k, init, seed, keep_zero, centroids, idx, err);
    free(u);
    return st;
}

void vg_cluster_apply_scaled(float *w, int64_t n, int64_t row, const float *scale,
                             const float *centroids, const uint8_t *idx) {
    for (int64_t i = 0; i < n; i++) w[i] = centroids[idx[i]] * scale[i / row];
}

void vg_cluster_snap_scaled(float *w, int64_t n, int64_t row, const float *scale, const uint8_t *idx,
                            int k, float *centroids, bool keep_zero_pinned) {
    check_indices(idx, n, k);
    double num[VG_CLUSTER_K_MAX] = {0}, den[VG_CLUSTER_K_MAX] = {0};
    for (int64_t i = 0; i < n; i++) {
        double s = scale[i / row];
        num[idx[i]] += (double)w[i] * s;
        den[idx[i]] += s * s;
    }
    for (int j = 0; j < k; j++)
        if (den[j] > 0) centroids[j] = (float)(num[j] / den[j]);
    if (keep_zero_pinned) centroids[0] = 0.0f;
    vg_cluster_apply_scaled(w, n, row, scale, centroids, idx);
}

int vg_cluster_distinct(const float *w, int64_t n) {
    VG_ASSERT(n >= 0 && n < INT32_MAX);
    if (n == 0) return 0;
    uint32_t *a = vg_malloc((size_t)n * sizeof *a), *b = vg_malloc((size_t)n * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        a[i] = float_key(w[i]);
    const uint32_t *s = radix_sort(a, b, n);
    int count = 1;
    for (int64_t i = 1; i < n; i++)
        count += key_float(s[i]) != key_float(s[i - 1]);
    free(a);
    free(b);
    return count;
}

double vg_cluster_mse(const float *w, int64_t n, const float *centroids, const uint8_t *idx) {
    if (n <= 0) return 0;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)w[i] - (double)centroids[idx[i]];
        s += e * e;
    }
    return s / (double)n;
}
