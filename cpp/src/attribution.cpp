#include "actif/attribution.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "actif/aligned.hpp"
#include "actif/forward.hpp"
#include "actif/kernels.hpp"

namespace actif {

AttributionMethod parse_attribution_method(const std::string& name) {
  if (name == "gradient") return AttributionMethod::Gradient;
  if (name == "integrated") return AttributionMethod::Integrated;
  if (name == "occlusion") return AttributionMethod::Occlusion;
  if (name == "deeplift") return AttributionMethod::DeepLift;
  if (name == "lrp") return AttributionMethod::Lrp;
  throw Error("unknown attribution method '" + name + "' (gradient, deeplift, integrated, occlusion, lrp)");
}

IntegralRule parse_integral_rule(const std::string& name) {
  if (name == "gausslegendre") return IntegralRule::GaussLegendre;
  if (name == "riemann_left") return IntegralRule::RiemannLeft;
  if (name == "riemann_right") return IntegralRule::RiemannRight;
  if (name == "riemann_middle") return IntegralRule::RiemannMiddle;
  if (name == "riemann_trapezoid") return IntegralRule::RiemannTrapezoid;
  throw Error("unknown integral approximation '" + name +
              "' (gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid)");
}

const char* to_string(AttributionMethod m) {
  switch (m) {
    case AttributionMethod::Gradient: return "gradient";
    case AttributionMethod::Integrated: return "integrated";
    case AttributionMethod::Occlusion: return "occlusion";
    case AttributionMethod::DeepLift: return "deeplift";
    case AttributionMethod::Lrp: return "lrp";
  }
  return "?";
}

const char* to_string(IntegralRule r) {
  switch (r) {
    case IntegralRule::GaussLegendre: return "gausslegendre";
    case IntegralRule::RiemannLeft: return "riemann_left";
    case IntegralRule::RiemannRight: return "riemann_right";
    case IntegralRule::RiemannMiddle: return "riemann_middle";
    case IntegralRule::RiemannTrapezoid: return "riemann_trapezoid";
  }
  return "?";
}

void integral_points(IntegralRule rule, int64_t n, std::vector<double>& alphas, std::vector<double>& weights) {
  if (n < 1 || n > kMaxIntegralSteps)
    throw Error("n_steps must be in [1, " + std::to_string(kMaxIntegralSteps) + "], got " + std::to_string(n));
  alphas.assign(static_cast<size_t>(n), 0.0);
  weights.assign(static_cast<size_t>(n), 0.0);
  const double dn = static_cast<double>(n);
  if (rule == IntegralRule::GaussLegendre) {
    // Roots of the Legendre polynomial P_n by Newton's method from Tricomi's estimate,
    // weights 2 / ((1 - x^2) P_n'(x)^2); stored ascending like numpy's leggauss.
    const double pi = 3.14159265358979323846;
    for (int64_t i = 0; i < n; ++i) {
      double x = std::cos(pi * (static_cast<double>(i) + 0.75) / (dn + 0.5));
      double dp = 1.0;
      for (int iter = 0; iter < 100; ++iter) {
        double p0 = 1.0, p1 = x;
        for (int64_t k = 2; k <= n; ++k) {
          const double dk = static_cast<double>(k);
          const double p2 = ((2.0 * dk - 1.0) * x * p1 - (dk - 1.0) * p0) / dk;
          p0 = p1;
          p1 = p2;
        }
        dp = n == 1 ? 1.0 : dn * (x * p1 - p0) / (x * x - 1.0);  // P_n'(x); P_1' = 1
        const double dx = p1 / dp;
        x -= dx;
        if (std::fabs(dx) <= 1e-16 * std::max(1.0, std::fabs(x))) break;
      }
      const size_t slot = static_cast<size_t>(n - 1 - i);  // cos estimates descend
      alphas[slot] = 0.5 * (1.0 + x);
      weights[slot] = 0.5 * 2.0 / ((1.0 - x * x) * dp * dp);
    }
    return;
  }
  if (n < 2) throw Error("Riemann integral approximations need n_steps >= 2 (as Captum's)");
  // Captum: step sizes 1/n (trapezoid: the two ends halved), nodes evenly spaced.
  double first = 0.0, last = 1.0;
  if (rule == IntegralRule::RiemannLeft) last = 1.0 - 1.0 / dn;
  if (rule == IntegralRule::RiemannRight) first = 1.0 / dn;
  if (rule == IntegralRule::RiemannMiddle) first = 0.5 / dn, last = 1.0 - 0.5 / dn;
  for (int64_t k = 0; k < n; ++k) {
    alphas[static_cast<size_t>(k)] = first + (last - first) * static_cast<double>(k) / (dn - 1.0);
    weights[static_cast<size_t>(k)] = 1.0 / dn;
  }
  if (rule == IntegralRule::RiemannTrapezoid) {
    weights.front() *= 0.5;
    weights.back() *= 0.5;
  }
}

std::vector<float> default_baseline(const Model& m) {
  std::vector<float> b(static_cast<size_t>(m.input_size), 0.0f);
  if (m.input_scale.empty()) return b;
  for (size_t j = 0; j < b.size(); ++j)
    if (m.input_scale[j] != 0.0f)  // in double, then rounded once: the value Python's float64 reference gives
      b[j] = static_cast<float>(-static_cast<double>(m.input_shift[j]) / static_cast<double>(m.input_scale[j]));
  return b;
}

namespace {

// Grow-only scratch, one set per thread, so steady-state calls do not allocate.
struct Workspace {
  struct Layer {
    AlignedFloats h, c, gates;  // (rows, T, H), (rows, T, H), (rows, T, 4H)
    AlignedFloats h0, c0;       // initial state rows (rows, H), when given
    AlignedFloats zg;           // lrp: the cell input's pre-activations (rows, T, H)
  };
  std::vector<Layer> layers;
  AlignedFloats xraw, xnorm, z, tanh_c, dh_in, dx, dz_sum, dh_rec, dc_rec, pooled, dpooled, head_grad, head_in_grad, y;
  AlignedFloats share, h_back;  // lrp: relevance per unit of z_g (rows, T, H); share x W_hg of one step
  AlignedFloats zero_row;       // the zero state's c, one row read for every row (stride 0)
  std::vector<AlignedFloats> head_pre, head_post;
  std::vector<AlignedFloats> ref_pre;  // deeplift: the baseline windows' head_pre
  std::vector<int32_t> argmax;  // (rows, H_top) for max pooling
  std::vector<float> step_weights;  // integrated: the quadrature weights of one pass
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// One batch of `rows` windows of t steps: a forward that keeps what the reverse pass
// reads, and the reverse pass of one output.
class WindowBatch {
 public:
  WindowBatch(const Model& m, const KernelSet& k, Workspace& ws, int64_t rows, int64_t t)
      : m_(m), k_(k), ws_(ws), rows_(rows), t_(t) {
    if (ws_.layers.size() < m.lstm.size()) ws_.layers.resize(m.lstm.size());
    if (ws_.head_pre.size() < m.dense.size()) {
      ws_.head_pre.resize(m.dense.size());
      ws_.head_post.resize(m.dense.size());
      ws_.ref_pre.resize(m.dense.size());
    }
  }

