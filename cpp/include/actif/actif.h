/* actif C API: run an LSTM model and attribute its predictions to input features
 * (DeepACTIF) from native code: a Unity or Android plugin, a Jetson or Raspberry Pi app.
 *
 * Handles are opaque. Every function that can fail returns an actif_status (0 = OK);
 * actif_last_error() then gives a message saying what went wrong. No C++ exception
 * crosses this boundary. Arrays are row-major float32 (statistics: float64) and owned
 * by the caller; sizes are element counts.
 *
 * Thread safety:
 *  - An actif_model is immutable once loaded: any number of threads may run
 *    actif_forward() and step their own streams on the same model at once.
 *  - An actif_stream or actif_stats is not locked: use each from one thread at a time
 *    (or guard it yourself). Merging two statistics reads the source only.
 *  - actif_last_error() is per thread: it reports the last failed call of the calling thread.
 *  - actif_set_isa() switches the kernels for the whole process (atomically); call it
 *    at start-up, not while other threads run forward passes whose exact rounding matters.
 *
 * Lifetime: a stream keeps its model alive, so actif_model_free() may come before
 * actif_stream_free(). Every *_free function accepts NULL.
 *
 * The input rule: every input value (actif_forward, actif_stream_step/run) must be
 * finite and |v| <= actif_model_input_limit(model): the smaller of the model's max_abs
 * setting (default 1e6, see actif_model_set_max_abs) and an overflow-safe bound derived
 * from the weights when the model is loaded, so no accepted input can overflow float32
 * anywhere in the model. The Python API applies the same rule with the same limit. A
 * rejected call returns ACTIF_E_INVALID_ARGUMENT naming the window/step, stream and
 * feature of the first rejected value, and changes nothing.
 *
 * Model files are the .npz files python/actif/model_spec.py writes (ModelSpec.save,
 * actif.Model.save); compressed archives (np.savez_compressed) are refused.
 */
#ifndef ACTIF_ACTIF_H
#define ACTIF_ACTIF_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(ACTIF_BUILDING_C_API)
#define ACTIF_API __declspec(dllexport)
#else
#define ACTIF_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define ACTIF_API __attribute__((visibility("default")))
#else
#define ACTIF_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ACTIF_C_API_VERSION 1

typedef enum actif_status {
  ACTIF_OK = 0,
  ACTIF_E_INVALID_ARGUMENT = 1, /* null pointer, wrong size, input breaking the input rule, bad option */
  ACTIF_E_IO = 2,               /* the model file cannot be opened or read */
  ACTIF_E_FORMAT = 3,           /* malformed model file or statistics blob (truncated, wrong shape/dtype, CRC) */
  ACTIF_E_UNSUPPORTED = 4,      /* valid but not readable here (compressed member, newer format version) */
  ACTIF_E_LIMIT = 5,            /* a file declares more than the reader's limits allow */
  ACTIF_E_NO_MEMORY = 6,
  ACTIF_E_STATE = 7,            /* the call needs data that is not there yet (scores before any sample) */
  ACTIF_E_INTERNAL = 8
} actif_status;

/* Which per-feature trace feeds the attribution (see docs/concepts.md, "Forward-only traces"). */
typedef enum actif_trace {
  ACTIF_TRACE_NONE = 0,
  ACTIF_TRACE_INPUT = 1,    /* |x_t| */
  ACTIF_TRACE_WEIGHTED = 2, /* |x_t| * (U^T |h_t|), the default */
  ACTIF_TRACE_GATES = 3,    /* |x_t| * (|W_ih|^T |gates_t|) */
  ACTIF_TRACE_PAPER = 4     /* |h_t[j]| for j < I (reference-code reproduction; needs H >= I) */
} actif_trace;

/* How per-feature statistics become scores (see docs/concepts.md, "Scores"). */
typedef enum actif_score {
  ACTIF_SCORE_INVERSE = 0, /* DeepACTIF: (mm(mu) + 1 - mm(sigma)) / 2 */
  ACTIF_SCORE_MEAN = 1,
  ACTIF_SCORE_MEANSTD = 2,
  ACTIF_SCORE_PEN = 3
} actif_score;

