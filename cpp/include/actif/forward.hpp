// actif: the forward pass, in window mode and in stateful step mode.
//
// Window mode runs N independent windows of T steps, each from a zero state (exactly
// what a model is trained on). Per layer and per block of windows: for a few windows
// (< 6) the input projections of all their steps are one GEMM (T rows per window); for
// more, each step's projection is an (nb, 4H) GEMM that stays in cache while the
// recurrent GEMM (nb, H) x (H, 4H) adds to it in place and the cell applies the gate
// nonlinearities. Activations (h, c, gates) are written only into the buffers the
// caller asks for; the trace of the first layer is computed in the same pass. Windows
// are split over threads only when each thread gets at least ~2M multiply-adds
// (a single window of a small model always runs on the calling thread).
//
// Step mode advances B independent streams by one sample each, reading and updating a
// state (h, c per layer; a ring of the last `window` top-layer hidden states that
// mean/max pooling reads) that actif::Stream (stream.hpp) owns. Step mode always runs
// on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "actif/model.hpp"
#include "actif/running_stats.hpp"

namespace actif {

// Optional per-layer outputs; a null pointer means "not wanted" (and costs nothing).
struct LayerOutputs {
  float* h = nullptr;      // (N, T, H)
  float* c = nullptr;      // (N, T, H)
  float* gates = nullptr;  // (N, T, 4H), post-nonlinearity i, f, g, o
};

struct WindowRequest {
  const float* x = nullptr;  // (N, T, I), raw (the input affine is applied inside)
  int64_t n = 0;
  int64_t t = 0;
  float* y = nullptr;                 // (N, O), required
  std::vector<LayerOutputs> layers;   // empty, or one entry per LSTM layer
  TraceKind trace = TraceKind::None;
  float* trace_out = nullptr;         // (N, T, I) when trace != None and wanted
  RunningStats* stats = nullptr;      // when set, every step's trace row is added
  int num_threads = 0;                // at most this many threads; 0: one per core (see above)
};

// Runs the request; throws actif::Error on inconsistent sizes (before any output is
// written). Statistics, if given, are updated only after the whole pass succeeded.
void window_forward(const Model& model, const WindowRequest& req);

// The carried state of B streams, as pointers into buffers someone else owns
// (actif::Stream owns them for both the C API and the Python binding).
struct StepState {
  int64_t batch = 0;
  std::vector<float*> h;  // per layer (B, H_l)
  std::vector<float*> c;  // per layer (B, H_l)
  float* ring = nullptr;  // (B, ring_len, H_top); unused for "last" pooling
  int64_t ring_len = 0;
  int64_t steps = 0;      // samples taken before this call
};

struct StepRequest {
  const float* x = nullptr;  // (B, I)
  float* y = nullptr;        // (B, O)
  TraceKind trace = TraceKind::None;
  float* trace_out = nullptr;     // (B, I)
  RunningStats* stats = nullptr;  // add the B trace rows
};

// Advances every stream by one sample (the caller increments state.steps after).
void step_forward(const Model& model, StepState& state, const StepRequest& req);

// Number of worker threads used when num_threads == 0.
int default_num_threads();

// How many threads a batch of `items` windows is split over: at most `requested` (0: all
// cores) and `items`, and only as many as get enough work (`total_macs`) to pay for a thread.
int64_t threads_for(int requested, int64_t items, int64_t total_macs);

// Runs chunk(0) .. chunk(threads - 1), chunk 0 on the calling thread and each other on a
// thread of its own; after all have joined, the first exception any chunk threw is rethrown.
void run_chunks(int64_t threads, const std::function<void(int64_t)>& chunk);

}  // namespace actif
