// The SIMD kernels, written once: the GEMM driver, the LSTM cell and its two reverse
// steps (gradient, LRP), the activations and the float32 approximations of exp, tanh
// and sigmoid, as templates over `Ops`, a thin wrapper of one instruction set's float32
// vector. Each ISA's file defines its Ops and instantiates these templates under its
// own compile flags (x86_avx2.cpp: AVX2 + FMA, 8 lanes; x86_avx512.cpp: AVX-512F + FMA,
// 16 lanes; arm_neon.cpp: Advanced SIMD, 4 lanes). The scalar kernels (scalar.cpp) stay
// the readable reference that every instantiation is tested against.
//
// Ops is declared in an unnamed namespace in its file, so every instantiation has
// internal linkage: no code compiled for one ISA can be merged by the linker into
// another file. For the same reason this header calls no inline function or template
// with external linkage (no std::min): only Ops, the constexpr coefficients of
// constants.hpp, and the static helpers of scalar_formulas.hpp, which compute every
// element past the last full vector with the scalar reference's own formulas.
//
// An Ops provides, all static:
//   using V;                        a vector of kLanes floats
//   kLanes                          a divisor of PackedMatrix::kPanel (16)
//   kTileRows                       rows of C per GEMM register tile (m > 1)
//   kTilePanels                     16-column panels per GEMM register tile (m > 1)
//   kMatvecVectors                  vectors of C per register tile when m == 1
//   load(const float*), store(float*, V)        unaligned
//   broadcast(const float*), set1(float), zero()
//   add, sub, mul(V, V)
//   fma(a, b, c)                    a * b + c, rounded once
//   fnma(a, b, c)                   c - a * b, rounded once
//   min, max(V, V)                  the ISA's own (they differ on NaN operands)
//   floor(V)
//   pow2(V n)                       2^n for integral n with 2^n a normal float
//   reciprocal(V q)                 1 / q to about float precision (estimate + Newton)
//   select_positive(V x, V a, V b)  a where x > 0, else b
//   copysign(V mag, V sign)         |mag| with the sign bit of sign (as copysignf)
// Per element, every kernel does the same operations in the same order whatever the
// tile, the row count or the column position, so results do not depend on how a
// product is split (a window alone or in a batch gives identical bits).
#pragma once

#include <cstddef>
#include <cstdint>

#include "actif/constants.hpp"
#include "actif/model.hpp"
#include "scalar_formulas.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#define ACTIF_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define ACTIF_UNROLL _Pragma("unroll")
#else
#define ACTIF_UNROLL
#endif

namespace actif {
namespace simd {

static inline int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

// ------------------------------------------------------------------ approximations
// The coefficients live in constants.json (approximation.*), which the numba backend
// reads too.

// c[0] + x (c[1] + x (c[2] + ...)): Horner's rule, one fused multiply-add per degree.
template <class Ops, size_t N>
inline typename Ops::V polynomial(const float (&c)[N], typename Ops::V x) {
  typename Ops::V p = Ops::set1(c[N - 1]);
  ACTIF_UNROLL for (size_t d = N - 1; d > 0; --d) p = Ops::fma(p, x, Ops::set1(c[d - 1]));
  return p;
}

// exp(x): x = n ln2 + r (ln2 in two parts), e^r ~ 1 + r + r^2 P(r), times 2^n.
template <class Ops>
inline typename Ops::V exp_f32(typename Ops::V x) {
  using V = typename Ops::V;
  x = Ops::min(Ops::max(x, Ops::set1(approx::kExpMin)), Ops::set1(approx::kExpMax));
  const V n = Ops::floor(Ops::fma(x, Ops::set1(approx::kExpLog2e), Ops::set1(0.5f)));
  V r = Ops::fnma(n, Ops::set1(approx::kExpLn2Hi), x);
  r = Ops::fnma(n, Ops::set1(approx::kExpLn2Lo), r);
  const V p = Ops::fma(polynomial<Ops>(approx::kExpP, r), Ops::mul(r, r), Ops::add(r, Ops::set1(1.0f)));
  return Ops::mul(p, Ops::pow2(n));
}

// tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= clamp, then clamped to [-1, 1]: no exp, one
// reciprocal instead of a division.
template <class Ops>
inline typename Ops::V tanh_f32(typename Ops::V x) {
  using V = typename Ops::V;
  x = Ops::min(Ops::max(x, Ops::set1(-approx::kTanhClamp)), Ops::set1(approx::kTanhClamp));
  const V s = Ops::mul(x, x);
  const V p = polynomial<Ops>(approx::kTanhP, s);
  const V q = polynomial<Ops>(approx::kTanhQ, s);
  const V t = Ops::mul(Ops::mul(x, p), Ops::reciprocal(q));
  return Ops::min(Ops::max(t, Ops::set1(-1.0f)), Ops::set1(1.0f));
}

// sigmoid(x) = (1 + tanh(x / 2)) / 2
template <class Ops>
inline typename Ops::V sigmoid_f32(typename Ops::V x) {
  const typename Ops::V half = Ops::set1(0.5f);
  return Ops::fma(tanh_f32<Ops>(Ops::mul(x, half)), half, half);
}

// ------------------------------------------------------------------ GEMM
// C (m, n) = [C] + [bias] + A (m, k) B, B packed in 16-column panels (packed_matrix.hpp).

// One register tile: MR rows of C times NV vectors, over all k. Vector v covers columns
// v*kLanes .. of the tile, read from panel (v*kLanes)/16 of B at offset (v*kLanes)%16.
// The fixed-trip loops unroll completely so the accumulators live in registers.
template <class Ops, int MR, int NV>
inline void gemm_tile_full(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                           int64_t ldc, const float* bias, bool accumulate) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  constexpr int P = static_cast<int>(PackedMatrix::kPanel);
  V acc[MR][NV];
  ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
    ACTIF_UNROLL for (int v = 0; v < NV; ++v) {
      V init = accumulate ? Ops::load(c + i * ldc + L * v) : Ops::zero();
      if (bias) init = Ops::add(init, Ops::load(bias + L * v));
      acc[i][v] = init;
    }
  }
  for (int64_t q = 0; q < k; ++q) {
    V bv[NV];
    ACTIF_UNROLL for (int v = 0; v < NV; ++v) bv[v] = Ops::load(b0 + (v * L / P) * panel_stride + q * P + (v * L) % P);
    ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
      const V av = Ops::broadcast(a + i * lda + q);
      ACTIF_UNROLL for (int v = 0; v < NV; ++v) acc[i][v] = Ops::fma(av, bv[v], acc[i][v]);
    }
  }
  ACTIF_UNROLL for (int i = 0; i < MR; ++i) {
    ACTIF_UNROLL for (int v = 0; v < NV; ++v) Ops::store(c + i * ldc + L * v, acc[i][v]);
  }
}

