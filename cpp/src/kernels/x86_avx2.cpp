// x86-64 AVX2 + FMA kernels. This file alone is compiled with -mavx2 -mfma, so it uses
// no templates or inline functions shared with other files (the linker could otherwise
// pick an AVX2 copy for code that runs on older CPUs): only intrinsics, file-local
// helpers and C library calls. Tails narrower than a vector use the scalar formulas.
#include <immintrin.h>
#include <math.h>

#include "actif/kernels.hpp"

namespace actif {

namespace {

// exp(x) for 8 floats: range reduction x = n ln2 + r, a degree-6 polynomial for e^r
// (Cephes-style coefficients, ~1 ulp on [-87, 88]), then scaling by 2^n.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// tanh(x) ~ x P(x^2) / Q(x^2) for |x| <= 9 (tanh is 1 in float beyond), a rational
// fit made by cpp/tools/fit_tanh.py: max abs error 3.8e-7, no exp, one reciprocal
// (rcp + one Newton step, ~1e-7 relative) instead of a division.
inline __m256 tanh8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-9.0f)), _mm256_set1_ps(9.0f));
  const __m256 s = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(1.7558732246e-11f);
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-1.2500548570e-08f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(9.1739581902e-06f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(2.9107007702e-03f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.2909966495e-01f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(9.9999983525e-01f));
  __m256 q = _mm256_set1_ps(2.2669582001e-04f);
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(2.3722291140e-02f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(4.6243231492e-01f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.0f));
  __m256 r = _mm256_rcp_ps(q);
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(q, r, _mm256_set1_ps(2.0f)));
  const __m256 t = _mm256_mul_ps(_mm256_mul_ps(x, p), r);
  return _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-1.0f)), _mm256_set1_ps(1.0f));
}

// sigmoid(x) = (1 + tanh(x / 2)) / 2
inline __m256 sigmoid8(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f);
  return _mm256_fmadd_ps(tanh8(_mm256_mul_ps(x, half)), half, half);
}

inline float sigmoid1(float x) { return 1.0f / (1.0f + expf(-x)); }

inline int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

#if defined(__GNUC__) && !defined(__clang__)
#define ACTIF_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define ACTIF_UNROLL _Pragma("unroll")
#else
#define ACTIF_UNROLL
#endif

// One register tile: MR rows of C times V vectors of 8 columns, over all k. Vector v
// reads half v % 2 of packed panel v / 2 (panels are 16 columns). The fixed-trip loops
// are unrolled completely so the accumulators live in registers.
template <int MR, int V>
inline void tile_full(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                      int64_t ldc, const float* bias, bool accumulate) {
  __m256 acc[MR][V];
  ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
    ACTIF_UNROLL for (int v = 0; v < V; ++v) {
      __m256 init = accumulate ? _mm256_loadu_ps(c + i * ldc + 8 * v) : _mm256_setzero_ps();
      if (bias) init = _mm256_add_ps(init, _mm256_loadu_ps(bias + 8 * v));
      acc[i][v] = init;
    }
  }
  for (int64_t q = 0; q < k; ++q) {
    __m256 bv[V];
    ACTIF_UNROLL for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(b0 + (v / 2) * panel_stride + q * 16 + (v % 2) * 8);
    ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * lda + q);
      ACTIF_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
    ACTIF_UNROLL for (int v = 0; v < V; ++v) _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
  }
}

// A tile whose last vector may be partial (ncols < 8 * V): runs on a padded copy so
// that nothing past column ncols of C or bias is read or written.
template <int MR, int V>
inline void tile(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                 int64_t ldc, const float* bias, bool accumulate, int64_t ncols) {
  if (ncols == 8 * V) {
    tile_full<MR, V>(k, a, lda, b0, panel_stride, c, ldc, bias, accumulate);
    return;
  }
  alignas(32) float ct[MR][8 * V] = {};
  alignas(32) float bt[8 * V] = {};
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) ct[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t j = 0; bias && j < ncols; ++j) bt[j] = bias[j];
  tile_full<MR, V>(k, a, lda, b0, panel_stride, &ct[0][0], 8 * V, bias ? bt : nullptr, accumulate);
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) c[i * ldc + j] = ct[i][j];
}

// MR rows against panel p; a last panel with at most 8 live columns runs half width.
template <int MR>
inline void row_block(int64_t k, const float* a, int64_t lda, const PackedMatrix& b, int64_t p, float* c,
                      int64_t ldc, const float* bias, bool accumulate) {
  const int64_t ncols = min64(16, b.n - p * 16);
  if (ncols <= 8)
    tile<MR, 1>(k, a, lda, b.panel(p), k * 16, c + p * 16, ldc, bias ? bias + p * 16 : nullptr, accumulate, ncols);
  else
    tile<MR, 2>(k, a, lda, b.panel(p), k * 16, c + p * 16, ldc, bias ? bias + p * 16 : nullptr, accumulate, ncols);
}

