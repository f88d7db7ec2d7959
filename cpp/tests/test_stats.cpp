// RunningStats: merging equals feeding one stream, serialisation gives the bytes of
// python/actif/stats.py (golden bytes below, written by NumpyRunningStats.to_bytes),
// and every corrupt blob is refused.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "actif/model.hpp"
#include "actif/running_stats.hpp"
#include "harness.hpp"
#include "reference.hpp"

using namespace actif_test;

namespace {

const double kRowsA[4][3] = {{1.0, 2.0, 3.0}, {3.0, 2.0, 1.0}, {0.5, -1.0, 4.0}, {2.5, 1.0, 0.0}};
const double kRowsB[4][3] = {{4.0, 0.0, -2.0}, {0.0, 8.0, 2.0}, {1.0, 1.0, 1.0}, {-1.0, 3.0, 7.0}};

// NumpyRunningStats(3).update(A).to_bytes() and then .update(B).to_bytes(); these
// sums are exact in binary, so both implementations must produce these very bytes.
const char* kGoldenA =
    "414354494652530001000000000000000300000000000000040000000000000000000000000010400000000000000000000000"
    "000000fc3f000000000000f03f0000000000000040000000000000114000000000000018400000000000002440b407aaa7";
const char* kGoldenAB =
    "414354494652530001000000000000000300000000000000080000000000000000000000000020400000000000000000000000"
    "000000f63f0000000000000040000000000000004000000000006033400000000000004a400000000000004a408e6fe3fc";

std::vector<uint8_t> unhex(const char* s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(s + i, 2), nullptr, 16)));
  return out;
}

bool refused(const std::vector<uint8_t>& blob) {
  try {
    actif::RunningStats::from_bytes(blob.data(), blob.size());
  } catch (const actif::Error&) {
    return true;
  }
  return false;
}

// Rewrites the trailing CRC so a deliberately edited blob reaches the later checks.
void fix_crc(std::vector<uint8_t>& b) {
  const uint32_t crc = actif::crc32(b.data(), b.size() - 4);
  std::memcpy(b.data() + b.size() - 4, &crc, 4);
}

}  // namespace

TEST_CASE(stats, golden_bytes) {
  actif::RunningStats rs(3);
  rs.update(&kRowsA[0][0], 4, 3);
  CHECK(rs.to_bytes() == unhex(kGoldenA));
  rs.update(&kRowsB[0][0], 4, 3);
  CHECK(rs.to_bytes() == unhex(kGoldenAB));
  const std::vector<uint8_t> golden = unhex(kGoldenAB);
  const actif::RunningStats back = actif::RunningStats::from_bytes(golden.data(), golden.size());
  CHECK(back.to_bytes() == golden);
  CHECK(back.count() == 8 && back.weight() == 8.0);
  CHECK(back.mean()[0] == 1.375 && back.m2()[1] == 52.0);
}

TEST_CASE(stats, merge_equals_one_stream) {
  Rng rng(21);
  for (const double half_life : {0.0, 5.0}) {
    for (const int64_t n : {1, 3, 17}) {
      const std::vector<float> a = rng.uniform_vec(static_cast<size_t>(37 * n), -3.0f, 5.0f);
      const std::vector<float> b = rng.uniform_vec(static_cast<size_t>(11 * n), 0.0f, 9.0f);
      actif::RunningStats whole(n, half_life), left(n, half_life), right(n, half_life);
      whole.update(a.data(), 37, n);
      whole.update(b.data(), 11, n);
      left.update(a.data(), 37, n);
      if (half_life == 0.0) {
        right.update(b.data(), 11, n);
        left.merge(right);
      } else {
        // With forgetting, a merge decays nothing: feeding b in pieces must match.
        left.update(b.data(), 5, n);
        left.update(b.data() + 5 * n, 6, n);
      }
      const Tolerance exact{"merge", 1e-12, 1e-12};
      const std::string where = "n=" + std::to_string(n) + " half_life=" + std::to_string(half_life);
      CHECK_CLOSE(where + " mean", left.mean().data(), whole.mean().data(), n, exact);
      CHECK_CLOSE(where + " m2", left.m2().data(), whole.m2().data(), n, exact);
      CHECK(left.count() == whole.count());
      CHECK(std::fabs(left.weight() - whole.weight()) <= 1e-12 * whole.weight());
    }
  }
  // Against the two-pass reference, in float64 input.
  std::vector<double> rows;
  for (const auto& r : kRowsA) rows.insert(rows.end(), r, r + 3);
  for (const auto& r : kRowsB) rows.insert(rows.end(), r, r + 3);
  std::vector<double> mean, sd;
  ref_moments(rows, 3, mean, sd);
  actif::RunningStats a(3), b(3);
  a.update(&kRowsA[0][0], 4, 3);
  b.update(&kRowsB[0][0], 4, 3);
  a.merge(b);
  const std::vector<double> got_sd = a.stddev();
  CHECK_CLOSE("merged mean", a.mean().data(), mean.data(), 3, kStats);
  CHECK_CLOSE("merged std", got_sd.data(), sd.data(), 3, kStats);
  // Self-merge doubles the count and keeps the moments' ratio.
  a.merge(a);
  CHECK(a.count() == 16);
  CHECK_CLOSE("self-merged mean", a.mean().data(), mean.data(), 3, kStats);
}

