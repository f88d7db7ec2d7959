// Reading one .npy member (format versions 1.0 and 2.0) as np.lib.format does, but only
// the dtypes a model file may hold: little-endian float32/float64 weights and the uint8
// header. The shape and dtype are checked before any data is copied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stored_zip.hpp"

namespace actif {
namespace loader {

enum class NpyType { Float32, Float64, UInt8 };

struct NpyView {
  NpyType type = NpyType::Float32;
  std::vector<int64_t> shape;
  ByteView data;  // exactly prod(shape) * itemsize bytes, possibly unaligned
};

// Parses the .npy header of member `name` (for messages) and locates its data.
// Throws ModelFileError: Malformed (bad magic/header, Fortran order, truncated data),
// Unsupported (other .npy versions, other dtypes), Limit (header or data too large).
NpyView parse_npy(ByteView member, const std::string& name);

}  // namespace loader
}  // namespace actif
