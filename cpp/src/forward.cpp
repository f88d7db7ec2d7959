#include "actif/forward.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <thread>

#include "actif/aligned.hpp"
#include "actif/kernels.hpp"

namespace actif {

namespace {

// Grow-only scratch buffers, one set per thread, so steady-state calls do not allocate.
struct Workspace {
  AlignedFloats xin, zx, h_ping, h_pong, c, gates, absbuf, pooled, head_ping, head_pong, trace;
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// Applies the input affine to `rows` rows; returns x itself when the model has none.
const float* normalise(const Model& m, const float* x, int64_t rows, Workspace& ws) {
  if (m.input_scale.empty()) return x;
  const int64_t n_in = m.input_size;
  float* out = grow_to(ws.xin, rows * n_in);
  const float* sc = m.input_scale.data();
  const float* sh = m.input_shift.data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n_in; ++j) out[r * n_in + j] = x[r * n_in + j] * sc[j] + sh[j];
  return out;
}

// Per-step trace rows (rows, I) from the normalised input and the first layer's
// h (stride ldh) or gates (stride ldg).
void compute_trace(const Model& m, const KernelSet& k, TraceKind kind, int64_t rows, const float* xin,
                   const float* h0, int64_t ldh, const float* g0, int64_t ldg, float* out, Workspace& ws) {
  const int64_t n_in = m.input_size;
  const int64_t hidden = m.lstm.front().hidden_size;
  switch (kind) {
    case TraceKind::None:
      return;
    case TraceKind::Input:
      for (int64_t i = 0; i < rows * n_in; ++i) out[i] = std::fabs(xin[i]);
      return;
    case TraceKind::Paper:
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n_in; ++j) out[r * n_in + j] = std::fabs(h0[r * ldh + j]);
      return;
    case TraceKind::Weighted:
    case TraceKind::Gates: {
      const bool weighted = kind == TraceKind::Weighted;
      const int64_t width = weighted ? hidden : 4 * hidden;
      const float* src = weighted ? h0 : g0;
      const int64_t ld = weighted ? ldh : ldg;
      float* a = grow_to(ws.absbuf, rows * width);
      for (int64_t r = 0; r < rows; ++r) {  // row by row, so the compiler vectorises the copy
        const float* __restrict__ from = src + r * ld;
        float* __restrict__ to = a + r * width;
        for (int64_t j = 0; j < width; ++j) to[j] = std::fabs(from[j]);
      }
      k.gemm_f32(rows, a, width, weighted ? m.trace_route : m.trace_abs_w_ih, out, n_in, nullptr, false);
      for (int64_t i = 0; i < rows * n_in; ++i) out[i] *= std::fabs(xin[i]);
      return;
    }
  }
}

// Folded-BatchNorm affine and dense layers: pooled (rows, H_top) -> y (rows, O).
void run_head(const Model& m, const KernelSet& k, int64_t rows, float* pooled, float* y, Workspace& ws) {
  const int64_t h_top = m.hidden_top();
  if (!m.post_scale.empty()) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < h_top; ++j)
        pooled[r * h_top + j] = pooled[r * h_top + j] * m.post_scale[static_cast<size_t>(j)] +
                                m.post_shift[static_cast<size_t>(j)];
  }
  if (m.dense.empty()) {
    std::copy(pooled, pooled + rows * h_top, y);
    return;
  }
  const float* in = pooled;
  for (size_t l = 0; l < m.dense.size(); ++l) {
    const DenseLayer& d = m.dense[l];
    const bool last = l + 1 == m.dense.size();
    float* out = last ? y : grow_to(l % 2 == 0 ? ws.head_ping : ws.head_pong, rows * d.out_features);
    k.gemm_f32(rows, in, d.in_features, d.w_t, out, d.out_features, d.bias.data(), false);
    if (d.activation != Activation::Identity) k.activation_f32(d.activation, rows * d.out_features, out);
    in = out;
  }
}

