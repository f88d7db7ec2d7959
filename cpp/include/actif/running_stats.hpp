// actif: constant-memory per-feature statistics and the DeepACTIF scores.
//
// RunningStats keeps, per feature, float64 mean and M2 with a sample count and an
// effective weight. A batch is reduced in float64 (two passes over the batch), then
// merged with Chan et al.'s pairwise formula; merging two states is the same formula,
// so partial statistics from threads, files or devices combine exactly (up to
// rounding) in any order. With a half-life, each new sample multiplies the weight of
// everything before it by 2^(-1/half_life) (exponential forgetting).
//
// The byte format is shared with python/actif/stats.py (see its docstring): a
// little-endian header, mean[n], m2[n], CRC-32. from_bytes validates size, version,
// flags, checksum and values before building anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "actif/constants.hpp"

namespace actif {

class RunningStats {
 public:
  static constexpr uint32_t kVersion = 1;
  static constexpr uint64_t kMaxFeatures = limits::kMaxFeatures;  // constants.json, as stats.py

  explicit RunningStats(int64_t n_features, double half_life = 0.0);

  // Adds `rows` rows of `n_features` values each (row stride `ld` elements).
  void update(const float* data, int64_t rows, int64_t ld);
  void update(const double* data, int64_t rows, int64_t ld);
  // Folds `other` into this; throws actif::Error on shape or half-life mismatch.
  void merge(const RunningStats& other);
  void reset();

  int64_t n_features() const { return n_; }
  uint64_t count() const { return count_; }
  double weight() const { return weight_; }
  double half_life() const { return half_life_; }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& m2() const { return m2_; }
  // Population standard deviation, sqrt(M2 / weight); zeros before any sample.
  std::vector<double> stddev() const;

  // Bytes of to_bytes() for n features: 48-byte header, mean[n], m2[n], CRC-32.
  static size_t serialized_size(int64_t n_features);
  std::vector<uint8_t> to_bytes() const;
  // Throws actif::Error with a message saying what is wrong.
  static RunningStats from_bytes(const uint8_t* data, size_t size);

 private:
  template <typename T>
  void update_impl(const T* data, int64_t rows, int64_t ld);
  void merge_moments(double wb, const double* mb, const double* m2b);

  int64_t n_;
  double half_life_;
  uint64_t count_ = 0;
  double weight_ = 0.0;
  std::vector<double> mean_, m2_;
  std::vector<double> scratch_mean_, scratch_m2_;  // batch moments, reused
};

enum class ScoreMethod { Inverse, Mean, MeanStd, Pen };
ScoreMethod parse_score_method(const char* name);

// Scores from means and standard deviations (formulas: docs/concepts.md, "Scores"; where the rule lives: docs/architecture.md).
void compute_scores(ScoreMethod method, const double* mean, const double* stddev, int64_t n, double* out);
// Feature indices by descending score, ties by index (a stable sort): order[0] is the top.
void ranking_order(const double* scores, int64_t n, int64_t* order);

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace actif
