#include "actif/running_stats.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>

#include "actif/model.hpp"  // actif::Error

namespace actif {

namespace {

constexpr uint8_t kMagic[8] = {'A', 'C', 'T', 'I', 'F', 'R', 'S', 0};
constexpr size_t kHeaderSize = 48;

// Writes v at out[pos] and advances pos (the buffer is sized up front: growing it by
// insert() trips a GCC 12 -Wstringop-overflow false positive at -O3).
template <typename T>
void put(std::vector<uint8_t>& out, size_t& pos, T v) {
  std::memcpy(out.data() + pos, &v, sizeof(T));  // the format is little-endian; so are all our targets
  pos += sizeof(T);
}

template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

RunningStats::RunningStats(int64_t n_features, double half_life) : n_(n_features), half_life_(half_life) {
  if (n_features < 1 || static_cast<uint64_t>(n_features) > kMaxFeatures)
    throw Error("n_features out of range [1, 2^20]");
  if (!(half_life >= 0.0) || !std::isfinite(half_life)) throw Error("half_life must be >= 0 (0: no forgetting)");
  const size_t n = static_cast<size_t>(n_);
  mean_.assign(n, 0.0);
  m2_.assign(n, 0.0);
  scratch_mean_.assign(n, 0.0);
  scratch_m2_.assign(n, 0.0);
}

void RunningStats::update(const float* data, int64_t rows, int64_t ld) { update_impl(data, rows, ld); }
void RunningStats::update(const double* data, int64_t rows, int64_t ld) { update_impl(data, rows, ld); }

template <typename T>
void RunningStats::update_impl(const T* data, int64_t rows, int64_t ld) {
  if (rows <= 0) return;
  const size_t n = static_cast<size_t>(n_);
  double* mb = scratch_mean_.data();
  double* m2b = scratch_m2_.data();
  std::fill(mb, mb + n, 0.0);
  std::fill(m2b, m2b + n, 0.0);
  double wb = 0.0;
  double decay_old = 1.0;
  if (half_life_ > 0.0) {
    // Row r (0 oldest) weighs lam^(rows-1-r); the prior state decays by lam^rows.
    // pow(2, x), not exp2(x): the two differ by an ulp for some x, and the NumPy
    // implementation (2.0 ** x, C's pow) must reach the same bytes.
    const double lam = std::pow(2.0, -1.0 / half_life_);
    double w = 1.0;
    for (int64_t r = rows - 1; r >= 0; --r, w *= lam) {
      const T* row = data + r * ld;
      wb += w;
      for (size_t j = 0; j < n; ++j) mb[j] += w * static_cast<double>(row[j]);
    }
    for (size_t j = 0; j < n; ++j) mb[j] /= wb;
    w = 1.0;
    for (int64_t r = rows - 1; r >= 0; --r, w *= lam) {
      const T* row = data + r * ld;
      for (size_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(row[j]) - mb[j];
        m2b[j] += w * d * d;
      }
    }
    decay_old = std::pow(lam, static_cast<double>(rows));
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = data + r * ld;
      for (size_t j = 0; j < n; ++j) mb[j] += static_cast<double>(row[j]);
    }
    wb = static_cast<double>(rows);
    const double inv = 1.0 / wb;
    for (size_t j = 0; j < n; ++j) mb[j] *= inv;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = data + r * ld;
      for (size_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(row[j]) - mb[j];
        m2b[j] += d * d;
      }
    }
  }
  merge_moments(decay_old, static_cast<uint64_t>(rows), wb, mb, m2b);
}

