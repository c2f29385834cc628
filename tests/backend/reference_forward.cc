#include "backend/reference_forward.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"

namespace radixlm::testing {

namespace {

using Vec = std::vector<double>;

Vec Load(const model::WeightView& view) {
  if (!view.present()) return {};
  std::vector<float> f(static_cast<size_t>(view.elements()));
  model::ViewToF32(view, f);
  return Vec(f.begin(), f.end());
}

// y = W x (+ b) with W [rows, cols].
Vec Linear(const Vec& w, const Vec& b, const Vec& x, int64_t rows) {
  const int64_t cols = static_cast<int64_t>(x.size());
  Vec y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double s = b.empty() ? 0.0 : b[static_cast<size_t>(r)];
    for (int64_t c = 0; c < cols; ++c)
      s += w[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

Vec Norm(const model::ModelConfig& c, const Vec& w, const Vec& b, const Vec& x) {
  const double n = static_cast<double>(x.size());
  Vec y(x.size());
  if (c.architecture == model::Architecture::kGpt2) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= n;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= n;
    for (size_t i = 0; i < x.size(); ++i)
      y[i] = (x[i] - mean) / std::sqrt(var + c.norm_eps) * w[i] + b[i];
  } else {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / n + c.norm_eps);
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  }
  return y;
}

void Rope(Vec& x, int64_t heads, int64_t hd, int64_t pos, const std::vector<float>& inv_freq) {
  const int64_t half = hd / 2;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      // The angle as Hugging Face computes it (an F32 product), then cos/sin.
      const double angle = static_cast<float>(pos) * inv_freq[static_cast<size_t>(i)];
      const double cs = std::cos(angle), sn = std::sin(angle);
      double& a = x[static_cast<size_t>(h * hd + i)];
      double& b = x[static_cast<size_t>(h * hd + i + half)];
      const double a0 = a, b0 = b;
      a = a0 * cs - b0 * sn;
      b = b0 * cs + a0 * sn;
    }
  }
}

}  // namespace

std::vector<double> ReferenceForward(const model::ModelWeights& w, std::span<const int32_t> tokens,
                                     std::vector<double>* hidden) {
  const model::ModelConfig& c = w.config;
  const bool gpt2 = c.architecture == model::Architecture::kGpt2;
  const int64_t t = static_cast<int64_t>(tokens.size()), h = c.hidden_size, hd = c.head_dim;
  const int64_t group = c.num_heads / c.num_kv_heads;
  const std::vector<float> inv_freq =
      gpt2 ? std::vector<float>() : backend::cpu::RopeInverseFrequencies(c);
  const Vec embed = Load(w.embed), pos_embed = Load(w.pos_embed);
  std::vector<Vec> x(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) {
    Vec& row = x[static_cast<size_t>(i)];
    row.assign(embed.begin() + tokens[static_cast<size_t>(i)] * h,
               embed.begin() + (tokens[static_cast<size_t>(i)] + 1) * h);
    if (gpt2) {
      for (int64_t j = 0; j < h; ++j)
        row[static_cast<size_t>(j)] += pos_embed[static_cast<size_t>(i * h + j)];
    }
  }
  for (size_t li = 0; li < w.layers.size(); ++li) {
    const model::LayerWeights& l = w.layers[li];
    // Sliding window (model/config.h): position i sees j with i - window < j <= i.
    const int64_t window = c.LayerWindow(static_cast<int64_t>(li));
    const Vec an = Load(l.attn_norm), anb = Load(l.attn_norm_bias);
    const Vec wq = Load(l.q), wk = Load(l.k), wv = Load(l.v), bq = Load(l.q_bias),
              bk = Load(l.k_bias), bv = Load(l.v_bias), wo = Load(l.o), bo = Load(l.o_bias);
    const Vec mn = Load(l.mlp_norm), mnb = Load(l.mlp_norm_bias), wg = Load(l.gate),
              wu = Load(l.up), bu = Load(l.up_bias), wd = Load(l.down), bd = Load(l.down_bias);
    std::vector<Vec> q(static_cast<size_t>(t)), k(q.size()), v(q.size());
    for (int64_t i = 0; i < t; ++i) {
      const Vec n = Norm(c, an, anb, x[static_cast<size_t>(i)]);
      q[static_cast<size_t>(i)] = Linear(wq, bq, n, c.num_heads * hd);
      k[static_cast<size_t>(i)] = Linear(wk, bk, n, c.num_kv_heads * hd);
      v[static_cast<size_t>(i)] = Linear(wv, bv, n, c.num_kv_heads * hd);
      if (!gpt2) {
        Rope(q[static_cast<size_t>(i)], c.num_heads, hd, i, inv_freq);
        Rope(k[static_cast<size_t>(i)], c.num_kv_heads, hd, i, inv_freq);
      }
    }
    for (int64_t i = 0; i < t; ++i) {
      Vec attn(static_cast<size_t>(c.num_heads * hd), 0.0);
      for (int64_t head = 0; head < c.num_heads; ++head) {
        const int64_t g = head / group;
        const int64_t first = window > 0 ? std::max<int64_t>(0, i - window + 1) : 0;
        Vec scores(static_cast<size_t>(i + 1), -INFINITY);  // -inf: outside the window
        double max = -INFINITY;
        for (int64_t j = first; j <= i; ++j) {
          double s = 0;
          for (int64_t d = 0; d < hd; ++d) {
            s += q[static_cast<size_t>(i)][static_cast<size_t>(head * hd + d)] *
                 k[static_cast<size_t>(j)][static_cast<size_t>(g * hd + d)];
          }
          scores[static_cast<size_t>(j)] = s / std::sqrt(static_cast<double>(hd));
          max = std::max(max, scores[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - max));
        for (int64_t j = first; j <= i; ++j) {
          for (int64_t d = 0; d < hd; ++d) {
            attn[static_cast<size_t>(head * hd + d)] +=
                scores[static_cast<size_t>(j)] / sum *
                v[static_cast<size_t>(j)][static_cast<size_t>(g * hd + d)];
          }
        }
      }
      const Vec o = Linear(wo, bo, attn, h);
      Vec& row = x[static_cast<size_t>(i)];
      for (int64_t j = 0; j < h; ++j) row[static_cast<size_t>(j)] += o[static_cast<size_t>(j)];
      const Vec n = Norm(c, mn, mnb, row);
      Vec act;
      if (gpt2) {
        act = Linear(wu, bu, n, c.intermediate_size);
        for (double& a : act) {
          a = c.gelu_exact
                  ? 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)))
                  : 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
        }
      } else {
        const Vec gate = Linear(wg, {}, n, c.intermediate_size);
        act = Linear(wu, {}, n, c.intermediate_size);
        for (size_t j = 0; j < act.size(); ++j) act[j] *= gate[j] / (1 + std::exp(-gate[j]));
      }
      const Vec down = Linear(wd, bd, act, h);
      for (int64_t j = 0; j < h; ++j) row[static_cast<size_t>(j)] += down[static_cast<size_t>(j)];
    }
  }
  const Vec fn = Load(w.final_norm), fnb = Load(w.final_norm_bias), head = Load(w.lm_head);
  std::vector<double> logits;
  logits.reserve(static_cast<size_t>(t * c.vocab_size));
  for (int64_t i = 0; i < t; ++i) {
    const Vec normed = Norm(c, fn, fnb, x[static_cast<size_t>(i)]);
    if (hidden != nullptr) hidden->insert(hidden->end(), normed.begin(), normed.end());
    const Vec row = Linear(head, {}, normed, c.vocab_size);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

}  // namespace radixlm::testing
