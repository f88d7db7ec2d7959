// actif_golden: writes the outputs of a fixed set of models and inputs to a text file,
// or compares this build's outputs with such a file within named tolerances. The x86
// build writes the file, the aarch64 build (under QEMU) compares against it, so both
// architectures are held to one set of numbers.
//
//   actif_golden --write FILE [--isa NAME]
//   actif_golden --compare FILE [--isa NAME]
//
// Inputs and weights come from a platform-independent generator (harness.hpp), so
// every build sees the same bits. Exit status: 0 equal within tolerance, 1 different,
// 2 usage or I/O error.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <locale>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "actif/forward.hpp"
#include "actif/kernels.hpp"
#include "actif/model_file.hpp"
#include "actif/running_stats.hpp"
#include "harness.hpp"
#include "reference.hpp"

using namespace actif_test;

namespace {

struct Quantity {
  std::string name;
  const Tolerance* tol;
  std::vector<double> values;
};

template <typename T>
void add(std::vector<Quantity>& out, const std::string& name, const Tolerance& tol, const T* p, size_t n) {
  out.push_back({name, &tol, std::vector<double>(p, p + n)});
}

// One generated model: windows (y, first layer h, trace, statistics, scores) and a stream.
void model_case(std::vector<Quantity>& out, int64_t hidden, int k) {
  const actif::Pooling poolings[] = {actif::Pooling::Last, actif::Pooling::Mean, actif::Pooling::Max};
  const actif::Activation acts[] = {actif::Activation::Relu, actif::Activation::Elu, actif::Activation::Tanh,
                                    actif::Activation::Sigmoid};
  ModelShape s;
  s.input_size = hidden >= 38 ? 38 : 6;
  s.hidden = k % 2 ? std::vector<int64_t>{hidden, 8} : std::vector<int64_t>{hidden};
  s.pooling = poolings[k % 3];
  s.act = acts[k % 4];
  s.out_act = acts[(k + 1) % 4];
  s.window = 6;
  const RefModel ref = random_ref_model(s, 1000 + static_cast<uint64_t>(hidden));
  const actif::Model model = build_model(ref);
  const int64_t n = 4, t = 6, I = s.input_size, O = ref.output_size();
  Rng rng(2000 + static_cast<uint64_t>(hidden));
  const std::vector<float> x = rng.uniform_vec(static_cast<size_t>(n * t * I), -2.0f, 2.0f);
  std::vector<float> y(static_cast<size_t>(n * O)), h(static_cast<size_t>(n * t * hidden)),
      trace(static_cast<size_t>(n * t * I));
  actif::RunningStats stats(I);
  actif::WindowRequest req = window_request(x.data(), n, t, y.data());
  req.layers.resize(ref.lstm.size());
  req.layers[0].h = h.data();
  req.trace = actif::TraceKind::Weighted;
  req.trace_out = trace.data();
  req.stats = &stats;
  actif::window_forward(model, req);
  const std::string p = "H" + std::to_string(hidden) + ".";
  add(out, p + "y", kPrediction, y.data(), y.size());
  add(out, p + "h0", kHidden, h.data(), static_cast<size_t>(t * hidden));
  add(out, p + "trace", kTrace, trace.data(), static_cast<size_t>(t * I));
  const std::vector<double> sd = stats.stddev();
  add(out, p + "stats_mean", kStats, stats.mean().data(), static_cast<size_t>(I));
  add(out, p + "stats_std", kStats, sd.data(), sd.size());
  std::vector<double> scores(static_cast<size_t>(I));
  actif::compute_scores(actif::ScoreMethod::Inverse, stats.mean().data(), sd.data(), I, scores.data());
  add(out, p + "scores", kScores, scores.data(), scores.size());

  std::vector<std::vector<float>> hs, cs;
  actif::StepState st;
  st.batch = 1;
  for (const RefLstm& l : ref.lstm) {
    hs.emplace_back(static_cast<size_t>(l.hidden), 0.0f);
    cs.emplace_back(static_cast<size_t>(l.hidden), 0.0f);
    st.h.push_back(hs.back().data());
    st.c.push_back(cs.back().data());
  }
  std::vector<float> ring(static_cast<size_t>(s.window * ref.lstm.back().hidden), 0.0f), sy(static_cast<size_t>(O));
  st.ring = ring.data();
  st.ring_len = s.window;
  std::vector<double> stream_y;
  for (int64_t step = 0; step < 2 * t; ++step) {
    actif::StepRequest sr;
    sr.x = x.data() + step * I;
    sr.y = sy.data();
    actif::step_forward(model, st, sr);
    ++st.steps;
    stream_y.insert(stream_y.end(), sy.begin(), sy.end());
  }
  add(out, p + "stream_y", kPrediction, stream_y.data(), stream_y.size());
}

std::vector<Quantity> compute() {
  std::vector<Quantity> out;
  int k = 0;
  for (const int64_t hidden : {1, 7, 8, 9, 17, 64, 65, 128}) model_case(out, hidden, k++);
  // The committed Python-written model file, read by the embedded loader.
  const actif::ModelFile mf = actif::load_model_file(std::string(ACTIF_TEST_DATA_DIR) + "/tiny_model.npz");
  Rng rng(77);
  const std::vector<float> x = rng.uniform_vec(2 * 8 * 6, -2.0f, 2.0f);
  std::vector<float> y(4);
  actif::window_forward(mf.model, window_request(x.data(), 2, 8, y.data()));
  add(out, "tiny_model.y", kPrediction, y.data(), y.size());
  return out;
}

int write(const std::string& path, const std::vector<Quantity>& qs) {
  std::ofstream f(path);
  f.imbue(std::locale::classic());
  f << "# actif golden outputs, isa " << actif::active_isa() << "\n";
  char buf[32];
  for (const Quantity& q : qs) {
    f << q.name << ' ' << q.values.size() << '\n';
    for (size_t i = 0; i < q.values.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.9g", q.values[i]);
      f << buf << ((i % 8 == 7 || i + 1 == q.values.size()) ? '\n' : ' ');
    }
  }
  return f ? 0 : 2;
}

int compare(const std::string& path, const std::vector<Quantity>& qs) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "actif_golden: cannot read %s\n", path.c_str());
    return 2;
  }
  std::string line;
  std::getline(f, line);  // comment
  const std::map<std::string, std::vector<double>> golden = read_sections(f);
  int passed = 0, failed = 0;
  for (const Quantity& q : qs) {
    const auto it = golden.find(q.name);
    bool ok = it != golden.end() && it->second.size() == q.values.size();
    double worst = 0.0;
    for (size_t i = 0; ok && i < q.values.size(); ++i) {
      const double want = it->second[i], err = std::fabs(q.values[i] - want);
      const double bound = q.tol->atol + q.tol->rtol * std::fabs(want);
      worst = std::fmax(worst, err / bound);
      ok = err <= bound;
    }
    std::printf("%s %-22s tolerance '%s' (worst error %.2f of the bound)\n", ok ? "[ OK ]  " : "[FAIL]  ",
                q.name.c_str(), q.tol->name, worst);
    (ok ? passed : failed) += 1;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, path, isa = "auto";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--write" || a == "--compare") {
      mode = a;
      path = argv[i + 1];
    } else if (a == "--isa") {
      isa = argv[i + 1];
    }
  }
  if (mode.empty() || argc % 2 == 0) {
    std::fprintf(stderr, "usage: actif_golden --write FILE | --compare FILE [--isa auto|scalar|avx2|avx512|neon]\n");
    return 2;
  }
  try {
    actif::force_isa(isa);
    const std::vector<Quantity> qs = compute();
    std::printf("actif_golden: isa %s\n", actif::active_isa().c_str());
    return mode == "--write" ? write(path, qs) : compare(path, qs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "actif_golden: %s\n", e.what());
    return 2;
  }
}