// Two passes: the first computes every new moment and refuses (throwing, nothing
// changed) when one would not be finite or the count would wrap; the second stores
// the same values. So a state is always finite and always serialises back.
void RunningStats::merge_moments(double decay_a, uint64_t count_b, double wb, const double* mb, const double* m2b) {
  if (count_b > UINT64_MAX - count_)
    throw Error("statistics count would overflow 2^64 samples; statistics unchanged");
  const double wa = weight_ * decay_a;
  const double w = wa + wb;
  const size_t n = static_cast<size_t>(n_);
  if (w == 0.0) {
    count_ += count_b;
    return;
  }
  const double fb = wb / w;
  const double fab = wa * wb / w;
  auto moments = [&](size_t j, double& mean, double& m2) {
    const double d = mb[j] - mean_[j];
    mean = mean_[j] + d * fb;
    m2 = m2_[j] * decay_a + (m2b[j] + d * d * fab);
  };
  for (size_t j = 0; j < n; ++j) {
    double mean, m2;
    moments(j, mean, m2);
    if (!std::isfinite(mean) || !std::isfinite(m2))
      throw Error("values too large for float64 statistics (feature " + std::to_string(j) +
                  "'s moments would overflow); statistics unchanged");
  }
  for (size_t j = 0; j < n; ++j) moments(j, mean_[j], m2_[j]);
  weight_ = w;
  count_ += count_b;
}

void RunningStats::merge(const RunningStats& other) {
  if (other.n_ != n_) throw Error("cannot merge statistics with a different number of features");
  if (other.half_life_ != half_life_) throw Error("cannot merge statistics with different half-lives");
  if (&other == this) {
    const RunningStats copy = other;
    merge(copy);
    return;
  }
  merge_moments(1.0, other.count_, other.weight_, other.mean_.data(), other.m2_.data());
}

void RunningStats::reset() {
  count_ = 0;
  weight_ = 0.0;
  std::fill(mean_.begin(), mean_.end(), 0.0);
  std::fill(m2_.begin(), m2_.end(), 0.0);
}

std::vector<double> RunningStats::stddev() const {
  std::vector<double> s(static_cast<size_t>(n_), 0.0);
  if (weight_ > 0.0)
    for (size_t j = 0; j < s.size(); ++j) s[j] = std::sqrt(std::max(m2_[j] / weight_, 0.0));
  return s;
}

size_t RunningStats::serialized_size(int64_t n_features) {
  return kHeaderSize + 16 * static_cast<size_t>(n_features) + 4;
}

std::vector<uint8_t> RunningStats::to_bytes() const {
  std::vector<uint8_t> out(serialized_size(n_));
  size_t pos = 0;
  std::memcpy(out.data(), kMagic, 8);
  pos += 8;
  put<uint32_t>(out, pos, kVersion);
  put<uint32_t>(out, pos, half_life_ > 0.0 ? 1u : 0u);
  put<uint64_t>(out, pos, static_cast<uint64_t>(n_));
  put<uint64_t>(out, pos, count_);
  put<double>(out, pos, weight_);
  put<double>(out, pos, half_life_);
  for (double v : mean_) put<double>(out, pos, v);
  for (double v : m2_) put<double>(out, pos, v);
  put<uint32_t>(out, pos, crc32(out.data(), pos));
  return out;
}

