// actif._core: the only Python/C++ boundary (imported by python/actif/_native.py only).
//
// Weights and outputs cross without copies when they are C-contiguous float32
// (otherwise forcecast converts once). Inputs that feed a computation are copied once,
// while the GIL is held, into a private buffer and checked there against the model's
// input rule (model.hpp): the computation reads only that copy, so another thread
// writing into the caller's array after the check cannot reach the model, a stream
// or the statistics. The batch forward then runs with the GIL released. Statistics and
// stream states are only touched with the GIL held, so Python threads sharing them
// are serialised rather than racing.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "actif/aligned.hpp"
#include "actif/attribution.hpp"
#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/model.hpp"
#include "actif/running_stats.hpp"
#include "actif/stream.hpp"

namespace py = pybind11;
using actif::Error;

namespace {

using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using DArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

void expect_shape(const py::array& a, const std::vector<int64_t>& shape, const char* what) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(static_cast<py::ssize_t>(i)) == shape[i];
  if (!ok) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
    throw Error(std::string(what) + " has shape " + shape_str(a) + ", expected " + want + (shape.size() == 1 ? ",)" : ")"));
  }
}

std::shared_ptr<actif::Model> make_model(const py::object& input_scale, const py::object& input_shift,
                                         const py::list& lstm, const std::string& pooling, int64_t window,
                                         const py::object& post_scale, const py::object& post_shift,
                                         const py::list& dense, const py::object& max_abs) {
  actif::ModelBuilder b;
  b.max_abs(max_abs.is_none() ? std::numeric_limits<double>::infinity() : max_abs.cast<double>());
  if (!input_scale.is_none()) {
    FArray sc = input_scale.cast<FArray>(), sh = input_shift.cast<FArray>();
    if (sc.ndim() != 1 || sh.ndim() != 1 || sc.shape(0) != sh.shape(0)) throw Error("input affine must be two (I,) vectors");
    b.input_affine(sc.shape(0), sc.data(), sh.data());
  }
  for (const py::handle& item : lstm) {
    auto t = item.cast<py::tuple>();
    if (t.size() != 4) throw Error("each LSTM layer is (w_ih, w_hh, b_ih, b_hh)");
    FArray w_ih = t[0].cast<FArray>(), w_hh = t[1].cast<FArray>(), b_ih = t[2].cast<FArray>(), b_hh = t[3].cast<FArray>();
    if (w_hh.ndim() != 2 || w_ih.ndim() != 2) throw Error("w_ih and w_hh must be 2-D");
    const int64_t h = w_hh.shape(1);
    expect_shape(w_hh, {4 * h, h}, "w_hh");
    expect_shape(w_ih, {4 * h, -1}, "w_ih");
    expect_shape(b_ih, {4 * h}, "b_ih");
    expect_shape(b_hh, {4 * h}, "b_hh");
    b.lstm(w_ih.shape(1), h, w_ih.data(), w_hh.data(), b_ih.data(), b_hh.data());
  }
  b.pooling(actif::parse_pooling(pooling), window);
  if (!post_scale.is_none()) {
    FArray sc = post_scale.cast<FArray>(), sh = post_shift.cast<FArray>();
    if (sc.ndim() != 1 || sh.ndim() != 1 || sc.shape(0) != sh.shape(0)) throw Error("post affine must be two (H,) vectors");
    b.post_affine(sc.shape(0), sc.data(), sh.data());
  }
  for (const py::handle& item : dense) {
    auto t = item.cast<py::tuple>();
    if (t.size() != 3) throw Error("each dense layer is (weight, bias, activation)");
    FArray w = t[0].cast<FArray>(), bias = t[1].cast<FArray>();
    if (w.ndim() != 2) throw Error("dense weight must be 2-D");
    expect_shape(bias, {w.shape(0)}, "dense bias");
    b.dense(w.shape(1), w.shape(0), w.data(), bias.data(), actif::parse_activation(t[2].cast<std::string>()));
  }
  return std::make_shared<actif::Model>(b.build());
}

void check_windows(const actif::Model& m, const FArray& x) {
  if (x.ndim() != 3) throw Error("x must have shape (N, T, I), got " + shape_str(x));
  expect_shape(x, {-1, -1, m.input_size}, "x");
  if (x.shape(1) < 1) throw Error("windows need at least one time step");
}

FArray check_samples(const actif::Model& m, const FArray& x, int rank) {
  if (x.ndim() != rank)
    throw Error(std::string("x must have shape ") + (rank == 2 ? "(B, I)" : "(M, B, I)") + ", got " + shape_str(x));
  expect_shape(x, rank == 2 ? std::vector<int64_t>{-1, m.input_size} : std::vector<int64_t>{-1, -1, m.input_size}, "x");
  if (x.size() == 0) throw Error("a stream step needs at least one sample");
  return x;
}

// Flat index of the first NaN, Inf or |v| > limit, or -1.
int64_t first_invalid_index(const float* p, int64_t n, float limit) { return actif::first_invalid_input(p, n, limit); }

float limit_from(double max_abs) {
  return max_abs < 0 ? std::numeric_limits<float>::max() : static_cast<float>(max_abs);
}

// The caller's n floats copied once into `buf`: what is checked and computed on is
// this private copy (see the file comment).
const float* private_copy(const float* x, int64_t n, actif::AlignedFloats& buf) {
  if (buf.size() < static_cast<size_t>(n)) buf.resize(static_cast<size_t>(n));
  std::copy(x, x + n, buf.data());
  return buf.data();
}

