// actif: the carried state of B independent streams in stateful mode, owned natively.
//
// A Stream holds, per LSTM layer, h and c (B, H_l); for mean/max pooling a ring of the
// last `window` top-layer hidden states per stream (B, window, H_top); and the number
// of samples taken. Both adapters use it: the C API's actif_stream_* functions and the
// Python binding's _core.Stream (the cpp backend's stream state). A call either
// succeeds or throws with the state and the statistics exactly as they were: every
// sample is checked against the model's input rule (model.hpp) before any step runs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "actif/forward.hpp"
#include "actif/model.hpp"
#include "actif/running_stats.hpp"

namespace actif {

class Stream {
 public:
  static constexpr int64_t kMaxBatch = int64_t{1} << 20;

  Stream(std::shared_ptr<const Model> model, int64_t batch);
  Stream(const Stream& other);
  Stream& operator=(const Stream& other);

  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& model_ptr() const { return model_; }
  int64_t batch() const { return state_.batch; }
  int64_t steps() const { return state_.steps; }
  int64_t num_layers() const { return static_cast<int64_t>(h_.size()); }
  int64_t ring_len() const { return state_.ring_len; }  // 0 for "last" pooling
  const std::vector<float>& h(int64_t layer) const { return h_.at(static_cast<size_t>(layer)); }  // (B, H_l)
  const std::vector<float>& c(int64_t layer) const { return c_.at(static_cast<size_t>(layer)); }  // (B, H_l)
  const std::vector<float>& ring() const { return ring_; }  // (B, ring_len, H_top)

  // Advances every stream by `m` consecutive samples: x (m, B, I) -> y (m, B, O);
  // trace_out (m, B, I) is optional; `stats` receives each step's B trace rows (one
  // update per step, exactly as m separate calls would). All m*B*I values are checked
  // first (InputError names step, row (stream) and feature); nothing changes on a throw.
  void run(const float* x, int64_t m, float* y, TraceKind trace = TraceKind::None, float* trace_out = nullptr,
           RunningStats* stats = nullptr);

  // Back to the zero state, as if no sample had been seen.
  void reset();

  // Replaces the state (a checkpoint restore): one h and one c per layer of B*H_l
  // values, ring of B*ring_len*H_top values, all finite; throws Error otherwise,
  // before anything changes.
  void assign(const std::vector<std::vector<float>>& h, const std::vector<std::vector<float>>& c,
              const std::vector<float>& ring, int64_t steps);

 private:
  void bind();  // points state_ at h_, c_ and ring_

  std::shared_ptr<const Model> model_;
  std::vector<std::vector<float>> h_, c_;
  std::vector<float> ring_;
  StepState state_;
};

}  // namespace actif
