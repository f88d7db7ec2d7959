/* actif_stream_demo: the integration a native plugin or app does with the C API.
 *
 * Loads a model file written by Python (actif.Model.save / ModelSpec.save), streams
 * samples through it one at a time (here synthetic sensor readings; a plugin would pass
 * each new frame's features), prints every prediction, and at the end the features
 * that drive the predictions (mean scores over the weighted trace).
 *
 *   actif_stream_demo MODEL.npz [STEPS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "actif/actif.h"

/* Columns on a terminal: UTF-8 characters, not bytes (printf's %-16s pads by bytes, so a
 * name like "vergence_\xce\xb1" would push its score column left). Continuation
 * bytes (10xxxxxx) do not start a character. */
static int display_width(const char* s) {
  int n = 0;
  for (; *s; ++s)
    if (((unsigned char)*s & 0xC0) != 0x80) ++n;
  return n;
}

static int fail(const char* what, int status) {
  fprintf(stderr, "actif_stream_demo: %s failed: %s (%s)\n", what, actif_last_error(), actif_status_name(status));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: actif_stream_demo MODEL.npz [STEPS]\n");
    return 2;
  }
  const long steps = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
  if (steps < 1 || steps > 1000000) {
    fprintf(stderr, "actif_stream_demo: STEPS must be in [1, 1000000]\n");
    return 2;
  }

  /* The ranking at the end scores features by their mean trace; ACTIF_SCORE_INVERSE
   * would give DeepACTIF's inverse score instead. */
  const actif_score method = ACTIF_SCORE_MEAN;

  actif_model* model = NULL;
  int st = actif_model_load_file(argv[1], &model);
  if (st != ACTIF_OK) return fail("loading the model", st);
  const int64_t n_in = actif_model_input_size(model), n_out = actif_model_output_size(model);
  printf("model: %lld inputs, %lld outputs, %lld LSTM layer(s), window %lld, kernels %s\n", (long long)n_in,
         (long long)n_out, (long long)actif_model_num_layers(model), (long long)actif_model_window(model), actif_isa());

  actif_stream* stream = NULL;
  actif_stats* stats = NULL;
  float* x = malloc(sizeof(float) * (size_t)n_in);
  float* y = malloc(sizeof(float) * (size_t)n_out);
  double* scores = malloc(sizeof(double) * (size_t)n_in);
  int64_t* order = malloc(sizeof(int64_t) * (size_t)n_in);
  int rc = 1;
  if (!x || !y || !scores || !order) {
    fprintf(stderr, "actif_stream_demo: out of memory\n");
    goto done;
  }
  if ((st = actif_stream_create(model, 1, &stream)) != ACTIF_OK) {
    rc = fail("creating the stream", st);
    goto done;
  }
  /* Attribution statistics that forget with a half-life of 100 samples: "what matters now". */
  if ((st = actif_stats_create(n_in, 100.0, &stats)) != ACTIF_OK) {
    rc = fail("creating the statistics", st);
    goto done;
  }
  for (long t = 0; t < steps; ++t) {
    for (int64_t j = 0; j < n_in; ++j) x[j] = (float)sin(0.3 * (double)t + 0.7 * (double)j) * (float)(1 + j % 3);
    st = actif_stream_step(stream, x, y, ACTIF_TRACE_WEIGHTED, NULL, stats);
    if (st != ACTIF_OK) {
      rc = fail("a step", st);
      goto done;
    }
    printf("step %3ld:", t);
    for (int64_t k = 0; k < n_out; ++k) printf(" %s=%+.5f", actif_model_output_name(model, k), (double)y[k]);
    printf("\n");
  }
  if ((st = actif_stats_scores(stats, method, scores, n_in)) != ACTIF_OK ||
      (st = actif_stats_ranking(stats, method, order, n_in)) != ACTIF_OK) {
    rc = fail("scoring", st);
    goto done;
  }
  printf("top features (mean score):\n");
  const int64_t shown = n_in < 8 ? n_in : 8;
  int name_width = 0;
  for (int64_t r = 0; r < shown; ++r) {
    const int w = display_width(actif_model_feature_name(model, order[r]));
    if (w > name_width) name_width = w;
  }
  for (int64_t r = 0; r < shown; ++r) {
    const char* name = actif_model_feature_name(model, order[r]);
    printf("  %lld. %s%*s %.4f\n", (long long)(r + 1), name, name_width - display_width(name), "", scores[order[r]]);
  }
  printf("statistics: %llu samples, %zu bytes serialised\n", (unsigned long long)actif_stats_count(stats),
         actif_stats_serialized_size(stats));
  rc = 0;
done:
  free(x);
  free(y);
  free(scores);
  free(order);
  actif_stats_free(stats);
  actif_stream_free(stream);
  actif_model_free(model);
  return rc;
}