// Pools hidden sequences (rows, T, H), contiguous per row, over time.
void pool_sequence(Pooling p, int64_t rows, int64_t t, int64_t hidden, const float* h, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* seq = h + r * t * hidden;
    float* o = out + r * hidden;
    switch (p) {
      case Pooling::Last:
        std::copy(seq + (t - 1) * hidden, seq + t * hidden, o);
        break;
      case Pooling::Max:
        std::copy(seq, seq + hidden, o);
        for (int64_t s = 1; s < t; ++s)
          for (int64_t j = 0; j < hidden; ++j) {
            const float v = seq[s * hidden + j];
            o[j] = v > o[j] ? v : o[j];  // (std::max's NaN rule would block vectorisation)
          }
        break;
      case Pooling::Mean: {
        std::copy(seq, seq + hidden, o);
        for (int64_t s = 1; s < t; ++s)
          for (int64_t j = 0; j < hidden; ++j) o[j] += seq[s * hidden + j];
        const float inv = 1.0f / static_cast<float>(t);
        for (int64_t j = 0; j < hidden; ++j) o[j] *= inv;
        break;
      }
    }
  }
}

// The checks a trace and statistics request must pass, in window and in step mode.
void check_trace_request(const Model& m, TraceKind trace, const RunningStats* stats) {
  const int64_t hidden = m.lstm.front().hidden_size;
  if (trace == TraceKind::Paper && hidden < m.input_size)
    throw Error("the 'paper' trace needs hidden_size >= input_size (the first LSTM layer has " +
                std::to_string(hidden) + " units, the model " + std::to_string(m.input_size) + " inputs)");
  if (stats == nullptr) return;
  if (trace == TraceKind::None) throw Error("statistics need a trace");
  if (stats->n_features() != m.input_size)
    throw Error("statistics have " + std::to_string(stats->n_features()) + " features, the model has " +
                std::to_string(m.input_size) + " inputs");
}

// The trace to compute: none when nobody reads it (no trace_out, no statistics).
TraceKind trace_wanted(TraceKind trace, const float* trace_out, const RunningStats* stats) {
  return trace_out != nullptr || stats != nullptr ? trace : TraceKind::None;
}

