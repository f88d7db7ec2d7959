// x86-64 AVX-512 kernels: the templates of simd_f32.hpp over 16-float __m512 vectors,
// one vector per packed panel, two panels per register tile. This file alone is
// compiled with -mavx512f -mfma (CMakeLists.txt); dispatch.cpp runs it only on CPUs
// (and operating systems) that report AVX-512F.
//
// Why a second x86 set: at batch 1 a window's recurrent products read every weight
// once, so they run at the rate the weights arrive from L2, and 64-byte loads bring them
// about 1.2x faster than AVX2's 32-byte ones; for a block of 30 windows, twice the
// vector width with twice the registers does about 1.5x the multiply-adds per ns
// (cpp/bench/record_roofline.py measures both sets). The results agree with the other
// sets to the tolerance of the approximations (the reciprocal's estimate differs), not
// bit for bit.
#include <immintrin.h>

#include "actif/kernels.hpp"
#include "simd_f32.hpp"

namespace actif {

namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kTileRows = 8;         // 8 x 2 accumulators + 2 panel vectors of 32 registers
  static constexpr int kTilePanels = 2;       // (10 x 1 and 5 x 4 measured slower at batch 256)
  static constexpr int kMatvecVectors = 4;   // m == 1: four panels at once, 4 FMA chains (2 and 8 measured slower)

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V floor(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  // rcp14 (14 bits) and one Newton step r (2 - q r): about 1e-8 relative.
  static V reciprocal(V q) {
    const V r = _mm512_rcp14_ps(q);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0f)));
  }
  static V select_positive(V x, V a, V b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), b, a);
  }
  static V copysign(V mag, V sign) {  // AVX-512F has no float and/or: on the integer lanes
    const __m512i bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(bit, _mm512_castps_si512(mag)),
                                               _mm512_and_si512(bit, _mm512_castps_si512(sign))));
  }
};

void gemm_f32_avx512_8x32(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                           const float* bias, bool accumulate) {
  simd::gemm_f32<Avx512>(m, a, lda, b, c, ldc, bias, accumulate);
}

void lstm_cell_f32_avx512_x16(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev,
                              int64_t ldc_prev, float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates,
                              int64_t ldg) {
  simd::lstm_cell_f32<Avx512>(rows, hidden, z, ldz, c_prev, ldc_prev, c_out, ldc_out, h_out, ldh, gates, ldg);
}

void activation_f32_avx512_x16(Activation act, int64_t n, float* x) { simd::activation_f32<Avx512>(act, n, x); }

void lstm_cell_reverse_f32_avx512_x16(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c,
                                      int64_t ldt, const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd,
                                      const float* dh_rec, float* dc_rec, float* dz, int64_t ldz) {
  simd::lstm_cell_reverse_f32<Avx512>(rows, hidden, gates, ldg, tanh_c, ldt, c_prev, ldc_prev, dh_in, ldd, dh_rec, dc_rec, dz,
                                      ldz);
}

void lstm_cell_relevance_f32_avx512_x16(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg,
                                        const float* c, int64_t ldc, const float* c_prev, int64_t ldc_prev, const float* zg,
                                        int64_t ldzg, const float* rh, int64_t ldr, const float* carry_h, float* carry_c,
                                        float* share, int64_t lds) {
  simd::lstm_cell_relevance_f32<Avx512>(rows, hidden, eps, gates, ldg, c, ldc, c_prev, ldc_prev, zg, ldzg, rh, ldr, carry_h,
                                        carry_c, share, lds);
}

}  // namespace

const KernelSet& avx512_kernels() {
  static const KernelSet set{"avx512",
                             gemm_f32_avx512_8x32,
                             lstm_cell_f32_avx512_x16,
                             activation_f32_avx512_x16,
                             lstm_cell_reverse_f32_avx512_x16,
                             lstm_cell_relevance_f32_avx512_x16};
  return set;
}

}  // namespace actif
