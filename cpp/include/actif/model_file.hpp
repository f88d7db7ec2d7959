// actif: reading the model file that python/actif/model_spec.py writes, without Python.
//
// The file is an uncompressed .npz: a zip of STORED .npy members with a JSON header in
// the member "header" (uint8). The reader accepts what ModelSpec.save writes and rejects
// what ModelSpec.load rejects, with the same limits, plus one deliberate difference:
// compressed members (np.savez_compressed) are refused, since the embedded reader
// carries no inflate code. It never allocates what a file merely declares: every size
// is checked against the bytes actually present before anything is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actif/model.hpp"

namespace actif {

// Limits from constants.json, shared with model_spec.py (MAX_HEADER_BYTES, MAX_LAYERS,
// MAX_MEMBER_BYTES) ...
constexpr size_t kMaxHeaderBytes = limits::kMaxHeaderBytes;
constexpr size_t kMaxLayers = limits::kMaxLayers;
constexpr uint64_t kMaxMemberBytes = limits::kMaxMemberBytes;
// ... and beyond model_spec.py: bounds on what the embedded reader takes at all.
constexpr uint64_t kMaxModelFileBytes = limits::kMaxFileBytes;
constexpr size_t kMaxZipMembers = limits::kMaxZipMembers;
constexpr size_t kMaxNpyHeaderBytes = limits::kMaxNpyHeaderBytes;  // numpy's own max_header_size

enum class FileErrorKind {
  Io,           // the file cannot be opened or read
  Malformed,    // not a valid actif model: bad zip, bad .npy, bad header, wrong shape or dtype, truncation
  Unsupported,  // valid but not readable here: compressed member, newer format version
  Limit,        // declares more than the limits above allow
};

class ModelFileError : public Error {
 public:
  ModelFileError(FileErrorKind kind, const std::string& message) : Error(message), kind_(kind) {}
  FileErrorKind kind() const { return kind_; }

 private:
  FileErrorKind kind_;
};

struct ModelFile {
  Model model;
  std::vector<std::string> feature_names;  // I names (generated f0, f1, ... when the file has none)
  std::vector<std::string> output_names;   // O names (generated y0, y1, ...)
};

// Parses a model file held in memory (the bytes are only read during the call).
// Throws ModelFileError.
ModelFile load_model_npz(const uint8_t* data, size_t size);
// Reads and parses a model file. Throws ModelFileError (kind Io when it cannot be read).
ModelFile load_model_file(const std::string& path);

}  // namespace actif
