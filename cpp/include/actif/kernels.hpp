// actif: the per-ISA kernel table and its dispatch.
//
// Every hot loop of the forward pass goes through one KernelSet. There is one set per
// instruction set, each in its own source file compiled with its own flags
// (src/kernels/scalar.cpp, x86_avx2.cpp, x86_avx512.cpp, arm_neon.cpp); the SIMD sets are one template
// implementation (src/kernels/simd_f32.hpp) instantiated per ISA, and their kernels are
// named op_dtype_isa_tile (gemm_f32_avx2_6x16, lstm_cell_f32_neon_x4, ...). The
// dispatcher picks the best set the running CPU supports, and force_isa() pins one, so
// every fast path can be checked against the scalar reference on the same machine. The
// environment variable ACTIF_ISA (scalar | avx2 | avx512 | neon | auto) sets the initial choice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actif/model.hpp"

namespace actif {

struct KernelSet {
  const char* name;

  // C (m, b.n; row stride ldc) = [C if accumulate] + [bias (b.n) if bias] + A (m, b.k) * B.
  void (*gemm_f32)(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                   const float* bias, bool accumulate);

  // LSTM gate math for `rows` rows. z (rows, 4H; stride ldz): pre-activations in gate
  // order i, f, g, o. c_prev (stride ldc_prev) may be null (zero state) or alias c_out.
  // gates (stride ldg) may be null. h_out and c_out are written.
  void (*lstm_cell_f32)(int64_t rows, int64_t hidden, const float* z, int64_t ldz, const float* c_prev,
                        int64_t ldc_prev, float* c_out, int64_t ldc_out, float* h_out, int64_t ldh,
                        float* gates, int64_t ldg);

  // x[i] = act(x[i]) in place.
  void (*activation_f32)(Activation act, int64_t n, float* x);

  // The reverse of one LSTM step for `rows` rows (attribution.cpp's gradient pass). Per
  // row: gates i, f, g, o (4H; stride ldg), tanh(c) (stride ldt), c_prev (stride
  // ldc_prev; stride 0 reads one row for all), this step's incoming dh_in (stride ldd);
  // dh_rec and dc_rec (rows, H) contiguous: the gradients step s+1 passed back. Writes
  // the pre-activation gradients dz (4H, gate order; stride ldz) and leaves in dc_rec the
  // cell gradient for the step before.
  void (*lstm_cell_reverse_f32)(int64_t rows, int64_t hidden, const float* gates, int64_t ldg, const float* tanh_c,
                                int64_t ldt, const float* c_prev, int64_t ldc_prev, const float* dh_in, int64_t ldd,
                                const float* dh_rec, float* dc_rec, float* dz, int64_t ldz);

  // One step of LRP through the LSTM cell (the epsilon rule; attribution.cpp's
  // relevance pass) for `rows` rows: c's relevance (rh, stride ldr, plus carry_h and
  // carry_c, (rows, H) contiguous) splits between f * c_prev (written to carry_c, for the
  // step before) and i * g, whose share per unit of the cell input's pre-activation zg
  // (stride ldzg) is written to share (stride lds). Gates as above, c (stride ldc).
  void (*lstm_cell_relevance_f32)(int64_t rows, int64_t hidden, float eps, const float* gates, int64_t ldg,
                                  const float* c, int64_t ldc, const float* c_prev, int64_t ldc_prev, const float* zg,
                                  int64_t ldzg, const float* rh, int64_t ldr, const float* carry_h, float* carry_c,
                                  float* share, int64_t lds);
};

const KernelSet& scalar_kernels();
#if defined(ACTIF_HAVE_AVX2)
const KernelSet& avx2_kernels();
#endif
#if defined(ACTIF_HAVE_AVX512)
const KernelSet& avx512_kernels();
#endif
#if defined(ACTIF_HAVE_NEON)
const KernelSet& neon_kernels();
#endif

// The kernels in use (thread-safe to read; set once at start or by force_isa).
const KernelSet& active_kernels();
// ISAs this build contains and this CPU can run, best last (always starts with "scalar").
std::vector<std::string> supported_isas();
// Pins the ISA ("auto" picks the best); throws actif::Error if unsupported here.
void force_isa(const std::string& name);
std::string active_isa();

}  // namespace actif
