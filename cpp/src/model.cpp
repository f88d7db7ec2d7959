#include "actif/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace actif {

namespace {

void check_dim(int64_t v, const char* what) {
  if (v < 1 || v > kMaxDim) throw Error(std::string(what) + " out of range [1, " + std::to_string(kMaxDim) + "]");
}

void check_finite(const float* p, int64_t n, const std::string& what) {
  if (p == nullptr) throw Error(what + " is missing");
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) throw Error(what + " contains NaN or Inf");
}

std::vector<float> copy_of(const float* p, int64_t n, const std::string& what) {
  check_finite(p, n, what);
  return std::vector<float>(p, p + n);
}

// W (rows, cols) row-major, as PyTorch stores it, packed as the GEMM operand W^T (cols, rows).
PackedMatrix packed_transpose(const float* p, int64_t rows, int64_t cols, const std::string& what) {
  check_finite(p, rows * cols, what);
  std::vector<float> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[static_cast<size_t>(c * rows + r)] = p[r * cols + c];
  return PackedMatrix::pack(cols, rows, t.data(), rows);
}

// "NaN", "Inf" or "|value| 3e+38 > input limit 1e+06" for a rejected value.
std::string describe_rejected(float v, double limit) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return "Inf";
  char buf[96];
  std::snprintf(buf, sizeof buf, "|value| %.3g > input limit %g", static_cast<double>(std::fabs(v)), limit);
  return buf;
}

}  // namespace

double overflow_safe_bound(int64_t input_size, int64_t hidden_size, const float* input_scale,
                           const float* input_shift, const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh) {
  const int64_t n_in = input_size, g = 4 * hidden_size;
  const auto idx = [](int64_t i) { return static_cast<size_t>(i); };
  std::vector<double> scale(idx(n_in), 1.0), shift(idx(n_in), 0.0), route(idx(n_in), 0.0);
  for (int64_t j = 0; j < n_in; ++j) {
    if (input_scale) scale[idx(j)] = std::fabs(static_cast<double>(input_scale[j]));
    if (input_shift) shift[idx(j)] = std::fabs(static_cast<double>(input_shift[j]));
  }
  double bound = std::numeric_limits<double>::infinity();
  // Each constraint: B * gain + fixed <= budget.
  const auto constrain = [&bound](double gain, double fixed) {
    if (!(gain > 0.0)) return;
    bound = std::min(bound, std::max(kFloat32Budget - fixed, 0.0) / gain);
  };
  for (int64_t r = 0; r < g; ++r) {  // |z| of the first layer, per gate row
    double gain = 0.0, fixed = 0.0, recurrent = 0.0;
    for (int64_t j = 0; j < n_in; ++j) {
      const double a = std::fabs(static_cast<double>(w_ih[r * n_in + j]));
      gain += a * scale[idx(j)];
      fixed += a * shift[idx(j)];
      route[idx(j)] += a;
    }
    for (int64_t k = 0; k < hidden_size; ++k) recurrent += std::fabs(static_cast<double>(w_hh[r * hidden_size + k]));
    recurrent += std::fabs(static_cast<double>(b_ih[r]) + static_cast<double>(b_hh[r]));
    constrain(gain, fixed + recurrent);
  }
  for (int64_t j = 0; j < n_in; ++j) {
    constrain(scale[idx(j)], shift[idx(j)]);                                // |x * scale + shift|
    constrain(scale[idx(j)] * route[idx(j)], shift[idx(j)] * route[idx(j)]);  // traces
  }
  return std::min(bound, kFloat32Budget);
}

int64_t first_invalid_input(const float* x, int64_t n, float limit) {
  // Blocks without an early exit, so the compiler vectorises the common case (every
  // value valid); a block that fails is scanned again for its first bad value.
  constexpr int64_t kBlock = 256;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    int bad = 0;
    for (int64_t i = start; i < end; ++i) bad |= !(std::fabs(x[i]) <= limit);  // true for NaN too
    if (bad)
      for (int64_t i = start; i < end; ++i)
        if (!(std::fabs(x[i]) <= limit)) return i;
  }
  return -1;
}

