// Runs a test body once per kernel set this build and CPU support (forced scalar
// first), then returns to the automatic choice.
#pragma once

#include <string>

#include "actif/kernels.hpp"

namespace actif_test {

template <typename F>
void for_each_isa(F&& body) {
  for (const std::string& isa : actif::supported_isas()) {
    actif::force_isa(isa);
    body(isa);
  }
  actif::force_isa("auto");
}

}  // namespace actif_test
