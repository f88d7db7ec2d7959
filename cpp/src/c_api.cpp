// The C API (include/actif/actif.h) over the C++ core: argument checks, error codes
// and a per-thread message; no exception leaves this file.
#include "actif/actif.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "actif/attribution.hpp"
#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/model_file.hpp"
#include "actif/running_stats.hpp"
#include "actif/stream.hpp"

#ifndef ACTIF_VERSION_STRING
#define ACTIF_VERSION_STRING "unknown"
#endif

struct actif_model {
  std::shared_ptr<actif::ModelFile> file;  // mutable only through actif_model_set_max_abs
};

// A thin handle over the native Stream (stream.hpp), which keeps the model file alive.
struct actif_stream {
  actif::Stream stream;
  actif::StreamHistory history;  // the last `window` samples and states, for actif_stream_attribute
};

struct actif_stats {
  actif::RunningStats stats;
};

namespace {

thread_local std::string last_error;

// An error with its C status, thrown by the argument checks below.
class Failure : public std::exception {
 public:
  Failure(actif_status status, std::string message) : status_(status), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  actif_status status() const { return status_; }

 private:
  actif_status status_;
  std::string message_;
};

void require(bool ok, const std::string& message) {
  if (!ok) throw Failure(ACTIF_E_INVALID_ARGUMENT, message);
}

actif_status file_status(actif::FileErrorKind kind) {
  switch (kind) {
    case actif::FileErrorKind::Io: return ACTIF_E_IO;
    case actif::FileErrorKind::Malformed: return ACTIF_E_FORMAT;
    case actif::FileErrorKind::Unsupported: return ACTIF_E_UNSUPPORTED;
    case actif::FileErrorKind::Limit: return ACTIF_E_LIMIT;
  }
  return ACTIF_E_INTERNAL;
}

// Runs `body`, turning every exception into a status and the thread's message.
template <typename F>
int guarded(const char* function, F&& body) {
  try {
    body();
    return ACTIF_OK;
  } catch (const Failure& e) {
    last_error = std::string(function) + ": " + e.what();
    return e.status();
  } catch (const actif::ModelFileError& e) {
    last_error = std::string(function) + ": " + e.what();
    return file_status(e.kind());
  } catch (const actif::Error& e) {
    last_error = std::string(function) + ": " + e.what();
    return ACTIF_E_INVALID_ARGUMENT;
  } catch (const std::bad_alloc&) {
    last_error = std::string(function) + ": out of memory";
    return ACTIF_E_NO_MEMORY;
  } catch (const std::exception& e) {
    last_error = std::string(function) + ": internal error: " + e.what();
    return ACTIF_E_INTERNAL;
  } catch (...) {
    last_error = std::string(function) + ": internal error";
    return ACTIF_E_INTERNAL;
  }
}

// a * b * c without overflow, or -1.
int64_t product(int64_t a, int64_t b, int64_t c = 1) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  if (a < 0 || b < 0 || c < 0) return -1;
  if (b != 0 && a > big / b) return -1;
  const int64_t ab = a * b;
  if (c != 0 && ab > big / c) return -1;
  return ab * c;
}

void require_finite(const float* x, int64_t count, const char* what, int64_t row_len) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(x[i]))
      throw Failure(ACTIF_E_INVALID_ARGUMENT, std::string("non-finite value in ") + what + " at row " +
                                                  std::to_string(i / row_len) + ", feature " +
                                                  std::to_string(i % row_len) + "; nothing changed");
}

// The model as a shared pointer that keeps its file alive (streams hold it).
std::shared_ptr<const actif::Model> shared_model(const actif_model* m) {
  return std::shared_ptr<const actif::Model>(m->file, &m->file->model);
}

// A C caller may store any int in an enum-typed argument or field; in C++ reading an
// enum object whose value lies outside the enumeration's range is undefined (UBSan's
// -fsanitize=enum flags it), so the C API reads each enum by its integer bytes.
template <class Enum>
int c_enum_value(const Enum& e) {
  std::underlying_type_t<Enum> raw;
  std::memcpy(&raw, &e, sizeof raw);
  return static_cast<int>(raw);
}