// A tile whose last vector may be partial (ncols < NV * kLanes) runs on a padded copy,
// so that nothing past column ncols of C or bias is read or written.
template <class Ops, int MR, int NV>
inline void gemm_tile(int64_t k, const float* a, int64_t lda, const float* b0, int64_t panel_stride, float* c,
                      int64_t ldc, const float* bias, bool accumulate, int64_t ncols) {
  constexpr int W = NV * Ops::kLanes;
  if (ncols == W) {
    gemm_tile_full<Ops, MR, NV>(k, a, lda, b0, panel_stride, c, ldc, bias, accumulate);
    return;
  }
  alignas(64) float ct[MR][W] = {};
  alignas(64) float bt[W] = {};
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) ct[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t j = 0; bias && j < ncols; ++j) bt[j] = bias[j];
  gemm_tile_full<Ops, MR, NV>(k, a, lda, b0, panel_stride, &ct[0][0], W, bias ? bt : nullptr, accumulate);
  for (int i = 0; i < MR; ++i)
    for (int64_t j = 0; j < ncols; ++j) c[i * ldc + j] = ct[i][j];
}

// MR rows against NP panels from panel p (the last ones may be partly or wholly past
// b.n: padded); a single last panel with at most half its columns live runs at half
// width.
template <class Ops, int MR, int NP = 1>
inline void gemm_row_block(int64_t k, const float* a, int64_t lda, const PackedMatrix& b, int64_t p, float* c,
                           int64_t ldc, const float* bias, bool accumulate) {
  constexpr int kPanelVectors = static_cast<int>(PackedMatrix::kPanel) / Ops::kLanes;
  const int64_t ncols = min64(NP * PackedMatrix::kPanel, b.n - p * PackedMatrix::kPanel);
  const float* bp = b.panel(p);
  float* cp = c + p * PackedMatrix::kPanel;
  const float* biasp = bias ? bias + p * PackedMatrix::kPanel : nullptr;
  if constexpr (NP == 1 && kPanelVectors >= 2) {
    if (2 * ncols <= PackedMatrix::kPanel) {
      gemm_tile<Ops, MR, kPanelVectors / 2>(k, a, lda, bp, k * PackedMatrix::kPanel, cp, ldc, biasp, accumulate, ncols);
      return;
    }
  }
  gemm_tile<Ops, MR, kPanelVectors * NP>(k, a, lda, bp, k * PackedMatrix::kPanel, cp, ldc, biasp, accumulate, ncols);
}