typedef struct actif_model actif_model;
typedef struct actif_stream actif_stream;
typedef struct actif_stats actif_stats;

/* ------------------------------------------------------------------ errors, build */
/* Message of the calling thread's last failed call ("" if none). Valid until that
 * thread's next actif call. */
ACTIF_API const char* actif_last_error(void);
ACTIF_API const char* actif_status_name(int status);
ACTIF_API const char* actif_version(void);
/* Kernel set in use: "scalar", "avx2", "avx512" or "neon". */
ACTIF_API const char* actif_isa(void);
/* Pin the kernel set ("auto" picks the best this CPU runs, "scalar" the reference). */
ACTIF_API int actif_set_isa(const char* name);

/* ------------------------------------------------------------------ models */
ACTIF_API int actif_model_load_file(const char* path, actif_model** out);
/* Parses a model file held in memory; the buffer may be freed after the call. */
ACTIF_API int actif_model_load_memory(const void* data, size_t size, actif_model** out);
ACTIF_API void actif_model_free(actif_model* model);

ACTIF_API int64_t actif_model_input_size(const actif_model* model);  /* I */
ACTIF_API int64_t actif_model_output_size(const actif_model* model); /* O */
ACTIF_API int64_t actif_model_window(const actif_model* model);      /* trained window length T */
ACTIF_API int64_t actif_model_num_layers(const actif_model* model);  /* stacked LSTM layers */
/* Hidden size of LSTM layer `layer`, or -1 if out of range. */
ACTIF_API int64_t actif_model_hidden_size(const actif_model* model, int64_t layer);
/* The input rule's per-model setting: inputs with |v| > max_abs are rejected (default
 * 1e6; INFINITY leaves only the overflow bound). Must be > 0. Applies to every later
 * call on this model and its streams: set it before running anything. */
ACTIF_API int actif_model_set_max_abs(actif_model* model, double max_abs);
/* The limit actually applied: min(max_abs, the model's overflow-safe bound); -1 for NULL. */
ACTIF_API double actif_model_input_limit(const actif_model* model);
/* Name of input feature i / output j (NUL-terminated UTF-8, owned by the model), or NULL. */
ACTIF_API const char* actif_model_feature_name(const actif_model* model, int64_t i);
ACTIF_API const char* actif_model_output_name(const actif_model* model, int64_t j);

/* ------------------------------------------------------------------ window forward */
/* N windows of T steps, each run from a zero state (what the model was trained on).
 * Set the fields you need; zero-initialise the rest. */
typedef struct actif_window_request {
  const float* x;         /* (n, t, I), raw (the model's input normalisation is applied inside) */
  int64_t n;              /* number of windows (0 is allowed and does nothing) */
  int64_t t;              /* steps per window (>= 1) */
  float* y;               /* out (n, O): predictions; required */
  float* hidden;          /* out (n, t, H) of LSTM layer `hidden_layer`, or NULL */
  int64_t hidden_layer;
  actif_trace trace;      /* needed for trace_out and stats */
  float* trace_out;       /* out (n, t, I): per-step traces, or NULL */
  actif_stats* stats;     /* every step's trace row is added here, or NULL */
  int32_t num_threads;    /* at most this many threads, 0: one per core (a batch is split only when
                             each thread gets enough work); 1: the calling thread only */
} actif_window_request;

/* Checks every argument and the input rule on all of x before touching any output. */
ACTIF_API int actif_forward(const actif_model* model, const actif_window_request* request);

/* ------------------------------------------------------------------ streaming */
/* `batch` independent streams, each fed one sample per actif_stream_step, with the
 * LSTM state carried between calls (mean/max pooling reads the last `window` steps). */
