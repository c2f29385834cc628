// radixlm bench-grammar: what constrained decoding costs.
//
//   compile   a 20-property nested schema compiled from scratch against the
//             model's vocabulary (median of 21), and a GrammarCache hit
//   decode    `batch` requests with a JSON schema (response_format's grammar)
//             against the same requests unconstrained, through the engine on
//             the chosen backend: the constrained run first, then the
//             unconstrained one with each request's max_tokens set to the
//             length its constrained output had, so both generate the same
//             tokens at the same batch sizes. Rounds alternate the order; the
//             figures are medians over the rounds after the first (which pays
//             for the cold masks, reported apart).
//   masks     for each --tokenizer (real vocabularies: Llama 3, Qwen, ...):
//             `batch` sequences walking the schema at random, the host's work
//             per decode step (Matcher::Allowed, the mask applied to a row of
//             the vocabulary's size, Advance), cold and memoized.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "backend/sampling.h"
#include "core/json_writer.h"
#include "engine/engine.h"
#include "grammar/grammar.h"
#include "grammar/grammar_cache.h"
#include "grammar/json_tree.h"
#include "grammar/matcher.h"
#include "model/tokenizer.h"
#include "tools/backend_choice.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace radixlm::tools {
namespace {

// The process's CPU time: on a machine shared with other work, the work done
// is steadier than the wall time it took.
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// An API's response: records of several kinds, nested objects and arrays,
// strings, numbers, enums, optional fields.
const char* const kDecodeSchema = R"({"type":"object","properties":{
  "request_id":{"type":"string"},
  "status":{"enum":["ok","partial","failed"]},
  "items":{"type":"array","minItems":1,"items":{"type":"object","properties":{
    "id":{"type":"integer"},"name":{"type":"string"},"price":{"type":"number"},
    "tags":{"type":"array","items":{"enum":["new","sale","limited","classic"]},"maxItems":3},
    "in_stock":{"type":"boolean"},
    "vendor":{"type":"object","properties":{"name":{"type":"string"},
      "country":{"type":"string"}},"required":["name","country"],"additionalProperties":false}},
    "required":["id","name","price","tags","in_stock","vendor"],"additionalProperties":false}},
  "note":{"anyOf":[{"type":"string"},{"type":"null"}]}},
  "required":["request_id","status","items","note"],"additionalProperties":false})";

// 20 properties, objects nested three deep, arrays of objects, enums, anyOf.
std::string TwentyPropertySchema() {
  const char* kinds[] = {
      R"({"type":"string"})", R"({"type":"integer"})",
      R"({"type":"array","items":{"type":"object","properties":{"key":{"type":"string"},"value":{"type":"number"}},"required":["key","value"],"additionalProperties":false}})",
      R"({"type":"object","properties":{"enabled":{"type":"boolean"},"mode":{"enum":["fast","safe","off"]},"limits":{"type":"object","properties":{"low":{"type":"integer"},"high":{"type":"integer"}},"required":["low","high"],"additionalProperties":false}},"required":["enabled","mode","limits"],"additionalProperties":false})",
      R"({"anyOf":[{"type":"string"},{"type":"null"}]})"};
  std::string props;
  std::string required;
  for (int i = 0; i < 20; ++i) {
    if (i > 0) {
      props += ",";
      required += ",";
    }
    const std::string name = "\"property_" + std::to_string(i) + "\"";
    props += name + ":" + kinds[i % 5];
    required += name;
  }
  return R"({"type":"object","properties":{)" + props + "},\"required\":[" + required +
         "],\"additionalProperties\":false}";
}

struct DecodeRun {
  double seconds = 0;
  double cpu_seconds = 0;
  int64_t tokens = 0;
  double grammar_seconds = 0;
  int64_t steps = 0;
  std::vector<int64_t> lengths;  // per request
  int64_t valid = 0;             // constrained: outputs that parse as the schema's JSON
};