// Per-thread input copy for the streaming paths (a fresh buffer per call costs page
// faults); the GIL is held while it is written, and each OS thread has its own.
actif::AlignedFloats& input_scratch() {
  thread_local actif::AlignedFloats buf;
  return buf;
}

// The streaming hot path takes its input as is: a C-contiguous float32 array of the
// given ranks whose last axis is the model's inputs. Anything else returns false and
// the caller's general path (conversion, messages, skip policy) takes over.
bool plain_float32(const py::handle& obj, int min_rank, int max_rank, int64_t n_in) {
  if (!py::isinstance<py::array_t<float>>(obj)) return false;
  const auto a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.flags() & py::array::c_style) || a.ndim() < min_rank || a.ndim() > max_rank) return false;
  if (a.shape(a.ndim() - 1) != n_in || a.size() == 0) return false;
  return true;
}

// Forward windows x (n, t, I) into y with the trace feeding `stats`. The trace rows go
// to a per-thread buffer that is reused (a fresh one per call costs page faults at
// large batches); the forward runs without the GIL, the statistics update with it.
void forward_into_stats(const actif::Model& m, const float* x, int64_t n, int64_t t, actif::RunningStats& stats,
                        actif::TraceKind trace, int threads, float* y) {
  if (trace == actif::TraceKind::None) throw Error("attribution needs a trace");
  thread_local actif::AlignedFloats trace_rows;
  const size_t rows = static_cast<size_t>(n * t * m.input_size);
  if (trace_rows.size() < rows) trace_rows.resize(rows);
  actif::WindowRequest req;
  req.x = x;
  req.n = n;
  req.t = t;
  req.y = y;
  req.trace = trace;
  req.trace_out = trace_rows.data();
  req.num_threads = threads;
  {
    py::gil_scoped_release unlocked;
    actif::window_forward(m, req);
  }
  stats.update(trace_rows.data(), n * t, m.input_size);  // GIL held: one writer at a time
}

std::vector<double> native_scores(const actif::RunningStats& s, const std::string& method) {
  const actif::ScoreMethod sm = actif::parse_score_method(method.c_str());
  if (s.count() == 0) throw Error("no samples yet: update the statistics before asking for scores");
  const std::vector<double> sd = s.stddev();
  std::vector<double> out(static_cast<size_t>(s.n_features()));
  actif::compute_scores(sm, s.mean().data(), sd.data(), s.n_features(), out.data());
  return out;
}

py::array_t<double> vec_to_array(const std::vector<double>& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}


// ---------------------------------------------------------------- attribution
// Model.attribute / Model.attribute_stats: the native reverse-pass and perturbation
// attributions (actif/attribution.hpp). Shapes are checked with the GIL held; the
// pass runs without it; statistics are updated with it again (one writer at a time).

using ModelClass = py::class_<actif::Model, std::shared_ptr<actif::Model>>;

// Per-thread private copy of the windows an attribution reads (see private_copy).
actif::AlignedFloats& attribution_input() {
  thread_local actif::AlignedFloats buf;
  return buf;
}

// A request's options (no windows yet); `baseline_arr` keeps the baseline alive.
actif::AttributionRequest attribution_options(const actif::Model& m, const std::string& method, int64_t target,
                                              const py::object& baseline, FArray& baseline_arr, int64_t n_steps,
                                              const std::string& ig_method, int threads) {
  actif::AttributionRequest req;
  req.method = actif::parse_attribution_method(method);
  req.target = target;
  if (!baseline.is_none()) {
    baseline_arr = baseline.cast<FArray>();
    expect_shape(baseline_arr, {m.input_size}, "baseline");
    req.baseline = baseline_arr.data();
  }
  req.n_steps = n_steps;
  req.rule = actif::parse_integral_rule(ig_method);
  if (threads < 0) throw Error("num_threads must be >= 0");
  req.num_threads = threads;
  return req;
}

// The request's common fields, its windows the calling thread's private copy of x (what
// is checked is what is used); `baseline` and `initial_state` stay alive in the caller.
actif::AttributionRequest attribution_request(const actif::Model& m, const FArray& x, const std::string& method,
                                              int64_t target, const py::object& baseline, FArray& baseline_arr,
                                              int64_t n_steps, const std::string& ig_method, int threads) {
  check_windows(m, x);
  actif::AttributionRequest req =
      attribution_options(m, method, target, baseline, baseline_arr, n_steps, ig_method, threads);
  req.x = private_copy(x.data(), x.size(), attribution_input());
  req.n = x.shape(0);
  req.t = x.shape(1);
  return req;
}

// Runs `req` and adds every step's A row to signed_stats and |A| row to abs_stats (either
// may be null); y receives the predictions. Nothing is added unless the whole pass
// succeeded.
void attribute_into_stats(const actif::Model& m, actif::AttributionRequest& req, actif::RunningStats* abs_stats,
                          actif::RunningStats* signed_stats, FArray& y) {
  for (const actif::RunningStats* s : {abs_stats, signed_stats})
    if (s != nullptr && s->n_features() != m.input_size) throw Error("statistics and model have different feature counts");
  if (abs_stats != nullptr && abs_stats == signed_stats)
    throw Error("abs_stats and signed_stats must be different statistics");
  const int64_t rows = req.n * req.t, width = m.input_size;
  thread_local actif::AlignedFloats values;  // reused: a fresh buffer per call costs page faults
  float* v = actif::grow_to(values, rows * width);
  req.y = y.mutable_data();
  req.values = v;
  {
    py::gil_scoped_release unlocked;
    actif::attribute_windows(m, req);
  }
  if (signed_stats) signed_stats->update(v, rows, width);
  if (abs_stats) {
    for (int64_t i = 0; i < rows * width; ++i) v[i] = std::fabs(v[i]);
    abs_stats->update(v, rows, width);
  }
}

