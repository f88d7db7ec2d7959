// actif._core: the only Python/C++ boundary.
//
// Arrays cross without copies when they are C-contiguous float32 (otherwise
// forcecast converts once). Every shape is checked here, while the GIL is held, before
// any work starts; the batch forward then runs with the GIL released. Statistics and
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

// A caller-owned state buffer that we update in place: it must already be float32,
// C-contiguous and writable, or an update would land in a temporary copy.
float* state_buffer(const py::handle& obj, const std::vector<int64_t>& shape, const char* what) {
  if (!py::isinstance<py::array_t<float>>(obj)) throw Error(std::string(what) + " must be a float32 NumPy array");
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    throw Error(std::string(what) + " must be C-contiguous and writable");
  expect_shape(a, shape, what);
  return static_cast<float*>(a.mutable_data());
}

std::shared_ptr<actif::Model> make_model(const py::object& input_scale, const py::object& input_shift,
                                         const py::list& lstm, const std::string& pooling, int64_t window,
                                         const py::object& post_scale, const py::object& post_shift,
                                         const py::list& dense) {
  actif::ModelBuilder b;
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

// Builds a StepState over caller arrays, checking each against the model.
actif::StepState step_state(const actif::Model& m, int64_t batch, const py::list& h, const py::list& c,
                            const py::object& ring, int64_t steps) {
  if (static_cast<size_t>(py::len(h)) != m.lstm.size() || static_cast<size_t>(py::len(c)) != m.lstm.size())
    throw Error("state needs one h and one c array per LSTM layer");
  actif::StepState s;
  s.batch = batch;
  s.steps = steps;
  for (size_t l = 0; l < m.lstm.size(); ++l) {
    const int64_t hid = m.lstm[l].hidden_size;
    s.h.push_back(state_buffer(h[l], {batch, hid}, "state h"));
    s.c.push_back(state_buffer(c[l], {batch, hid}, "state c"));
  }
  if (m.pooling != actif::Pooling::Last) {
    s.ring = state_buffer(ring, {batch, -1, m.hidden_top()}, "state ring");
    s.ring_len = py::reinterpret_borrow<py::array>(ring).shape(1);
    if (s.ring_len < 1) throw Error("state ring must hold at least one step");
  }
  if (steps < 0) throw Error("steps must be >= 0");
  return s;
}

FArray check_samples(const actif::Model& m, const FArray& x) {
  if (x.ndim() != 2) throw Error("x must have shape (B, I), got " + shape_str(x));
  expect_shape(x, {-1, m.input_size}, "x");
  if (x.shape(0) < 1) throw Error("step needs at least one stream");
  return x;
}

// Flat index of the first NaN, Inf or |v| > limit, or -1.
int64_t first_invalid_index(const float* p, int64_t n, float limit) {
  for (int64_t i = 0; i < n; ++i)
    if (!(std::fabs(p[i]) <= limit)) return i;  // false for NaN too
  return -1;
}

float limit_from(double max_abs) {
  return max_abs < 0 ? std::numeric_limits<float>::max() : static_cast<float>(max_abs);
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

// The request's common fields; `baseline` and `initial_state` stay alive in the caller.
actif::AttributionRequest attribution_request(const actif::Model& m, const FArray& x, const std::string& method,
                                              int64_t target, const py::object& baseline, FArray& baseline_arr,
                                              int64_t n_steps, const std::string& ig_method, int threads) {
  check_windows(m, x);
  actif::AttributionRequest req;
  req.x = x.data();
  req.n = x.shape(0);
  req.t = x.shape(1);
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
           FArray y({n, m.output_size()}), values({n, t, m.input_size});
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
         },
         py::arg("x"), py::arg("method"), py::arg("target") = 0, py::arg("baseline") = py::none(),
         py::arg("n_steps") = 50, py::arg("ig_method") = "gausslegendre", py::arg("num_threads") = 0,
         py::arg("initial_state") = py::none(),
         "Signed attributions of output `target` to the raw inputs: (y (N, O), values (N, T, I), delta (N,) "
         "for 'integrated', else None). initial_state: [(h0, c0)] per layer, (N, H) each.")
      .def(
          "attribute_stats",
          [](const actif::Model& m, const FArray& x, const std::string& method, int64_t target,
             const py::object& baseline, int64_t n_steps, const std::string& ig_method,
             actif::RunningStats* abs_stats, actif::RunningStats* signed_stats, int threads) {
            FArray base;
            actif::AttributionRequest req =
                attribution_request(m, x, method, target, baseline, base, n_steps, ig_method, threads);
            for (const actif::RunningStats* s : {abs_stats, signed_stats})
              if (s != nullptr && s->n_features() != m.input_size)
                throw Error("statistics and model have different feature counts");
            if (abs_stats != nullptr && abs_stats == signed_stats)
              throw Error("abs_stats and signed_stats must be different statistics");
            const int64_t n = req.n, rows = req.n * req.t;
            thread_local actif::AlignedFloats values;  // reused: a fresh buffer per call costs page faults
            if (values.size() < static_cast<size_t>(rows * m.input_size)) values.resize(static_cast<size_t>(rows * m.input_size));
            FArray y({n, m.output_size()});
            req.y = y.mutable_data();
            req.values = values.data();
            {
              py::gil_scoped_release unlocked;
              actif::attribute_windows(m, req);
            }
            if (signed_stats) signed_stats->update(values.data(), rows, m.input_size);
            if (abs_stats) {
              for (int64_t i = 0; i < rows * m.input_size; ++i) values[static_cast<size_t>(i)] = std::fabs(values[static_cast<size_t>(i)]);
              abs_stats->update(values.data(), rows, m.input_size);
            }
            return y;
          },
          py::arg("x"), py::arg("method"), py::arg("target"), py::arg("baseline"), py::arg("n_steps"),
          py::arg("ig_method"), py::arg("abs_stats"), py::arg("signed_stats"), py::arg("num_threads") = 0,
          "Attribute windows and add every step's |A| row to abs_stats and A row to signed_stats (either may "
          "be None); returns y.");
}

}  // namespace

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "actif native core: LSTM forward with activations and traces, running statistics";

  py::class_<actif::Model, std::shared_ptr<actif::Model>>(mod, "Model")
      .def(py::init(&make_model), py::arg("input_scale"), py::arg("input_shift"), py::arg("lstm"),
           py::arg("pooling"), py::arg("window"), py::arg("post_scale"), py::arg("post_shift"), py::arg("dense"),
           "Build from PyTorch-layout arrays: lstm = [(w_ih, w_hh, b_ih, b_hh)], dense = [(weight, bias, act)].")
      .def(
          "forward",
          [](const actif::Model& m, const FArray& x, bool want_activations, const std::string& trace, int threads) {
            check_windows(m, x);
            const int64_t n = x.shape(0), t = x.shape(1);
            actif::WindowRequest req;
            req.x = x.data();
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
            FArray y({n, m.output_size()});
            forward_into_stats(m, x.data(), n, t, stats, actif::parse_trace(trace), threads, y.mutable_data());
            return y;
          },
          py::arg("x"), py::arg("stats"), py::arg("trace"), py::arg("num_threads") = 0,
          "Forward windows and add every step's trace row to stats; returns y.")
      .def(
          "try_forward_stats",
          [](const actif::Model& m, const py::handle& obj, actif::RunningStats& stats, const std::string& trace,
             int threads, double max_abs) -> py::object {
            // One window (T, I) or a batch (N, T, I), taken only if it needs no conversion and
            // every value is within the limit; otherwise None and nothing changed.
            if (!plain_float32(obj, 2, 3, m.input_size) || stats.n_features() != m.input_size) return py::none();
            const auto x = py::reinterpret_borrow<py::array_t<float>>(obj);
            const bool single = x.ndim() == 2;
            const int64_t n = single ? 1 : x.shape(0), t = x.shape(single ? 0 : 1);
            if (first_invalid_index(x.data(), x.size(), limit_from(max_abs)) >= 0) return py::none();
            FArray y = single ? FArray(std::vector<py::ssize_t>{m.output_size()}) : FArray({n, m.output_size()});
            forward_into_stats(m, x.data(), n, t, stats, actif::parse_trace(trace), threads, y.mutable_data());
            return std::move(y);
          },
          py::arg("x"), py::arg("stats"), py::arg("trace"), py::arg("num_threads"), py::arg("max_abs"),
          "The streaming hot path of forward_stats: y, or None (nothing done) when x needs conversion or "
          "holds a value beyond max_abs.")
      .def(
          "step",
          [](const actif::Model& m, const FArray& x, const py::list& h, const py::list& c, const py::object& ring,
             int64_t steps, const std::string& trace, actif::RunningStats* stats) {
            check_samples(m, x);
            const int64_t b = x.shape(0);
            actif::StepState s = step_state(m, b, h, c, ring, steps);
            actif::StepRequest req;
            req.x = x.data();
            req.trace = actif::parse_trace(trace);
            if (stats && stats->n_features() != m.input_size) throw Error("statistics and model have different feature counts");
            req.stats = stats;
            FArray y({b, m.output_size()});
            req.y = y.mutable_data();
            py::object tr = py::none();
            if (req.trace != actif::TraceKind::None && stats == nullptr) {
              FArray tarr({b, m.input_size});
              req.trace_out = tarr.mutable_data();
              tr = tarr;
            }
            // Single steps are microseconds: keeping the GIL makes shared states safe.
            actif::step_forward(m, s, req);
            return py::make_tuple(y, tr);
          },
          py::arg("x"), py::arg("h"), py::arg("c"), py::arg("ring"), py::arg("steps"), py::arg("trace") = "none",
          py::arg("stats") = nullptr,
          "Advance B streams one sample (x (B, I)); h, c, ring are updated in place. Returns (y, trace or None).")
      .def(
          "try_step_stats",
          [](const actif::Model& m, const py::handle& obj, const py::list& h, const py::list& c,
             const py::object& ring, int64_t steps, const std::string& trace, actif::RunningStats& stats,
             double max_abs) -> py::object {
            // One sample (I,) of a single stream, taken only if it needs no conversion and is
            // within the limit; otherwise None and nothing changed.
            if (!plain_float32(obj, 1, 1, m.input_size) || stats.n_features() != m.input_size) return py::none();
            const auto x = py::reinterpret_borrow<py::array_t<float>>(obj);
            if (first_invalid_index(x.data(), x.size(), limit_from(max_abs)) >= 0) return py::none();
            actif::StepState s = step_state(m, 1, h, c, ring, steps);
            actif::StepRequest req;
            req.x = x.data();
            req.trace = actif::parse_trace(trace);
            if (req.trace == actif::TraceKind::None) throw Error("try_step_stats needs a trace");
            req.stats = &stats;
            FArray y(std::vector<py::ssize_t>{m.output_size()});
            req.y = y.mutable_data();
            actif::step_forward(m, s, req);
            return std::move(y);
          },
          py::arg("x"), py::arg("h"), py::arg("c"), py::arg("ring"), py::arg("steps"), py::arg("trace"),
          py::arg("stats"), py::arg("max_abs"),
          "The stateful hot path: advance one stream by one sample and add its trace row to stats; y (O,), "
          "or None (nothing done) when x needs conversion or holds a value beyond max_abs.");

  {
    auto model_cls = py::reinterpret_borrow<ModelClass>(mod.attr("Model"));
    bind_attribution(model_cls);
  }

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
  mod.def("isa", &actif::active_isa, "Name of the kernel set in use (scalar, avx2, neon).");
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
