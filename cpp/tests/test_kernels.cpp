// Every kernel of every ISA this CPU runs (scalar included) against a double-precision
// reference, at sizes below, at, between and above the vector widths (4 NEON, 8 AVX2,
// 16 AVX-512 floats; 16-column panels), with guard values around every buffer so that a read
// past the end (guards are NaN where they would be read) or a write past the end
// (guards must stay intact) fails.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "actif/kernels.hpp"
#include "harness.hpp"
#include "isa_loop.hpp"
#include "reference.hpp"

using namespace actif_test;

namespace {

bool strided_padding_intact(const float* p, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = cols; j < ld; ++j)
      if (!std::isnan(p[r * ld + j])) return false;
  return true;
}

// GEMM widths: the vector and panel widths, plus both sides of the matrix-vector tiles
// (32 columns for NEON, 64 for AVX2 and AVX-512) and of a half panel.
std::vector<int64_t> gemm_widths() {
  std::vector<int64_t> n = kSizesAroundVectorWidths;
  n.insert(n.end(), {24, 25, 31, 32, 33, 47, 48, 49});
  return n;
}

}  // namespace

TEST_CASE(kernels, isa_list) {
  const auto isas = actif::supported_isas();
  CHECK(!isas.empty() && isas.front() == "scalar");
#if defined(ACTIF_HAVE_NEON)
  CHECK(isas.back() == "neon");
#endif
#if defined(ACTIF_HAVE_AVX2) && defined(ACTIF_HAVE_AVX512)
  // best last: where the CPU runs both x86 sets, AVX-512 is chosen over AVX2
  const bool has_avx512 = std::find(isas.begin(), isas.end(), "avx512") != isas.end();
  CHECK(!has_avx512 || isas.back() == "avx512");
  CHECK(!has_avx512 || std::find(isas.begin(), isas.end(), "avx2") != isas.end());
#endif
  bool threw = false;
  try {
    actif::force_isa("no-such-isa");
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw);
  actif::force_isa("auto");
  CHECK(actif::active_isa() == isas.back());
}

TEST_CASE(kernels, gemm) {
  Rng rng(11);
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const int64_t n : gemm_widths()) {
      for (const int64_t k : {1, 7, 17}) {
        std::vector<float> bmat = rng.uniform_vec(static_cast<size_t>(k * n), -1.0f, 1.0f);
        const actif::PackedMatrix packed = actif::PackedMatrix::pack(k, n, bmat.data(), n);
        for (const int64_t m : {1, 2, 5, 6, 7, 13}) {
          for (int mode = 0; mode < 4; ++mode) {
            const bool accumulate = mode & 1, with_bias = mode & 2;
            const int64_t lda = k + 3, ldc = n + 5;
            Guarded a(m * lda), c(m * ldc), bias(n);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t q = 0; q < k; ++q) a.data()[i * lda + q] = rng.uniform(-1.0f, 1.0f);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) c.data()[i * ldc + j] = rng.uniform(-1.0f, 1.0f);
            for (int64_t j = 0; j < n; ++j) bias.data()[j] = rng.uniform(-1.0f, 1.0f);
            std::vector<double> want(static_cast<size_t>(m * n)), scale(static_cast<size_t>(m * n));
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double acc = accumulate ? c.data()[i * ldc + j] : 0.0, mag = std::fabs(acc);
                if (with_bias) acc += bias.data()[j], mag += std::fabs(bias.data()[j]);
                for (int64_t q = 0; q < k; ++q) {
                  const double t = static_cast<double>(a.data()[i * lda + q]) * bmat[static_cast<size_t>(q * n + j)];
                  acc += t;
                  mag += std::fabs(t);
                }
                want[static_cast<size_t>(i * n + j)] = acc;
                scale[static_cast<size_t>(i * n + j)] = mag;
              }
            ks.gemm_f32(m, a.data(), lda, packed, c.data(), ldc, with_bias ? bias.data() : nullptr, accumulate);
            // Float32 summation bound: (k + 2) roundings of at most 2^-24 of the magnitude.
            int64_t bad = 0;
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                const double got = c.data()[i * ldc + j], w = want[static_cast<size_t>(i * n + j)];
                const double bound = 2.0 * static_cast<double>(k + 2) * 5.96e-8 * scale[static_cast<size_t>(i * n + j)] + 1e-12;
                bad += !(std::fabs(got - w) <= bound);
              }
            const std::string where = isa + " m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" +
                                      std::to_string(n) + " acc=" + std::to_string(accumulate) + " bias=" +
                                      std::to_string(with_bias);
            CHECK_MSG(bad == 0, where + ": " + std::to_string(bad) + " values outside the 'gemm' summation bound");
            CHECK_MSG(c.guards_intact() && strided_padding_intact(c.data(), m, n, ldc), where + ": wrote outside C");
            CHECK_MSG(a.guards_intact() && bias.guards_intact(), where + ": wrote into an input");
          }
        }
      }
    }
  });
}