actif::TraceKind trace_kind(actif_trace t) {
  switch (c_enum_value(t)) {
    case ACTIF_TRACE_NONE: return actif::TraceKind::None;
    case ACTIF_TRACE_INPUT: return actif::TraceKind::Input;
    case ACTIF_TRACE_WEIGHTED: return actif::TraceKind::Weighted;
    case ACTIF_TRACE_GATES: return actif::TraceKind::Gates;
    case ACTIF_TRACE_PAPER: return actif::TraceKind::Paper;
  }
  throw Failure(ACTIF_E_INVALID_ARGUMENT, "unknown trace " + std::to_string(c_enum_value(t)));
}

actif::ScoreMethod score_method(actif_score s) {
  switch (c_enum_value(s)) {
    case ACTIF_SCORE_INVERSE: return actif::ScoreMethod::Inverse;
    case ACTIF_SCORE_MEAN: return actif::ScoreMethod::Mean;
    case ACTIF_SCORE_MEANSTD: return actif::ScoreMethod::MeanStd;
    case ACTIF_SCORE_PEN: return actif::ScoreMethod::Pen;
  }
  throw Failure(ACTIF_E_INVALID_ARGUMENT, "unknown score method " + std::to_string(c_enum_value(s)));
}

std::vector<double> scores_of(const actif_stats* s, actif_score method) {
  const actif::ScoreMethod m = score_method(method);
  if (s->stats.count() == 0)
    throw Failure(ACTIF_E_STATE, "no samples yet: update the statistics before asking for scores");
  const std::vector<double> sd = s->stats.stddev();
  std::vector<double> out(static_cast<size_t>(s->stats.n_features()));
  actif::compute_scores(m, s->stats.mean().data(), sd.data(), s->stats.n_features(), out.data());
  return out;
}

void copy_out(const std::vector<double>& v, double* out, int64_t count) {
  require(out != nullptr, "output buffer is NULL");
  require(count >= static_cast<int64_t>(v.size()),
          "output holds " + std::to_string(count) + " values, needs " + std::to_string(v.size()));
  std::copy(v.begin(), v.end(), out);
}

const actif::Model& model_of(const actif_model* m) { return m->file->model; }

// ---- attribution: the options of actif.h as an actif::AttributionRequest
actif::AttributionRequest attribution_request(const actif::Model& m, const actif_attribution_options& o) {
  actif::AttributionRequest req;
  switch (c_enum_value(o.method)) {
    case ACTIF_ATTRIBUTION_GRADIENT: req.method = actif::AttributionMethod::Gradient; break;
    case ACTIF_ATTRIBUTION_INTEGRATED: req.method = actif::AttributionMethod::Integrated; break;
    case ACTIF_ATTRIBUTION_OCCLUSION: req.method = actif::AttributionMethod::Occlusion; break;
    case ACTIF_ATTRIBUTION_DEEPLIFT: req.method = actif::AttributionMethod::DeepLift; break;
    case ACTIF_ATTRIBUTION_LRP: req.method = actif::AttributionMethod::Lrp; break;
    default: throw Failure(ACTIF_E_INVALID_ARGUMENT, "unknown attribution method " + std::to_string(c_enum_value(o.method)));
  }
  switch (c_enum_value(o.integral)) {
    case ACTIF_INTEGRAL_GAUSS_LEGENDRE: req.rule = actif::IntegralRule::GaussLegendre; break;
    case ACTIF_INTEGRAL_RIEMANN_LEFT: req.rule = actif::IntegralRule::RiemannLeft; break;
    case ACTIF_INTEGRAL_RIEMANN_RIGHT: req.rule = actif::IntegralRule::RiemannRight; break;
    case ACTIF_INTEGRAL_RIEMANN_MIDDLE: req.rule = actif::IntegralRule::RiemannMiddle; break;
    case ACTIF_INTEGRAL_RIEMANN_TRAPEZOID: req.rule = actif::IntegralRule::RiemannTrapezoid; break;
    default: throw Failure(ACTIF_E_INVALID_ARGUMENT, "unknown integral approximation " + std::to_string(c_enum_value(o.integral)));
  }
  require(o.n_steps >= 0, "n_steps must be >= 0 (0: the default 50)");
  require(o.num_threads >= 0, "num_threads must be >= 0");
  req.target = o.target;
  req.baseline = o.baseline;
  if (o.baseline != nullptr) actif::check_windows_input(m, o.baseline, 1, 1, "baseline");  // a baseline is an input
  req.n_steps = o.n_steps == 0 ? 50 : o.n_steps;
  req.num_threads = o.num_threads;
  return req;
}