RunningStats RunningStats::from_bytes(const uint8_t* data, size_t size) {
  if (data == nullptr || size < kHeaderSize + 4)
    throw Error("statistics blob too short (" + std::to_string(size) + " bytes)");
  if (std::memcmp(data, kMagic, 8) != 0) throw Error("not an actif statistics blob (bad magic)");
  const uint32_t version = get<uint32_t>(data + 8);
  if (version != kVersion)
    throw Error("statistics format version " + std::to_string(version) + " is not supported (expected 1)");
  const uint32_t flags = get<uint32_t>(data + 12);
  const uint64_t n = get<uint64_t>(data + 16);
  if (n == 0 || n > kMaxFeatures)
    throw Error("statistics blob declares " + std::to_string(n) + " features (allowed 1..1048576)");
  const size_t expected = serialized_size(static_cast<int64_t>(n));
  if (size != expected)
    throw Error("statistics blob has " + std::to_string(size) + " bytes, expected " + std::to_string(expected) +
                " for " + std::to_string(n) + " features");
  if (crc32(data, expected - 4) != get<uint32_t>(data + expected - 4))
    throw Error("statistics blob is corrupt (checksum mismatch)");
  const uint64_t count = get<uint64_t>(data + 24);
  const double weight = get<double>(data + 32);
  const double half_life = get<double>(data + 40);
  if ((flags & ~1u) != 0 || ((flags & 1u) != 0) != (half_life > 0.0))
    throw Error("statistics blob has inconsistent flags");
  // -0.0 is refused too: every accepted blob must serialise back to the same bytes.
  if (!(std::isfinite(weight) && weight >= 0.0 && std::isfinite(half_life) && half_life >= 0.0) ||
      std::signbit(half_life))
    throw Error("statistics blob has invalid weight or half-life");
  RunningStats rs(static_cast<int64_t>(n), half_life);
  rs.count_ = count;
  rs.weight_ = weight;
  const uint8_t* p = data + kHeaderSize;
  for (uint64_t j = 0; j < n; ++j) rs.mean_[j] = get<double>(p + 8 * j);
  p += 8 * n;
  for (uint64_t j = 0; j < n; ++j) rs.m2_[j] = get<double>(p + 8 * j);
  for (uint64_t j = 0; j < n; ++j)
    if (!std::isfinite(rs.mean_[j]) || !std::isfinite(rs.m2_[j]) || rs.m2_[j] < 0.0)
      throw Error("statistics blob has non-finite or negative moments");
  // What the counts mean (stats.py checks the same): no sample, no weight and zero
  // moments; any sample weighs at least 1 (the newest sample always weighs 1).
  bool zeros = true;
  for (uint64_t j = 0; j < n; ++j) zeros = zeros && rs.mean_[j] == 0.0 && rs.m2_[j] == 0.0;
  if (count == 0 ? !(weight == 0.0 && zeros) : !(weight >= 1.0))
    throw Error("statistics blob has a weight or moments that do not match its count");
  return rs;
}

ScoreMethod parse_score_method(const char* name) {
  const std::string s = name ? name : "";
  if (s == "inverse") return ScoreMethod::Inverse;
  if (s == "mean") return ScoreMethod::Mean;
  if (s == "meanstd") return ScoreMethod::MeanStd;
  if (s == "pen") return ScoreMethod::Pen;
  throw Error("unknown aggregation '" + s + "' (inverse, mean, meanstd, pen)");
}

void compute_scores(ScoreMethod method, const double* mean, const double* stddev, int64_t n, double* out) {
  if (n <= 0) return;
  auto minmax = [n](const double* v, std::vector<double>& dst) {
    const auto [lo, hi] = std::minmax_element(v, v + n);
    const double lo_v = *lo, range = *hi - *lo + 1e-8;
    dst.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) dst[static_cast<size_t>(j)] = (v[j] - lo_v) / range;
  };
  std::vector<double> mm_mu, mm_sigma;
  switch (method) {
    case ScoreMethod::Inverse:
      minmax(mean, mm_mu);
      minmax(stddev, mm_sigma);
      for (int64_t j = 0; j < n; ++j) out[j] = (mm_mu[static_cast<size_t>(j)] + 1.0 - mm_sigma[static_cast<size_t>(j)]) / 2.0;
      break;
    case ScoreMethod::Mean:
      minmax(mean, mm_mu);
      for (int64_t j = 0; j < n; ++j) out[j] = mm_mu[static_cast<size_t>(j)];
      break;
    case ScoreMethod::MeanStd:
      for (int64_t j = 0; j < n; ++j) out[j] = mean[j] * stddev[j];
      break;
    case ScoreMethod::Pen:
      minmax(mean, mm_mu);
      for (int64_t j = 0; j < n; ++j) out[j] = mm_mu[static_cast<size_t>(j)] * (1.0 - std::exp(-stddev[j] / 0.01));
      break;
  }
}

void ranking_order(const double* scores, int64_t n, int64_t* order) {
  std::iota(order, order + n, int64_t{0});
  std::stable_sort(order, order + n, [scores](int64_t a, int64_t b) { return scores[a] > scores[b]; });
}

}  // namespace actif