// The last `rows` (< MR) rows against NP panels from p, as one row block of that height.
template <class Ops, int MR, int NP = 1>
inline void gemm_row_remainder(int64_t rows, int64_t k, const float* a, int64_t lda, const PackedMatrix& b, int64_t p,
                               float* c, int64_t ldc, const float* bias, bool accumulate) {
  if constexpr (MR > 1) {
    if (rows == MR - 1) {
      gemm_row_block<Ops, MR - 1, NP>(k, a, lda, b, p, c, ldc, bias, accumulate);
      return;
    }
    gemm_row_remainder<Ops, MR - 1, NP>(rows, k, a, lda, b, p, c, ldc, bias, accumulate);
  }
}

// All m rows against NP panels from p: row blocks of MR, then the remainder.
template <class Ops, int MR, int NP>
inline void gemm_panel_rows(int64_t m, int64_t k, const float* a, int64_t lda, const PackedMatrix& b, int64_t p, float* c,
                            int64_t ldc, const float* bias, bool accumulate) {
  int64_t i = 0;
  for (; i + MR <= m; i += MR) gemm_row_block<Ops, MR, NP>(k, a + i * lda, lda, b, p, c + i * ldc, ldc, bias, accumulate);
  if (i < m) gemm_row_remainder<Ops, MR, NP>(m - i, k, a + i * lda, lda, b, p, c + i * ldc, ldc, bias, accumulate);
}

template <class Ops>
void gemm_f32(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc, const float* bias,
              bool accumulate) {
  constexpr int64_t P = PackedMatrix::kPanel;
  const int64_t k = b.k, panels = PackedMatrix::panels(b.n);
  if (m == 1) {
    // Matrix-vector (batch-1 latency): kMatvecVectors accumulators across several
    // panels keep that many FMA chains in flight.
    constexpr int64_t kCols = int64_t{Ops::kMatvecVectors} * Ops::kLanes;
    static_assert(kCols % P == 0, "the matrix-vector tile covers whole panels");
    int64_t p = 0;
    for (; p + kCols / P <= panels; p += kCols / P)
      gemm_tile<Ops, 1, Ops::kMatvecVectors>(k, a, lda, b.panel(p), k * P, c + p * P, ldc, bias ? bias + p * P : nullptr,
                                             accumulate, min64(kCols, b.n - p * P));
    for (; p < panels; ++p) gemm_row_block<Ops, 1>(k, a, lda, b, p, c, ldc, bias, accumulate);
    return;
  }
  // Panel-outer: kTilePanels panels (k x 16 floats each) stay in L1 while all row
  // blocks of A pass; a last odd panel runs alone.
  constexpr int MR = Ops::kTileRows, NP = Ops::kTilePanels;
  int64_t p = 0;
  for (; p + NP <= panels; p += NP) gemm_panel_rows<Ops, MR, NP>(m, k, a, lda, b, p, c, ldc, bias, accumulate);
  for (; p < panels; ++p) gemm_panel_rows<Ops, MR, 1>(m, k, a, lda, b, p, c, ldc, bias, accumulate);
}

// ------------------------------------------------------------------ LSTM cell
// The contract of KernelSet::lstm_cell_f32 (kernels.hpp).
template <class Ops>
void lstm_cell_f32(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev, int64_t ldc_prev,
                   float* c_out, int64_t ldc_out, float* h_out, int64_t ldh, float* gates, int64_t ldg) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * ldz;
    const float* cp = c_prev ? c_prev + r * ldc_prev : nullptr;
    float* co = c_out + r * ldc_out;
    float* ho = h_out + r * ldh;
    float* gr = gates ? gates + r * ldg : nullptr;
    int64_t j = 0;
    for (; j + L <= hidden; j += L) {
      const V i = sigmoid_f32<Ops>(Ops::load(zr + j));
      const V f = sigmoid_f32<Ops>(Ops::load(zr + hidden + j));
      const V g = tanh_f32<Ops>(Ops::load(zr + 2 * hidden + j));
      const V o = sigmoid_f32<Ops>(Ops::load(zr + 3 * hidden + j));
      const V prev = cp ? Ops::load(cp + j) : Ops::zero();
      const V c = Ops::fma(f, prev, Ops::mul(i, g));
      Ops::store(co + j, c);
      Ops::store(ho + j, Ops::mul(o, tanh_f32<Ops>(c)));
      if (gr) {
        Ops::store(gr + j, i);
        Ops::store(gr + hidden + j, f);
        Ops::store(gr + 2 * hidden + j, g);
        Ops::store(gr + 3 * hidden + j, o);
      }
    }
    scalar::lstm_cell_units(j, hidden, zr, cp, co, ho, gr);
  }
}