  // Raw input rows (rows, T, I), to be filled by the caller.
  float* input() { return grow_to(ws_.xraw, rows_ * t_ * m_.input_size); }
  // Initial state rows of layer l, (rows, H_l), to be filled by the caller; a batch
  // whose caller never asks runs from the zero state.
  float* initial_h(size_t l) {
    has_state_ = true;
    return grow_to(ws_.layers[l].h0, rows_ * m_.lstm[l].hidden_size);
  }
  float* initial_c(size_t l) { return grow_to(ws_.layers[l].c0, rows_ * m_.lstm[l].hidden_size); }

  // Runs the forward on input(); returns y (rows, O). `record`: keep the gates for
  // reverse(); `cell_input`: keep the cell input's pre-activations too, for relevance().
  const float* forward(bool record, bool cell_input = false) {
    const int64_t n_in = m_.input_size, steps = rows_ * t_;
    const float* xin = ws_.xraw.data();
    if (!m_.input_scale.empty()) {
      float* xn = grow_to(ws_.xnorm, steps * n_in);
      const float* sc = m_.input_scale.data();
      const float* sh = m_.input_shift.data();
      for (int64_t r = 0; r < steps; ++r)
        for (int64_t j = 0; j < n_in; ++j) xn[r * n_in + j] = xin[r * n_in + j] * sc[j] + sh[j];
      xin = xn;
    }
    const float* layer_in = xin;
    int64_t in_dim = n_in;
    for (size_t l = 0; l < m_.lstm.size(); ++l) {
      const LstmLayer& layer = m_.lstm[l];
      Workspace::Layer& buf = ws_.layers[l];
      const int64_t hidden = layer.hidden_size, g = 4 * hidden, ldh = t_ * hidden, ldg = t_ * g;
      float* z = grow_to(ws_.z, steps * g);
      float* h = grow_to(buf.h, steps * hidden);
      float* c = grow_to(buf.c, steps * hidden);
      float* gates = record ? grow_to(buf.gates, steps * g) : nullptr;
      // Input projections of every step in one GEMM, then the recurrence step by step.
      k_.gemm_f32(steps, layer_in, in_dim, layer.w_ih_t, z, g, layer.bias.data(), false);
      for (int64_t s = 0; s < t_; ++s) {
        float* zs = z + s * g;
        const float* c_prev = nullptr;
        int64_t ldc_prev = ldh;
        if (s > 0) {
          k_.gemm_f32(rows_, h + (s - 1) * hidden, ldh, layer.w_hh_t, zs, ldg, nullptr, true);
          c_prev = c + (s - 1) * hidden;
        } else if (has_state_) {
          k_.gemm_f32(rows_, buf.h0.data(), hidden, layer.w_hh_t, zs, ldg, nullptr, true);
          c_prev = buf.c0.data();
          ldc_prev = hidden;
        }
        k_.lstm_cell_f32(rows_, hidden, zs, ldg, c_prev, ldc_prev, c + s * hidden, ldh, h + s * hidden, ldh,
                         gates ? gates + s * g : nullptr, ldg);
      }
      if (cell_input) {  // z (rows, T, 4H) holds every step's pre-activations now: keep g's
        float* zg = grow_to(buf.zg, steps * hidden);
        for (int64_t r = 0; r < steps; ++r) std::copy(z + r * g + 2 * hidden, z + r * g + 3 * hidden, zg + r * hidden);
      }
      layer_in = h;
      in_dim = hidden;
    }
    return head_forward(layer_in);
  }

  // After forward(): keeps this batch's dense pre-activations as the reference a later
  // batch's reverse(target, ..., true) rescales against (deeplift: this batch holds the
  // baseline windows), each row repeated `repeat` times.
  void keep_head_as_reference(int64_t repeat = 1) {
    for (size_t l = 0; l < m_.dense.size(); ++l) {
      const int64_t width = m_.dense[l].out_features;
      const float* pre = ws_.head_pre[l].data();
      float* ref = grow_to(ws_.ref_pre[l], rows_ * repeat * width);
      for (int64_t r = 0; r < rows_ * repeat; ++r) std::copy(pre + (r / repeat) * width, pre + (r / repeat + 1) * width, ref + r * width);
    }
  }