// Runs `req` into fresh arrays: (y (N, O), values (N, T, I), delta (N,) for integrated
// gradients, else None).
py::tuple attribution_arrays(const actif::Model& m, actif::AttributionRequest& req) {
  const int64_t n = req.n;
  FArray y({n, m.output_size()}), values({n, req.t, m.input_size});
  req.y = y.mutable_data();
  req.values = values.mutable_data();
  py::object delta = py::none();
  if (req.method == actif::AttributionMethod::Integrated) {
    FArray d(std::vector<py::ssize_t>{n});
    req.delta = d.mutable_data();
    delta = d;
  }
  {
    py::gil_scoped_release unlocked;
    actif::attribute_windows(m, req);
  }
  return py::make_tuple(y, values, delta);
}

void bind_attribution(ModelClass& cls) {
  cls.def(
         "attribute",
         [](const actif::Model& m, const FArray& x, const std::string& method, int64_t target,
            const py::object& baseline, int64_t n_steps, const std::string& ig_method, int threads,
            const py::object& initial_state) {
           FArray base;
           actif::AttributionRequest req =
               attribution_request(m, x, method, target, baseline, base, n_steps, ig_method, threads);
           const int64_t n = req.n, t = req.t;
           std::vector<FArray> state;  // keeps converted arrays alive during the pass
           if (!initial_state.is_none()) {
             const auto layers = initial_state.cast<py::sequence>();
             if (static_cast<size_t>(py::len(layers)) != m.lstm.size())
               throw Error("initial_state needs one (h0, c0) pair per LSTM layer");
             for (size_t l = 0; l < m.lstm.size(); ++l) {
               const auto pair = layers[l].cast<py::sequence>();
               if (py::len(pair) != 2) throw Error("initial_state needs one (h0, c0) pair per LSTM layer");
               FArray h0 = pair[0].cast<FArray>(), c0 = pair[1].cast<FArray>();
               expect_shape(h0, {n, m.lstm[l].hidden_size}, "initial h0");
               expect_shape(c0, {n, m.lstm[l].hidden_size}, "initial c0");
               req.h0.push_back(h0.data());
               req.c0.push_back(c0.data());
               state.push_back(std::move(h0));
               state.push_back(std::move(c0));
             }
           }
           return attribution_arrays(m, req);
         },
         py::arg("x"), py::arg("method"), py::arg("target") = 0, py::arg("baseline") = py::none(),
         py::arg("n_steps") = 50, py::arg("ig_method") = "gausslegendre", py::arg("num_threads") = 0,
         py::arg("initial_state") = py::none(),
         "Signed attributions of output `target` to the raw inputs: (y (N, O), values (N, T, I), delta (N,) "
         "for 'integrated', else None). initial_state: [(h0, c0)] per layer, (N, H) each.")
      .def(
          "try_attribute",
          [](const actif::Model& m, const py::handle& obj, const std::string& method, int64_t target,
             const py::object& baseline, int64_t n_steps, const std::string& ig_method, int threads) -> py::object {
            // The per-call hot path of attribute (Explainer.attribute_steps), as
            // try_attribute_stats is of attribute_stats: windows (N, T, I) taken only if they
            // need no conversion, the input rule applied here. Returns (y, values, delta);
            // the flat index (int) of the first rejected value (nothing done); or None when
            // x needs conversion (nothing done, not scanned).
            if (!plain_float32(obj, 3, 3, m.input_size)) return py::none();
            const FArray x = py::reinterpret_borrow<py::array_t<float>>(obj);
            FArray base;
            actif::AttributionRequest req =
                attribution_request(m, x, method, target, baseline, base, n_steps, ig_method, threads);
            const int64_t bad = first_invalid_index(req.x, x.size(), m.input_limit_f32());
            if (bad >= 0) return py::int_(bad);
            return attribution_arrays(m, req);
          },
          py::arg("x"), py::arg("method"), py::arg("target"), py::arg("baseline"), py::arg("n_steps"),
          py::arg("ig_method"), py::arg("num_threads") = 0,
          "The per-call hot path of attribute: (y, values, delta); the flat index of the first rejected value; "
          "or None when x needs conversion. Nothing changes unless the arrays are returned.")
      .def(
          "attribute_stats",
          [](const actif::Model& m, const FArray& x, const std::string& method, int64_t target,
             const py::object& baseline, int64_t n_steps, const std::string& ig_method,
             actif::RunningStats* abs_stats, actif::RunningStats* signed_stats, int threads) {
            FArray base;
            actif::AttributionRequest req =
                attribution_request(m, x, method, target, baseline, base, n_steps, ig_method, threads);
            FArray y({req.n, m.output_size()});
            attribute_into_stats(m, req, abs_stats, signed_stats, y);
            return y;
          },
          py::arg("x"), py::arg("method"), py::arg("target"), py::arg("baseline"), py::arg("n_steps"),
          py::arg("ig_method"), py::arg("abs_stats"), py::arg("signed_stats"), py::arg("num_threads") = 0,
          "Attribute windows and add every step's |A| row to abs_stats and A row to signed_stats (either may "
          "be None); returns y.")
      .def(
          "try_attribute_stats",
          [](const actif::Model& m, const py::handle& obj, const std::string& method, int64_t target,
             const py::object& baseline, int64_t n_steps, const std::string& ig_method,
             actif::RunningStats* abs_stats, actif::RunningStats* signed_stats, int threads) -> py::object {
            // The streaming hot path of attribute_stats, as try_forward_stats is of forward_stats:
            // one window (T, I) or a batch (N, T, I) taken only if it needs no conversion; the
            // input rule applied here. Returns y; the flat index (int) of the first rejected
            // value (nothing done); or None when x needs conversion (nothing done, not scanned).
            if (!plain_float32(obj, 2, 3, m.input_size)) return py::none();
            auto arr = py::reinterpret_borrow<py::array_t<float>>(obj);
            const bool single = arr.ndim() == 2;
            const FArray x = single ? FArray(arr.reshape({py::ssize_t{1}, arr.shape(0), arr.shape(1)})) : FArray(arr);
            FArray base;
            actif::AttributionRequest req =
                attribution_request(m, x, method, target, baseline, base, n_steps, ig_method, threads);
            const int64_t bad = first_invalid_index(req.x, x.size(), m.input_limit_f32());
            if (bad >= 0) return py::int_(bad);
            FArray y = single ? FArray(std::vector<py::ssize_t>{m.output_size()}) : FArray({req.n, m.output_size()});
            attribute_into_stats(m, req, abs_stats, signed_stats, y);
            return std::move(y);
          },
          py::arg("x"), py::arg("method"), py::arg("target"), py::arg("baseline"), py::arg("n_steps"),
          py::arg("ig_method"), py::arg("abs_stats"), py::arg("signed_stats"), py::arg("num_threads") = 0,
          "The streaming hot path of attribute_stats: y; the flat index of the first rejected value; or None "
          "when x needs conversion. Nothing changes unless y is returned.");
}