// ------------------------------------------------------------------ LSTM cell, reverse
// The contracts of KernelSet::lstm_cell_reverse_f32 and lstm_cell_relevance_f32
// (kernels.hpp). Each unit past the last full vector takes the scalar formulas.
template <class Ops>
void lstm_cell_reverse_f32(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c, int64_t ldt,
                           const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd, const float* dh_rec,
                           float* dc_rec, float* dz, int64_t ldz) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  const V one = Ops::set1(1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = gates + r * ldg;
    const float* tr = tanh_c + r * ldt;
    const float* cp = c_prev + r * ldc_prev;
    const float* dhi = dh_in + r * ldd;
    const float* dhr = dh_rec + r * hidden;
    float* dcr = dc_rec + r * hidden;
    float* dzr = dz + r * ldz;
    int64_t j = 0;
    for (; j + L <= hidden; j += L) {
      const V dh = Ops::add(Ops::load(dhi + j), Ops::load(dhr + j));
      const V i = Ops::load(gr + j), f = Ops::load(gr + hidden + j);
      const V g = Ops::load(gr + 2 * hidden + j), o = Ops::load(gr + 3 * hidden + j);
      const V tc = Ops::load(tr + j);
      const V dc = Ops::add(Ops::load(dcr + j), Ops::mul(Ops::mul(dh, o), Ops::sub(one, Ops::mul(tc, tc))));
      Ops::store(dzr + j, Ops::mul(Ops::mul(Ops::mul(dc, g), i), Ops::sub(one, i)));
      Ops::store(dzr + hidden + j, Ops::mul(Ops::mul(Ops::mul(dc, Ops::load(cp + j)), f), Ops::sub(one, f)));
      Ops::store(dzr + 2 * hidden + j, Ops::mul(Ops::mul(dc, i), Ops::sub(one, Ops::mul(g, g))));
      Ops::store(dzr + 3 * hidden + j, Ops::mul(Ops::mul(Ops::mul(dh, tc), o), Ops::sub(one, o)));
      Ops::store(dcr + j, Ops::mul(dc, f));
    }
    scalar::lstm_cell_reverse_units(j, hidden, gr, tr, cp, dhi, dhr, dcr, dzr);
  }
}

// Divisions by the stabilised denominators as reciprocals (Ops::reciprocal), as tanh's.
template <class Ops>
void lstm_cell_relevance_f32(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg, const float* c,
                             int64_t ldc, const float* c_prev, int64_t ldc_prev, const float* zg, int64_t ldzg,
                             const float* rh, int64_t ldr, const float* carry_h, float* carry_c, float* share,
                             int64_t lds) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  const V e = Ops::set1(eps);
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = gates + r * ldg;
    const float* cr = c + r * ldc;
    const float* cp = c_prev + r * ldc_prev;
    const float* zr = zg + r * ldzg;
    const float* rr = rh + r * ldr;
    const float* ch = carry_h + r * hidden;
    float* cc = carry_c + r * hidden;
    float* sh = share + r * lds;
    int64_t j = 0;
    for (; j + L <= hidden; j += L) {
      const V cv = Ops::load(cr + j), zv = Ops::load(zr + j);
      const V incoming = Ops::add(Ops::add(Ops::load(rr + j), Ops::load(ch + j)), Ops::load(cc + j));
      const V per_c = Ops::mul(incoming, Ops::reciprocal(Ops::add(cv, Ops::copysign(e, cv))));
      Ops::store(cc + j, Ops::mul(Ops::mul(Ops::load(gr + hidden + j), Ops::load(cp + j)), per_c));
      const V ig = Ops::mul(Ops::load(gr + j), Ops::load(gr + 2 * hidden + j));
      Ops::store(sh + j, Ops::mul(Ops::mul(ig, per_c), Ops::reciprocal(Ops::add(zv, Ops::copysign(e, zv)))));
    }
    scalar::lstm_cell_relevance_units(j, hidden, eps, gr, cr, cp, zr, rr, ch, cc, sh);
  }
}

// ------------------------------------------------------------------ activations
template <class Ops>
void activation_f32(Activation act, int64_t n, float* x) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  int64_t i = 0;
  switch (act) {
    case Activation::Identity:
      return;
    case Activation::Relu:
      for (; i + L <= n; i += L) Ops::store(x + i, Ops::max(Ops::load(x + i), Ops::zero()));
      break;
    case Activation::Elu:
      for (; i + L <= n; i += L) {
        const V v = Ops::load(x + i);
        const V neg = Ops::sub(exp_f32<Ops>(Ops::min(v, Ops::zero())), Ops::set1(1.0f));
        Ops::store(x + i, Ops::select_positive(v, v, neg));
      }
      break;
    case Activation::Tanh:
      for (; i + L <= n; i += L) Ops::store(x + i, tanh_f32<Ops>(Ops::load(x + i)));
      break;
    case Activation::Sigmoid:
      for (; i + L <= n; i += L) Ops::store(x + i, sigmoid_f32<Ops>(Ops::load(x + i)));
      break;
  }
  scalar::activation_range(act, i, n, x);
}

}  // namespace simd
}  // namespace actif
