// AArch64 Advanced SIMD (NEON) kernels. NEON is part of the AArch64 baseline, so this
// file needs no extra flags; it still shares no templates or inline functions with
// other files, mirroring x86_avx2.cpp: only intrinsics, file-local helpers and C library
// calls. Tails narrower than a vector use the scalar formulas.
#include <arm_neon.h>
#include <math.h>

#include "actif/kernels.hpp"

namespace actif {

namespace {

// exp(x) for 4 floats: x = n ln2 + r, a degree-6 polynomial for e^r (the coefficients of
// x86_avx2.cpp's exp8), then scaling by 2^n through the exponent bits.
inline float32x4_t exp4(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
  const float32x4_t n = vrndmq_f32(vfmaq_f32(vdupq_n_f32(0.5f), x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9, the rational fit of cpp/tools/fit_tanh.py
// (max abs error 3.8e-7). The reciprocal is an estimate refined by two Newton steps
// (8 -> 16 -> ~23 bits), cheaper than a vector division on in-order cores.
inline float32x4_t tanh4(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-9.0f)), vdupq_n_f32(9.0f));
  const float32x4_t s = vmulq_f32(x, x);
  float32x4_t p = vdupq_n_f32(1.7558732246e-11f);
  p = vfmaq_f32(vdupq_n_f32(-1.2500548570e-08f), p, s);
  p = vfmaq_f32(vdupq_n_f32(9.1739581902e-06f), p, s);
  p = vfmaq_f32(vdupq_n_f32(2.9107007702e-03f), p, s);
  p = vfmaq_f32(vdupq_n_f32(1.2909966495e-01f), p, s);
  p = vfmaq_f32(vdupq_n_f32(9.9999983525e-01f), p, s);
  float32x4_t q = vdupq_n_f32(2.2669582001e-04f);
  q = vfmaq_f32(vdupq_n_f32(2.3722291140e-02f), q, s);
  q = vfmaq_f32(vdupq_n_f32(4.6243231492e-01f), q, s);
  q = vfmaq_f32(vdupq_n_f32(1.0f), q, s);
  float32x4_t r = vrecpeq_f32(q);
  r = vmulq_f32(r, vrecpsq_f32(q, r));
  r = vmulq_f32(r, vrecpsq_f32(q, r));
  const float32x4_t t = vmulq_f32(vmulq_f32(x, p), r);
  return vminq_f32(vmaxq_f32(t, vdupq_n_f32(-1.0f)), vdupq_n_f32(1.0f));
}

// sigmoid(x) = (1 + tanh(x / 2)) / 2
inline float32x4_t sigmoid4(float32x4_t x) {
  const float32x4_t half = vdupq_n_f32(0.5f);
  return vfmaq_f32(half, tanh4(vmulq_f32(x, half)), half);
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

// One register tile: MR rows of C times NP packed panels (16 columns = 4 vectors each),
// over all k. 32 vector registers hold up to 6 x 4 accumulators plus one panel row; the
// fixed-trip loops are unrolled completely so the accumulators stay in registers.
template <int MR, int NP>
inline void tile_full(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                      int64_t ldc, const float* bias, bool accumulate) {
  float32x4_t acc[MR][4 * NP];
  ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
    ACTIF_UNROLL for (int v = 0; v < 4 * NP; ++v) {
      float32x4_t init = accumulate ? vld1q_f32(c + i * ldc + 4 * v) : vdupq_n_f32(0.0f);
      if (bias) init = vaddq_f32(init, vld1q_f32(bias + 4 * v));
      acc[i][v] = init;
    }
  }
  for (int64_t q = 0; q < k; ++q) {
    float32x4_t bv[4 * NP];
    ACTIF_UNROLL for (int p = 0; p < NP; ++p)
      ACTIF_UNROLL for (int v = 0; v < 4; ++v) bv[4 * p + v] = vld1q_f32(b0 + p * panel_stride + q * 16 + 4 * v);
    ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
      const float32x4_t av = vdupq_n_f32(a[i * lda + q]);
      ACTIF_UNROLL for (int v = 0; v < 4 * NP; ++v) acc[i][v] = vfmaq_f32(acc[i][v], av, bv[v]);
    }
  }
  ACTIF_UNROLL for (int i = 0; i < MR; ++i)
    ACTIF_UNROLL for (int v = 0; v < 4 * NP; ++v) vst1q_f32(c + i * ldc + 4 * v, acc[i][v]);
}

// A tile whose last panel may be partial (ncols < 16 * NP): runs on a padded copy so
// that nothing past column ncols of C or bias is read or written.
template <int MR, int NP>
inline void tile(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                 int64_t ldc, const float* bias, bool accumulate, int64_t ncols) {
  if (ncols == 16 * NP) {
    tile_full<MR, NP>(k, a, lda, b0, panel_stride, c, ldc, bias, accumulate);
    return;
  }
  alignas(16) float ct[MR][16 * NP] = {};
  alignas(16) float bt[16 * NP] = {};
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) ct[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t j = 0; bias && j < ncols; ++j) bt[j] = bias[j];
  tile_full<MR, NP>(k, a, lda, b0, panel_stride, &ct[0][0], 16 * NP, bias ? bt : nullptr, accumulate);
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) c[i * ldc + j] = ct[i][j];
}