TEST_CASE(stats, forgetting_weights) {
  // Half-life 2: the newest row weighs 1, each older one 2^(-1/2) times the next.
  actif::RunningStats rs(3, 2.0);
  rs.update(&kRowsA[0][0], 4, 3);
  const double lam = std::pow(2.0, -0.5);
  double w = 0.0, mean[3] = {0, 0, 0};
  for (int r = 0; r < 4; ++r) {
    const double wr = std::pow(lam, 3 - r);
    w += wr;
    for (int j = 0; j < 3; ++j) mean[j] += wr * kRowsA[r][j];
  }
  for (double& m : mean) m /= w;
  CHECK(std::fabs(rs.weight() - w) < 1e-12);
  const Tolerance exact{"merge", 1e-12, 1e-12}, printed{"printed", 0.0, 1e-8};
  CHECK_CLOSE("forgetting mean", rs.mean().data(), mean, 3, exact);
  // Values written by Python's NumpyRunningStats(3, 2.0).update(A).
  const double py_mean[3] = {1.83823954, 0.78104858, 1.71404521}, py_m2[3] = {2.62754027, 3.55922318, 7.47259497};
  CHECK_CLOSE("forgetting mean vs Python", rs.mean().data(), py_mean, 3, printed);
  CHECK_CLOSE("forgetting m2 vs Python", rs.m2().data(), py_m2, 3, printed);
}

TEST_CASE(stats, corrupt_blobs_refused) {
  const std::vector<uint8_t> good = unhex(kGoldenAB);
  CHECK(!refused(good));
  for (size_t cut : {size_t{0}, size_t{10}, size_t{51}, good.size() - 1}) {
    std::vector<uint8_t> b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_MSG(refused(b), "truncated to " + std::to_string(cut));
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  CHECK(refused(longer));
  for (size_t i = 0; i < good.size(); i += 7) {  // any flipped byte: CRC mismatch (or a header error)
    std::vector<uint8_t> b = good;
    b[i] ^= 0x40;
    CHECK_MSG(refused(b), "flipped byte " + std::to_string(i));
  }
  std::vector<uint8_t> b = good;
  b[8] = 2;  // version 2
  fix_crc(b);
  CHECK(refused(b));
  b = good;
  b[12] = 1;  // forgetting flag without a half-life
  fix_crc(b);
  CHECK(refused(b));
  b = good;
  std::memset(b.data() + 16, 0xFF, 8);  // a huge declared feature count
  fix_crc(b);
  CHECK(refused(b));
  b = good;
  const double nan = std::nan("");
  std::memcpy(b.data() + 48, &nan, 8);  // NaN mean
  fix_crc(b);
  CHECK(refused(b));
  b = good;
  const double neg = -1.0;
  std::memcpy(b.data() + 48 + 24, &neg, 8);  // negative M2
  fix_crc(b);
  CHECK(refused(b));
}

// Finite but huge values: a row or merge whose float64 moments would overflow is refused
// (actif::Error) with the state unchanged, so every state stays finite and serialises
// back (the rule of python/actif/stats.py).
TEST_CASE(stats, overflowing_moments_refused_nothing_changed) {
  for (const double half_life : {0.0, 3.0}) {
    actif::RunningStats rs(1, half_life);
    const double start[2] = {2.0, 4.0};
    rs.update(start, 2, 1);
    const std::vector<uint8_t> before = rs.to_bytes();
    for (const std::vector<double>& rows : std::vector<std::vector<double>>{{1e200}, {1e155, -1e155}, {1.7e308, 1.7e308}}) {
      bool threw = false;
      try {
        rs.update(rows.data(), static_cast<int64_t>(rows.size()), 1);
      } catch (const actif::Error&) {
        threw = true;
      }
      CHECK(threw);
      CHECK(rs.to_bytes() == before);
    }
    CHECK(!refused(rs.to_bytes()));
  }
  actif::RunningStats a(1), b(1);
  const double plus[3] = {1e154, 1e154, 1e154}, minus[3] = {-1e154, -1e154, -1e154};
  a.update(plus, 3, 1);
  b.update(minus, 3, 1);
  const std::vector<uint8_t> before = a.to_bytes();
  bool threw = false;
  try {
    a.merge(b);
  } catch (const actif::Error&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(a.to_bytes() == before);
}

TEST_CASE(stats, blobs_whose_count_contradicts_weight_or_moments_refused) {
  actif::RunningStats empty(1);
  const std::vector<uint8_t> good = empty.to_bytes();
  CHECK(!refused(good));
  struct Case {
    uint64_t count;
    double weight, mean;
  };
  for (const Case& c : {Case{0, 1.0, 0.0}, Case{0, 0.0, 1.5}, Case{3, 0.0, 1.0}, Case{3, 0.5, 1.0}}) {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data() + 24, &c.count, 8);
    std::memcpy(b.data() + 32, &c.weight, 8);
    std::memcpy(b.data() + 48, &c.mean, 8);
    fix_crc(b);
    CHECK_MSG(refused(b), "count " + std::to_string(c.count) + ", weight " + std::to_string(c.weight));
  }
}