TEST_CASE(kernels, lstm_cell) {
  Rng rng(12);
  const Tolerance cell_tol{"lstm_cell", 0.0, 2e-6};
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const int64_t hidden : kSizesAroundVectorWidths) {
      for (const int64_t rows : {1, 3}) {
        for (int mode = 0; mode < 3; ++mode) {  // 0: zero state, 1: separate c_prev, 2: c_prev aliases c_out
          for (const bool want_gates : {false, true}) {
            const int64_t g = 4 * hidden, ldz = g + 3, ldc = hidden + 2, ldh = hidden + 1, ldg = g + 5;
            Guarded z(rows * ldz), c_prev(rows * ldc), c_out(rows * ldc), h(rows * ldh), gates(rows * ldg);
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < g; ++j) {
                // Mostly the working range, some values past the tanh clamp (|x| > 9).
                const float v = rng.uniform(-6.0f, 6.0f);
                z.data()[r * ldz + j] = (j % 11 == 3) ? v * 3.0f : v;
              }
            float* cp = mode == 1 ? c_prev.data() : (mode == 2 ? c_out.data() : nullptr);
            if (cp)
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < hidden; ++j) cp[r * ldc + j] = rng.uniform(-3.0f, 3.0f);
            std::vector<double> want_c(static_cast<size_t>(rows * hidden)), want_h(want_c.size()),
                want_g(static_cast<size_t>(rows * g));
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < hidden; ++j) {
                const float* zr = z.data() + r * ldz;
                const double i = ref_activation(actif::Activation::Sigmoid, zr[j]);
                const double f = ref_activation(actif::Activation::Sigmoid, zr[hidden + j]);
                const double gg = std::tanh(static_cast<double>(zr[2 * hidden + j]));
                const double o = ref_activation(actif::Activation::Sigmoid, zr[3 * hidden + j]);
                const double c = f * (cp ? cp[r * ldc + j] : 0.0) + i * gg;
                want_c[static_cast<size_t>(r * hidden + j)] = c;
                want_h[static_cast<size_t>(r * hidden + j)] = o * std::tanh(c);
                const double gv[4] = {i, f, gg, o};
                for (int q = 0; q < 4; ++q) want_g[static_cast<size_t>(r * g + q * hidden + j)] = gv[q];
              }
            ks.lstm_cell_f32(rows, hidden, z.data(), ldz, cp, ldc, c_out.data(), ldc, h.data(), ldh,
                             want_gates ? gates.data() : nullptr, ldg);
            std::vector<float> got_c, got_h, got_g;
            for (int64_t r = 0; r < rows; ++r) {
              got_c.insert(got_c.end(), c_out.data() + r * ldc, c_out.data() + r * ldc + hidden);
              got_h.insert(got_h.end(), h.data() + r * ldh, h.data() + r * ldh + hidden);
              got_g.insert(got_g.end(), gates.data() + r * ldg, gates.data() + r * ldg + g);
            }
            const std::string where = isa + " H=" + std::to_string(hidden) + " rows=" + std::to_string(rows) +
                                      " mode=" + std::to_string(mode);
            CHECK_CLOSE(where + " c", got_c.data(), want_c.data(), rows * hidden, cell_tol);
            CHECK_CLOSE(where + " h", got_h.data(), want_h.data(), rows * hidden, cell_tol);
            if (want_gates) CHECK_CLOSE(where + " gates", got_g.data(), want_g.data(), rows * g, cell_tol);
            CHECK_MSG(c_out.guards_intact() && strided_padding_intact(c_out.data(), rows, hidden, ldc), where + ": c");
            CHECK_MSG(h.guards_intact() && strided_padding_intact(h.data(), rows, hidden, ldh), where + ": h");
            CHECK_MSG(gates.guards_intact() && (!want_gates || strided_padding_intact(gates.data(), rows, g, ldg)),
                      where + ": gates");
            if (!want_gates) CHECK_MSG(strided_padding_intact(gates.data(), rows, 0, ldg), where + ": gates written");
          }
        }
      }
    }
  });
}

