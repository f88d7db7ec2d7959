#include "actif/stream.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace actif {

Stream::Stream(std::shared_ptr<const Model> model, int64_t batch) : model_(std::move(model)) {
  if (!model_) throw Error("a stream needs a model");
  if (batch < 1 || batch > kMaxBatch) throw Error("batch must be in [1, 2^20]");
  const Model& m = *model_;
  for (const auto& layer : m.lstm) {
    h_.emplace_back(static_cast<size_t>(batch * layer.hidden_size), 0.0f);
    c_.emplace_back(static_cast<size_t>(batch * layer.hidden_size), 0.0f);
  }
  state_.batch = batch;
  state_.ring_len = m.pooling == Pooling::Last ? 0 : m.window;
  ring_.assign(static_cast<size_t>(batch * state_.ring_len * m.hidden_top()), 0.0f);
  bind();
}

Stream::Stream(const Stream& other)
    : model_(other.model_), h_(other.h_), c_(other.c_), ring_(other.ring_), state_(other.state_) {
  bind();
}

Stream& Stream::operator=(const Stream& other) {
  if (this != &other) {
    model_ = other.model_;
    h_ = other.h_;
    c_ = other.c_;
    ring_ = other.ring_;
    state_ = other.state_;
    bind();
  }
  return *this;
}

void Stream::bind() {
  // The buffers never change size after construction, so these pointers stay valid.
  state_.h.clear();
  state_.c.clear();
  for (size_t l = 0; l < h_.size(); ++l) {
    state_.h.push_back(h_[l].data());
    state_.c.push_back(c_[l].data());
  }
  state_.ring = ring_.empty() ? nullptr : ring_.data();
}

void Stream::run(const float* x, int64_t m, float* y, TraceKind trace, float* trace_out, RunningStats* stats) {
  if (m < 1) throw Error("a stream step needs at least one sample");
  if (x == nullptr || y == nullptr) throw Error("x and y must not be null");
  const Model& model = *model_;
  const int64_t b = state_.batch, n_in = model.input_size, n_out = model.output_size();
  check_samples_input(model, x, m, b);
  StepRequest req;
  req.trace = trace;
  req.stats = stats;
  for (int64_t s = 0; s < m; ++s) {
    req.x = x + s * b * n_in;
    req.y = y + s * b * n_out;
    req.trace_out = trace_out ? trace_out + s * b * n_in : nullptr;
    // The first step checks the trace and statistics request before it writes anything;
    // later steps make the same request, and accepted inputs cannot overflow.
    step_forward(model, state_, req);
    ++state_.steps;
  }
}

void Stream::reset() {
  for (auto& v : h_) std::fill(v.begin(), v.end(), 0.0f);
  for (auto& v : c_) std::fill(v.begin(), v.end(), 0.0f);
  std::fill(ring_.begin(), ring_.end(), 0.0f);
  state_.steps = 0;
}

void Stream::assign(const std::vector<std::vector<float>>& h, const std::vector<std::vector<float>>& c,
                    const std::vector<float>& ring, int64_t steps) {
  if (h.size() != h_.size() || c.size() != c_.size())
    throw Error("state needs one h and one c per LSTM layer (" + std::to_string(h_.size()) + ")");
  if (steps < 0) throw Error("steps must be >= 0");
  const auto check = [](const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    if (got.size() != want.size())
      throw Error("state " + what + " holds " + std::to_string(got.size()) + " values, expected " +
                  std::to_string(want.size()));
    for (float v : got)
      if (!std::isfinite(v)) throw Error("state " + what + " holds NaN or Inf");
  };
  for (size_t l = 0; l < h_.size(); ++l) {
    check(h[l], h_[l], "h." + std::to_string(l));
    check(c[l], c_[l], "c." + std::to_string(l));
  }
  check(ring, ring_, "ring");
  for (size_t l = 0; l < h_.size(); ++l) {
    std::copy(h[l].begin(), h[l].end(), h_[l].begin());
    std::copy(c[l].begin(), c[l].end(), c_[l].begin());
  }
  std::copy(ring.begin(), ring.end(), ring_.begin());
  state_.steps = steps;
}

}  // namespace actif