// Runs windows [n0, n1): outputs for those windows, `trace` rows into trace_rows.
void run_windows(const Model& m, const KernelSet& k, const WindowRequest& req, TraceKind trace, int64_t n0,
                 int64_t n1, float* trace_rows) {
  Workspace& ws = workspace();
  const int64_t nb = n1 - n0, t = req.t, n_in = m.input_size, rows = nb * t;
  const float* xin = normalise(m, req.x + n0 * t * n_in, rows, ws);
  const float* layer_in = xin;
  int64_t in_dim = n_in;
  for (size_t l = 0; l < m.lstm.size(); ++l) {
    const LstmLayer& layer = m.lstm[l];
    const int64_t hidden = layer.hidden_size, g = 4 * hidden;
    const LayerOutputs out = req.layers.empty() ? LayerOutputs{} : req.layers[l];

    // Input projections: for a few windows, all steps at once (one GEMM with T rows per
    // window); for a batch, step by step into an (nb, 4H) block that stays in cache
    // while the recurrent GEMM and the cell consume it.
    const bool per_step = nb >= 6;
    float* zx = grow_to(ws.zx, (per_step ? nb : rows) * g);
    if (!per_step) k.gemm_f32(rows, layer_in, in_dim, layer.w_ih_t, zx, g, layer.bias.data(), false);
    const int64_t ldz = per_step ? g : t * g;

    float* hseq = out.h ? out.h + n0 * t * hidden : grow_to(l % 2 == 0 ? ws.h_ping : ws.h_pong, rows * hidden);
    float* cseq = out.c ? out.c + n0 * t * hidden : nullptr;
    float* cstate = cseq ? nullptr : grow_to(ws.c, nb * hidden);
    const bool gates_for_trace = l == 0 && trace == TraceKind::Gates;
    float* gseq = out.gates ? out.gates + n0 * t * g : (gates_for_trace ? grow_to(ws.gates, rows * g) : nullptr);

    for (int64_t s = 0; s < t; ++s) {
      float* zs = per_step ? zx : zx + s * g;
      if (per_step) k.gemm_f32(nb, layer_in + s * in_dim, t * in_dim, layer.w_ih_t, zs, ldz, layer.bias.data(), false);
      if (s > 0) k.gemm_f32(nb, hseq + (s - 1) * hidden, t * hidden, layer.w_hh_t, zs, ldz, nullptr, true);
      const float* c_prev = s == 0 ? nullptr : (cseq ? cseq + (s - 1) * hidden : cstate);
      float* c_out = cseq ? cseq + s * hidden : cstate;
      const int64_t ldc = cseq ? t * hidden : hidden;
      k.lstm_cell_f32(nb, hidden, zs, ldz, c_prev, ldc, c_out, ldc, hseq + s * hidden, t * hidden,
                      gseq ? gseq + s * g : nullptr, t * g);
    }
    // The first layer's scratch may be reused by layer 2, so its trace is taken now.
    if (l == 0 && trace != TraceKind::None)
      compute_trace(m, k, trace, rows, xin, hseq, hidden, gseq, g, trace_rows, ws);
    layer_in = hseq;
    in_dim = hidden;
  }
  const int64_t h_top = m.hidden_top();
  float* pooled = grow_to(ws.pooled, nb * h_top);
  pool_sequence(m.pooling, nb, t, h_top, layer_in, pooled);
  run_head(m, k, nb, pooled, req.y + n0 * m.output_size(), ws);
}

int64_t macs_per_window(const Model& m, int64_t t) {
  int64_t macs = 0, in_dim = m.input_size;
  for (const auto& l : m.lstm) {
    macs += 4 * l.hidden_size * (in_dim + l.hidden_size);
    in_dim = l.hidden_size;
  }
  return std::max<int64_t>(1, macs * t);
}

}  // namespace

int64_t threads_for(int requested, int64_t items, int64_t total_macs) {
  constexpr int64_t kMinMacsPerThread = int64_t{1} << 21;
  const int want = requested > 0 ? requested : default_num_threads();
  return std::max<int64_t>(1, std::min<int64_t>({want, items, total_macs / kMinMacsPerThread}));
}