  // Gradient of output `target` with respect to the raw input of every row, (rows, T, I),
  // from the activations the last forward(true) recorded. With `group_weights` (group
  // values), consecutive groups of rows are summed with those weights instead, giving
  // (rows / group, T, I): the input gradient is linear in the first layer's dz, so the
  // weighted sum is taken on dz and the last GEMM runs once per group (integrated
  // gradients' quadrature). With `rescale`, the dense activations pass DeepLIFT's
  // multipliers against the reference kept by keep_head_as_reference() (same rows).
  const float* reverse(int64_t target, const float* group_weights = nullptr, int64_t group = 1, bool rescale = false) {
    const int64_t h_top = m_.hidden_top(), steps = rows_ * t_;
    float* dpooled = head_reverse(target, rescale ? HeadRule::Rescale : HeadRule::Gradient);
    if (!m_.post_scale.empty())
      for (int64_t r = 0; r < rows_; ++r)
        for (int64_t j = 0; j < h_top; ++j) dpooled[r * h_top + j] *= m_.post_scale[static_cast<size_t>(j)];
    float* dh_in = unpool(dpooled);

    // Back through the LSTM layers, top first: each layer's input gradient is the
    // next one's dh_in.
    for (size_t l = m_.lstm.size(); l-- > 0;) {
      const LstmLayer& layer = m_.lstm[l];
      const Workspace::Layer& buf = ws_.layers[l];
      const int64_t hidden = layer.hidden_size, g = 4 * hidden, ldh = t_ * hidden, ldg = t_ * g;
      const int64_t in_dim = layer.w_ih.n;
      float* tc = grow_to(ws_.tanh_c, steps * hidden);
      std::copy(buf.c.data(), buf.c.data() + steps * hidden, tc);
      activation_rows(Activation::Tanh, steps, hidden, tc);
      float* dz = grow_to(ws_.z, steps * g);
      float* dh_rec = zeroed(ws_.dh_rec, rows_ * hidden);
      float* dc_rec = zeroed(ws_.dc_rec, rows_ * hidden);
      for (int64_t s = t_ - 1; s >= 0; --s) {
        const auto [c_prev, ldc_prev] = cell_before(l, s);
        k_.lstm_cell_reverse_f32(rows_, hidden, buf.gates.data() + s * g, ldg, tc + s * hidden, ldh, c_prev, ldc_prev,
                                 dh_in + s * hidden, ldh, dh_rec, dc_rec, dz + s * g, ldg);
        // The recurrent gradient for step s-1; the state before step 0 is a constant.
        if (s > 0) k_.gemm_f32(rows_, dz + s * g, ldg, layer.w_hh, dh_rec, hidden, nullptr, false);
      }
      // Input gradients of every step in one GEMM: (rows * T, 4H) x W_ih (4H, in).
      int64_t grad_rows = steps;
      if (l == 0 && group_weights != nullptr) {
        grad_rows = rows_ / group * t_;
        float* sum = grow_to(ws_.dz_sum, grad_rows * g);
        for (int64_t w = 0; w < rows_ / group; ++w) {
          float* out = sum + w * ldg;
          std::fill(out, out + ldg, 0.0f);
          for (int64_t k = 0; k < group; ++k) {
            const float wk = group_weights[k];
            const float* src = dz + (w * group + k) * ldg;
            for (int64_t i = 0; i < ldg; ++i) out[i] += wk * src[i];
          }
        }
        dz = sum;
      }
      float* dx = grow_to(ws_.dx, grad_rows * in_dim);
      k_.gemm_f32(grad_rows, dz, g, layer.w_ih, dx, in_dim, nullptr, false);
      std::swap(ws_.dx, ws_.dh_in);
      dh_in = ws_.dh_in.data();
      if (l == 0) {
        if (!m_.input_scale.empty()) {
          const int64_t n_in = m_.input_size;
          const float* sc = m_.input_scale.data();
          for (int64_t r = 0; r < grad_rows; ++r)
            for (int64_t j = 0; j < n_in; ++j) dh_in[r * n_in + j] *= sc[j];
        }
      }
    }
    return dh_in;
  }

  // LRP (the module comment) of output `target`: the relevance of every raw input
  // feature, (rows, T, I), from what the last forward(true, true) kept. Relevance that
  // would flow into the initial state is dropped, as the gradient is truncated there.
  const float* relevance(int64_t target) {
    const float eps = static_cast<float>(attribution_constants::kLrpEpsilon);
    const int64_t steps = rows_ * t_;
    // The post affine passes relevance as it is.
    float* rh = unpool(head_reverse(target, HeadRule::Relevance, eps), eps);
    // Back through the LSTM layers, top first: a layer's input relevance is the next one's rh.
    for (size_t l = m_.lstm.size(); l-- > 0;) {
      const LstmLayer& layer = m_.lstm[l];
      const Workspace::Layer& buf = ws_.layers[l];
      const int64_t hidden = layer.hidden_size, g = 4 * hidden, ldh = t_ * hidden, ldg = t_ * g;
      const int64_t in_dim = layer.w_ih.n;
      const float* layer_in = l > 0 ? ws_.layers[l - 1].h.data() : (m_.input_scale.empty() ? ws_.xraw.data() : ws_.xnorm.data());
      float* share = grow_to(ws_.share, steps * hidden);
      float* carry_h = zeroed(ws_.dh_rec, rows_ * hidden);
      float* carry_c = zeroed(ws_.dc_rec, rows_ * hidden);
      float* back = grow_to(ws_.h_back, rows_ * hidden);
      for (int64_t s = t_ - 1; s >= 0; --s) {
        const auto [c_prev, ldc_prev] = cell_before(l, s);
        k_.lstm_cell_relevance_f32(rows_, hidden, eps, buf.gates.data() + s * g, ldg, buf.c.data() + s * hidden, ldh,
                                   c_prev, ldc_prev, buf.zg.data() + s * hidden, ldh, rh + s * hidden, ldh, carry_h,
                                   carry_c, share + s * hidden, ldh);
        if (s == 0) break;  // the initial state is a constant
        k_.gemm_f32(rows_, share + s * hidden, ldh, layer.w_hg, back, hidden, nullptr, false);
        const float* h_prev = buf.h.data() + (s - 1) * hidden;
        for (int64_t r = 0; r < rows_; ++r)
          for (int64_t j = 0; j < hidden; ++j) carry_h[r * hidden + j] = h_prev[r * ldh + j] * back[r * hidden + j];
      }
      // The input's relevance of every step in one GEMM: (rows * T, H) x W_ig (H, in).
      float* rx = grow_to(ws_.dx, steps * in_dim);
      k_.gemm_f32(steps, share, hidden, layer.w_ig, rx, in_dim, nullptr, false);
      for (int64_t i = 0; i < steps * in_dim; ++i) rx[i] *= layer_in[i];
      std::swap(ws_.dx, ws_.dh_in);
      rh = ws_.dh_in.data();
    }
    return rh;  // the input affine passes relevance as it is
  }

 private:
  // LRP's stabilised denominator; the kernels apply the same rule (scalar_formulas.hpp lrp_stabilised).
  static float stabilised(float z, float eps) { return z + std::copysign(eps, z); }

