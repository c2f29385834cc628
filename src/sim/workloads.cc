#include "sim/workloads.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace radixlm::sim {
namespace {

// Deterministic on every platform (the standard distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ULL + 1) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
  // Uniform in [mean/2, 3*mean/2], at least 1.
  int64_t Around(int64_t mean) { return std::max<int64_t>(1, mean / 2 + Below(mean + 1)); }
  double Exponential(double mean) { return -std::log1p(-Uniform()) * mean; }

 private:
  uint64_t state_;
};

// Samples ranks 0..n-1 with probability proportional to 1/(rank+1)^s.
class Zipf {
 public:
  Zipf(int64_t n, double s) : cdf_(static_cast<size_t>(n)) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
      cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
    for (double& c : cdf_) c /= sum;
  }
  int64_t Sample(Random& random) const {
    auto it = std::upper_bound(cdf_.begin(), cdf_.end(), random.Uniform());
    return std::min<int64_t>(it - cdf_.begin(), static_cast<int64_t>(cdf_.size()) - 1);
  }

 private:
  std::vector<double> cdf_;
};

// Accumulates requests with named content, then sorts them by arrival.
class Builder {
 public:
  uint32_t Content(const std::string& name) {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(trace_.content_names.size());
    trace_.content_names.push_back(name);
    index_.emplace(name, id);
    return id;
  }
  TraceRequest& Add(double arrival_s) {
    trace_.requests.emplace_back();
    trace_.requests.back().arrival_s = arrival_s;
    return trace_.requests.back();
  }
  Trace Finish() {
    std::stable_sort(
        trace_.requests.begin(), trace_.requests.end(),
        [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
    return std::move(trace_);
  }

 private:
  Trace trace_;
  std::unordered_map<std::string, uint32_t> index_;
};

// Arrival times of a Poisson process at `rate` per second (all 0 when rate < 0).
class Arrivals {
 public:
  Arrivals(double rate, Random& random) : rate_(rate), random_(random) {}
  double Next() {
    if (rate_ > 0) now_ += random_.Exponential(1.0 / rate_);
    return now_;
  }

 private:
  double rate_;
  Random& random_;
  double now_ = 0;
};

int64_t Or(int64_t value, int64_t fallback) { return value > 0 ? value : fallback; }
double Or(double value, double fallback) { return value != 0 ? value : fallback; }

Trace Chatbot(const WorkloadOptions& o, Random& random) {
  const int64_t requests = Or(o.requests, 10000), groups = Or(o.groups, 32);
  const int64_t system = Or(o.system_tokens, 1024), question = Or(o.question_tokens, 128);
  const int64_t output = Or(o.output_tokens, 256);
  Zipf popularity(groups, Or(o.zipf_s, 1.1));
  Arrivals arrivals(Or(o.rate, 20.0), random);
  Builder b;
  for (int64_t i = 0; i < requests; ++i) {
    TraceRequest& r = b.Add(arrivals.Next());
    int64_t g = popularity.Sample(random);
    r.session = "user-" + std::to_string(i);
    r.segments = {{b.Content("system-" + std::to_string(g)), system},
                  {Segment::kUnique, random.Around(question)}};
    r.output_tokens = random.Around(output);
  }
  return b.Finish();
}

Trace MultiTurn(const WorkloadOptions& o, Random& random) {
  const int64_t turns = Or(o.turns, 5);
  const int64_t conversations = Or(o.groups, std::max<int64_t>(1, Or(o.requests, 1000) / turns));
  const int64_t system = Or(o.system_tokens, 512), question = Or(o.question_tokens, 96);
  const int64_t output = Or(o.output_tokens, 192);
  const double think = Or(o.think_time_s, 10.0);
  Arrivals starts(Or(o.rate, 2.0), random);
  Builder b;
  for (int64_t c = 0; c < conversations; ++c) {
    const std::string conv = "conv-" + std::to_string(c);
    double t = starts.Next();
    std::vector<Segment> history = {{b.Content("system-" + std::to_string(c % 8)), system}};
    for (int64_t k = 0; k < turns; ++k) {
      const std::string turn = conv + "/" + std::to_string(k);
      TraceRequest& r = b.Add(t);
      r.session = conv;
      history.push_back({b.Content(turn + "/user"), random.Around(question)});
      r.segments = history;
      r.output_tokens = random.Around(output);
      r.output_content = b.Content(turn + "/answer");
      history.push_back({r.output_content, r.output_tokens});
      t += random.Exponential(think);
    }
  }
  return b.Finish();
}

// Tool-using agents: every prompt opens with the same system prompt and tool
// definitions; a session's prompt grows by the model's tool call (its previous
// output), the tool's result and the next user turn each step.
Trace Agent(const WorkloadOptions& o, Random& random) {
  const int64_t steps = Or(o.turns, 6);
  const int64_t sessions = Or(o.groups, std::max<int64_t>(1, Or(o.requests, 192) / steps));
  const int64_t system = Or(o.system_tokens, 1024), question = Or(o.question_tokens, 48);
  const int64_t output = Or(o.output_tokens, 32);
  const double think = Or(o.think_time_s, 2.0);  // the tool's run time
  Arrivals starts(Or(o.rate, 1.0), random);
  Builder b;
  const uint32_t tools = b.Content("agent-system-and-tools");
  for (int64_t s = 0; s < sessions; ++s) {
    const std::string session = "agent-" + std::to_string(s);
    double t = starts.Next();
    std::vector<Segment> history = {{tools, system},
                                    {b.Content(session + "/task"), random.Around(question)}};
    for (int64_t k = 0; k < steps; ++k) {
      const std::string step = session + "/" + std::to_string(k);
      TraceRequest& r = b.Add(t);
      r.session = session;
      r.segments = history;
      r.output_tokens = random.Around(output);
      r.output_content = b.Content(step + "/call");
      history.push_back({r.output_content, r.output_tokens});
      history.push_back({b.Content(step + "/result"), random.Around(2 * question)});
      history.push_back({b.Content(step + "/user"), random.Around(question / 2 + 1)});
      t += random.Exponential(think);
    }
  }
  return b.Finish();
}

Trace DocQa(const WorkloadOptions& o, Random& random) {
  const int64_t requests = Or(o.requests, 2000), documents = Or(o.groups, 8);
  const int64_t document = Or(o.system_tokens, 8192), question = Or(o.question_tokens, 64);
  const int64_t output = Or(o.output_tokens, 128);
  Zipf popularity(documents, Or(o.zipf_s, 0.8));
  Arrivals arrivals(Or(o.rate, 10.0), random);
  Builder b;
  const uint32_t instructions = b.Content("qa-instructions");
  for (int64_t i = 0; i < requests; ++i) {
    TraceRequest& r = b.Add(arrivals.Next());
    int64_t d = popularity.Sample(random);
    r.segments = {{instructions, 64},
                  {b.Content("document-" + std::to_string(d)), document},
                  {Segment::kUnique, random.Around(question)}};
    r.output_tokens = random.Around(output);
  }
  return b.Finish();
}

Trace FewShot(const WorkloadOptions& o, Random& random) {
  const int64_t requests = Or(o.requests, 5000), tasks = Or(o.groups, 4);
  const int64_t examples = Or(o.system_tokens, 2048), query = Or(o.question_tokens, 64);
  const int64_t output = Or(o.output_tokens, 32);
  Arrivals arrivals(Or(o.rate, 50.0), random);
  Builder b;
  for (int64_t i = 0; i < requests; ++i) {
    TraceRequest& r = b.Add(arrivals.Next());
    int64_t task = random.Below(tasks);
    r.ns = "task-" + std::to_string(task);
    r.segments = {{b.Content("examples-" + std::to_string(task)), examples},
                  {Segment::kUnique, random.Around(query)}};
    r.output_tokens = random.Around(output);
  }
  return b.Finish();
}

Trace GeneratedSharedPrefix(const WorkloadOptions& o, Random& random) {
  // SGLang's defaults; the sizes are exact (no jitter) so the hit rate is analytic.
  const int64_t groups = Or(o.groups, 64);
  const int64_t per_group = std::max<int64_t>(1, Or(o.requests, groups * 16) / groups);
  const int64_t system = Or(o.system_tokens, 2048), question = Or(o.question_tokens, 128);
  const int64_t output = Or(o.output_tokens, 256);
  std::vector<std::pair<int64_t, int64_t>> order;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t k = 0; k < per_group; ++k) order.emplace_back(g, k);
  }
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[static_cast<size_t>(random.Below(static_cast<int64_t>(i)))]);
  }
  Arrivals arrivals(Or(o.rate, -1.0), random);
  Builder b;
  for (const auto& [g, k] : order) {
    TraceRequest& r = b.Add(arrivals.Next());
    r.segments = {{b.Content("system-" + std::to_string(g)), system}, {Segment::kUnique, question}};
    r.output_tokens = output;
  }
  return b.Finish();
}

