// actif: 64-byte aligned storage for kernel operands, so vector loads never straddle
// cache lines (std::vector's default allocator only guarantees 16 bytes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace actif {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept { return false; }
};

using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

// A grow-only scratch buffer: at least n floats, reallocated only when it must grow, so
// steady-state calls do not allocate.
inline float* grow_to(AlignedFloats& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// grow_to() with the first n floats set to zero.
inline float* zeroed(AlignedFloats& v, int64_t n) {
  float* p = grow_to(v, n);
  std::fill(p, p + n, 0.0f);
  return p;
}

}  // namespace actif