// The reverse cell kernels against double-precision formulas, with strided rows, a
// shared zero c_prev row (stride 0) and, for LRP, denominators at exactly +0 and -0 (the
// stabiliser takes z's sign: +eps for +0, -eps for -0).
TEST_CASE(kernels, lstm_cell_reverse) {
  Rng rng(31);
  const Tolerance tol{"lstm_cell_reverse", 1e-6, 1e-5};
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const int64_t hidden : kSizesAroundVectorWidths) {
      for (const int64_t rows : {1, 3}) {
        for (const bool shared_zero : {false, true}) {
          const int64_t g = 4 * hidden, ldg = g + 5, ldt = hidden + 3, ldd = hidden + 1, ldz = g + 2;
          const int64_t ldc_prev = shared_zero ? 0 : hidden + 2;
          std::vector<float> gates(static_cast<size_t>(rows * ldg)), tanh_c(static_cast<size_t>(rows * ldt)),
              dh_in(static_cast<size_t>(rows * ldd)), dh_rec(static_cast<size_t>(rows * hidden)),
              dc_rec(static_cast<size_t>(rows * hidden)), c_prev(static_cast<size_t>(rows * (hidden + 2)), 0.0f);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < hidden; ++j) {
              for (int q = 0; q < 4; ++q) gates[r * ldg + q * hidden + j] = q == 2 ? rng.uniform(-1.0f, 1.0f) : rng.uniform(0.0f, 1.0f);
              tanh_c[r * ldt + j] = rng.uniform(-1.0f, 1.0f);
              dh_in[r * ldd + j] = rng.uniform(-2.0f, 2.0f);
              dh_rec[r * hidden + j] = rng.uniform(-2.0f, 2.0f);
              dc_rec[r * hidden + j] = rng.uniform(-2.0f, 2.0f);
              if (!shared_zero) c_prev[r * ldc_prev + j] = rng.uniform(-3.0f, 3.0f);
            }
          std::vector<double> want_dz(static_cast<size_t>(rows * g)), want_dc(static_cast<size_t>(rows * hidden));
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < hidden; ++j) {
              const float* gr = gates.data() + r * ldg;
              const double i = gr[j], f = gr[hidden + j], gv = gr[2 * hidden + j], o = gr[3 * hidden + j];
              const double tc = tanh_c[r * ldt + j], cp = c_prev[r * ldc_prev + j];
              const double dh = static_cast<double>(dh_in[r * ldd + j]) + dh_rec[r * hidden + j];
              const double dc = dc_rec[r * hidden + j] + dh * o * (1.0 - tc * tc);
              double* dz = want_dz.data() + r * g;
              dz[j] = dc * gv * i * (1.0 - i);
              dz[hidden + j] = dc * cp * f * (1.0 - f);
              dz[2 * hidden + j] = dc * i * (1.0 - gv * gv);
              dz[3 * hidden + j] = dh * tc * o * (1.0 - o);
              want_dc[static_cast<size_t>(r * hidden + j)] = dc * f;
            }
          Guarded dz(rows * ldz), dc(rows * hidden);
          std::copy(dc_rec.begin(), dc_rec.end(), dc.data());
          ks.lstm_cell_reverse_f32(rows, hidden, gates.data(), ldg, tanh_c.data(), ldt, c_prev.data(), ldc_prev,
                                   dh_in.data(), ldd, dh_rec.data(), dc.data(), dz.data(), ldz);
          std::vector<float> got_dz;
          for (int64_t r = 0; r < rows; ++r) got_dz.insert(got_dz.end(), dz.data() + r * ldz, dz.data() + r * ldz + g);
          const std::string where = isa + " H=" + std::to_string(hidden) + " rows=" + std::to_string(rows) +
                                    (shared_zero ? " zero c_prev" : "");
          CHECK_CLOSE(where + " dz", got_dz.data(), want_dz.data(), rows * g, tol);
          CHECK_CLOSE(where + " dc", dc.data(), want_dc.data(), rows * hidden, tol);
          CHECK_MSG(dz.guards_intact() && strided_padding_intact(dz.data(), rows, g, ldz), where + ": dz");
          CHECK_MSG(dc.guards_intact(), where + ": dc");
        }
      }
    }
  });
}