ACTIF_API int actif_stream_create(const actif_model* model, int64_t batch, actif_stream** out);
ACTIF_API void actif_stream_free(actif_stream* stream);
/* Back to the zero state, as if no sample had been seen. */
ACTIF_API void actif_stream_reset(actif_stream* stream);
ACTIF_API int64_t actif_stream_batch(const actif_stream* stream);
/* Samples taken since creation or the last reset. */
ACTIF_API int64_t actif_stream_steps(const actif_stream* stream);

/* Advances every stream by one sample: x (batch, I) -> y (batch, O). trace_out
 * (batch, I) and stats are optional (both need a trace). A sample that is rejected
 * (wrong arguments, a value breaking the input rule) leaves the stream and the
 * statistics unchanged. */
ACTIF_API int actif_stream_step(actif_stream* stream, const float* x, float* y, actif_trace trace,
                                float* trace_out, actif_stats* stats);
/* `steps` consecutive samples in one call: x (steps, batch, I) -> y (steps, batch, O),
 * trace_out (steps, batch, I) optional. Equal to `steps` calls of actif_stream_step
 * (statistics included, byte for byte), except that all samples are checked first:
 * a rejected call changes nothing. */
ACTIF_API int actif_stream_run(actif_stream* stream, const float* x, int64_t steps, float* y, actif_trace trace,
                               float* trace_out, actif_stats* stats);
/* Copies the current hidden state h of LSTM layer `layer`, (batch, H), into out
 * (capacity `count` floats). */
ACTIF_API int actif_stream_hidden(const actif_stream* stream, int64_t layer, float* out, int64_t count);

/* ------------------------------------------------------------------ statistics */
/* Per-feature running count, mean and spread (float64), in O(n_features) memory.
 * half_life > 0 forgets exponentially (in samples); 0 keeps everything. */
ACTIF_API int actif_stats_create(int64_t n_features, double half_life, actif_stats** out);
ACTIF_API void actif_stats_free(actif_stats* stats);
ACTIF_API int actif_stats_copy(const actif_stats* stats, actif_stats** out);
ACTIF_API void actif_stats_reset(actif_stats* stats);
/* Adds `rows` rows of n_features values (NaN/Inf rejected, nothing changed). */
ACTIF_API int actif_stats_update(actif_stats* stats, const float* rows_data, int64_t rows);
/* Folds `other` into `into` (same n_features and half-life): the result equals one
 * statistic fed both streams. */
ACTIF_API int actif_stats_merge(actif_stats* into, const actif_stats* other);

ACTIF_API int64_t actif_stats_n_features(const actif_stats* stats);
ACTIF_API uint64_t actif_stats_count(const actif_stats* stats);
ACTIF_API double actif_stats_weight(const actif_stats* stats);
/* Per-feature mean / population standard deviation into out (capacity `count`). */
ACTIF_API int actif_stats_mean(const actif_stats* stats, double* out, int64_t count);
ACTIF_API int actif_stats_std(const actif_stats* stats, double* out, int64_t count);
/* Per-feature scores (ACTIF_E_STATE before any sample). */
ACTIF_API int actif_stats_scores(const actif_stats* stats, actif_score method, double* out, int64_t count);
/* Feature indices by descending score, ties by index: order[0] is the top feature. */
ACTIF_API int actif_stats_ranking(const actif_stats* stats, actif_score method, int64_t* order, int64_t count);

/* The versioned byte format of python/actif/stats.py (RunningStats.to_bytes). */
ACTIF_API size_t actif_stats_serialized_size(const actif_stats* stats);
/* Writes actif_stats_serialized_size() bytes into buffer (capacity `capacity`). */
ACTIF_API int actif_stats_serialize(const actif_stats* stats, void* buffer, size_t capacity, size_t* written);
ACTIF_API int actif_stats_deserialize(const void* data, size_t size, actif_stats** out);

/* ------------------------------------------------------------------ attribution */
/* Signed attributions A of one output (`target`) to the raw input features, equal
 * (up to float32 rounding) to Captum's on the equivalent PyTorch module (lrp has no
 * Captum counterpart); see include/actif/attribution.hpp. |A| rows feed statistics
 * exactly as traces do, so scores, rankings and the byte format are the same as
 * Python's. */