void check_windows_input(const Model& m, const float* x, int64_t n, int64_t t, const char* what) {
  const int64_t n_in = m.input_size;
  const int64_t bad = first_invalid_input(x, n * t * n_in, m.input_limit_f32());
  if (bad < 0) return;
  throw InputError(std::string(what) + " has " + describe_rejected(x[bad], m.input_limit()) + " at window " +
                       std::to_string(bad / (t * n_in)) + ", step " + std::to_string(bad / n_in % t) +
                       ", feature " + std::to_string(bad % n_in) + "; nothing was changed",
                   bad);
}

void check_samples_input(const Model& m, const float* x, int64_t steps, int64_t batch, const char* what) {
  const int64_t n_in = m.input_size;
  const int64_t bad = first_invalid_input(x, steps * batch * n_in, m.input_limit_f32());
  if (bad < 0) return;
  throw InputError(std::string(what) + " has " + describe_rejected(x[bad], m.input_limit()) + " at step " +
                       std::to_string(bad / (batch * n_in)) + ", row " + std::to_string(bad / n_in % batch) +
                       ", feature " + std::to_string(bad % n_in) + "; nothing was changed",
                   bad);
}

Pooling parse_pooling(const std::string& name) {
  if (name == "last") return Pooling::Last;
  if (name == "mean") return Pooling::Mean;
  if (name == "max") return Pooling::Max;
  throw Error("unknown pooling '" + name + "' (last, mean, max)");
}

Activation parse_activation(const std::string& name) {
  if (name == "identity") return Activation::Identity;
  if (name == "relu") return Activation::Relu;
  if (name == "elu") return Activation::Elu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  throw Error("unknown activation '" + name + "' (identity, relu, elu, tanh, sigmoid)");
}

TraceKind parse_trace(const std::string& name) {
  if (name.empty() || name == "none") return TraceKind::None;
  if (name == "input") return TraceKind::Input;
  if (name == "weighted") return TraceKind::Weighted;
  if (name == "gates") return TraceKind::Gates;
  if (name == "paper") return TraceKind::Paper;
  throw Error("unknown trace '" + name + "' (input, weighted, gates, paper)");
}

const char* to_string(Pooling p) {
  switch (p) {
    case Pooling::Last: return "last";
    case Pooling::Mean: return "mean";
    case Pooling::Max: return "max";
  }
  return "?";
}

const char* to_string(Activation a) {
  switch (a) {
    case Activation::Identity: return "identity";
    case Activation::Relu: return "relu";
    case Activation::Elu: return "elu";
    case Activation::Tanh: return "tanh";
    case Activation::Sigmoid: return "sigmoid";
  }
  return "?";
}

const char* to_string(TraceKind t) {
  switch (t) {
    case TraceKind::None: return "none";
    case TraceKind::Input: return "input";
    case TraceKind::Weighted: return "weighted";
    case TraceKind::Gates: return "gates";
    case TraceKind::Paper: return "paper";
  }
  return "?";
}

ModelBuilder& ModelBuilder::input_affine(int64_t n, const float* scale, const float* shift) {
  if (!m_.lstm.empty()) throw Error("input affine must come before the LSTM layers");
  check_dim(n, "input size");
  m_.input_size = n;
  m_.input_scale = copy_of(scale, n, "input scale");
  m_.input_shift = copy_of(shift, n, "input shift");
  return *this;
}