Trace TreeOfThought(const WorkloadOptions& o, Random& random) {
  const int64_t trees = Or(o.groups, 50), branching = Or(o.branching, 3);
  const int64_t depth = Or(o.depth, 3), root = Or(o.system_tokens, 1024);
  const int64_t thought = Or(o.output_tokens, 128);
  Arrivals starts(Or(o.rate, 1.0), random);
  Builder b;
  const uint32_t step = b.Content("tot-step-instruction");
  for (int64_t t = 0; t < trees; ++t) {
    const std::string tree = "tree-" + std::to_string(t);
    double start = starts.Next();
    // Breadth first: a level's requests follow their parents by 2 s each.
    std::vector<std::vector<Segment>> level = {{{b.Content(tree + "/root"), root}}};
    std::vector<std::string> names = {tree};
    for (int64_t d = 1; d <= depth; ++d) {
      std::vector<std::vector<Segment>> next;
      std::vector<std::string> next_names;
      for (size_t p = 0; p < level.size(); ++p) {
        for (int64_t c = 0; c < branching; ++c) {
          const std::string name = names[p] + "/" + std::to_string(c);
          TraceRequest& r = b.Add(start + 2.0 * static_cast<double>(d) + 0.01 * random.Uniform());
          r.session = tree;
          r.segments = level[p];
          r.segments.push_back({step, 16});
          r.output_tokens = random.Around(thought);
          r.output_content = b.Content(name + "/thought");
          std::vector<Segment> path = level[p];
          path.push_back({step, 16});
          path.push_back({r.output_content, r.output_tokens});
          next.push_back(std::move(path));
          next_names.push_back(name);
        }
      }
      level = std::move(next);
      names = std::move(next_names);
    }
  }
  return b.Finish();
}

