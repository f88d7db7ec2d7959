// AArch64 Advanced SIMD (NEON) kernels: the templates of simd_f32.hpp over 4-float
// float32x4_t vectors. NEON is part of the AArch64 baseline, so this file needs no
// extra flags.
#include <arm_neon.h>

#include "actif/kernels.hpp"
#include "simd_f32.hpp"

namespace actif {

namespace {

struct Neon {
  using V = float32x4_t;
  static constexpr int kLanes = 4;
  static constexpr int kTileRows = 6;       // 6 x 4 accumulators + 4 panel vectors of 32 registers
  static constexpr int kTilePanels = 1;      // one panel per register tile
  static constexpr int kMatvecVectors = 8;  // m == 1: two panels at once, 8 FMA chains

  static V load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, V v) { vst1q_f32(p, v); }
  static V broadcast(const float* p) { return vdupq_n_f32(*p); }
  static V set1(float x) { return vdupq_n_f32(x); }
  static V zero() { return vdupq_n_f32(0.0f); }
  static V add(V a, V b) { return vaddq_f32(a, b); }
  static V sub(V a, V b) { return vsubq_f32(a, b); }
  static V mul(V a, V b) { return vmulq_f32(a, b); }
  static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static V fnma(V a, V b, V c) { return vfmsq_f32(c, a, b); }
  static V min(V a, V b) { return vminq_f32(a, b); }
  static V max(V a, V b) { return vmaxq_f32(a, b); }
  static V floor(V x) { return vrndmq_f32(x); }
  static V pow2(V n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23));
  }
  // Estimate (8 bits) and two Newton steps (16, ~23 bits): cheaper than a vector
  // division on in-order cores.
  static V reciprocal(V q) {
    V r = vrecpeq_f32(q);
    r = vmulq_f32(r, vrecpsq_f32(q, r));
    return vmulq_f32(r, vrecpsq_f32(q, r));
  }
  static V select_positive(V x, V a, V b) { return vbslq_f32(vcgtq_f32(x, vdupq_n_f32(0.0f)), a, b); }
  static V copysign(V mag, V sign) { return vbslq_f32(vdupq_n_u32(0x80000000u), sign, mag); }
};

void gemm_f32_neon_6x16(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                        const float* bias, bool accumulate) {
  simd::gemm_f32<Neon>(m, a, lda, b, c, ldc, bias, accumulate);
}

void lstm_cell_f32_neon_x4(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev,
                           int64_t ldc_prev, float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates,
                           int64_t ldg) {
  simd::lstm_cell_f32<Neon>(rows, hidden, z, ldz, c_prev, ldc_prev, c_out, ldc_out, h_out, ldh, gates, ldg);
}

void activation_f32_neon_x4(Activation act, int64_t n, float* x) { simd::activation_f32<Neon>(act, n, x); }

void lstm_cell_reverse_f32_neon_x4(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c,
                                   int64_t ldt, const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd,
                                   const float* dh_rec, float* dc_rec, float* dz, int64_t ldz) {
  simd::lstm_cell_reverse_f32<Neon>(rows, hidden, gates, ldg, tanh_c, ldt, c_prev, ldc_prev, dh_in, ldd, dh_rec, dc_rec, dz,
                                    ldz);
}

void lstm_cell_relevance_f32_neon_x4(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg,
                                     const float* c, int64_t ldc, const float* c_prev, int64_t ldc_prev, const float* zg,
                                     int64_t ldzg, const float* rh, int64_t ldr, const float* carry_h, float* carry_c,
                                     float* share, int64_t lds) {
  simd::lstm_cell_relevance_f32<Neon>(rows, hidden, eps, gates, ldg, c, ldc, c_prev, ldc_prev, zg, ldzg, rh, ldr, carry_h,
                                      carry_c, share, lds);
}

}  // namespace

const KernelSet& neon_kernels() {
  static const KernelSet set{"neon",
                             gemm_f32_neon_6x16,
                             lstm_cell_f32_neon_x4,
                             activation_f32_neon_x4,
                             lstm_cell_reverse_f32_neon_x4,
                             lstm_cell_relevance_f32_neon_x4};
  return set;
}

}  // namespace actif
