// actif: constant GEMM operands in the kernels' packed layout.
#pragma once

#include <cstdint>
#include <vector>

#include "actif/aligned.hpp"

namespace actif {

// A constant right-hand GEMM operand B (k, n), packed once when the model is built:
// column panels of kPanel floats, each stored k rows deep and contiguous (the last panel
// zero-padded). Every ISA reads the same layout, so the ISA can change at run time, and
// a panel (k x 16 floats) streams linearly instead of at the row stride of B, which for
// power-of-two widths would map every row to the same few L1 sets.
struct PackedMatrix {
  static constexpr int64_t kPanel = 16;
  int64_t k = 0;
  int64_t n = 0;
  AlignedFloats data;  // panels(n) * k * kPanel, 64-byte aligned

  static int64_t panels(int64_t n_cols) { return (n_cols + kPanel - 1) / kPanel; }
  // b (k, n) row-major with row stride ldb.
  static PackedMatrix pack(int64_t k, int64_t n, const float* b, int64_t ldb);
  const float* panel(int64_t p) const { return data.data() + p * k * kPanel; }
};

}  // namespace actif