StatusOr<DecodeRun> RunBatch(engine::Engine* engine,
                             const std::vector<std::vector<int32_t>>& prompts,
                             std::shared_ptr<const grammar::Grammar> g,
                             const std::vector<int64_t>& max_tokens, double temperature) {
  const engine::EngineSnapshot before = engine->Snapshot();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  for (size_t i = 0; i < prompts.size(); ++i) {
    engine::RequestOptions o;
    o.prompt = prompts[i];
    o.stop.max_tokens = max_tokens[i];
    o.stop.ignore_eos = g == nullptr;  // the unconstrained run writes as many tokens
    o.sampling.temperature = temperature;
    o.sampling.seed = 1000 + i;
    o.grammar = g;
    ASSIGN_OR_RETURN(auto h, engine->Submit(std::move(o)));
    handles.push_back(std::move(h));
  }
  DecodeRun run;
  for (auto& h : handles) {
    std::string text;
    int64_t tokens = 0;
    engine::RequestUpdate u;
    while (true) {
      if (!h->Next(&u, std::chrono::seconds(600)))
        return Status(StatusCode::kDeadlineExceeded, "no update in 10 minutes");
      for (const auto& d : u.samples) {
        text += d.text;
        tokens += static_cast<int64_t>(d.tokens.size());
      }
      if (!u.error.ok()) return u.error;
      if (u.finished) break;
    }
    run.lengths.push_back(tokens);
    run.tokens += tokens;
    if (g != nullptr && grammar::ParseJsonTree(text, "output").ok()) ++run.valid;
  }
  run.seconds = SecondsSince(start);
  run.cpu_seconds = CpuSeconds() - cpu_start;
  const engine::EngineSnapshot after = engine->Snapshot();
  run.grammar_seconds = after.grammar_seconds - before.grammar_seconds;
  run.steps = after.steps - before.steps;
  return run;
}

struct MaskCost {
  std::string tokenizer;
  int64_t vocab = 0;
  // The whole batch's host work per step: the matchers alone (Allowed and
  // Advance: all the host does when the device applies the masks), and with
  // each mask applied to a host row (the CPU backend).
  double cold_lookup_us_per_step = 0, warm_lookup_us_per_step = 0;
  double cold_us_per_step = 0, warm_us_per_step = 0;
  int64_t masks_computed = 0;
  double compute_us_each = 0;
};

// `batch` matchers walk the schema with random allowed tokens for `steps`
// steps; the host's work per step (masks, their application to a row, the
// matchers' moves) for the whole batch: the first pass with cold masks, the
// second (the same walks) memoized.
// `vocab_size` 0: the tokenizer's own.
StatusOr<MaskCost> MeasureMasks(const std::string& path, int64_t vocab_size,
                                const std::string& schema, int64_t batch, int64_t steps) {
  ASSIGN_OR_RETURN(auto tokenizer, model::Tokenizer::FromFile(path));
  ASSIGN_OR_RETURN(auto vocab,
                   grammar::TokenVocabulary::FromTokenizer(
                       *tokenizer, vocab_size > 0 ? vocab_size : tokenizer->vocab_size()));
  grammar::GrammarSpec spec;
  spec.kind = grammar::GrammarSpec::Kind::kJsonSchema;
  spec.schema = schema;
  ASSIGN_OR_RETURN(auto g, grammar::Grammar::Compile(spec, vocab, {}));
  MaskCost cost;
  cost.tokenizer = path;
  cost.vocab = vocab->size();
  std::vector<float> row(static_cast<size_t>(vocab->size()));
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<grammar::Matcher> matchers(static_cast<size_t>(batch), grammar::Matcher(g));
    std::mt19937_64 rng(7);
    std::vector<int32_t> allowed;
    double timed = 0, looked_up = 0;
    int64_t timed_steps = 0;
    for (int64_t step = 0; step < steps; ++step) {
      double step_seconds = 0, lookup_seconds = 0;
      bool any = false;
      for (grammar::Matcher& m : matchers) {
        if (m.final()) continue;
        any = true;
        const auto t0 = std::chrono::steady_clock::now();
        auto mask = m.Allowed(steps - step);
        lookup_seconds += SecondsSince(t0);
        std::fill(row.begin(), row.end(), 0.0f);  // (not timed: the logits exist already)
        const auto t1 = std::chrono::steady_clock::now();
        backend::ApplyTokenMask(row, mask->words);
        step_seconds += SecondsSince(t1);
        // A random allowed token (the model's choice; not timed).
        allowed.clear();
        for (size_t w = 0; w < mask->words.size(); ++w) {
          for (uint32_t bits = mask->words[w]; bits != 0; bits &= bits - 1)
            allowed.push_back(static_cast<int32_t>(w * 32 + __builtin_ctz(bits)));
        }
        if (allowed.empty()) continue;
        const int32_t token = allowed[rng() % allowed.size()];
        const auto t2 = std::chrono::steady_clock::now();
        RETURN_IF_ERROR(m.Advance(token));
        lookup_seconds += SecondsSince(t2);
      }
      if (!any) break;
      timed += step_seconds + lookup_seconds;
      looked_up += lookup_seconds;
      ++timed_steps;
    }
    const double n = std::max<double>(1, static_cast<double>(timed_steps));
    (pass == 0 ? cost.cold_us_per_step : cost.warm_us_per_step) = timed * 1e6 / n;
    (pass == 0 ? cost.cold_lookup_us_per_step : cost.warm_lookup_us_per_step) = looked_up * 1e6 / n;
  }
  const grammar::MaskStats s = g->stats();
  cost.masks_computed = s.computed;
  cost.compute_us_each =
      s.computed > 0 ? s.compute_seconds * 1e6 / static_cast<double>(s.computed) : 0;
  return cost;
}

}  // namespace