std::vector<float> flat_floats(const FArray& a) { return std::vector<float>(a.data(), a.data() + a.size()); }

// The stateful hot paths' input: one sample (I,) or M consecutive samples (M, I) of one
// stream, taken only if it needs no conversion (else `x` is null: nothing scanned),
// copied privately and scanned by the input rule (`bad`: the flat index of the first
// rejected value, or -1).
struct StreamSamples {
  const float* x = nullptr;
  int64_t steps = 0;
  bool single = false;
  int64_t bad = -1;
};

StreamSamples stream_samples(const actif::Model& m, const py::handle& obj) {
  StreamSamples out;
  if (!plain_float32(obj, 1, 2, m.input_size)) return out;
  const auto x = py::reinterpret_borrow<py::array_t<float>>(obj);
  out.single = x.ndim() == 1;
  out.steps = out.single ? 1 : x.shape(0);
  out.x = private_copy(x.data(), x.size(), input_scratch());
  out.bad = first_invalid_index(out.x, x.size(), m.input_limit_f32());
  return out;
}

// Their predictions: (O,) for one sample, (M, O) for several.
FArray stream_outputs(const actif::Model& m, const StreamSamples& in) {
  return in.single ? FArray(std::vector<py::ssize_t>{m.output_size()}) : FArray({in.steps, m.output_size()});
}

// ---------------------------------------------------------------- stream history
// Stateful mode's attribution methods: the cpp backend's streams keep their last
// `window` samples and the states those started from in the core's StreamHistory, as
// the C API's streams do, so that one call steps a sample and attributes the current
// prediction to the samples that made it.
struct History {
  std::shared_ptr<const actif::Model> model;
  actif::StreamHistory held;
};

std::vector<const float*> layer_pointers(const actif::Stream& s, bool hidden) {
  std::vector<const float*> out;
  for (int64_t l = 0; l < s.num_layers(); ++l) out.push_back(hidden ? s.h(l).data() : s.c(l).data());
  return out;
}

// Stream s takes samples x (M, I) one at a time; after each, the prediction it now makes
// is attributed to the history's samples and |A| rows go to abs_stats, A rows to
// signed_stats. The options are checked before the first step (a step cannot be taken
// back), x by the caller. y (M, O) receives the steps' predictions.
void step_attribute_into(History& hist, actif::Stream& s, const float* x, int64_t m_steps, const std::string& method,
                         int64_t target, const py::object& baseline, int64_t n_steps, const std::string& ig_method,
                         actif::RunningStats* abs_stats, actif::RunningStats* signed_stats, int threads, float* y) {
  const actif::Model& m = s.model();
  if (&m != hist.model.get()) throw Error("the history belongs to a stream of another model");
  if (s.batch() != 1) throw Error("a history attributes one stream (batch 1)");
  FArray base;
  actif::AttributionRequest req = attribution_options(m, method, target, baseline, base, n_steps, ig_method, threads);
  req.abs_stats = abs_stats;
  req.signed_stats = signed_stats;
  req.n = 0;  // an empty request runs every check of the options and writes nothing
  req.t = 1;
  actif::attribute_windows(m, req);
  req.abs_stats = req.signed_stats = nullptr;  // attribute_into_stats feeds them
  FArray y_attr({int64_t{1}, m.output_size()});
  for (int64_t i = 0; i < m_steps; ++i) {
    const float* xi = x + i * m.input_size;
    s.run(xi, 1, y + i * m.output_size());
    hist.held.commit(xi, layer_pointers(s, true), layer_pointers(s, false));
    hist.held.fill_request(req);
    attribute_into_stats(m, req, abs_stats, signed_stats, y_attr);
  }
}