void gemm(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, const float* bias,
          bool accumulate) {
  const int64_t k = b.k, panels = PackedMatrix::panels(b.n), stride = k * 16;
  if (m == 1) {
    // Matrix-vector (batch-1 latency): four panels at once keep 8 FMA chains in flight.
    int64_t p = 0;
    for (; p + 4 <= panels; p += 4)
      tile<1, 8>(k, a, lda, b.panel(p), stride, c + p * 16, ldc, bias ? bias + p * 16 : nullptr, accumulate,
                 min64(64, b.n - p * 16));
    for (; p < panels; ++p) row_block<1>(k, a, lda, b, p, c, ldc, bias, accumulate);
    return;
  }
  // Panel-outer: one panel (k x 16 floats) stays in L1 while all row blocks of A pass.
  for (int64_t p = 0; p < panels; ++p) {
    int64_t i = 0;
    for (; i + 6 <= m; i += 6) row_block<6>(k, a + i * lda, lda, b, p, c + i * ldc, ldc, bias, accumulate);
    const float* ai = a + i * lda;
    float* ci = c + i * ldc;
    switch (m - i) {
      case 5: row_block<5>(k, ai, lda, b, p, ci, ldc, bias, accumulate); break;
      case 4: row_block<4>(k, ai, lda, b, p, ci, ldc, bias, accumulate); break;
      case 3: row_block<3>(k, ai, lda, b, p, ci, ldc, bias, accumulate); break;
      case 2: row_block<2>(k, ai, lda, b, p, ci, ldc, bias, accumulate); break;
      case 1: row_block<1>(k, ai, lda, b, p, ci, ldc, bias, accumulate); break;
      default: break;
    }
  }
}

void lstm_cell(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev, int64_t ldc_prev,
               float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates, int64_t ldg) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * ldz;
    const float* cp = c_prev ? c_prev + r * ldc_prev : nullptr;
    float* co = c_out + r * ldc_out;
    float* ho = h_out + r * ldh;
    float* gr = gates ? gates + r * ldg : nullptr;
    int64_t j = 0;
    for (; j + 8 <= hidden; j += 8) {
      const __m256 i = sigmoid8(_mm256_loadu_ps(zr + j));
      const __m256 f = sigmoid8(_mm256_loadu_ps(zr + hidden + j));
      const __m256 g = tanh8(_mm256_loadu_ps(zr + 2 * hidden + j));
      const __m256 o = sigmoid8(_mm256_loadu_ps(zr + 3 * hidden + j));
      const __m256 prev = cp ? _mm256_loadu_ps(cp + j) : _mm256_setzero_ps();
      const __m256 c = _mm256_fmadd_ps(f, prev, _mm256_mul_ps(i, g));
      _mm256_storeu_ps(co + j, c);
      _mm256_storeu_ps(ho + j, _mm256_mul_ps(o, tanh8(c)));
      if (gr) {
        _mm256_storeu_ps(gr + j, i);
        _mm256_storeu_ps(gr + hidden + j, f);
        _mm256_storeu_ps(gr + 2 * hidden + j, g);
        _mm256_storeu_ps(gr + 3 * hidden + j, o);
      }
    }
    for (; j < hidden; ++j) {
      const float i = sigmoid1(zr[j]), f = sigmoid1(zr[hidden + j]);
      const float g = tanhf(zr[2 * hidden + j]), o = sigmoid1(zr[3 * hidden + j]);
      const float c = f * (cp ? cp[j] : 0.0f) + i * g;
      co[j] = c;
      ho[j] = o * tanhf(c);
      if (gr) {
        gr[j] = i;
        gr[hidden + j] = f;
        gr[2 * hidden + j] = g;
        gr[3 * hidden + j] = o;
      }
    }
  }
}

void activation(Activation act, int64_t n, float* x) {
  int64_t i = 0;
  switch (act) {
    case Activation::Identity:
      return;
    case Activation::Relu:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_setzero_ps()));
      for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Activation::Elu:
      for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 neg = _mm256_sub_ps(exp8(_mm256_min_ps(v, _mm256_setzero_ps())), _mm256_set1_ps(1.0f));
        _mm256_storeu_ps(x + i, _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)));
      }
      for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : expm1f(x[i]);
      return;
    case Activation::Tanh:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, tanh8(_mm256_loadu_ps(x + i)));
      for (; i < n; ++i) x[i] = tanhf(x[i]);
      return;
    case Activation::Sigmoid:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, sigmoid8(_mm256_loadu_ps(x + i)));
      for (; i < n; ++i) x[i] = sigmoid1(x[i]);
      return;
  }
}

}  // namespace

const KernelSet& avx2_kernels() {
  static const KernelSet set{"avx2", gemm, lstm_cell, activation};
  return set;
}

}  // namespace actif
