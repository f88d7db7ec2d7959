#include "harness.hpp"

#include <cstring>

namespace actif_test {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}

int64_t& failures() {
  static int64_t f = 0;
  return f;
}

void report_failure(const char* file, int line, const std::string& message) {
  if (failures()++ < 20) std::fprintf(stderr, "    %s:%d: %s\n", file, line, message.c_str());
}

template <typename T>
static bool close_impl(const char* file, int line, const std::string& what, const T* got, const double* want,
                       int64_t n, const Tolerance& tol) {
  int64_t worst = -1, bad = 0;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), w = want[i];
    const double bound = tol.atol + tol.rtol * std::fabs(w);
    const double err = std::fabs(g - w);
    if (!(err <= bound)) {  // NaN fails too
      ++bad;
      const double excess = std::isnan(err) ? INFINITY : err - bound;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return true;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %lld of %lld values outside '%s' (rtol %g, atol %g); worst [%lld] got %.9g want %.9g",
                what.c_str(), static_cast<long long>(bad), static_cast<long long>(n), tol.name, tol.rtol, tol.atol,
                static_cast<long long>(worst), static_cast<double>(got[worst]), want[worst]);
  report_failure(file, line, buf);
  return false;
}

bool expect_close(const char* file, int line, const std::string& what, const float* got, const double* want,
                  int64_t n, const Tolerance& tol) {
  return close_impl(file, line, what, got, want, n, tol);
}
bool expect_close(const char* file, int line, const std::string& what, const double* got, const double* want,
                  int64_t n, const Tolerance& tol) {
  return close_impl(file, line, what, got, want, n, tol);
}

}  // namespace actif_test

// Runs the tests of the groups named on the command line (all when none), printing one
// line per test and a closing "N passed, N failed" line.
int main(int argc, char** argv) {
  using namespace actif_test;
  std::vector<std::string> groups(argv + 1, argv + argc);
  int passed = 0, failed = 0;
  for (const TestCase& t : registry()) {
    bool selected = groups.empty();
    for (const auto& g : groups) selected = selected || g == t.group;
    if (!selected) continue;
    failures() = 0;
    try {
      t.body();
    } catch (const std::exception& e) {
      report_failure(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }
    const bool ok = failures() == 0;
    std::printf("%s %s.%s\n", ok ? "[ OK ]  " : "[FAIL]  ", t.group, t.name);
    std::fflush(stdout);
    (ok ? passed : failed) += 1;
  }
  if (passed + failed == 0) {
    std::fprintf(stderr, "no test matched\n");
    return 2;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