void bind_history(py::module_& mod) {
  py::class_<History>(mod, "StreamHistory")
      .def(py::init([](std::shared_ptr<actif::Model> m, int64_t batch) {
             if (batch < 1 || batch > actif::Stream::kMaxBatch) throw Error("batch must be in 1.." + std::to_string(actif::Stream::kMaxBatch));
             actif::StreamHistory held(*m, batch);
             return History{std::shared_ptr<const actif::Model>(std::move(m)), std::move(held)};
           }),
           py::arg("model"), py::arg("batch") = 1, "An empty history of the last `window` samples of `batch` streams.")
      .def_property_readonly("length", [](const History& h) { return h.held.length(); }, "Samples held per stream.")
      .def("reset", [](History& h) { h.held.reset(); }, "Forget every sample (the next starts from the zero state).")
      .def(
          "held",
          [](const History& h) {
            std::vector<float> x;
            std::vector<std::vector<float>> hs, cs;
            h.held.held(x, hs, cs);
            const int64_t len = h.held.length(), n_in = h.model->input_size;
            const int64_t batch = h.held.batch();
            auto array = [](const std::vector<float>& v, std::vector<py::ssize_t> shape) {
              FArray a(shape);
              std::copy(v.begin(), v.end(), a.mutable_data());
              return a;
            };
            py::list h_out, c_out;
            for (size_t l = 0; l < hs.size(); ++l) {
              const int64_t hidden = h.model->lstm[l].hidden_size;
              h_out.append(array(hs[l], {len, batch, hidden}));
              c_out.append(array(cs[l], {len, batch, hidden}));
            }
            return py::make_tuple(array(x, {len, batch, n_in}), h_out, c_out);
          },
          "What a checkpoint keeps, oldest first: (x (K, B, I), [h (K, B, H_l)], [c (K, B, H_l)]), the state "
          "carried into each held sample.")
      .def(
          "assign",
          [](History& h, const FArray& x, const py::list& hs, const py::list& cs, const actif::Stream& s) {
            if (&s.model() != h.model.get()) throw Error("the history belongs to a stream of another model");
            if (x.ndim() != 3) throw Error("history samples must be (K, B, I), got " + shape_str(x));
            std::vector<std::vector<float>> hv, cv;
            for (const py::handle& a : hs) hv.push_back(flat_floats(a.cast<FArray>()));
            for (const py::handle& a : cs) cv.push_back(flat_floats(a.cast<FArray>()));
            h.held.assign(x.shape(0), flat_floats(x), hv, cv, layer_pointers(s, true), layer_pointers(s, false));
          },
          py::arg("x"), py::arg("h"), py::arg("c"), py::arg("stream"),
          "Replace what is held (a checkpoint restore) by samples x (K, B, I) and the states carried into them; "
          "the last sample left `stream`'s state. Checked before anything changes.")
      .def(
          "step_attribute_stats",
          [](History& h, actif::Stream& s, const py::handle& obj, const std::string& method, int64_t target,
             const py::object& baseline, int64_t n_steps, const std::string& ig_method,
             actif::RunningStats* abs_stats, actif::RunningStats* signed_stats, int threads) -> py::object {
            // The stateful methods' path: one sample (I,) or M consecutive samples (M, I),
            // taken only if they need no conversion; the input rule applied here. Returns y
            // (O,) / (M, O); the flat index (int) of the first rejected value (nothing
            // done); or None when x needs conversion (nothing done, not scanned).
            const StreamSamples in = stream_samples(s.model(), obj);
            if (in.x == nullptr) return py::none();
            if (in.bad >= 0) return py::int_(in.bad);
            FArray y = stream_outputs(s.model(), in);
            step_attribute_into(h, s, in.x, in.steps, method, target, baseline, n_steps, ig_method, abs_stats,
                                signed_stats, threads, y.mutable_data());
            return std::move(y);
          },
          py::arg("stream"), py::arg("x"), py::arg("method"), py::arg("target"), py::arg("baseline"),
          py::arg("n_steps"), py::arg("ig_method"), py::arg("abs_stats"), py::arg("signed_stats"),
          py::arg("num_threads") = 0,
          "Step `stream` by each sample and attribute its prediction to the samples held: y; the flat index of "
          "the first rejected value; or None when x needs conversion. Nothing changes unless y is returned.");
}

// A read-only NumPy view of a stream buffer, keeping the stream (owner) alive.
py::array read_only_view(const py::object& owner, const float* data, std::vector<int64_t> shape) {
  py::array_t<float> a(std::vector<py::ssize_t>(shape.begin(), shape.end()), data, owner);
  a.attr("setflags")(py::arg("write") = false);
  return std::move(a);
}

py::list state_views(const py::object& self, bool hidden) {
  const auto& s = self.cast<const actif::Stream&>();
  py::list out;
  for (int64_t l = 0; l < s.num_layers(); ++l) {
    const std::vector<float>& v = hidden ? s.h(l) : s.c(l);
    out.append(read_only_view(self, v.data(), {s.batch(), s.model().lstm[static_cast<size_t>(l)].hidden_size}));
  }
  return out;
}