  // Layer l's cell state before step s, as (row 0, row stride): step s-1's, the given
  // initial state, or the zero state as one zero row read for every row (stride 0), so
  // the reverse cell loops need no test per unit (which keeps the compiler from
  // vectorising them).
  std::pair<const float*, int64_t> cell_before(size_t l, int64_t s) {
    const Workspace::Layer& buf = ws_.layers[l];
    const int64_t hidden = m_.lstm[l].hidden_size;
    if (s > 0) return {buf.c.data() + (s - 1) * hidden, t_ * hidden};
    if (has_state_) return {buf.c0.data(), hidden};
    return {zeroed(ws_.zero_row, hidden), 0};
  }

  // Spreads a value per pooled unit (rows, H_top) over the top layer's steps, (rows, T,
  // H_top) in ws_.dh_in: last and max pooling give it to the step they read (max: the
  // first arg-max step, as autograd); mean pooling spreads it over every step, by 1/T
  // (the gradient) or, with `eps` > 0, by each step's share of the mean (LRP's epsilon rule).
  float* unpool(const float* pooled, float eps = 0.0f) {
    const int64_t h_top = m_.hidden_top(), steps = rows_ * t_;
    float* out = zeroed(ws_.dh_in, steps * h_top);
    const float* top = ws_.layers[m_.lstm.size() - 1].h.data();
    const float inv_t = 1.0f / static_cast<float>(t_);
    for (int64_t r = 0; r < rows_; ++r) {
      const float* p = pooled + r * h_top;
      const float* seq = top + r * t_ * h_top;
      float* o = out + r * t_ * h_top;
      switch (m_.pooling) {
        case Pooling::Last:
          std::copy(p, p + h_top, o + (t_ - 1) * h_top);
          break;
        case Pooling::Mean:
          for (int64_t j = 0; j < h_top; ++j) {
            if (eps > 0.0f) {
              float mean = seq[j];  // the mean head_forward took (ws_.pooled holds it affined)
              for (int64_t s = 1; s < t_; ++s) mean += seq[s * h_top + j];
              const float per = p[j] / stabilised(mean * inv_t, eps);
              for (int64_t s = 0; s < t_; ++s) o[s * h_top + j] = seq[s * h_top + j] * inv_t * per;
            } else {
              for (int64_t s = 0; s < t_; ++s) o[s * h_top + j] = p[j] * inv_t;
            }
          }
          break;
        case Pooling::Max: {
          const int32_t* arg = ws_.argmax.data() + r * h_top;
          for (int64_t j = 0; j < h_top; ++j) o[arg[j] * h_top + j] = p[j];
          break;
        }
      }
    }
    return out;
  }

  // The activation kernel row by row: its vector tail then falls on the same elements
  // whatever the batch, so results do not depend on how windows are split.
  void activation_rows(Activation a, int64_t rows, int64_t width, float* x) const {
    for (int64_t r = 0; r < rows; ++r) k_.activation_f32(a, width, x + r * width);
  }

  const float* head_forward(const float* top) {
    const int64_t h_top = m_.hidden_top();
    float* pooled = grow_to(ws_.pooled, rows_ * h_top);
    if (m_.pooling == Pooling::Max && ws_.argmax.size() < static_cast<size_t>(rows_ * h_top))
      ws_.argmax.resize(static_cast<size_t>(rows_ * h_top));
    for (int64_t r = 0; r < rows_; ++r) {
      const float* seq = top + r * t_ * h_top;
      float* o = pooled + r * h_top;
      switch (m_.pooling) {
        case Pooling::Last:
          std::copy(seq + (t_ - 1) * h_top, seq + t_ * h_top, o);
          break;
        case Pooling::Mean: {
          std::copy(seq, seq + h_top, o);
          for (int64_t s = 1; s < t_; ++s)
            for (int64_t j = 0; j < h_top; ++j) o[j] += seq[s * h_top + j];
          const float inv = 1.0f / static_cast<float>(t_);
          for (int64_t j = 0; j < h_top; ++j) o[j] *= inv;
          break;
        }
        case Pooling::Max: {
          int32_t* arg = ws_.argmax.data() + r * h_top;
          std::copy(seq, seq + h_top, o);
          std::fill(arg, arg + h_top, 0);
          // Strict: ties keep the first step, as torch's max. The step is selected by a
          // bit mask, not a branch, so the compiler vectorises the loop (a branch per unit
          // mispredicts at random and cost a tenth of an lrp window).
          float* __restrict__ best = o;
          for (int64_t s = 1; s < t_; ++s) {
            const float* __restrict__ v = seq + s * h_top;
            const int32_t step = static_cast<int32_t>(s);
            for (int64_t j = 0; j < h_top; ++j) {
              const float x = v[j], b = best[j];
              const int32_t later = -static_cast<int32_t>(x > b);
              best[j] = x > b ? x : b;
              arg[j] = (arg[j] & ~later) | (step & later);
            }
          }
          break;
        }
      }
    }
    if (!m_.post_scale.empty())
      for (int64_t r = 0; r < rows_; ++r)
        for (int64_t j = 0; j < h_top; ++j)
          pooled[r * h_top + j] = pooled[r * h_top + j] * m_.post_scale[static_cast<size_t>(j)] +
                                  m_.post_shift[static_cast<size_t>(j)];
    const float* in = pooled;
    for (size_t l = 0; l < m_.dense.size(); ++l) {
      const DenseLayer& d = m_.dense[l];
      const int64_t count = rows_ * d.out_features;
      float* pre = grow_to(ws_.head_pre[l], count);
      k_.gemm_f32(rows_, in, d.in_features, d.w_t, pre, d.out_features, d.bias.data(), false);
      float* post = grow_to(ws_.head_post[l], count);
      std::copy(pre, pre + count, post);
      if (d.activation != Activation::Identity) activation_rows(d.activation, rows_, d.out_features, post);
      in = post;
    }
    return in;
  }

  // How head_reverse() passes the output back through a dense layer's activation.
  enum class HeadRule {
    Gradient,  // its derivative
    Rescale,   // DeepLIFT's multiplier against keep_head_as_reference()
    Relevance  // LRP: the output's value as relevance, the epsilon rule through each
               // weighted sum, the activation passing relevance as it is
  };