TEST_CASE(kernels, lstm_cell_relevance) {
  Rng rng(32);
  const float eps = 0.1f;
  const Tolerance tol{"lstm_cell_relevance", 1e-6, 1e-5};
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const int64_t hidden : kSizesAroundVectorWidths) {
      for (const int64_t rows : {1, 3}) {
        for (const bool shared_zero : {false, true}) {
          const int64_t g = 4 * hidden, ldg = g + 5, ldc = hidden + 3, ldz = hidden + 1, ldr = hidden + 4, lds = hidden + 2;
          const int64_t ldc_prev = shared_zero ? 0 : hidden + 2;
          std::vector<float> gates(static_cast<size_t>(rows * ldg)), c(static_cast<size_t>(rows * ldc)),
              zg(static_cast<size_t>(rows * ldz)), rh(static_cast<size_t>(rows * ldr)),
              carry_h(static_cast<size_t>(rows * hidden)), carry_c(static_cast<size_t>(rows * hidden)),
              c_prev(static_cast<size_t>(rows * (hidden + 2)), 0.0f);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < hidden; ++j) {
              for (int q = 0; q < 4; ++q) gates[r * ldg + q * hidden + j] = q == 2 ? rng.uniform(-1.0f, 1.0f) : rng.uniform(0.0f, 1.0f);
              // Denominators of both signs, some exactly +0 or -0.
              const float cv = rng.uniform(-3.0f, 3.0f), zv = rng.uniform(-4.0f, 4.0f);
              c[r * ldc + j] = j % 7 == 2 ? 0.0f : (j % 7 == 5 ? -0.0f : cv);
              zg[r * ldz + j] = j % 5 == 1 ? -0.0f : (j % 5 == 3 ? 0.0f : zv);
              rh[r * ldr + j] = rng.uniform(-1.0f, 1.0f);
              carry_h[r * hidden + j] = rng.uniform(-1.0f, 1.0f);
              carry_c[r * hidden + j] = rng.uniform(-1.0f, 1.0f);
              if (!shared_zero) c_prev[r * ldc_prev + j] = rng.uniform(-3.0f, 3.0f);
            }
          auto stab = [&](float z) { return static_cast<double>(z) + (std::signbit(z) ? -eps : eps); };
          std::vector<double> want_cc(static_cast<size_t>(rows * hidden)), want_share(want_cc.size());
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < hidden; ++j) {
              const float* gr = gates.data() + r * ldg;
              const size_t k = static_cast<size_t>(r * hidden + j);
              const double per_c = (static_cast<double>(rh[r * ldr + j]) + carry_h[k] + carry_c[k]) / stab(c[r * ldc + j]);
              want_cc[k] = static_cast<double>(gr[hidden + j]) * c_prev[r * ldc_prev + j] * per_c;
              want_share[k] = static_cast<double>(gr[j]) * gr[2 * hidden + j] * per_c / stab(zg[r * ldz + j]);
            }
          Guarded cc(rows * hidden), share(rows * lds);
          std::copy(carry_c.begin(), carry_c.end(), cc.data());
          ks.lstm_cell_relevance_f32(rows, hidden, eps, gates.data(), ldg, c.data(), ldc, c_prev.data(), ldc_prev,
                                     zg.data(), ldz, rh.data(), ldr, carry_h.data(), cc.data(), share.data(), lds);
          std::vector<float> got_share;
          for (int64_t r = 0; r < rows; ++r)
            got_share.insert(got_share.end(), share.data() + r * lds, share.data() + r * lds + hidden);
          const std::string where = isa + " H=" + std::to_string(hidden) + " rows=" + std::to_string(rows) +
                                    (shared_zero ? " zero c_prev" : "");
          CHECK_CLOSE(where + " carry_c", cc.data(), want_cc.data(), rows * hidden, tol);
          CHECK_CLOSE(where + " share", got_share.data(), want_share.data(), rows * hidden, tol);
          CHECK_MSG(cc.guards_intact(), where + ": carry_c");
          CHECK_MSG(share.guards_intact() && strided_padding_intact(share.data(), rows, hidden, lds), where + ": share");
        }
      }
    }
  });
}

