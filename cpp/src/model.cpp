#include "actif/model.hpp"

#include <cmath>

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

}  // namespace

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
  check_finite(b_ih, g, "b_ih" + of);
  check_finite(b_hh, g, "b_hh" + of);
  layer.bias.resize(static_cast<size_t>(g));
  for (int64_t i = 0; i < g; ++i) layer.bias[static_cast<size_t>(i)] = b_ih[i] + b_hh[i];

  if (m_.lstm.empty()) {
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

Model ModelBuilder::build() {
  if (m_.lstm.empty()) throw Error("a model needs at least one LSTM layer");
  if (!pooled_) throw Error("a model needs a pooling layer");
  Model out = std::move(m_);
  m_ = Model{};
  pooled_ = false;
  return out;
}

}  // namespace actif
