// x86-64 AVX2 + FMA kernels: the templates of simd_f32.hpp over 8-float __m256
// vectors. This file alone is compiled with -mavx2 -mfma (CMakeLists.txt); dispatch.cpp
// runs it only on CPUs that report both.
#include <immintrin.h>

#include "actif/kernels.hpp"
#include "simd_f32.hpp"

namespace actif {

namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kTileRows = 6;        // 6 x 2 accumulators + 2 panel vectors of 16 registers
  static constexpr int kTilePanels = 1;      // one panel per register tile
  static constexpr int kMatvecVectors = 8;   // m == 1: four panels at once, 8 FMA chains

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V floor(V x) { return _mm256_floor_ps(x); }
  static V pow2(V n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  // rcp (12 bits) and one Newton step r (2 - q r): about 1e-7 relative.
  static V reciprocal(V q) {
    const V r = _mm256_rcp_ps(q);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(q, r, _mm256_set1_ps(2.0f)));
  }
  static V select_positive(V x, V a, V b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ)); }
  static V copysign(V mag, V sign) {
    const V bit = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(bit, mag), _mm256_and_ps(bit, sign));
  }
};

void gemm_f32_avx2_6x16(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                        const float* bias, bool accumulate) {
  simd::gemm_f32<Avx2>(m, a, lda, b, c, ldc, bias, accumulate);
}

void lstm_cell_f32_avx2_x8(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev,
                           int64_t ldc_prev, float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates,
                           int64_t ldg) {
  simd::lstm_cell_f32<Avx2>(rows, hidden, z, ldz, c_prev, ldc_prev, c_out, ldc_out, h_out, ldh, gates, ldg);
}

void activation_f32_avx2_x8(Activation act, int64_t n, float* x) { simd::activation_f32<Avx2>(act, n, x); }

void lstm_cell_reverse_f32_avx2_x8(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c,
                                   int64_t ldt, const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd,
                                   const float* dh_rec, float* dc_rec, float* dz, int64_t ldz) {
  simd::lstm_cell_reverse_f32<Avx2>(rows, hidden, gates, ldg, tanh_c, ldt, c_prev, ldc_prev, dh_in, ldd, dh_rec, dc_rec, dz,
                                    ldz);
}

void lstm_cell_relevance_f32_avx2_x8(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg,
                                     const float* c, int64_t ldc, const float* c_prev, int64_t ldc_prev, const float* zg,
                                     int64_t ldzg, const float* rh, int64_t ldr, const float* carry_h, float* carry_c,
                                     float* share, int64_t lds) {
  simd::lstm_cell_relevance_f32<Avx2>(rows, hidden, eps, gates, ldg, c, ldc, c_prev, ldc_prev, zg, ldzg, rh, ldr, carry_h,
                                      carry_c, share, lds);
}

}  // namespace

const KernelSet& avx2_kernels() {
  static const KernelSet set{"avx2",
                             gemm_f32_avx2_6x16,
                             lstm_cell_f32_avx2_x8,
                             activation_f32_avx2_x8,
                             lstm_cell_reverse_f32_avx2_x8,
                             lstm_cell_relevance_f32_avx2_x8};
  return set;
}

}  // namespace actif
