#include "actif/packed_matrix.hpp"

#include <cstddef>

namespace actif {

PackedMatrix PackedMatrix::pack(int64_t k, int64_t n, const float* b, int64_t ldb) {
  PackedMatrix out;
  out.k = k;
  out.n = n;
  out.data.assign(static_cast<size_t>(panels(n) * k * kPanel), 0.0f);
  for (int64_t p = 0; p < panels(n); ++p) {
    float* dst = out.data.data() + p * k * kPanel;
    for (int64_t r = 0; r < k; ++r)
      for (int64_t j = 0; j < kPanel && p * kPanel + j < n; ++j) dst[r * kPanel + j] = b[r * ldb + p * kPanel + j];
  }
  return out;
}

}  // namespace actif