  // What reaches the pooled-and-affined features from output `target`, (rows, H_top):
  // d y[:, target] / d features (Gradient, Rescale) or LRP's relevance (Relevance, `eps`).
  float* head_reverse(int64_t target, HeadRule rule, float eps = 0.0f) {
    const int64_t h_top = m_.hidden_top();
    const int64_t out = m_.output_size();
    float* grad = grow_to(ws_.head_grad, rows_ * std::max(out, h_top));
    const float* y = m_.dense.empty() ? ws_.pooled.data() : ws_.head_post[m_.dense.size() - 1].data();
    std::fill(grad, grad + rows_ * out, 0.0f);
    for (int64_t r = 0; r < rows_; ++r) grad[r * out + target] = rule == HeadRule::Relevance ? y[r * out + target] : 1.0f;
    for (size_t l = m_.dense.size(); l-- > 0;) {
      const DenseLayer& d = m_.dense[l];
      const float* pre = ws_.head_pre[l].data();
      const float* post = ws_.head_post[l].data();
      const int64_t count = rows_ * d.out_features;
      if (rule == HeadRule::Relevance) {
        for (int64_t i = 0; i < count; ++i) grad[i] /= stabilised(pre[i], eps);
      } else if (rule == HeadRule::Rescale && d.activation != Activation::Identity) {
        const float* pre_ref = ws_.ref_pre[l].data();
        for (int64_t i = 0; i < count; ++i) grad[i] *= rescale_multiplier(d.activation, pre[i], post[i], pre_ref[i]);
      } else {
        for (int64_t i = 0; i < count; ++i) grad[i] *= activation_derivative(d.activation, pre[i], post[i]);
      }
      float* in_grad = grow_to(ws_.head_in_grad, rows_ * d.in_features);
      k_.gemm_f32(rows_, grad, d.out_features, d.w, in_grad, d.in_features, nullptr, false);
      if (rule == HeadRule::Relevance) {  // times the layer's input: its share of the weighted sum
        const float* a_in = l > 0 ? ws_.head_post[l - 1].data() : ws_.pooled.data();
        for (int64_t i = 0; i < rows_ * d.in_features; ++i) in_grad[i] *= a_in[i];
      }
      std::swap(ws_.head_grad, ws_.head_in_grad);
      grad = ws_.head_grad.data();
    }
    float* dpooled = grow_to(ws_.dpooled, rows_ * h_top);
    std::copy(grad, grad + rows_ * h_top, dpooled);
    return dpooled;
  }

  // DeepLIFT's rescale rule as Captum's DeepLift defines it: (f(z) - f(z_b)) / (z - z_b),
  // the derivative where |z - z_b| < 1e-10 (constants.json: deeplift_rescale_eps). The divided difference is taken in double
  // from f recomputed in double: a quotient of two float32-rounded differences loses
  // every digit when z and z_b are close, the divided difference itself does not.
  static float rescale_multiplier(Activation a, float pre, float post, float pre_ref) {
    const double z = pre, zb = pre_ref, d_in = z - zb;
    if (std::fabs(d_in) < attribution_constants::kDeepliftRescaleEps) return activation_derivative(a, pre, post);
    return static_cast<float>((activation_f64(a, z) - activation_f64(a, zb)) / d_in);
  }

  static double activation_f64(Activation a, double z) {
    switch (a) {
      case Activation::Identity: return z;
      case Activation::Relu: return z > 0.0 ? z : 0.0;
      case Activation::Elu: return z > 0.0 ? z : std::expm1(z);
      case Activation::Tanh: return std::tanh(z);
      case Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-z));
    }
    return z;
  }

  // As autograd: relu' = [pre > 0], elu' = exp(pre) for pre <= 0, tanh' and sigmoid'
  // from the output.
  static float activation_derivative(Activation a, float pre, float post) {
    switch (a) {
      case Activation::Identity: return 1.0f;
      case Activation::Relu: return pre > 0.0f ? 1.0f : 0.0f;
      case Activation::Elu: return pre > 0.0f ? 1.0f : std::exp(pre);
      case Activation::Tanh: return 1.0f - post * post;
      case Activation::Sigmoid: return post * (1.0f - post);
    }
    return 0.0f;
  }

