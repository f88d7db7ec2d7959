// A tiny test harness: tests register themselves under a group; `actif_tests GROUP`
// runs one group (ctest runs each group as its own test), `actif_tests` runs all.
// Checks count failures and print the first few with context; no exceptions needed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <istream>
#include <limits>
#include <locale>
#include <map>
#include <string>
#include <vector>

#include "actif/constants.hpp"

namespace actif_test {

struct TestCase {
  const char* group;
  const char* name;
  std::function<void()> body;
};

std::vector<TestCase>& registry();
// Failures of the running test (reset per test).
int64_t& failures();
void report_failure(const char* file, int line, const std::string& message);

struct Register {
  Register(const char* group, const char* name, std::function<void()> body) {
    registry().push_back({group, name, std::move(body)});
  }
};

// A named error bound: |got - want| <= atol + rtol * |want|.
using Tolerance = actif::tolerance::Bound;

// Float32 engines against the float64 reference: the named bounds of constants.json,
// which tests/test_parity.py reads too, so both suites hold the core to one standard.
constexpr Tolerance kPrediction = actif::tolerance::kPrediction;
constexpr Tolerance kHidden = actif::tolerance::kH;
constexpr Tolerance kCell = actif::tolerance::kC;
constexpr Tolerance kGates = actif::tolerance::kGates;
constexpr Tolerance kTrace = actif::tolerance::kTrace;
constexpr Tolerance kStats = actif::tolerance::kStats;
constexpr Tolerance kScores = actif::tolerance::kScores;

// Compares n values; reports the worst element. Returns true when all are within tol.
bool expect_close(const char* file, int line, const std::string& what, const float* got, const double* want,
                  int64_t n, const Tolerance& tol);
bool expect_close(const char* file, int line, const std::string& what, const double* got, const double* want,
                  int64_t n, const Tolerance& tol);

// Sizes below, at, between and above the vector widths (4 NEON, 8 AVX2, 16 AVX-512 floats;
// 16-column panels), for kernel widths and hidden sizes alike.
inline const std::vector<int64_t> kSizesAroundVectorWidths = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 128, 257};

// Reads "name count v1 v2 ..." sections (the golden and expected-output files) until
// the end of `in`. Header-only, so the C API tests can use it with libactif alone.
inline std::map<std::string, std::vector<double>> read_sections(std::istream& in) {
  in.imbue(std::locale::classic());
  std::map<std::string, std::vector<double>> out;
  std::string name;
  size_t count = 0;
  while (in >> name >> count) {
    std::vector<double>& v = out[name];
    v.resize(count);
    for (double& x : v) in >> x;
  }
  return out;
}

inline const float kGuard = std::numeric_limits<float>::quiet_NaN();
// A buffer of n values with `pad` NaN guards before and after; data() points at the first value.
struct Guarded {
  std::vector<float> buf;
  int64_t pad, n;
  Guarded(int64_t count, int64_t guard = 19) : buf(static_cast<size_t>(count + 2 * guard), kGuard), pad(guard), n(count) {}
  float* data() { return buf.data() + pad; }
  // True when every guard still holds NaN (nothing wrote outside [0, n)).
  bool guards_intact() const {
    for (int64_t i = 0; i < pad; ++i)
      if (!std::isnan(buf[static_cast<size_t>(i)]) || !std::isnan(buf[static_cast<size_t>(pad + n + i)])) return false;
    return true;
  }
};

// Deterministic, platform-independent random numbers (splitmix64), so that x86 and
// aarch64 builds see bit-identical inputs and weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi), exactly representable in float32.
  float uniform(float lo, float hi) {
    const float u = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
  }
  std::vector<float> uniform_vec(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }

 private:
  uint64_t s_;
};

}  // namespace actif_test

#define ACTIF_CONCAT2(a, b) a##b
#define ACTIF_CONCAT(a, b) ACTIF_CONCAT2(a, b)
#define TEST_CASE(group, name)                                                                     \
  static void ACTIF_CONCAT(test_, ACTIF_CONCAT(group, ACTIF_CONCAT(_, name)))();                   \
  static const actif_test::Register ACTIF_CONCAT(reg_, ACTIF_CONCAT(group, ACTIF_CONCAT(_, name))){ \
      #group, #name, ACTIF_CONCAT(test_, ACTIF_CONCAT(group, ACTIF_CONCAT(_, name)))};             \
  static void ACTIF_CONCAT(test_, ACTIF_CONCAT(group, ACTIF_CONCAT(_, name)))()

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) actif_test::report_failure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_MSG(cond, msg)                                                                      \
  do {                                                                                            \
    if (!(cond)) actif_test::report_failure(__FILE__, __LINE__, std::string("CHECK(" #cond "): ") + (msg)); \
  } while (0)

#define CHECK_CLOSE(what, got, want, n, tol) actif_test::expect_close(__FILE__, __LINE__, what, got, want, n, tol)
