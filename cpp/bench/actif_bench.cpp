// actif_bench: latency of the native forward pass, without Python in the way.
//
// For I=38, T=10 and H in {64, 128, 256} (or --hidden), it times per-window latency
// at batch 1, throughput at batch 256, with and without the weighted trace feeding
// RunningStats, and the stateful single-sample step. Prints one JSON object per line
// so scripts can collect results (benchmarks/ turns them into tables).
//
// --roofline times the kernel set's matrix product alone on the recurrent matrix of each
// hidden size, the way the passes call it: one window's matrix-vector product (forward:
// (H, 4H) weights; reverse: (4H, H)), a row block of 30 windows (each weight loaded once
// for 30 rows), and a matrix-vector product on 16 KB of weights that stay in L1. Where
// the first run far below the other two, the weights' trip from cache, not the
// arithmetic, sets the pace (cpp/bench/record_roofline.py stores the figures).
//
//   actif_bench [--hidden 128] [--isa auto|scalar|avx2|avx512|neon] [--threads 1] [--quick] [--roofline]
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
#include "actif/packed_matrix.hpp"
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

// One product C (m, n) = A (m, k) B through the active kernel set, B packed as the model
// packs its weights: a JSON line with the time per call and the rates it implies.
void roofline_row(const char* what, int64_t hidden, int64_t m, int64_t k, int64_t n, int reps) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> b(static_cast<size_t>(k * n)), a(static_cast<size_t>(m * k)), c(static_cast<size_t>(m * n));
  for (auto& v : b) v = u(rng);
  for (auto& v : a) v = u(rng);
  const actif::PackedMatrix packed = actif::PackedMatrix::pack(k, n, b.data(), n);
  const actif::KernelSet& kernels = actif::active_kernels();
  const double bytes = 4.0 * static_cast<double>(k * n), fmas = static_cast<double>(m * k * n);
  const int inner = static_cast<int>(std::max<double>(20.0, 2e8 / fmas));  // about 10 ms per timed block
  const double sec = time_per_call([&] { kernels.gemm_f32(m, a.data(), k, packed, c.data(), n, nullptr, false); }, inner, reps);
  std::printf(
      "{\"bench\": \"roofline\", \"isa\": \"%s\", \"product\": \"%s\", \"hidden\": %lld, \"m\": %lld, \"k\": %lld, "
      "\"n\": %lld, \"weights_kb\": %.1f, \"us_per_call\": %.4f, \"weights_gb_per_s\": %.2f, \"fma_per_ns\": %.2f}\n",
      actif::active_isa().c_str(), what, static_cast<long long>(hidden), static_cast<long long>(m),
      static_cast<long long>(k), static_cast<long long>(n), bytes / 1024.0, sec * 1e6, bytes / sec / 1e9, fmas / sec / 1e9);
}

int roofline(const std::vector<int64_t>& hiddens, int reps) {
  roofline_row("matrix-vector, 16 KB of weights (L1)", 0, 1, 64, 64, reps);
  for (const int64_t h : hiddens) {
    roofline_row("matrix-vector, forward step", h, 1, h, 4 * h, reps);
    roofline_row("matrix-vector, reverse step", h, 1, 4 * h, h, reps);
    roofline_row("30 rows, forward step", h, 30, h, 4 * h, reps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> hiddens = {64, 128, 256};
  std::string isa = "auto";
  int threads = 1;
  bool quick = false, roofline_only = false;
  std::vector<int64_t> batches = {1, 256};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--hidden" && i + 1 < argc) {  // one size or several: 64,128
      hiddens.clear();
      for (const char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        hiddens.push_back(std::strtoll(p, &end, 10));
        if (end == p || hiddens.back() < 1) {
          std::fprintf(stderr, "actif_bench: --hidden takes positive sizes, e.g. 64 or 64,128\n");
          return 2;
        }
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') {
          std::fprintf(stderr, "actif_bench: --hidden takes positive sizes, e.g. 64 or 64,128\n");
          return 2;
        }
      }
    } else if (a == "--isa" && i + 1 < argc) {
      isa = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--batch" && i + 1 < argc) {
      batches = {std::atoll(argv[++i])};
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--roofline") {
      roofline_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: actif_bench [--hidden H[,H...]] [--batch N] [--isa auto|scalar|avx2|avx512|neon] [--threads N] [--quick]\n"
                   "                   [--roofline]\n"
                   "Times the native LSTM forward (I=38, T=10) at batch 1 and 256, with and\n"
                   "without attribution, and the stateful step. One JSON line per measurement.\n"
                   "--roofline: the kernel set's matrix product alone, on each size's recurrent\n"
                   "matrix (one window, 30 windows) and on 16 KB of weights held in L1.\n");
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
  if (roofline_only) return roofline(hiddens, reps);
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