TEST_CASE(kernels, activation) {
  Rng rng(13);
  const Tolerance act_tol{"activation", 1e-6, 1e-6};
  const actif::Activation acts[] = {actif::Activation::Identity, actif::Activation::Relu, actif::Activation::Elu,
                                    actif::Activation::Tanh, actif::Activation::Sigmoid};
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const actif::Activation act : acts) {
      std::vector<int64_t> sizes = kSizesAroundVectorWidths;
      sizes.insert(sizes.begin(), 0);
      for (const int64_t n : sizes) {
        Guarded x(n);
        std::vector<double> want(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          x.data()[i] = rng.uniform(-12.0f, 12.0f);
          want[static_cast<size_t>(i)] = ref_activation(act, x.data()[i]);
        }
        ks.activation_f32(act, n, x.data());
        const std::string where = isa + " " + actif::to_string(act) + " n=" + std::to_string(n);
        CHECK_CLOSE(where, x.data(), want.data(), n, act_tol);
        CHECK_MSG(x.guards_intact(), where + ": wrote outside x");
      }
    }
  });
}

// Every output element is computed by the same operations in the same order whatever
// the tile it falls in: a row computed alone (the matrix-vector path) equals the same
// row inside a batch (row tiles and the remainder rows), bit for bit. Streaming equals
// batch exactly because of this.
TEST_CASE(kernels, gemm_rows_independent_of_batch) {
  Rng rng(14);
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const int64_t n : gemm_widths()) {
      const int64_t k = 19, m = 13;
      const std::vector<float> bmat = rng.uniform_vec(static_cast<size_t>(k * n), -1.0f, 1.0f);
      const actif::PackedMatrix packed = actif::PackedMatrix::pack(k, n, bmat.data(), n);
      const std::vector<float> a = rng.uniform_vec(static_cast<size_t>(m * k), -1.0f, 1.0f);
      const std::vector<float> bias = rng.uniform_vec(static_cast<size_t>(n), -1.0f, 1.0f);
      const std::vector<float> c0 = rng.uniform_vec(static_cast<size_t>(m * n), -1.0f, 1.0f);
      std::vector<float> batch = c0, single = c0;
      ks.gemm_f32(m, a.data(), k, packed, batch.data(), n, bias.data(), true);
      for (int64_t i = 0; i < m; ++i) ks.gemm_f32(1, a.data() + i * k, k, packed, single.data() + i * n, n, bias.data(), true);
      CHECK_MSG(std::memcmp(batch.data(), single.data(), batch.size() * sizeof(float)) == 0,
                isa + " n=" + std::to_string(n) + ": rows differ between m=1 and m=13");
    }
  });
}

// The float32 approximations of the SIMD kernels (tanh, sigmoid and ELU's exp, whose
// coefficients come from constants.json) on a dense grid through the clamps, with
// vector-aligned and tail elements, against the double reference.
TEST_CASE(kernels, activation_dense_grid) {
  const Tolerance approx_tol{"approximation", 0.0, 5e-7};
  const Tolerance elu_tol{"elu", 2e-7, 1e-7};
  std::vector<float> grid;
  for (int i = -200000; i <= 200000; ++i) grid.push_back(static_cast<float>(i) * 6e-5f);  // [-12, 12]
  grid.insert(grid.end(), {-0.0f, 0.0f, -9.0f, 9.0f, -88.0f, 87.0f, 1e30f, -1e30f, 3e38f, -3e38f, 1e-30f});
  for_each_isa([&](const std::string& isa) {
    const actif::KernelSet& ks = actif::active_kernels();
    for (const actif::Activation act : {actif::Activation::Tanh, actif::Activation::Sigmoid, actif::Activation::Elu}) {
      std::vector<float> x = grid;
      std::vector<double> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = ref_activation(act, x[i]);
      ks.activation_f32(act, static_cast<int64_t>(x.size()), x.data());
      const std::string where = isa + " " + actif::to_string(act) + " grid";
      CHECK_CLOSE(where, x.data(), want.data(), static_cast<int64_t>(x.size()),
                  act == actif::Activation::Elu ? elu_tol : approx_tol);
      bool bounded = true;
      for (const float v : x)
        if (act != actif::Activation::Elu) bounded = bounded && v >= (act == actif::Activation::Tanh ? -1.0f : 0.0f) && v <= 1.0f;
      CHECK_MSG(bounded, where + ": a value left the function's range");
    }
  });
}