// Runs `req` with the statistics updated only once everything else succeeded; the
// core checks the rest (target, n_steps, statistics sizes) before writing anything.
void attribute_into(const actif::Model& m, actif::AttributionRequest& req, float* values, actif_stats* abs_stats,
                    actif_stats* signed_stats) {
  req.abs_stats = abs_stats ? &abs_stats->stats : nullptr;
  req.signed_stats = signed_stats ? &signed_stats->stats : nullptr;
  std::vector<float> own;
  if (values == nullptr) {
    own.resize(static_cast<size_t>(req.n * req.t * m.input_size));
    values = own.data();
  }
  req.values = values;
  actif::attribute_windows(m, req);
}

}  // namespace

extern "C" {

const char* actif_last_error(void) { return last_error.c_str(); }

const char* actif_status_name(int status) {
  switch (status) {
    case ACTIF_OK: return "ACTIF_OK";
    case ACTIF_E_INVALID_ARGUMENT: return "ACTIF_E_INVALID_ARGUMENT";
    case ACTIF_E_IO: return "ACTIF_E_IO";
    case ACTIF_E_FORMAT: return "ACTIF_E_FORMAT";
    case ACTIF_E_UNSUPPORTED: return "ACTIF_E_UNSUPPORTED";
    case ACTIF_E_LIMIT: return "ACTIF_E_LIMIT";
    case ACTIF_E_NO_MEMORY: return "ACTIF_E_NO_MEMORY";
    case ACTIF_E_STATE: return "ACTIF_E_STATE";
    case ACTIF_E_INTERNAL: return "ACTIF_E_INTERNAL";
    default: return "unknown actif status";
  }
}

const char* actif_version(void) { return ACTIF_VERSION_STRING; }

const char* actif_isa(void) { return actif::active_kernels().name; }

int actif_set_isa(const char* name) {
  return guarded("actif_set_isa", [&] {
    require(name != nullptr, "name is NULL");
    actif::force_isa(name);
  });
}

// ------------------------------------------------------------------------ models

int actif_model_load_file(const char* path, actif_model** out) {
  return guarded("actif_model_load_file", [&] {
    require(path != nullptr && out != nullptr, "path and out must not be NULL");
    *out = nullptr;
    auto file = std::make_shared<actif::ModelFile>(actif::load_model_file(path));
    *out = new actif_model{std::move(file)};
  });
}

int actif_model_load_memory(const void* data, size_t size, actif_model** out) {
  return guarded("actif_model_load_memory", [&] {
    require(data != nullptr && out != nullptr, "data and out must not be NULL");
    *out = nullptr;
    auto file = std::make_shared<actif::ModelFile>(actif::load_model_npz(static_cast<const uint8_t*>(data), size));
    *out = new actif_model{std::move(file)};
  });
}

void actif_model_free(actif_model* model) { delete model; }

int64_t actif_model_input_size(const actif_model* model) { return model ? model_of(model).input_size : -1; }
int64_t actif_model_output_size(const actif_model* model) { return model ? model_of(model).output_size() : -1; }
int64_t actif_model_window(const actif_model* model) { return model ? model_of(model).window : -1; }
int64_t actif_model_num_layers(const actif_model* model) {
  return model ? static_cast<int64_t>(model_of(model).lstm.size()) : -1;
}
int64_t actif_model_hidden_size(const actif_model* model, int64_t layer) {
  if (model == nullptr || layer < 0 || layer >= static_cast<int64_t>(model_of(model).lstm.size())) return -1;
  return model_of(model).lstm[static_cast<size_t>(layer)].hidden_size;
}

int actif_model_set_max_abs(actif_model* model, double max_abs) {
  return guarded("actif_model_set_max_abs", [&] {
    require(model != nullptr, "model must not be NULL");
    require(max_abs > 0.0, "max_abs must be > 0 (INFINITY: only the overflow bound)");  // NaN too
    model->file->model.max_abs = max_abs;
  });
}

double actif_model_input_limit(const actif_model* model) { return model ? model_of(model).input_limit() : -1.0; }

const char* actif_model_feature_name(const actif_model* model, int64_t i) {
  if (model == nullptr || i < 0 || i >= static_cast<int64_t>(model->file->feature_names.size())) return nullptr;
  return model->file->feature_names[static_cast<size_t>(i)].c_str();
}

const char* actif_model_output_name(const actif_model* model, int64_t j) {
  if (model == nullptr || j < 0 || j >= static_cast<int64_t>(model->file->output_names.size())) return nullptr;
  return model->file->output_names[static_cast<size_t>(j)].c_str();
}

// ------------------------------------------------------------------------ forward

namespace {
// The values of n windows of t steps (n * t * I), after checking the sizes.
int64_t window_values(const actif::Model& m, int64_t n, int64_t t) {
  require(n >= 0, "n must be >= 0");
  require(t >= 1, "t must be >= 1");
  const int64_t count = product(n, t, m.input_size);
  require(count >= 0, "n * t * input_size overflows");
  return count;
}
}  // namespace

int actif_forward(const actif_model* model, const actif_window_request* r) {
  return guarded("actif_forward", [&] {
    require(model != nullptr && r != nullptr, "model and request must not be NULL");
    const actif::Model& m = model_of(model);
    const int64_t x_count = window_values(m, r->n, r->t);
    require(r->num_threads >= 0, "num_threads must be >= 0");
    const actif::TraceKind trace = trace_kind(r->trace);
    require(trace != actif::TraceKind::None || r->trace_out == nullptr, "trace_out needs a trace");
    const int64_t layers = static_cast<int64_t>(m.lstm.size());
    require(r->hidden == nullptr || (r->hidden_layer >= 0 && r->hidden_layer < layers),
            "hidden_layer must be in [0, " + std::to_string(layers) + ")");
    if (r->n > 0) {
      require(r->x != nullptr && r->y != nullptr, "x and y must not be NULL");
      actif::check_windows_input(m, r->x, r->n, r->t);  // the model's input rule
    }

    actif::WindowRequest req;
    req.x = r->x;
    req.n = r->n;
    req.t = r->t;
    req.y = r->y;
    if (r->hidden != nullptr) {
      req.layers.resize(static_cast<size_t>(layers));
      req.layers[static_cast<size_t>(r->hidden_layer)].h = r->hidden;
    }
    req.trace = trace;
    req.trace_out = r->trace_out;
    req.stats = r->stats ? &r->stats->stats : nullptr;
    req.num_threads = r->num_threads;
    // Checks the trace and the statistics against the model (n == 0 included) before
    // writing anything; its actif::Error becomes ACTIF_E_INVALID_ARGUMENT.
    actif::window_forward(m, req);
  });
}

// ------------------------------------------------------------------------ streams

int actif_stream_create(const actif_model* model, int64_t batch, actif_stream** out) {
  return guarded("actif_stream_create", [&] {
    require(model != nullptr && out != nullptr, "model and out must not be NULL");
    *out = nullptr;
    require(batch >= 1 && batch <= actif::Stream::kMaxBatch, "batch must be in [1, 2^20]");
    *out = new actif_stream{actif::Stream(shared_model(model), batch), actif::StreamHistory(model_of(model), batch)};
  });
}

void actif_stream_free(actif_stream* stream) { delete stream; }

void actif_stream_reset(actif_stream* stream) {
  if (stream == nullptr) return;
  stream->stream.reset();
  stream->history.reset();
}

int64_t actif_stream_batch(const actif_stream* stream) { return stream ? stream->stream.batch() : -1; }
int64_t actif_stream_steps(const actif_stream* stream) { return stream ? stream->stream.steps() : -1; }

int actif_stream_step(actif_stream* stream, const float* x, float* y, actif_trace trace, float* trace_out,
                      actif_stats* stats) {
  return actif_stream_run(stream, x, 1, y, trace, trace_out, stats);
}

int actif_stream_run(actif_stream* stream, const float* x, int64_t steps, float* y, actif_trace trace,
                     float* trace_out, actif_stats* stats) {
  return guarded(steps == 1 ? "actif_stream_step" : "actif_stream_run", [&] {
    require(stream != nullptr && x != nullptr && y != nullptr, "stream, x and y must not be NULL");
    require(steps >= 1, "steps must be >= 1");
    const actif::TraceKind kind = trace_kind(trace);
    require(kind != actif::TraceKind::None || trace_out == nullptr, "trace_out needs a trace");
    const int64_t batch = stream->stream.batch(), n_in = stream->stream.model().input_size;
    const int64_t n_out = stream->stream.model().output_size();
    require(product(steps, batch, n_in) >= 0, "steps * batch * input_size overflows");
    // The whole input meets the input rule before any step; then one step at a time, so
    // that the history sees the state after each sample (a step after the first cannot
    // fail: Stream::run checks the trace and statistics the same way each time).
    if (steps > 1) actif::check_samples_input(stream->stream.model(), x, steps, batch);
    for (int64_t i = 0; i < steps; ++i) {
      stream->stream.run(x + i * batch * n_in, 1, y + i * batch * n_out, kind,
                         trace_out ? trace_out + i * batch * n_in : nullptr, stats ? &stats->stats : nullptr);
      std::vector<const float*> h, c;
      for (int64_t l = 0; l < stream->stream.num_layers(); ++l) {
        h.push_back(stream->stream.h(l).data());
        c.push_back(stream->stream.c(l).data());
      }
      stream->history.commit(x + i * batch * n_in, h, c);
    }
  });
}

int actif_stream_hidden(const actif_stream* stream, int64_t layer, float* out, int64_t count) {
  return guarded("actif_stream_hidden", [&] {
    require(stream != nullptr && out != nullptr, "stream and out must not be NULL");
    require(layer >= 0 && layer < stream->stream.num_layers(), "layer out of range");
    const std::vector<float>& h = stream->stream.h(layer);
    require(count >= static_cast<int64_t>(h.size()),
            "output holds " + std::to_string(count) + " floats, needs " + std::to_string(h.size()));
    std::copy(h.begin(), h.end(), out);
  });
}

// ------------------------------------------------------------------------ statistics

int actif_stats_create(int64_t n_features, double half_life, actif_stats** out) {
  return guarded("actif_stats_create", [&] {
    require(out != nullptr, "out must not be NULL");
    *out = nullptr;
    *out = new actif_stats{actif::RunningStats(n_features, half_life)};
  });
}

void actif_stats_free(actif_stats* stats) { delete stats; }

int actif_stats_copy(const actif_stats* stats, actif_stats** out) {
  return guarded("actif_stats_copy", [&] {
    require(stats != nullptr && out != nullptr, "stats and out must not be NULL");
    *out = nullptr;
    *out = new actif_stats{stats->stats};
  });
}

void actif_stats_reset(actif_stats* stats) {
  if (stats) stats->stats.reset();
}

int actif_stats_update(actif_stats* stats, const float* rows_data, int64_t rows) {
  return guarded("actif_stats_update", [&] {
    require(stats != nullptr, "stats must not be NULL");
    require(rows >= 0, "rows must be >= 0");
    if (rows == 0) return;
    require(rows_data != nullptr, "rows_data must not be NULL");
    const int64_t n = stats->stats.n_features();
    const int64_t count = product(rows, n);
    require(count >= 0, "rows * n_features overflows");
    require_finite(rows_data, count, "rows", n);
    stats->stats.update(rows_data, rows, n);
  });
}

int actif_stats_merge(actif_stats* into, const actif_stats* other) {
  return guarded("actif_stats_merge", [&] {
    require(into != nullptr && other != nullptr, "statistics must not be NULL");
    into->stats.merge(other->stats);
  });
}

int64_t actif_stats_n_features(const actif_stats* stats) { return stats ? stats->stats.n_features() : -1; }
uint64_t actif_stats_count(const actif_stats* stats) { return stats ? stats->stats.count() : 0; }
double actif_stats_weight(const actif_stats* stats) { return stats ? stats->stats.weight() : 0.0; }

int actif_stats_mean(const actif_stats* stats, double* out, int64_t count) {
  return guarded("actif_stats_mean", [&] {
    require(stats != nullptr, "stats must not be NULL");
    copy_out(stats->stats.mean(), out, count);
  });
}

int actif_stats_std(const actif_stats* stats, double* out, int64_t count) {
  return guarded("actif_stats_std", [&] {
    require(stats != nullptr, "stats must not be NULL");
    copy_out(stats->stats.stddev(), out, count);
  });
}

int actif_stats_scores(const actif_stats* stats, actif_score method, double* out, int64_t count) {
  return guarded("actif_stats_scores", [&] {
    require(stats != nullptr, "stats must not be NULL");
    copy_out(scores_of(stats, method), out, count);
  });
}

int actif_stats_ranking(const actif_stats* stats, actif_score method, int64_t* order, int64_t count) {
  return guarded("actif_stats_ranking", [&] {
    require(stats != nullptr && order != nullptr, "stats and order must not be NULL");
    const std::vector<double> s = scores_of(stats, method);
    require(count >= static_cast<int64_t>(s.size()),
            "order holds " + std::to_string(count) + " indices, needs " + std::to_string(s.size()));
    actif::ranking_order(s.data(), static_cast<int64_t>(s.size()), order);
  });
}

size_t actif_stats_serialized_size(const actif_stats* stats) {
  return stats ? actif::RunningStats::serialized_size(stats->stats.n_features()) : 0;
}

int actif_stats_serialize(const actif_stats* stats, void* buffer, size_t capacity, size_t* written) {
  return guarded("actif_stats_serialize", [&] {
    require(stats != nullptr && buffer != nullptr, "stats and buffer must not be NULL");
    const std::vector<uint8_t> bytes = stats->stats.to_bytes();
    require(capacity >= bytes.size(),
            "buffer holds " + std::to_string(capacity) + " bytes, needs " + std::to_string(bytes.size()));
    std::memcpy(buffer, bytes.data(), bytes.size());
    if (written) *written = bytes.size();
  });
}

int actif_stats_deserialize(const void* data, size_t size, actif_stats** out) {
  return guarded("actif_stats_deserialize", [&] {
    require(data != nullptr && out != nullptr, "data and out must not be NULL");
    *out = nullptr;
    try {
      *out = new actif_stats{actif::RunningStats::from_bytes(static_cast<const uint8_t*>(data), size)};
    } catch (const actif::Error& e) {
      throw Failure(ACTIF_E_FORMAT, e.what());
    }
  });
}

// ------------------------------------------------------------------------ attribution

int actif_attribute_windows(const actif_model* model, const actif_attribution_request* r) {
  return guarded("actif_attribute_windows", [&] {
    require(model != nullptr && r != nullptr, "model and request must not be NULL");
    const actif::Model& m = model_of(model);
    const int64_t x_count = window_values(m, r->n, r->t);
    actif::AttributionRequest req = attribution_request(m, r->options);
    if (r->n > 0) {
      require(r->x != nullptr && r->y != nullptr, "x and y must not be NULL");
      actif::check_windows_input(m, r->x, r->n, r->t);  // the model's input rule
    }
    req.x = r->x;
    req.n = r->n;
    req.t = r->t;
    req.y = r->y;
    req.delta = r->delta;
    attribute_into(m, req, r->values, r->abs_stats, r->signed_stats);
  });
}

int64_t actif_stream_attribution_steps(const actif_stream* stream) { return stream ? stream->history.length() : -1; }

int actif_stream_attribute(actif_stream* stream, const actif_stream_attribution* r) {
  return guarded("actif_stream_attribute", [&] {
    require(stream != nullptr && r != nullptr, "stream and request must not be NULL");
    require(r->y != nullptr, "y must not be NULL");
    if (stream->history.length() < 1)
      throw Failure(ACTIF_E_STATE, "the stream has taken no sample yet: step it before attributing");
    const actif::Model& m = stream->stream.model();
    actif::AttributionRequest req = attribution_request(m, r->options);
    stream->history.fill_request(req);
    req.y = r->y;
    req.delta = r->delta;
    attribute_into(m, req, r->values, r->abs_stats, r->signed_stats);
  });
}

}  // extern "C"
