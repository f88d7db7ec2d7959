// libFuzzer target: the C API model loader, actif_model_load_memory, on arbitrary bytes.
//
// The first input byte is skipped so the seed corpus is shared with the Python model
// fuzzer (tests/fuzz/corpus/model, whose seeds start with a mode byte). A malformed
// file must come back as a non-OK status with no model; a sanitizer report, a crash or
// a model handed out with an error status is a failure.
#include <cstddef>
#include <cstdint>

#include "actif/actif.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  actif_model* model = nullptr;
  const int status = actif_model_load_memory(data + 1, size - 1, &model);
  if (status != ACTIF_OK) {
    if (model != nullptr) __builtin_trap();
    return 0;
  }
  // A model that loads must answer about itself consistently.
  const int64_t n_in = actif_model_input_size(model);
  const int64_t layers = actif_model_num_layers(model);
  if (n_in < 1 || actif_model_output_size(model) < 1 || layers < 1) __builtin_trap();
  for (int64_t l = 0; l < layers; ++l)
    if (actif_model_hidden_size(model, l) < 1) __builtin_trap();
  for (int64_t i = 0; i < n_in; ++i)
    if (actif_model_feature_name(model, i) == nullptr) __builtin_trap();
  actif_model_free(model);
  return 0;
}