// Stream.step (rank 2: x (B, I)) and Stream.run (rank 3: x (M, B, I)).
py::tuple run_stream(actif::Stream& s, const FArray& x, int rank, const std::string& trace,
                     actif::RunningStats* stats) {
  const actif::Model& m = s.model();
  check_samples(m, x, rank);
  const int64_t steps = rank == 2 ? 1 : x.shape(0), b = x.shape(rank - 2);
  if (b != s.batch())
    throw Error("the stream holds " + std::to_string(s.batch()) + " streams but x has " + std::to_string(b));
  const float* xs = private_copy(x.data(), x.size(), input_scratch());
  const actif::TraceKind kind = actif::parse_trace(trace);
  auto shape = [&](int64_t last) {
    return rank == 2 ? std::vector<py::ssize_t>{b, last} : std::vector<py::ssize_t>{steps, b, last};
  };
  FArray y(shape(m.output_size()));
  py::object tr = py::none();
  float* trace_out = nullptr;
  if (kind != actif::TraceKind::None && stats == nullptr) {
    FArray tarr(shape(m.input_size));
    trace_out = tarr.mutable_data();
    tr = tarr;
  }
  // Single steps are microseconds: keeping the GIL makes shared states safe.
  s.run(xs, steps, y.mutable_data(), kind, trace_out, stats);
  return py::make_tuple(y, tr);
}

}  // namespace

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "actif native core: LSTM forward with activations and traces, running statistics";

  py::register_exception<actif::InputError>(mod, "InputError", PyExc_ValueError);

  py::class_<actif::Model, std::shared_ptr<actif::Model>>(mod, "Model")
      .def(py::init(&make_model), py::arg("input_scale"), py::arg("input_shift"), py::arg("lstm"),
           py::arg("pooling"), py::arg("window"), py::arg("post_scale"), py::arg("post_shift"), py::arg("dense"),
           py::arg("max_abs") = actif::kDefaultMaxAbs,
           "Build from PyTorch-layout arrays: lstm = [(w_ih, w_hh, b_ih, b_hh)], dense = [(weight, bias, act)]. "
           "max_abs: the input rule's per-model setting (None: only the overflow bound).")
      .def_property_readonly("input_limit", &actif::Model::input_limit,
                             "The input rule's bound: min(max_abs, overflow_bound); values are compared in float32.")
      .def_property_readonly("overflow_bound", [](const actif::Model& m) { return m.overflow_bound; })
      .def_property_readonly("max_abs", [](const actif::Model& m) -> py::object {
        return std::isinf(m.max_abs) ? py::object(py::none()) : py::object(py::float_(m.max_abs));
      })
      .def_property_readonly("input_size", [](const actif::Model& m) { return m.input_size; })
      .def_property_readonly("output_size", &actif::Model::output_size)
      .def(
          "forward",
          [](const actif::Model& m, const FArray& x, bool want_activations, const std::string& trace, int threads) {
            check_windows(m, x);
            const int64_t n = x.shape(0), t = x.shape(1);
            actif::AlignedFloats x_copy;  // per call: a large batch's copy is not kept
            const float* xs = private_copy(x.data(), x.size(), x_copy);
            actif::check_windows_input(m, xs, n, t);
            actif::WindowRequest req;
            req.x = xs;
            req.n = n;
            req.t = t;
            req.trace = actif::parse_trace(trace);
            req.num_threads = threads;
            FArray y({n, m.output_size()});
            req.y = y.mutable_data();
            py::list layers;
            if (want_activations) {
              for (const auto& l : m.lstm) {
                FArray h({n, t, l.hidden_size}), c({n, t, l.hidden_size}), g({n, t, 4 * l.hidden_size});
                req.layers.push_back({h.mutable_data(), c.mutable_data(), g.mutable_data()});
                layers.append(py::make_tuple(h, c, g));
              }
            }
            py::object tr = py::none();
            if (req.trace != actif::TraceKind::None) {
              FArray tarr({n, t, m.input_size});
              req.trace_out = tarr.mutable_data();
              tr = tarr;
            }
            {
              py::gil_scoped_release unlocked;
              actif::window_forward(m, req);
            }
            return py::make_tuple(y, want_activations ? py::object(layers) : py::object(py::none()), tr);
          },
          py::arg("x"), py::arg("activations") = false, py::arg("trace") = "none", py::arg("num_threads") = 0,
          "Windows (N, T, I) -> (y (N, O), [(h, c, gates)] per layer or None, trace (N, T, I) or None).")
      .def(
          "forward_stats",
          [](const actif::Model& m, const FArray& x, actif::RunningStats& stats, const std::string& trace,
             int threads) {
            check_windows(m, x);
            const int64_t n = x.shape(0), t = x.shape(1);
            if (stats.n_features() != m.input_size) throw Error("statistics and model have different feature counts");
            const float* xs = private_copy(x.data(), x.size(), input_scratch());
            actif::check_windows_input(m, xs, n, t);
            FArray y({n, m.output_size()});
            forward_into_stats(m, xs, n, t, stats, actif::parse_trace(trace), threads, y.mutable_data());
            return y;
          },
          py::arg("x"), py::arg("stats"), py::arg("trace"), py::arg("num_threads") = 0,
          "Forward windows and add every step's trace row to stats; returns y.")
      .def(
          "try_forward_stats",
          [](const actif::Model& m, const py::handle& obj, actif::RunningStats& stats, const std::string& trace,
             int threads) -> py::object {
            // One window (T, I) or a batch (N, T, I), taken only if it needs no conversion.
            // Returns y; or the flat index (int) of the first value breaking the input rule
            // (nothing done); or None when x needs conversion (nothing done, not scanned).
            if (!plain_float32(obj, 2, 3, m.input_size) || stats.n_features() != m.input_size) return py::none();
            const auto x = py::reinterpret_borrow<py::array_t<float>>(obj);
            const bool single = x.ndim() == 2;
            const int64_t n = single ? 1 : x.shape(0), t = x.shape(single ? 0 : 1);
            const float* xs = private_copy(x.data(), x.size(), input_scratch());
            const int64_t bad = first_invalid_index(xs, x.size(), m.input_limit_f32());
            if (bad >= 0) return py::int_(bad);
            FArray y = single ? FArray(std::vector<py::ssize_t>{m.output_size()}) : FArray({n, m.output_size()});
            forward_into_stats(m, xs, n, t, stats, actif::parse_trace(trace), threads, y.mutable_data());
            return std::move(y);
          },
          py::arg("x"), py::arg("stats"), py::arg("trace"), py::arg("num_threads"),
          "The streaming hot path of forward_stats: y; the flat index of the first rejected value; or "
          "None when x needs conversion. Nothing changes unless y is returned.");

  py::class_<actif::Stream>(mod, "Stream")
      .def(py::init([](std::shared_ptr<actif::Model> m, int64_t batch) {
             return actif::Stream(std::shared_ptr<const actif::Model>(std::move(m)), batch);
           }),
           py::arg("model"), py::arg("batch") = 1, "A zero state for `batch` independent streams of `model`.")
      .def_property_readonly("batch", &actif::Stream::batch)
      .def_property_readonly("steps", &actif::Stream::steps, "Samples taken since creation or the last reset.")
      .def_property_readonly("h", [](const py::object& self) { return state_views(self, true); },
                             "Per layer (B, H_l) read-only views of the hidden state.")
      .def_property_readonly("c", [](const py::object& self) { return state_views(self, false); },
                             "Per layer (B, H_l) read-only views of the cell state.")
      .def_property_readonly("ring", [](const py::object& self) {
        const auto& s = self.cast<const actif::Stream&>();
        const int64_t h_top = s.model().hidden_top();
        return read_only_view(self, s.ring().data(), {s.batch(), s.ring_len(), h_top});
      }, "(B, window, H_top) read-only view of the pooling ring (window 0 for 'last' pooling).")
      .def(
          "step",
          [](actif::Stream& s, const FArray& x, const std::string& trace, actif::RunningStats* stats) {
            return run_stream(s, x, 2, trace, stats);
          },
          py::arg("x"), py::arg("trace") = "none", py::arg("stats") = nullptr,
          "Advance every stream one sample x (B, I): (y (B, O), trace (B, I) or None when stats is given "
          "or no trace). A rejected input changes nothing.")
      .def(
          "run",
          [](actif::Stream& s, const FArray& x, const std::string& trace, actif::RunningStats* stats) {
            return run_stream(s, x, 3, trace, stats);
          },
          py::arg("x"), py::arg("trace") = "none", py::arg("stats") = nullptr,
          "Advance every stream by M consecutive samples x (M, B, I) in one call: (y (M, B, O), trace "
          "(M, B, I) or None). Equal to M step() calls; all samples are checked first.")
      .def(
          "try_run_stats",
          [](actif::Stream& s, const py::handle& obj, const std::string& trace,
             actif::RunningStats& stats) -> py::object {
            // One sample (I,) or M consecutive samples (M, I) of a single stream, taken only if
            // x needs no conversion: y (O,) / (M, O); the flat index of the first rejected value
            // (int, nothing done); or None when x needs conversion (nothing done, not scanned).
            const actif::Model& m = s.model();
            if (s.batch() != 1 || stats.n_features() != m.input_size) return py::none();
            const StreamSamples in = stream_samples(m, obj);
            if (in.x == nullptr) return py::none();
            if (in.bad >= 0) return py::int_(in.bad);
            const actif::TraceKind kind = actif::parse_trace(trace);
            if (kind == actif::TraceKind::None) throw Error("try_run_stats needs a trace");
            FArray y = stream_outputs(m, in);
            // Single steps are microseconds: keeping the GIL makes shared states safe.
            s.run(in.x, in.steps, y.mutable_data(), kind, nullptr, &stats);
            return std::move(y);
          },
          py::arg("x"), py::arg("trace"), py::arg("stats"),
          "The stateful hot path: y, the flat index of the first rejected value, or None (needs conversion).")
      .def("reset", &actif::Stream::reset, "Back to the zero state, as if no sample had been seen.")
      .def(
          "assign",
          [](actif::Stream& s, const py::list& h, const py::list& c, const FArray& ring, int64_t steps) {
            std::vector<std::vector<float>> hv, cv;
            for (const py::handle& a : h) hv.push_back(flat_floats(a.cast<FArray>()));
            for (const py::handle& a : c) cv.push_back(flat_floats(a.cast<FArray>()));
            s.assign(hv, cv, flat_floats(ring), steps);
          },
          py::arg("h"), py::arg("c"), py::arg("ring"), py::arg("steps"),
          "Replace the state (a checkpoint restore); sizes and finiteness checked before anything changes.")
      .def("copy", [](const actif::Stream& s) { return actif::Stream(s); })
      .def("__copy__", [](const actif::Stream& s) { return actif::Stream(s); })
      .def("__deepcopy__", [](const actif::Stream& s, const py::dict&) { return actif::Stream(s); }, py::arg("memo"));

  {
    auto model_cls = py::reinterpret_borrow<ModelClass>(mod.attr("Model"));
    bind_attribution(model_cls);
  }
  bind_history(mod);

  py::class_<actif::RunningStats>(mod, "RunningStats")
      .def(py::init<int64_t, double>(), py::arg("n_features"), py::arg("half_life") = 0.0)
      .def_property_readonly("n_features", &actif::RunningStats::n_features)
      .def_property_readonly("count", &actif::RunningStats::count)
      .def_property_readonly("weight", &actif::RunningStats::weight)
      .def_property_readonly("half_life", &actif::RunningStats::half_life)
      .def_property_readonly("mean", [](const actif::RunningStats& s) { return vec_to_array(s.mean()); })
      .def_property_readonly("m2", [](const actif::RunningStats& s) { return vec_to_array(s.m2()); })
      .def(
          "update",
          [](actif::RunningStats& s, const py::array& a) {
            if (a.ndim() != 2 || a.shape(1) != s.n_features())
              throw Error("expected shape (M, " + std::to_string(s.n_features()) + "), got " + shape_str(a));
            if (py::isinstance<py::array_t<float>>(a)) {
              FArray f = a.cast<FArray>();
              s.update(f.data(), f.shape(0), f.shape(1));
            } else {
              DArray d = a.cast<DArray>();
              s.update(d.data(), d.shape(0), d.shape(1));
            }
          },
          py::arg("rows"))
      .def("merge", &actif::RunningStats::merge, py::arg("other"))
      .def("reset", &actif::RunningStats::reset)
      .def("copy", [](const actif::RunningStats& s) { return actif::RunningStats(s); })
      .def("__copy__", [](const actif::RunningStats& s) { return actif::RunningStats(s); })
      .def("__deepcopy__", [](const actif::RunningStats& s, const py::dict&) { return actif::RunningStats(s); },
           py::arg("memo"))
      .def(
          "scores",
          [](const actif::RunningStats& s, const std::string& method) {
            return vec_to_array(native_scores(s, method));
          },
          py::arg("method"), "Per-feature scores (ValueError before any sample).")
      .def(
          "ranking",
          [](const actif::RunningStats& s, const std::string& method) {
            const std::vector<double> sc = native_scores(s, method);
            py::array_t<int64_t> order(static_cast<py::ssize_t>(sc.size()));
            actif::ranking_order(sc.data(), static_cast<int64_t>(sc.size()), order.mutable_data());
            return order;
          },
          py::arg("method"), "Feature indices by descending score, ties by index.")
      .def(py::pickle(
          [](const actif::RunningStats& s) {
            const auto b = s.to_bytes();
            return py::make_tuple(py::bytes(reinterpret_cast<const char*>(b.data()), b.size()));
          },
          [](const py::tuple& t) {
            if (t.size() != 1) throw Error("bad pickled statistics");
            const std::string_view v = t[0].cast<py::bytes>();
            return actif::RunningStats::from_bytes(reinterpret_cast<const uint8_t*>(v.data()), v.size());
          }))
      .def("to_bytes",
           [](const actif::RunningStats& s) {
             const auto b = s.to_bytes();
             return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      .def_static(
          "from_bytes",
          [](const py::bytes& b) {
            const std::string_view v = b;
            return actif::RunningStats::from_bytes(reinterpret_cast<const uint8_t*>(v.data()), v.size());
          },
          py::arg("data"));

  mod.def(
      "first_invalid",
      [](const py::array_t<float, py::array::c_style>& a, double max_abs) -> int64_t {
        // Flat index of the first NaN, Inf or |v| > max_abs (max_abs < 0: finiteness only), or -1.
        return first_invalid_index(a.data(), a.size(), limit_from(max_abs));
      },
      py::arg("x"), py::arg("max_abs") = -1.0);
  mod.def(
      "overflow_safe_abs",
      [](const FArray& w_ih, const FArray& w_hh, const FArray& b_ih, const FArray& b_hh, const py::object& input_scale,
         const py::object& input_shift) {
        // The input rule's overflow bound for a first LSTM layer (what Model derives when built).
        if (w_ih.ndim() != 2 || w_hh.ndim() != 2) throw Error("w_ih and w_hh must be 2-D");
        const int64_t h = w_hh.shape(1), n_in = w_ih.shape(1);
        expect_shape(w_hh, {4 * h, h}, "w_hh");
        expect_shape(w_ih, {4 * h, n_in}, "w_ih");
        expect_shape(b_ih, {4 * h}, "b_ih");
        expect_shape(b_hh, {4 * h}, "b_hh");
        FArray sc, sh;
        if (!input_scale.is_none()) {
          sc = input_scale.cast<FArray>();
          sh = input_shift.cast<FArray>();
          expect_shape(sc, {n_in}, "input_scale");
          expect_shape(sh, {n_in}, "input_shift");
        }
        return actif::overflow_safe_bound(n_in, h, input_scale.is_none() ? nullptr : sc.data(),
                                          input_scale.is_none() ? nullptr : sh.data(), w_ih.data(), w_hh.data(),
                                          b_ih.data(), b_hh.data());
      },
      py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("input_scale") = py::none(),
      py::arg("input_shift") = py::none());
  mod.def("isa", &actif::active_isa, "Name of the kernel set in use (scalar, avx2, avx512, neon).");
  mod.def("set_isa", &actif::force_isa, py::arg("name"), "Pin the kernel set ('auto' picks the best).");
  mod.def("supported_isas", &actif::supported_isas, "Kernel sets this build and CPU can run, best last.");
  mod.def("default_num_threads", &actif::default_num_threads);
  mod.def(
      "integral_points",
      [](const std::string& rule, int64_t n) {
        std::vector<double> alphas, weights;
        actif::integral_points(actif::parse_integral_rule(rule), n, alphas, weights);
        return py::make_tuple(alphas, weights);
      },
      py::arg("method"), py::arg("n_steps"), "Captum's integration nodes in [0, 1] and their weights.");
}