Trace AllUnique(const WorkloadOptions& o, Random& random) {
  const int64_t requests = Or(o.requests, 5000), prompt = Or(o.system_tokens, 1024);
  const int64_t output = Or(o.output_tokens, 128);
  Arrivals arrivals(Or(o.rate, 20.0), random);
  Builder b;
  for (int64_t i = 0; i < requests; ++i) {
    TraceRequest& r = b.Add(arrivals.Next());
    r.segments = {{Segment::kUnique, random.Around(prompt)}};
    r.output_tokens = random.Around(output);
  }
  return b.Finish();
}

}  // namespace

const std::vector<std::string>& WorkloadNames() {
  static const std::vector<std::string> names = {
      "chatbot",         "multi-turn", "doc-qa", "few-shot", "generated-shared-prefix",
      "tree-of-thought", "all-unique", "agent"};
  return names;
}

Status WorkloadOptions::Validate() const {
  if (std::find(WorkloadNames().begin(), WorkloadNames().end(), name) == WorkloadNames().end()) {
    std::string known;
    for (const std::string& n : WorkloadNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgumentError("unknown workload '" + name + "' (known: " + known + ")");
  }
  for (int64_t v :
       {requests, groups, system_tokens, question_tokens, output_tokens, turns, branching, depth}) {
    if (v < 0) return InvalidArgumentError("workload sizes must be >= 0 (0: the default)");
  }
  if (!std::isfinite(rate) || !std::isfinite(zipf_s) || zipf_s < 0 || think_time_s < 0) {
    return InvalidArgumentError("rate, zipf exponent and think time must be finite, >= 0");
  }
  if (depth > 12 || branching > 64) {
    return InvalidArgumentError("tree-of-thought: depth <= 12 and branching <= 64");
  }
  return OkStatus();
}

StatusOr<Trace> GenerateWorkload(const WorkloadOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  Random random(options.seed);
  const std::string& n = options.name;
  Trace trace = n == "chatbot"                   ? Chatbot(options, random)
                : n == "multi-turn"              ? MultiTurn(options, random)
                : n == "agent"                   ? Agent(options, random)
                : n == "doc-qa"                  ? DocQa(options, random)
                : n == "few-shot"                ? FewShot(options, random)
                : n == "generated-shared-prefix" ? GeneratedSharedPrefix(options, random)
                : n == "tree-of-thought"         ? TreeOfThought(options, random)
                                                 : AllUnique(options, random);
  RETURN_IF_ERROR(trace.Validate());
  return trace;
}

}  // namespace radixlm::sim
