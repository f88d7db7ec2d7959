#include "reference.hpp"

#include <algorithm>
#include <cmath>

namespace actif_test {

namespace {

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<float> narrow(const std::vector<double>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

// One LSTM step for one row: x (in), h/c (H) updated in place, gates (4H) written.
void lstm_step(const RefLstm& l, const double* x, std::vector<double>& h, std::vector<double>& c, double* gates) {
  const int64_t H = l.hidden;
  std::vector<double> z(static_cast<size_t>(4 * H));
  for (int64_t r = 0; r < 4 * H; ++r) {
    double acc = l.b_ih[r] + l.b_hh[r];
    for (int64_t j = 0; j < l.in; ++j) acc += l.w_ih[r * l.in + j] * x[j];
    for (int64_t j = 0; j < H; ++j) acc += l.w_hh[r * H + j] * h[j];
    z[r] = acc;
  }
  for (int64_t j = 0; j < H; ++j) {
    const double i = sigmoid(z[j]), f = sigmoid(z[H + j]), g = std::tanh(z[2 * H + j]), o = sigmoid(z[3 * H + j]);
    c[j] = f * c[j] + i * g;
    h[j] = o * std::tanh(c[j]);
    gates[j] = i;
    gates[H + j] = f;
    gates[2 * H + j] = g;
    gates[3 * H + j] = o;
  }
}

void trace_row(const RefModel& m, actif::TraceKind kind, const double* xn, const double* h0, const double* g0,
               double* out) {
  const RefLstm& l = m.lstm[0];
  const int64_t I = m.input_size, H = l.hidden;
  for (int64_t j = 0; j < I; ++j) {
    double v = 0.0;
    switch (kind) {
      case actif::TraceKind::None: break;
      case actif::TraceKind::Input: v = std::fabs(xn[j]); break;
      case actif::TraceKind::Paper: v = std::fabs(h0[j]); break;
      case actif::TraceKind::Weighted:
        for (int64_t k = 0; k < H; ++k) {
          double u = 0.0;
          for (int g = 0; g < 4; ++g) u += std::fabs(l.w_ih[(g * H + k) * I + j]);
          v += u * std::fabs(h0[k]);
        }
        v *= std::fabs(xn[j]);
        break;
      case actif::TraceKind::Gates:
        for (int64_t r = 0; r < 4 * H; ++r) v += std::fabs(l.w_ih[r * I + j]) * std::fabs(g0[r]);
        v *= std::fabs(xn[j]);
        break;
    }
    out[j] = v;
  }
}

// Pool rows (count, H) -> (H), then post affine and dense head -> y (O).
void head(const RefModel& m, const std::vector<const double*>& rows, double* y) {
  const int64_t H = m.lstm.back().hidden;
  std::vector<double> p(rows.back(), rows.back() + H);
  if (m.pooling != actif::Pooling::Last) {
    p.assign(rows[0], rows[0] + H);
    for (size_t s = 1; s < rows.size(); ++s)
      for (int64_t j = 0; j < H; ++j) p[j] = m.pooling == actif::Pooling::Max ? std::max(p[j], rows[s][j]) : p[j] + rows[s][j];
    if (m.pooling == actif::Pooling::Mean)
      for (auto& v : p) v /= static_cast<double>(rows.size());
  }
  if (!m.post_scale.empty())
    for (int64_t j = 0; j < H; ++j) p[j] = p[j] * m.post_scale[j] + m.post_shift[j];
  for (const RefDense& d : m.dense) {
    std::vector<double> q(static_cast<size_t>(d.out));
    for (int64_t o = 0; o < d.out; ++o) {
      double acc = d.b[o];
      for (int64_t i = 0; i < d.in; ++i) acc += d.w[o * d.in + i] * p[i];
      q[o] = ref_activation(d.act, acc);
    }
    p = std::move(q);
  }
  std::copy(p.begin(), p.end(), y);
}

std::vector<double> normalised(const RefModel& m, const float* x) {
  std::vector<double> out(static_cast<size_t>(m.input_size));
  for (int64_t j = 0; j < m.input_size; ++j)
    out[j] = m.in_scale.empty() ? x[j] : static_cast<double>(x[j]) * m.in_scale[j] + m.in_shift[j];
  return out;
}

}  // namespace

double ref_activation(actif::Activation a, double v) {
  switch (a) {
    case actif::Activation::Identity: return v;
    case actif::Activation::Relu: return v > 0 ? v : 0.0;
    case actif::Activation::Elu: return v > 0 ? v : std::expm1(v);
    case actif::Activation::Tanh: return std::tanh(v);
    case actif::Activation::Sigmoid: return sigmoid(v);
  }
  return v;
}

actif::WindowRequest window_request(const float* x, int64_t n, int64_t t, float* y) {
  actif::WindowRequest req;
  req.x = x;
  req.n = n;
  req.t = t;
  req.y = y;
  req.num_threads = 1;
  return req;
}

RefModel random_ref_model(const ModelShape& s, uint64_t seed) {
  Rng rng(seed);
  RefModel m;
  m.input_size = s.input_size;
  m.window = s.window;
  m.pooling = s.pooling;
  const size_t I = static_cast<size_t>(s.input_size);
  if (s.input_affine) {
    m.in_scale = widen(rng.uniform_vec(I, 0.5f, 2.0f));
    m.in_shift = widen(rng.uniform_vec(I, -0.5f, 0.5f));
  }
  int64_t n_in = s.input_size;
  for (const int64_t H : s.hidden) {
    const float b = 1.0f / std::sqrt(static_cast<float>(H));
    RefLstm l;
    l.in = n_in;
    l.hidden = H;
    l.w_ih = widen(rng.uniform_vec(static_cast<size_t>(4 * H * n_in), -b, b));
    l.w_hh = widen(rng.uniform_vec(static_cast<size_t>(4 * H * H), -b, b));
    l.b_ih = widen(rng.uniform_vec(static_cast<size_t>(4 * H), -b, b));
    l.b_hh = widen(rng.uniform_vec(static_cast<size_t>(4 * H), -b, b));
    m.lstm.push_back(std::move(l));
    n_in = H;
  }
  if (s.post_affine) {
    m.post_scale = widen(rng.uniform_vec(static_cast<size_t>(n_in), 0.5f, 1.5f));
    m.post_shift = widen(rng.uniform_vec(static_cast<size_t>(n_in), -0.1f, 0.1f));
  }
  for (size_t k = 0; k < s.dense.size(); ++k) {
    const float b = 1.0f / std::sqrt(static_cast<float>(n_in));
    RefDense d;
    d.in = n_in;
    d.out = s.dense[k];
    d.w = widen(rng.uniform_vec(static_cast<size_t>(d.in * d.out), -b, b));
    d.b = widen(rng.uniform_vec(static_cast<size_t>(d.out), -b, b));
    d.act = k + 1 == s.dense.size() ? s.out_act : s.act;
    m.dense.push_back(std::move(d));
    n_in = d.out;
  }
  return m;
}

actif::Model build_model(const RefModel& r) {
  actif::ModelBuilder b;
  if (!r.in_scale.empty()) b.input_affine(r.input_size, narrow(r.in_scale).data(), narrow(r.in_shift).data());
  for (const RefLstm& l : r.lstm)
    b.lstm(l.in, l.hidden, narrow(l.w_ih).data(), narrow(l.w_hh).data(), narrow(l.b_ih).data(), narrow(l.b_hh).data());
  b.pooling(r.pooling, r.window);
  if (!r.post_scale.empty())
    b.post_affine(r.lstm.back().hidden, narrow(r.post_scale).data(), narrow(r.post_shift).data());
  for (const RefDense& d : r.dense) b.dense(d.in, d.out, narrow(d.w).data(), narrow(d.b).data(), d.act);
  return b.build();
}

RefWindows ref_windows(const RefModel& m, const std::vector<float>& x, int64_t n, int64_t t, actif::TraceKind trace) {
  RefWindows out;
  const int64_t I = m.input_size, O = m.output_size();
  out.y.resize(static_cast<size_t>(n * O));
  for (const RefLstm& l : m.lstm) {
    out.h.emplace_back(static_cast<size_t>(n * t * l.hidden));
    out.c.emplace_back(static_cast<size_t>(n * t * l.hidden));
    out.gates.emplace_back(static_cast<size_t>(n * t * 4 * l.hidden));
  }
  if (trace != actif::TraceKind::None) out.trace.resize(static_cast<size_t>(n * t * I));
  for (int64_t w = 0; w < n; ++w) {
    std::vector<std::vector<double>> h, c;
    for (const RefLstm& l : m.lstm) {
      h.emplace_back(static_cast<size_t>(l.hidden), 0.0);
      c.emplace_back(static_cast<size_t>(l.hidden), 0.0);
    }
    std::vector<const double*> top_rows;
    for (int64_t s = 0; s < t; ++s) {
      const std::vector<double> xn = normalised(m, x.data() + (w * t + s) * I);
      std::vector<double> in = xn;
      for (size_t l = 0; l < m.lstm.size(); ++l) {
        const int64_t H = m.lstm[l].hidden;
        double* g = out.gates[l].data() + (w * t + s) * 4 * H;
        lstm_step(m.lstm[l], in.data(), h[l], c[l], g);
        std::copy(h[l].begin(), h[l].end(), out.h[l].begin() + (w * t + s) * H);
        std::copy(c[l].begin(), c[l].end(), out.c[l].begin() + (w * t + s) * H);
        in = h[l];
      }
      const int64_t H0 = m.lstm[0].hidden;
      if (trace != actif::TraceKind::None)
        trace_row(m, trace, xn.data(), out.h[0].data() + (w * t + s) * H0, out.gates[0].data() + (w * t + s) * 4 * H0,
                  out.trace.data() + (w * t + s) * I);
      top_rows.push_back(out.h.back().data() + (w * t + s) * m.lstm.back().hidden);
    }
    head(m, top_rows, out.y.data() + w * O);
  }
  return out;
}

void ref_stream(const RefModel& m, const std::vector<float>& x, int64_t steps, actif::TraceKind trace,
                std::vector<double>& y, std::vector<double>& trace_out) {
  const int64_t I = m.input_size, O = m.output_size();
  y.assign(static_cast<size_t>(steps * O), 0.0);
  trace_out.assign(trace == actif::TraceKind::None ? 0 : static_cast<size_t>(steps * I), 0.0);
  std::vector<std::vector<double>> h, c;
  for (const RefLstm& l : m.lstm) {
    h.emplace_back(static_cast<size_t>(l.hidden), 0.0);
    c.emplace_back(static_cast<size_t>(l.hidden), 0.0);
  }
  std::vector<std::vector<double>> history;  // top-layer h of every step
  for (int64_t s = 0; s < steps; ++s) {
    const std::vector<double> xn = normalised(m, x.data() + s * I);
    std::vector<double> in = xn, g0;
    for (size_t l = 0; l < m.lstm.size(); ++l) {
      std::vector<double> g(static_cast<size_t>(4 * m.lstm[l].hidden));
      lstm_step(m.lstm[l], in.data(), h[l], c[l], g.data());
      if (l == 0) g0 = g;
      in = h[l];
    }
    history.push_back(h.back());
    if (trace != actif::TraceKind::None) trace_row(m, trace, xn.data(), h[0].data(), g0.data(), trace_out.data() + s * I);
    std::vector<const double*> rows;
    const int64_t first = m.pooling == actif::Pooling::Last ? s : std::max<int64_t>(0, s + 1 - m.window);
    for (int64_t k = first; k <= s; ++k) rows.push_back(history[static_cast<size_t>(k)].data());
    head(m, rows, y.data() + s * O);
  }
}

void ref_moments(const std::vector<double>& rows, int64_t n, std::vector<double>& mean, std::vector<double>& sd) {
  const int64_t count = static_cast<int64_t>(rows.size()) / n;
  mean.assign(static_cast<size_t>(n), 0.0);
  sd.assign(static_cast<size_t>(n), 0.0);
  for (int64_t r = 0; r < count; ++r)
    for (int64_t j = 0; j < n; ++j) mean[j] += rows[r * n + j];
  for (auto& v : mean) v /= static_cast<double>(count);
  for (int64_t r = 0; r < count; ++r)
    for (int64_t j = 0; j < n; ++j) sd[j] += (rows[r * n + j] - mean[j]) * (rows[r * n + j] - mean[j]);
  for (auto& v : sd) v = std::sqrt(v / static_cast<double>(count));
}

std::vector<double> ref_scores(const std::string& method, const std::vector<double>& mu, const std::vector<double>& sd) {
  auto mm = [](const std::vector<double>& v) {
    const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    std::vector<double> o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i] = (v[i] - lo) / (hi - lo + 1e-8);
    return o;
  };
  std::vector<double> out(mu.size());
  const std::vector<double> a = mm(mu), b = mm(sd);
  for (size_t j = 0; j < mu.size(); ++j) {
    if (method == "inverse") out[j] = (a[j] + 1.0 - b[j]) / 2.0;
    else if (method == "mean") out[j] = a[j];
    else if (method == "meanstd") out[j] = mu[j] * sd[j];
    else out[j] = a[j] * (1.0 - std::exp(-sd[j] / 0.01));
  }
  return out;
}

}  // namespace actif_test