ModelBuilder& ModelBuilder::lstm(int64_t input_size, int64_t hidden_size, const float* w_ih,
                                 const float* w_hh, const float* b_ih, const float* b_hh) {
  if (pooled_) throw Error("LSTM layers must come before pooling");
  check_dim(input_size, "LSTM input size");
  check_dim(hidden_size, "LSTM hidden size");
  const int64_t expected_in = m_.lstm.empty() ? (m_.input_size ? m_.input_size : input_size)
                                              : m_.lstm.back().hidden_size;
  if (input_size != expected_in)
    throw Error("LSTM layer " + std::to_string(m_.lstm.size()) + " takes " + std::to_string(input_size) +
                " inputs but the previous layer gives " + std::to_string(expected_in));
  if (m_.lstm.empty()) m_.input_size = input_size;
  LstmLayer layer;
  layer.hidden_size = hidden_size;
  const int64_t g = 4 * hidden_size;
  const std::string of = " of LSTM layer " + std::to_string(m_.lstm.size());  // which layer a bad value is in
  layer.w_ih_t = packed_transpose(w_ih, g, input_size, "W_ih" + of);
  layer.w_hh_t = packed_transpose(w_hh, g, hidden_size, "W_hh" + of);
  layer.w_ih = PackedMatrix::pack(g, input_size, w_ih, input_size);  // checked finite just above
  layer.w_hh = PackedMatrix::pack(g, hidden_size, w_hh, hidden_size);
  layer.w_ig = PackedMatrix::pack(hidden_size, input_size, w_ih + 2 * hidden_size * input_size, input_size);
  layer.w_hg = PackedMatrix::pack(hidden_size, hidden_size, w_hh + 2 * hidden_size * hidden_size, hidden_size);
  check_finite(b_ih, g, "b_ih" + of);
  check_finite(b_hh, g, "b_hh" + of);
  layer.bias.resize(static_cast<size_t>(g));
  for (int64_t i = 0; i < g; ++i) layer.bias[static_cast<size_t>(i)] = b_ih[i] + b_hh[i];

  if (m_.lstm.empty()) {
    m_.overflow_bound = overflow_safe_bound(input_size, hidden_size, m_.input_scale.empty() ? nullptr : m_.input_scale.data(),
                                            m_.input_shift.empty() ? nullptr : m_.input_shift.data(), w_ih, w_hh, b_ih, b_hh);
    // Trace matrices from the first layer: |W_ih| (4H, I) and U (H, I), both already
    // in GEMM-operand orientation (rows are the hidden/gate side).
    std::vector<float> abs_w(static_cast<size_t>(g * input_size));
    std::vector<float> route(static_cast<size_t>(hidden_size * input_size), 0.0f);
    for (int64_t r = 0; r < g; ++r) {
      for (int64_t j = 0; j < input_size; ++j) {
        const float a = std::fabs(w_ih[r * input_size + j]);
        abs_w[static_cast<size_t>(r * input_size + j)] = a;
        route[static_cast<size_t>((r % hidden_size) * input_size + j)] += a;
      }
    }
    m_.trace_abs_w_ih = PackedMatrix::pack(g, input_size, abs_w.data(), input_size);
    m_.trace_route = PackedMatrix::pack(hidden_size, input_size, route.data(), input_size);
  }
  m_.lstm.push_back(std::move(layer));
  return *this;
}

ModelBuilder& ModelBuilder::pooling(Pooling p, int64_t window) {
  if (m_.lstm.empty()) throw Error("pooling needs at least one LSTM layer before it");
  if (pooled_) throw Error("pooling given twice");
  check_dim(window, "window");
  m_.pooling = p;
  m_.window = window;
  pooled_ = true;
  return *this;
}

ModelBuilder& ModelBuilder::post_affine(int64_t n, const float* scale, const float* shift) {
  if (!pooled_ || !m_.dense.empty()) throw Error("the post affine must come right after pooling");
  if (n != m_.hidden_top()) throw Error("post affine size must equal the top LSTM hidden size");
  m_.post_scale = copy_of(scale, n, "post scale");
  m_.post_shift = copy_of(shift, n, "post shift");
  return *this;
}

ModelBuilder& ModelBuilder::dense(int64_t in, int64_t out, const float* weight, const float* bias,
                                  Activation act) {
  if (!pooled_) throw Error("dense layers must come after pooling");
  check_dim(in, "dense input size");
  check_dim(out, "dense output size");
  const int64_t expected = m_.dense.empty() ? m_.hidden_top() : m_.dense.back().out_features;
  if (in != expected)
    throw Error("dense layer " + std::to_string(m_.dense.size()) + " takes " + std::to_string(in) +
                " inputs but receives " + std::to_string(expected));
  DenseLayer d;
  d.in_features = in;
  d.out_features = out;
  const std::string of = " of dense layer " + std::to_string(m_.dense.size());
  d.w_t = packed_transpose(weight, out, in, "weight" + of);
  d.w = PackedMatrix::pack(out, in, weight, in);
  d.bias = copy_of(bias, out, "bias" + of);
  d.activation = act;
  m_.dense.push_back(std::move(d));
  return *this;
}

ModelBuilder& ModelBuilder::max_abs(double value) {
  if (!(value > 0.0)) throw Error("max_abs must be > 0 (+inf: only the overflow bound)");  // NaN too
  m_.max_abs = value;
  return *this;
}

Model ModelBuilder::build() {
  if (m_.lstm.empty()) throw Error("a model needs at least one LSTM layer");
  if (!pooled_) throw Error("a model needs a pooling layer");
  Model out = std::move(m_);
  m_ = Model{};
  pooled_ = false;
  return out;
}

}  // namespace actif