typedef enum actif_attribution_method {
  ACTIF_ATTRIBUTION_GRADIENT = 0,   /* gradient x input (Captum InputXGradient) */
  ACTIF_ATTRIBUTION_INTEGRATED = 1, /* integrated gradients from the baseline */
  ACTIF_ATTRIBUTION_OCCLUSION = 2,  /* feature j at its baseline over the whole window (FeatureAblation) */
  ACTIF_ATTRIBUTION_DEEPLIFT = 3,   /* (x - baseline) x DeepLIFT's rescale multipliers (Captum DeepLift) */
  ACTIF_ATTRIBUTION_LRP = 4         /* LRP for LSTMs, epsilon rule, gates as weights (no baseline) */
} actif_attribution_method;

/* Captum's integral approximations for integrated gradients. */
typedef enum actif_integral {
  ACTIF_INTEGRAL_GAUSS_LEGENDRE = 0,
  ACTIF_INTEGRAL_RIEMANN_LEFT = 1,
  ACTIF_INTEGRAL_RIEMANN_RIGHT = 2,
  ACTIF_INTEGRAL_RIEMANN_MIDDLE = 3,
  ACTIF_INTEGRAL_RIEMANN_TRAPEZOID = 4
} actif_integral;

/* Zero-initialised options mean: gradient x input of output 0, default baseline,
 * 50 Gauss-Legendre steps, all cores. */
typedef struct actif_attribution_options {
  actif_attribution_method method;
  int64_t target;        /* output index in [0, O) */
  const float* baseline; /* (I) raw values, or NULL: the input the model normalises to 0 (gradient and lrp use none) */
  int64_t n_steps;       /* integrated: steps (0: 50; Riemann rules need >= 2) */
  actif_integral integral;
  int32_t num_threads;   /* 0: all cores; 1: the calling thread only */
} actif_attribution_options;

typedef struct actif_attribution_request {
  const float* x;              /* (n, t, I), raw */
  int64_t n;                   /* windows (0 is allowed and does nothing) */
  int64_t t;                   /* steps per window (>= 1) */
  actif_attribution_options options;
  float* y;                    /* out (n, O): predictions; required */
  float* values;               /* out (n, t, I): signed attributions, or NULL */
  float* delta;                /* out (n): integrated gradients' completeness error
                                  sum(A) - (y(x) - y(baseline)), or NULL (integrated only) */
  actif_stats* abs_stats;      /* every step's |A| row is added here, or NULL */
  actif_stats* signed_stats;   /* every step's A row, or NULL */
} actif_attribution_request;

/* Each window from a zero state. Checks every argument (and that x is finite) before
 * touching any output; statistics change only when the whole call succeeds. */
ACTIF_API int actif_attribute_windows(const actif_model* model, const actif_attribution_request* request);

/* Stateful mode: each stream's current prediction attributed to its last L samples,
 * L = min(samples taken, model window), re-run from the state those samples started
 * from (held constant: the gradient is truncated there; occlusion and the integral
 * path change only these samples). The stream itself is not changed. */
typedef struct actif_stream_attribution {
  actif_attribution_options options;
  float* y;                  /* out (batch, O): the current prediction, re-computed */
  float* values;             /* out (batch, L, I), oldest sample first, or NULL */
  float* delta;              /* out (batch), integrated only, or NULL */
  actif_stats* abs_stats;    /* the batch * L rows of |A|, or NULL */
  actif_stats* signed_stats; /* the batch * L rows of A, or NULL */
} actif_stream_attribution;

/* L: the samples a stream attribution covers now (0 before the first step). */
ACTIF_API int64_t actif_stream_attribution_steps(const actif_stream* stream);
/* ACTIF_E_STATE before the first sample. */
ACTIF_API int actif_stream_attribute(actif_stream* stream, const actif_stream_attribution* request);

#ifdef __cplusplus
}
#endif

#endif /* ACTIF_ACTIF_H */