  const Model& m_;
  const KernelSet& k_;
  Workspace& ws_;
  int64_t rows_, t_;
  bool has_state_ = false;
};

// Rows of one batch kept near this many: the recorded activations of the windows in
// flight (about 15 * T * H floats per row) stay in cache; 16 to 32 measured best for
// the bundled model (H = 64, T = 10) at batch 256. A multiple of both register tiles'
// heights (6 rows for AVX2 and NEON, 8 for AVX-512): a block ending in a short tile pays
// nearly a full tile's time for it. Against 30 (8 + 8 + 8 + 6 with AVX-512), 24 made
// lrp about 4% and gradient 2% cheaper per window relative to the forward with AVX-512
// and changed nothing with AVX2 (bundled model, batch 256, builds alternating, 5 runs).
constexpr int64_t kBatchRows = 24;
// At most this many rows in one pass: a window's interpolation points (integrated) or
// ablated copies (occlusion) beyond it run in several passes, so memory stays
// O(T * H) per window whatever n_steps or I.
constexpr int64_t kMaxPassRows = 256;

struct Plan {
  std::vector<float> baseline;
  std::vector<double> alphas, weights;
  int64_t rows_per_window = 1;  // batch rows one window needs
};

// Copies the initial state of windows [w0, w0 + nw) into the batch, each repeated `per` times.
void fill_state(const Model& m, const AttributionRequest& req, WindowBatch& batch, int64_t w0, int64_t nw,
                int64_t per) {
  if (req.h0.empty()) return;
  for (size_t l = 0; l < m.lstm.size(); ++l) {
    const int64_t hidden = m.lstm[l].hidden_size;
    float* h = batch.initial_h(l);
    float* c = batch.initial_c(l);
    for (int64_t w = 0; w < nw; ++w)
      for (int64_t k = 0; k < per; ++k) {
        const int64_t row = w * per + k;
        std::copy(req.h0[l] + (w0 + w) * hidden, req.h0[l] + (w0 + w + 1) * hidden, h + row * hidden);
        std::copy(req.c0[l] + (w0 + w) * hidden, req.c0[l] + (w0 + w + 1) * hidden, c + row * hidden);
      }
  }
}

// Attributes windows [w0, w0 + nw) (values into `values`, (nw, T, I)).
void attribute_block(const Model& m, const KernelSet& k, const AttributionRequest& req, const Plan& plan, int64_t w0,
                     int64_t nw, float* values) {
  Workspace& ws = workspace();
  const int64_t t = req.t, n_in = m.input_size, out = m.output_size();
  const int64_t win = t * n_in;  // floats per window
  const float* x = req.x + w0 * win;
  const float* b = plan.baseline.data();
  float* y = req.y + w0 * out;
  switch (req.method) {
    case AttributionMethod::Gradient: {
      WindowBatch batch(m, k, ws, nw, t);
      std::copy(x, x + nw * win, batch.input());
      fill_state(m, req, batch, w0, nw, 1);
      const float* yb = batch.forward(true);
      std::copy(yb, yb + nw * out, y);
      const float* grad = batch.reverse(req.target);
      for (int64_t i = 0; i < nw * win; ++i) values[i] = x[i] * grad[i];
      return;
    }
    case AttributionMethod::Lrp: {
      WindowBatch batch(m, k, ws, nw, t);
      std::copy(x, x + nw * win, batch.input());
      fill_state(m, req, batch, w0, nw, 1);
      const float* yb = batch.forward(true, true);
      std::copy(yb, yb + nw * out, y);
      const float* rel = batch.relevance(req.target);
      std::copy(rel, rel + nw * win, values);
      return;
    }
    case AttributionMethod::DeepLift: {
      // The baseline windows first (from the same state), for the head's reference values:
      // from the zero state every window's baseline window is the same, run once.
      const int64_t distinct = req.h0.empty() ? 1 : nw;
      WindowBatch ref(m, k, ws, distinct, t);
      float* in = ref.input();
      for (int64_t r = 0; r < distinct * t; ++r) std::copy(b, b + n_in, in + r * n_in);
      fill_state(m, req, ref, w0, distinct, 1);
      ref.forward(false);
      ref.keep_head_as_reference(nw / distinct);
      WindowBatch batch(m, k, ws, nw, t);
      std::copy(x, x + nw * win, batch.input());
      fill_state(m, req, batch, w0, nw, 1);
      const float* yb = batch.forward(true);
      std::copy(yb, yb + nw * out, y);
      const float* grad = batch.reverse(req.target, nullptr, 1, true);
      for (int64_t i = 0; i < nw * win; ++i) values[i] = (x[i] - b[i % n_in]) * grad[i];
      return;
    }
    case AttributionMethod::Integrated: {
      const int64_t steps = static_cast<int64_t>(plan.alphas.size());
      {
        // y(x), and y(b) for the delta, from a plain forward of 2 * nw rows.
        const bool want_delta = req.delta != nullptr;
        WindowBatch ends(m, k, ws, want_delta ? 2 * nw : nw, t);
        float* in = ends.input();
        std::copy(x, x + nw * win, in);
        if (want_delta)
          for (int64_t r = 0; r < nw * t; ++r) std::copy(b, b + n_in, in + nw * win + r * n_in);
        if (!req.h0.empty()) {
          fill_state(m, req, ends, w0, nw, 1);
          if (want_delta)
            for (size_t l = 0; l < m.lstm.size(); ++l) {
              const int64_t hs = nw * m.lstm[l].hidden_size;
              float* h = ends.initial_h(l);
              float* c = ends.initial_c(l);
              std::copy(h, h + hs, h + hs);
              std::copy(c, c + hs, c + hs);
            }
        }
        const float* ye = ends.forward(false);
        std::copy(ye, ye + nw * out, y);
        if (want_delta)
          for (int64_t w = 0; w < nw; ++w)
            req.delta[w0 + w] = static_cast<float>(static_cast<double>(ye[w * out + req.target]) -
                                                   static_cast<double>(ye[(nw + w) * out + req.target]));
      }
      // Interpolation points in passes of at most kMaxPassRows rows (all of a window's
      // at once when they fit); the sum over steps runs in step order either way.
      std::fill(values, values + nw * win, 0.0f);
      const int64_t chunk = std::max<int64_t>(1, std::min(steps, kMaxPassRows / nw));
      for (int64_t s0 = 0; s0 < steps; s0 += chunk) {
        const int64_t sc = std::min(chunk, steps - s0);
        WindowBatch batch(m, k, ws, nw * sc, t);
        float* in = batch.input();
        for (int64_t w = 0; w < nw; ++w)
          for (int64_t s = 0; s < sc; ++s) {
            const float a = static_cast<float>(plan.alphas[static_cast<size_t>(s0 + s)]);
            const float* xw = x + w * win;
            float* row = in + (w * sc + s) * win;
            for (int64_t i = 0; i < win; ++i) {
              const float bj = b[i % n_in];
              row[i] = bj + a * (xw[i] - bj);
            }
          }
        fill_state(m, req, batch, w0, nw, sc);
        batch.forward(true);
        // sum_k w_k dy/dx(point k) per window, weighted inside the reverse pass.
        std::vector<float>& wk = ws.step_weights;
        wk.resize(static_cast<size_t>(sc));
        for (int64_t s = 0; s < sc; ++s) wk[static_cast<size_t>(s)] = static_cast<float>(plan.weights[static_cast<size_t>(s0 + s)]);
        const float* grad = batch.reverse(req.target, wk.data(), sc);
        for (int64_t i = 0; i < nw * win; ++i) values[i] += grad[i];
      }
      for (int64_t w = 0; w < nw; ++w) {
        float* v = values + w * win;
        const float* xw = x + w * win;
        double total = 0.0;
        for (int64_t i = 0; i < win; ++i) {
          v[i] *= xw[i] - b[i % n_in];
          total += static_cast<double>(v[i]);
        }
        // delta holds y(x) - y(b) so far: completeness error = sum(A) - (y(x) - y(b)).
        if (req.delta) req.delta[w0 + w] = static_cast<float>(total - static_cast<double>(req.delta[w0 + w]));
      }
      return;
    }
    case AttributionMethod::Occlusion: {
      // Per pass, row 0 of each window's group is x and row 1 + jj is x with feature
      // j0 + jj at b; features in passes of at most kMaxPassRows rows.
      const int64_t features = std::max<int64_t>(1, std::min(n_in, kMaxPassRows / nw - 1));
      for (int64_t j0 = 0; j0 < n_in; j0 += features) {
        const int64_t fc = std::min(features, n_in - j0), group = fc + 1;
        WindowBatch batch(m, k, ws, nw * group, t);
        float* in = batch.input();
        for (int64_t w = 0; w < nw; ++w) {
          const float* xw = x + w * win;
          for (int64_t r = 0; r < group; ++r) {
            float* row = in + (w * group + r) * win;
            std::copy(xw, xw + win, row);
            if (r > 0)
              for (int64_t s = 0; s < t; ++s) row[s * n_in + j0 + r - 1] = b[j0 + r - 1];
          }
        }
        fill_state(m, req, batch, w0, nw, group);
        const float* yb = batch.forward(false);
        for (int64_t w = 0; w < nw; ++w) {
          const float* yw = yb + w * group * out;
          if (j0 == 0) std::copy(yw, yw + out, y + w * out);
          float* v = values + w * win;
          for (int64_t jj = 0; jj < fc; ++jj) {
            const float a = yw[req.target] - yw[(1 + jj) * out + req.target];
            for (int64_t s = 0; s < t; ++s) v[s * n_in + j0 + jj] = a;
          }
        }
      }
      return;
    }
  }
}

int64_t macs_per_row(const Model& m, int64_t t) {
  int64_t macs = 0, in_dim = m.input_size;
  for (const auto& l : m.lstm) {
    macs += 4 * l.hidden_size * (in_dim + l.hidden_size);
    in_dim = l.hidden_size;
  }
  return std::max<int64_t>(1, macs * t);
}

bool all_finite(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

}  // namespace

void attribute_windows(const Model& m, const AttributionRequest& req) {
  // Every check first: nothing is written before the request is known to be good.
  if (req.n < 0 || req.t < 1) throw Error("windows need N >= 0 and T >= 1");
  if (req.t > kMaxDim) throw Error("windows are limited to " + std::to_string(kMaxDim) + " steps");
  if (req.n > 0 && (req.x == nullptr || req.y == nullptr)) throw Error("attribution needs x and y");
  const int64_t out = m.output_size(), n_in = m.input_size;
  if (req.target < 0 || req.target >= out)
    throw Error("target " + std::to_string(req.target) + " is not an output index (the model has " +
                std::to_string(out) + " output" + (out == 1 ? "" : "s") + ")");
  if (req.delta != nullptr && req.method != AttributionMethod::Integrated)
    throw Error("the completeness delta exists for integrated gradients only");
  for (const RunningStats* s : {req.abs_stats, req.signed_stats})
    if (s != nullptr && s->n_features() != n_in)
      throw Error("statistics have " + std::to_string(s->n_features()) + " features, the model has " +
                  std::to_string(n_in) + " inputs");
  if (req.abs_stats != nullptr && req.abs_stats == req.signed_stats)
    throw Error("abs_stats and signed_stats must be different statistics");
  Plan plan;
  if (req.method == AttributionMethod::Integrated) integral_points(req.rule, req.n_steps, plan.alphas, plan.weights);
  plan.rows_per_window = req.method == AttributionMethod::Integrated  ? std::min(req.n_steps, kMaxPassRows)
                         : req.method == AttributionMethod::Occlusion ? std::min(n_in + 1, kMaxPassRows)
                                                                      : 1;
  if (req.baseline != nullptr) {
    check_windows_input(m, req.baseline, 1, 1, "baseline");  // a baseline is an input: the same rule
    plan.baseline.assign(req.baseline, req.baseline + n_in);
  } else {
    plan.baseline = default_baseline(m);
  }
  if (!req.h0.empty() || !req.c0.empty()) {
    if (req.h0.size() != m.lstm.size() || req.c0.size() != m.lstm.size())
      throw Error("an initial state needs h0 and c0 for every LSTM layer");
    for (size_t l = 0; l < m.lstm.size(); ++l) {
      const int64_t count = req.n * m.lstm[l].hidden_size;
      if (req.n > 0 && (req.h0[l] == nullptr || req.c0[l] == nullptr)) throw Error("initial state is missing");
      if (req.n > 0 && (!all_finite(req.h0[l], count) || !all_finite(req.c0[l], count)))
        throw Error("initial state of LSTM layer " + std::to_string(l) + " contains NaN or Inf");
    }
  }
  if (req.n > 0) check_windows_input(m, req.x, req.n, req.t);  // the model's input rule
  if (req.n == 0) return;

  const KernelSet& k = active_kernels();
  const int64_t n = req.n, win = req.t * n_in;
  std::vector<float> own_values;
  float* values = req.values;
  if (values == nullptr) {
    own_values.resize(static_cast<size_t>(n * win));
    values = own_values.data();
  }

  // Windows split over threads as in window_forward, each thread in batches of about
  // kBatchRows rows (so memory follows the windows in flight, not N).
  const int64_t per = plan.rows_per_window;
  const int64_t block = std::max<int64_t>(1, kBatchRows / per);
  const int64_t total = macs_per_row(m, req.t) * per * n * (req.method == AttributionMethod::Occlusion ? 1 : 3);
  const int64_t threads = threads_for(req.num_threads, n, total);
  auto chunk = [&](int64_t c) {
    const int64_t n0 = n * c / threads, n1 = n * (c + 1) / threads;
    for (int64_t w = n0; w < n1; w += block) {
      const int64_t nw = std::min(block, n1 - w);
      attribute_block(m, k, req, plan, w, nw, values + w * win);
    }
  };
  run_chunks(threads, chunk);
  if (req.signed_stats) req.signed_stats->update(values, n * req.t, n_in);
  if (req.abs_stats) {
    if (own_values.empty()) own_values.resize(static_cast<size_t>(n * win));
    for (int64_t i = 0; i < n * win; ++i) own_values[static_cast<size_t>(i)] = std::fabs(values[i]);
    req.abs_stats->update(own_values.data(), n * req.t, n_in);
  }
}

StreamHistory::StreamHistory(const Model& m, int64_t batch)
    : batch_(batch), window_(m.window), n_in_(m.input_size) {
  samples_.assign(static_cast<size_t>(window_ * batch_ * n_in_), 0.0f);
  for (const LstmLayer& l : m.lstm) {
    const size_t rows = static_cast<size_t>(batch_ * l.hidden_size);
    hidden_.push_back(l.hidden_size);
    h_.emplace_back(static_cast<size_t>(window_ + 1) * rows, 0.0f);
    c_.emplace_back(static_cast<size_t>(window_ + 1) * rows, 0.0f);
    start_h_.emplace_back(rows, 0.0f);
    start_c_.emplace_back(rows, 0.0f);
    h0_.emplace_back(rows, 0.0f);
    c0_.emplace_back(rows, 0.0f);
  }
}

void StreamHistory::commit(const float* x, const std::vector<const float*>& h, const std::vector<const float*>& c) {
  std::copy(x, x + batch_ * n_in_, samples_.begin() + (steps_ % window_) * batch_ * n_in_);
  const int64_t slot = steps_ % (window_ + 1);
  for (size_t l = 0; l < hidden_.size(); ++l) {
    const int64_t rows = batch_ * hidden_[l];
    std::copy(h[l], h[l] + rows, h_[l].begin() + slot * rows);
    std::copy(c[l], c[l] + rows, c_[l].begin() + slot * rows);
  }
  ++steps_;
}

void StreamHistory::reset() {
  steps_ = 0;
  for (auto* states : {&start_h_, &start_c_})
    for (std::vector<float>& v : *states) std::fill(v.begin(), v.end(), 0.0f);
}

const float* StreamHistory::state_into(const std::vector<std::vector<float>>& ring,
                                       const std::vector<std::vector<float>>& start, size_t layer, int64_t s) const {
  if (s == 0) return start[layer].data();  // the stream's first sample (since a reset or a restore)
  const int64_t rows = batch_ * hidden_[layer];
  return ring[layer].data() + ((s - 1) % (window_ + 1)) * rows;  // the state the sample before left
}

void StreamHistory::fill_request(AttributionRequest& req) {
  const int64_t len = length();
  if (len < 1) throw Error("the stream has taken no sample yet");
  const int64_t oldest = steps_ - len;
  x_.resize(static_cast<size_t>(batch_ * len * n_in_));
  for (int64_t i = 0; i < len; ++i) {
    const float* src = samples_.data() + ((oldest + i) % window_) * batch_ * n_in_;
    for (int64_t b = 0; b < batch_; ++b)
      std::copy(src + b * n_in_, src + (b + 1) * n_in_, x_.begin() + (b * len + i) * n_in_);
  }
  req.x = x_.data();
  req.n = batch_;
  req.t = len;
  req.h0.clear();
  req.c0.clear();
  for (size_t l = 0; l < hidden_.size(); ++l) {
    const int64_t rows = batch_ * hidden_[l];
    const float* h = state_into(h_, start_h_, l, oldest);
    const float* c = state_into(c_, start_c_, l, oldest);
    std::copy(h, h + rows, h0_[l].begin());
    std::copy(c, c + rows, c0_[l].begin());
    req.h0.push_back(h0_[l].data());
    req.c0.push_back(c0_[l].data());
  }
}

void StreamHistory::held(std::vector<float>& x, std::vector<std::vector<float>>& h_into,
                         std::vector<std::vector<float>>& c_into) const {
  const int64_t len = length(), oldest = steps_ - len, width = batch_ * n_in_;
  x.resize(static_cast<size_t>(len * width));
  for (int64_t i = 0; i < len; ++i) {
    const float* src = samples_.data() + ((oldest + i) % window_) * width;
    std::copy(src, src + width, x.begin() + i * width);
  }
  h_into.assign(hidden_.size(), {});
  c_into.assign(hidden_.size(), {});
  for (size_t l = 0; l < hidden_.size(); ++l) {
    const int64_t rows = batch_ * hidden_[l];
    for (int64_t i = 0; i < len; ++i) {
      const float* h = state_into(h_, start_h_, l, oldest + i);
      const float* c = state_into(c_, start_c_, l, oldest + i);
      h_into[l].insert(h_into[l].end(), h, h + rows);
      c_into[l].insert(c_into[l].end(), c, c + rows);
    }
  }
}

void StreamHistory::assign(int64_t count, const std::vector<float>& x, const std::vector<std::vector<float>>& h_into,
                           const std::vector<std::vector<float>>& c_into, const std::vector<const float*>& h_now,
                           const std::vector<const float*>& c_now) {
  if (count < 0 || count > window_) throw Error("a history holds 0 to " + std::to_string(window_) + " samples");
  if (x.size() != static_cast<size_t>(count * batch_ * n_in_)) throw Error("history samples have the wrong size");
  if (h_into.size() != hidden_.size() || c_into.size() != hidden_.size() || h_now.size() != hidden_.size() ||
      c_now.size() != hidden_.size())
    throw Error("a history needs one state per LSTM layer");
  auto finite = [](const float* p, size_t n) { return std::all_of(p, p + n, [](float v) { return std::isfinite(v); }); };
  if (!finite(x.data(), x.size())) throw Error("history samples hold NaN or Inf");
  for (size_t l = 0; l < hidden_.size(); ++l) {
    const size_t rows = static_cast<size_t>(batch_ * hidden_[l]);
    if (h_into[l].size() != static_cast<size_t>(count) * rows || c_into[l].size() != static_cast<size_t>(count) * rows)
      throw Error("history states of layer " + std::to_string(l) + " have the wrong size");
    if (!finite(h_into[l].data(), h_into[l].size()) || !finite(c_into[l].data(), c_into[l].size()))
      throw Error("history states hold NaN or Inf");
  }
  reset();
  if (count == 0) return;
  for (size_t l = 0; l < hidden_.size(); ++l) {
    std::copy(h_into[l].begin(), h_into[l].begin() + batch_ * hidden_[l], start_h_[l].begin());
    std::copy(c_into[l].begin(), c_into[l].begin() + batch_ * hidden_[l], start_c_[l].begin());
  }
  // Sample i left the state carried into sample i + 1; the last one, the stream's.
  std::vector<const float*> h(hidden_.size()), c(hidden_.size());
  for (int64_t i = 0; i < count; ++i) {
    for (size_t l = 0; l < hidden_.size(); ++l) {
      const int64_t rows = batch_ * hidden_[l];
      h[l] = i + 1 < count ? h_into[l].data() + (i + 1) * rows : h_now[l];
      c[l] = i + 1 < count ? c_into[l].data() + (i + 1) * rows : c_now[l];
    }
    commit(x.data() + i * batch_ * n_in_, h, c);
  }
}

}  // namespace actif
