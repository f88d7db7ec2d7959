// actif_bench: latency of the native forward pass, without Python in the way.
//
// For I=38, T=10 and H in {64, 128, 256} (or --hidden), it times per-window latency
// at batch 1, throughput at batch 256, with and without the weighted trace feeding
// RunningStats, and the stateful single-sample step. Prints one JSON object per line
// so scripts can collect results (benchmarks/ turns them into tables).
//
//   actif_bench [--hidden 128] [--isa auto|scalar|avx2|neon] [--threads 1] [--quick]
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/model.hpp"
#include "actif/running_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

actif::Model random_model(int64_t n_in, int64_t hidden, uint32_t seed) {
  std::mt19937 rng(seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(hidden));
  std::uniform_real_distribution<float> u(-bound, bound);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
  };
  const auto w_ih = fill(static_cast<size_t>(4 * hidden * n_in)), w_hh = fill(static_cast<size_t>(4 * hidden * hidden));
  const auto b_ih = fill(static_cast<size_t>(4 * hidden)), b_hh = fill(static_cast<size_t>(4 * hidden));
  const auto scale = std::vector<float>(static_cast<size_t>(hidden), 1.0f), shift = fill(static_cast<size_t>(hidden));
  const auto d1 = fill(static_cast<size_t>(32 * hidden)), b1 = fill(32), d2 = fill(32), b2 = fill(1);
  actif::ModelBuilder b;
  b.lstm(n_in, hidden, w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data())
      .pooling(actif::Pooling::Max, 10)
      .post_affine(hidden, scale.data(), shift.data())
      .dense(hidden, 32, d1.data(), b1.data(), actif::Activation::Relu)
      .dense(32, 1, d2.data(), b2.data(), actif::Activation::Identity);
  return b.build();
}

// Median seconds per call over `reps` timed blocks of `inner` calls.
template <typename F>
double time_per_call(F&& f, int inner, int reps) {
  for (int i = 0; i < inner; ++i) f();  // warm-up
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    samples.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / inner);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> hiddens = {64, 128, 256};
  std::string isa = "auto";
  int threads = 1;
  bool quick = false;
  std::vector<int64_t> batches = {1, 256};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--hidden" && i + 1 < argc) {
      hiddens = {std::atoll(argv[++i])};
    } else if (a == "--isa" && i + 1 < argc) {
      isa = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--batch" && i + 1 < argc) {
      batches = {std::atoll(argv[++i])};
    } else if (a == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr,
                   "usage: actif_bench [--hidden H] [--batch N] [--isa auto|scalar|avx2|neon] [--threads N] [--quick]\n"
                   "Times the native LSTM forward (I=38, T=10) at batch 1 and 256, with and\n"
                   "without attribution, and the stateful step. One JSON line per measurement.\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  try {
    actif::force_isa(isa);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "actif_bench: %s\n", e.what());
    return 2;
  }
  const int64_t n_in = 38, t = 10;
  const int reps = quick ? 3 : 7;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (const int64_t hidden : hiddens) {
    const actif::Model model = random_model(n_in, hidden, 7);
    for (const int64_t batch : batches) {
      std::vector<float> x(static_cast<size_t>(batch * t * n_in)), y(static_cast<size_t>(batch));
      for (auto& v : x) v = normal(rng);
      actif::RunningStats stats(n_in);
      for (const bool attribute : {false, true}) {
        actif::WindowRequest req;
        req.x = x.data();
        req.n = batch;
        req.t = t;
        req.y = y.data();
        req.num_threads = threads;
        if (attribute) {
          req.trace = actif::TraceKind::Weighted;
          req.stats = &stats;
        }
        const int inner = batch == 1 ? (quick ? 200 : 2000) : (quick ? 2 : 20);
        const double sec = time_per_call([&] { actif::window_forward(model, req); }, inner, reps);
        std::printf(
            "{\"bench\": \"window\", \"isa\": \"%s\", \"hidden\": %lld, \"batch\": %lld, \"attribution\": %s, "
            "\"threads\": %d, \"us_per_call\": %.3f, \"us_per_window\": %.3f}\n",
            actif::active_isa().c_str(), static_cast<long long>(hidden), static_cast<long long>(batch),
            attribute ? "true" : "false", threads, sec * 1e6, sec * 1e6 / static_cast<double>(batch));
      }
    }
    // Stateful step, one stream, with attribution.
    std::vector<float> h(static_cast<size_t>(hidden)), c(static_cast<size_t>(hidden)),
        ring(static_cast<size_t>(10 * hidden)), x(static_cast<size_t>(n_in)), y(1);
    for (auto& v : x) v = normal(rng);
    actif::RunningStats stats(n_in);
    actif::StepState s;
    s.batch = 1;
    s.h = {h.data()};
    s.c = {c.data()};
    s.ring = ring.data();
    s.ring_len = 10;
    actif::StepRequest req;
    req.x = x.data();
    req.y = y.data();
    req.trace = actif::TraceKind::Weighted;
    req.stats = &stats;
    const double sec = time_per_call(
        [&] {
          actif::step_forward(model, s, req);
          ++s.steps;
        },
        quick ? 500 : 5000, reps);
    std::printf("{\"bench\": \"step\", \"isa\": \"%s\", \"hidden\": %lld, \"batch\": 1, \"attribution\": true, "
                "\"us_per_call\": %.3f}\n",
                actif::active_isa().c_str(), static_cast<long long>(hidden), sec * 1e6);
  }
  return 0;
}