void run_chunks(int64_t threads, const std::function<void(int64_t)>& chunk) {
  if (threads == 1) {
    chunk(0);
  } else {
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
    pool.reserve(static_cast<size_t>(threads - 1));
    for (int64_t c = 1; c < threads; ++c)
      pool.emplace_back([&, c] {
        try {
          chunk(c);
        } catch (...) {
          errors[static_cast<size_t>(c)] = std::current_exception();
        }
      });
    try {
      chunk(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
}

int default_num_threads() {
  // hardware_concurrency() reads /sys on every call (microseconds): ask once.
  static const int n = [] {
    const unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
  }();
  return n;
}

void window_forward(const Model& m, const WindowRequest& req) {
  if (req.x == nullptr && req.n > 0) throw Error("no input");
  if (req.y == nullptr && req.n > 0) throw Error("no output buffer");
  if (req.n < 0 || req.t < 1) throw Error("windows need N >= 0 and T >= 1");
  if (!req.layers.empty() && req.layers.size() != m.lstm.size())
    throw Error("layer outputs must be given for every LSTM layer or none");
  check_trace_request(m, req.trace, req.stats);
  if (req.n == 0) return;

  const KernelSet& k = active_kernels();
  const int64_t n = req.n, rows_per_window = req.t;
  const TraceKind trace = trace_wanted(req.trace, req.trace_out, req.stats);
  float* trace_all = req.trace_out;
  if (trace != TraceKind::None && trace_all == nullptr)  // the calling thread's reusable buffer
    trace_all = grow_to(workspace().trace, n * rows_per_window * m.input_size);

  // Split windows over threads only when each gets enough work to pay for a thread.
  const int64_t total = macs_per_window(m, req.t) * n;
  const int64_t threads = threads_for(req.num_threads, n, total);

  auto chunk = [&](int64_t c) {
    const int64_t n0 = n * c / threads, n1 = n * (c + 1) / threads;
    float* tr = trace_all ? trace_all + n0 * rows_per_window * m.input_size : nullptr;
    run_windows(m, k, req, trace, n0, n1, tr);
  };
  run_chunks(threads, chunk);
  if (req.stats) req.stats->update(trace_all, n * rows_per_window, m.input_size);
}

void step_forward(const Model& m, StepState& s, const StepRequest& req) {
  const int64_t b = s.batch, n_in = m.input_size;
  if (b < 1) throw Error("step needs at least one stream");
  if (s.h.size() != m.lstm.size() || s.c.size() != m.lstm.size())
    throw Error("state must hold h and c for every LSTM layer");
  const bool ring_pool = m.pooling != Pooling::Last;
  if (ring_pool && (s.ring == nullptr || s.ring_len < 1)) throw Error("mean/max pooling needs a state ring");
  check_trace_request(m, req.trace, req.stats);

  const KernelSet& k = active_kernels();
  const TraceKind trace = trace_wanted(req.trace, req.trace_out, req.stats);
  Workspace& ws = workspace();
  const float* xin = normalise(m, req.x, b, ws);
  const float* layer_in = xin;
  int64_t in_dim = n_in;
  float* g0 = nullptr;
  for (size_t l = 0; l < m.lstm.size(); ++l) {
    const LstmLayer& layer = m.lstm[l];
    const int64_t hidden = layer.hidden_size, g = 4 * hidden;
    float* z = grow_to(ws.zx, b * g);
    k.gemm_f32(b, layer_in, in_dim, layer.w_ih_t, z, g, layer.bias.data(), false);
    k.gemm_f32(b, s.h[l], hidden, layer.w_hh_t, z, g, nullptr, true);
    float* gates = (l == 0 && trace == TraceKind::Gates) ? grow_to(ws.gates, b * g) : nullptr;
    if (l == 0) g0 = gates;
    // h and c are updated in place: the old h was fully consumed by the GEMM above.
    k.lstm_cell_f32(b, hidden, z, g, s.c[l], hidden, s.c[l], hidden, s.h[l], hidden, gates, g);
    layer_in = s.h[l];
    in_dim = hidden;
  }
  float* trace_rows = req.trace_out;
  if (trace != TraceKind::None) {
    if (trace_rows == nullptr) trace_rows = grow_to(ws.trace, b * n_in);
    compute_trace(m, k, trace, b, xin, s.h[0], m.lstm.front().hidden_size, g0,
                  4 * m.lstm.front().hidden_size, trace_rows, ws);
  }
  const int64_t h_top = m.hidden_top();
  float* pooled = grow_to(ws.pooled, b * h_top);
  if (!ring_pool) {
    std::copy(layer_in, layer_in + b * h_top, pooled);
  } else {
    const int64_t pos = s.steps % s.ring_len;
    const int64_t filled = std::min(s.steps + 1, s.ring_len);
    for (int64_t r = 0; r < b; ++r) {
      float* ring = s.ring + r * s.ring_len * h_top;
      std::copy(layer_in + r * h_top, layer_in + (r + 1) * h_top, ring + pos * h_top);
      pool_sequence(m.pooling, 1, filled, h_top, ring, pooled + r * h_top);
    }
  }
  run_head(m, k, b, pooled, req.y, ws);
  if (req.stats) req.stats->update(trace_rows, b, n_in);
}

}  // namespace actif