int RunBenchGrammar(const BenchGrammarOptions& o) {
  if (o.model.empty()) return Fail(InvalidArgumentError("--model DIR is required"));
  if (Status s = CheckDevice(o.device, o.tensor_parallel); !s.ok()) return Fail(s);
  std::string schema = kDecodeSchema;
  if (!o.schema_file.empty()) {
    std::ifstream in(o.schema_file);
    if (!in) return Fail(NotFoundError("cannot read " + o.schema_file));
    std::stringstream text;
    text << in.rdbuf();
    schema = text.str();
  }
  DeviceChoice choice;
  choice.device = o.device;
  choice.cpu.page_size = 16;
  choice.cpu.threads = o.threads;
  choice.tensor_parallel = o.tensor_parallel;
  choice.cpu.num_pages = o.batch * ((o.prompt_tokens + o.max_tokens + 15) / 16 + 2) + 64;
  choice.gpu_memory_fraction = o.gpu_memory_fraction;
  std::fprintf(stderr, "loading %s on %s...\n", o.model.c_str(), o.device.c_str());
  auto loaded = LoadModelOn(o.model, choice);
  if (!loaded.ok()) return Fail(loaded.status());
  if (loaded->tokenizer == nullptr) return Fail(InvalidArgumentError("the model has no tokenizer"));
  const model::ModelConfig& c = loaded->config;
  auto vocab = grammar::TokenVocabulary::FromTokenizer(*loaded->tokenizer, c.vocab_size);
  if (!vocab.ok()) return Fail(vocab.status());

  // Compile.
  const std::string twenty = TwentyPropertySchema();
  grammar::GrammarSpec twenty_spec;
  twenty_spec.kind = grammar::GrammarSpec::Kind::kJsonSchema;
  twenty_spec.schema = twenty;
  std::vector<double> compile_ms;
  int32_t twenty_states = 0;
  for (int i = 0; i < 21; ++i) {
    auto g = grammar::Grammar::Compile(twenty_spec, *vocab, {});
    if (!g.ok()) return Fail(g.status());
    compile_ms.push_back((*g)->compile_seconds() * 1e3);
    twenty_states = (*g)->dfa().num_states();
  }
  grammar::GrammarCache cache(*vocab, {});
  if (auto first = cache.Get(twenty_spec); !first.ok()) return Fail(first.status());
  std::vector<double> hit_us;
  for (int i = 0; i < 101; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto hit = cache.Get(twenty_spec);
    hit_us.push_back(SecondsSince(start) * 1e6);
    if (!hit.ok()) return Fail(hit.status());
  }

  // Decode.
  grammar::GrammarSpec spec;
  spec.kind = grammar::GrammarSpec::Kind::kJsonSchema;
  spec.schema = schema;
  auto decode_grammar = cache.Get(spec);
  if (!decode_grammar.ok()) return Fail(decode_grammar.status());
  std::vector<double> free_tps, constrained_tps, grammar_share, free_cpu, constrained_cpu;
  DecodeRun cold;
  if (!o.no_decode) {
    engine::EngineOptions eo;
    eo.max_running = o.batch;
    eo.token_budget = std::max<int64_t>(512, o.batch);
    if (c.eos_token_id >= 0) eo.eos_token_ids.push_back(static_cast<int32_t>(c.eos_token_id));
    auto engine = engine::Engine::Create(loaded->backend.get(), loaded->tokenizer.get(), eo);
    if (!engine.ok()) return Fail(engine.status());
    std::mt19937 rng(11);
    std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(o.batch));
    for (auto& p : prompts) {
      p.resize(static_cast<size_t>(o.prompt_tokens));
      for (int32_t& t : p) t = static_cast<int32_t>(32 + rng() % 90);
    }
    const std::vector<int64_t> budget(prompts.size(), o.max_tokens);
    std::fprintf(stderr, "decode: %lld requests x up to %lld tokens, %lld rounds...\n",
                 static_cast<long long>(o.batch), static_cast<long long>(o.max_tokens),
                 static_cast<long long>(o.rounds));
    auto first = RunBatch(engine->get(), prompts, *decode_grammar, budget, o.temperature);
    if (!first.ok()) return Fail(first.status());
    cold = *first;
    for (int64_t round = 0; round < o.rounds; ++round) {
      for (int k = 0; k < 2; ++k) {
        const bool constrained = (k == 0) == (round % 2 == 0);
        auto run = RunBatch(engine->get(), prompts, constrained ? *decode_grammar : nullptr,
                            constrained ? budget : cold.lengths, o.temperature);
        if (!run.ok()) return Fail(run.status());
        const double tps = static_cast<double>(run->tokens) / run->seconds;
        const double cpu = static_cast<double>(run->tokens) / run->cpu_seconds;
        (constrained ? constrained_tps : free_tps).push_back(tps);
        (constrained ? constrained_cpu : free_cpu).push_back(cpu);
        if (constrained) {
          grammar_share.push_back(run->grammar_seconds / run->seconds);
        } else if (run->tokens != cold.tokens) {
          return Fail(InternalError("the unconstrained run wrote " + std::to_string(run->tokens) +
                                    " tokens, the constrained one " + std::to_string(cold.tokens)));
        }
        std::fprintf(stderr, "  round %lld %s: %.1f tokens/s, %.1f tokens per CPU second\n",
                     static_cast<long long>(round), constrained ? "constrained  " : "unconstrained",
                     tps, cpu);
      }
    }
  }
  const double free = Median(free_tps), constrained = Median(constrained_tps);

  // The mask work per step: the model's own vocabulary first (its rows, its
  // tokenizer's tokens), then the others.
  std::vector<MaskCost> masks;
  std::vector<std::pair<std::string, int64_t>> vocabularies = {
      {o.model + "/tokenizer.json", c.vocab_size}};
  for (const std::string& path : o.tokenizers) vocabularies.emplace_back(path, 0);
  for (const auto& [path, size] : vocabularies) {
    std::fprintf(stderr, "masks: %s...\n", path.c_str());
    auto m = MeasureMasks(path, size, schema, o.batch, o.max_tokens);
    if (!m.ok()) return Fail(m.status());
    masks.push_back(*m);
  }

  FILE* table = o.json_out == "-" ? stderr : stdout;
  // The decode step this model takes at this batch (0: not measured).
  const double step_us = free > 0 ? 1e6 * static_cast<double>(o.batch) / free : 0;
  auto share = [&](double us) {
    char text[64] = "";
    if (step_us > 0)
      std::snprintf(text, sizeof(text), " (%.2f%% of a decode step)", 100 * us / step_us);
    return std::string(text);
  };
  std::fprintf(table,
               "model %s (%s, vocabulary %lld) on %s, batch %lld, %lld-token prompts, "
               "temperature %g\n",
               o.model.c_str(), std::string(model::ArchitectureName(c.architecture)).c_str(),
               static_cast<long long>(c.vocab_size), o.device.c_str(),
               static_cast<long long>(o.batch), static_cast<long long>(o.prompt_tokens),
               o.temperature);
  std::fprintf(table,
               "compile, 20-property nested schema: %.2f ms median of 21 (%d DFA states); "
               "cached: %.2f us\n",
               Median(compile_ms), twenty_states, Median(hit_us));
  if (!o.no_decode) {
    std::fprintf(table,
                 "decode, %lld tokens a round (%lld of %lld constrained outputs parse as JSON), "
                 "a decode step %.0f us:\n",
                 static_cast<long long>(cold.tokens), static_cast<long long>(cold.valid),
                 static_cast<long long>(o.batch), step_us);
    std::fprintf(table, "  unconstrained  %10.1f tokens/s (median of %lld)\n", free,
                 static_cast<long long>(o.rounds));
    std::fprintf(table, "  constrained    %10.1f tokens/s: %.1f%% of unconstrained (%.2f%% cost)\n",
                 constrained, 100 * constrained / free, 100 * (1 - constrained / free));
    std::fprintf(table,
                 "  per CPU second: unconstrained %.1f, constrained %.1f tokens: %.1f%% (%.2f%% "
                 "cost)\n",
                 Median(free_cpu), Median(constrained_cpu),
                 100 * Median(constrained_cpu) / Median(free_cpu),
                 100 * (1 - Median(constrained_cpu) / Median(free_cpu)));
    std::fprintf(table, "  engine thread on grammars: %.2f%% of the constrained run's time\n",
                 100 * Median(grammar_share));
    std::fprintf(table, "  first constrained round (cold masks): %.1f tokens/s\n",
                 static_cast<double>(cold.tokens) / cold.seconds);
  }
  for (const MaskCost& m : masks) {
    std::fprintf(table,
                 "masks, vocabulary of %lld (%s), per step of %lld sequences: matchers %.1f us "
                 "cold, %.1f us memoized%s; with the masks applied to host rows %.1f us "
                 "cold, %.1f us memoized%s; %lld masks computed, %.0f us each\n",
                 static_cast<long long>(m.vocab), m.tokenizer.c_str(),
                 static_cast<long long>(o.batch), m.cold_lookup_us_per_step,
                 m.warm_lookup_us_per_step, share(m.warm_lookup_us_per_step).c_str(),
                 m.cold_us_per_step, m.warm_us_per_step, share(m.warm_us_per_step).c_str(),
                 static_cast<long long>(m.masks_computed), m.compute_us_each);
  }
  if (!o.json_out.empty()) {
    JsonWriter w;
    w.BeginObject();
    w.Key("model");
    w.String(o.model);
    w.Key("device");
    w.String(o.device);
    w.Key("batch");
    w.Int(o.batch);
    w.Key("temperature");
    w.Double(o.temperature);
    w.Key("compile_ms");
    w.Double(Median(compile_ms));
    w.Key("cached_us");
    w.Double(Median(hit_us));
    if (!o.no_decode) {
      w.Key("decode_step_us");
      w.Double(step_us);
      w.Key("unconstrained_tokens_per_s");
      w.Double(free);
      w.Key("constrained_tokens_per_s");
      w.Double(constrained);
      w.Key("constrained_ratio");
      w.Double(constrained / free);
      w.Key("constrained_cpu_ratio");
      w.Double(Median(constrained_cpu) / Median(free_cpu));
      w.Key("grammar_share");
      w.Double(Median(grammar_share));
      w.Key("valid_outputs");
      w.Int(cold.valid);
    }
    w.Key("masks");
    w.BeginArray();
    for (const MaskCost& m : masks) {
      w.BeginObject();
      w.Key("tokenizer");
      w.String(m.tokenizer);
      w.Key("vocab");
      w.Int(m.vocab);
      w.Key("cold_lookup_us_per_step");
      w.Double(m.cold_lookup_us_per_step);
      w.Key("warm_lookup_us_per_step");
      w.Double(m.warm_lookup_us_per_step);
      w.Key("cold_us_per_step");
      w.Double(m.cold_us_per_step);
      w.Key("warm_us_per_step");
      w.Double(m.warm_us_per_step);
      w.Key("masks_computed");
      w.Int(m.masks_computed);
      w.Key("compute_us_each");
      w.Double(m.compute_us_each);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    if (o.json_out == "-") {
      std::printf("%s\n", w.str().c_str());
    } else {
      std::ofstream(o.json_out) << w.str() << "\n";
    }
  }
  return 0;
}

}  // namespace radixlm::tools
