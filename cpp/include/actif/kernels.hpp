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
