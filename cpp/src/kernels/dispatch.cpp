// Picks the kernel set for the running CPU. The chain ends in scalar, which every
// build has; ACTIF_ISA or force_isa() can pin any supported set.
#include <atomic>
#include <cstdlib>

#include "actif/kernels.hpp"

namespace actif {

namespace {

struct Entry {
  const char* name;
  const KernelSet* (*get)();
  bool (*cpu_ok)();
};

bool always() { return true; }

#if defined(ACTIF_HAVE_AVX2)
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#if defined(ACTIF_HAVE_AVX512)
// libgcc's check includes the operating system's consent (XCR0 saves the ZMM state);
// under valgrind, which does not emulate AVX-512, the CPU reports none.
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}
#endif

// Best last.
const Entry kEntries[] = {
    {"scalar", [] { return &scalar_kernels(); }, always},
#if defined(ACTIF_HAVE_AVX2)
    {"avx2", [] { return &avx2_kernels(); }, cpu_has_avx2},
#endif
#if defined(ACTIF_HAVE_AVX512)
    {"avx512", [] { return &avx512_kernels(); }, cpu_has_avx512},
#endif
#if defined(ACTIF_HAVE_NEON)
    {"neon", [] { return &neon_kernels(); }, always},  // Advanced SIMD is mandatory on AArch64
#endif
};

const KernelSet* best() {
  const KernelSet* pick = &scalar_kernels();
  for (const Entry& e : kEntries)
    if (e.cpu_ok()) pick = e.get();
  return pick;
}

const KernelSet* lookup(const std::string& name) {
  if (name == "auto" || name.empty()) return best();
  for (const Entry& e : kEntries)
    if (name == e.name) {
      if (!e.cpu_ok()) throw Error("this CPU cannot run the '" + name + "' kernels");
      return e.get();
    }
  std::string known;
  for (const auto& s : supported_isas()) known += (known.empty() ? "" : ", ") + s;
  throw Error("unknown or unavailable ISA '" + name + "' (this build and CPU support: " + known + ", auto)");
}

const KernelSet* initial() {
  const char* env = std::getenv("ACTIF_ISA");
  if (env == nullptr) return best();
  try {
    return lookup(env);
  } catch (const Error&) {
    return best();  // a bad setting must not stop the library from loading
  }
}

std::atomic<const KernelSet*>& current() {
  static std::atomic<const KernelSet*> ptr{initial()};
  return ptr;
}

}  // namespace

const KernelSet& active_kernels() { return *current().load(std::memory_order_acquire); }

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const Entry& e : kEntries)
    if (e.cpu_ok()) out.emplace_back(e.name);
  return out;
}

void force_isa(const std::string& name) { current().store(lookup(name), std::memory_order_release); }

std::string active_isa() { return active_kernels().name; }

}  // namespace actif