template <int MR>
inline void row_block(int64_t k, const float* a, int64_t lda, const PackedMatrix& b, int64_t p, float* c,
                      int64_t ldc, const float* bias, bool accumulate) {
  tile<MR, 1>(k, a, lda, b.panel(p), k * 16, c + p * 16, ldc, bias ? bias + p * 16 : nullptr, accumulate,
              min64(16, b.n - p * 16));
}

void gemm(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, const float* bias,
          bool accumulate) {
  const int64_t k = b.k, panels = PackedMatrix::panels(b.n), stride = k * 16;
  if (m == 1) {
    // Matrix-vector (batch-1 latency): two panels at once keep 8 FMA chains in flight.
    int64_t p = 0;
    for (; p + 2 <= panels; p += 2)
      tile<1, 2>(k, a, lda, b.panel(p), stride, c + p * 16, ldc, bias ? bias + p * 16 : nullptr, accumulate,
                 min64(32, b.n - p * 16));
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
    for (; j + 4 <= hidden; j += 4) {
      const float32x4_t i = sigmoid4(vld1q_f32(zr + j));
      const float32x4_t f = sigmoid4(vld1q_f32(zr + hidden + j));
      const float32x4_t g = tanh4(vld1q_f32(zr + 2 * hidden + j));
      const float32x4_t o = sigmoid4(vld1q_f32(zr + 3 * hidden + j));
      const float32x4_t prev = cp ? vld1q_f32(cp + j) : vdupq_n_f32(0.0f);
      const float32x4_t c = vfmaq_f32(vmulq_f32(i, g), f, prev);
      vst1q_f32(co + j, c);
      vst1q_f32(ho + j, vmulq_f32(o, tanh4(c)));
      if (gr) {
        vst1q_f32(gr + j, i);
        vst1q_f32(gr + hidden + j, f);
        vst1q_f32(gr + 2 * hidden + j, g);
        vst1q_f32(gr + 3 * hidden + j, o);
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
      for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmaxq_f32(vld1q_f32(x + i), vdupq_n_f32(0.0f)));
      for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case Activation::Elu:
      for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t neg = vsubq_f32(exp4(vminq_f32(v, vdupq_n_f32(0.0f))), vdupq_n_f32(1.0f));
        vst1q_f32(x + i, vbslq_f32(vcgtq_f32(v, vdupq_n_f32(0.0f)), v, neg));
      }
      for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : expm1f(x[i]);
      return;
    case Activation::Tanh:
      for (; i + 4 <= n; i += 4) vst1q_f32(x + i, tanh4(vld1q_f32(x + i)));
      for (; i < n; ++i) x[i] = tanhf(x[i]);
      return;
    case Activation::Sigmoid:
      for (; i + 4 <= n; i += 4) vst1q_f32(x + i, sigmoid4(vld1q_f32(x + i)));
      for (; i < n; ++i) x[i] = sigmoid1(x[i]);
      return;
  }
}

}  // namespace

const KernelSet& neon_kernels() {
  static const KernelSet set{"neon", gemm, lstm_cell, activation};
  return set;
}

}  // namespace actif
