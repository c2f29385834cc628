#include "grammar/grammar.h"

#include <algorithm>
#include <chrono>

#include "core/hash.h"
#include "grammar/json_nfa.h"
#include "grammar/json_tree.h"
#include "grammar/nfa.h"
#include "grammar/schema_compiler.h"

namespace radixlm::grammar {

Status GrammarOptions::Validate() const {
  if (max_whitespace < 0 || max_whitespace > 8)
    return InvalidArgumentError("max_whitespace must be in [0, 8]");
  if (json_object_depth < 1 || json_object_depth > 16)
    return InvalidArgumentError("json_object_depth must be in [1, 16]");
  if (any_value_depth < 0 || any_value_depth > 8)
    return InvalidArgumentError("any_value_depth must be in [0, 8]");
  if (max_recursion < 0 || max_recursion > 8)
    return InvalidArgumentError("max_recursion must be in [0, 8]");
  if (max_nfa_states < 16 || max_dfa_states < 16)
    return InvalidArgumentError("max_nfa_states and max_dfa_states must be >= 16");
  if (mask_memo_bytes < 0) return InvalidArgumentError("mask_memo_bytes must be >= 0");
  return OkStatus();
}

std::string GrammarOptions::Key() const {
  return std::to_string(max_whitespace) + "," + std::to_string(json_object_depth) + "," +
         std::to_string(any_value_depth) + "," + std::to_string(max_recursion) + "," +
         std::to_string(max_nfa_states) + "," + std::to_string(max_dfa_states);
}

std::string GrammarSpec::Key() const {
  std::string key = kind == Kind::kJsonObject ? "object:" : "schema:";
  for (const std::string* part : {&prefix, &suffix, &schema}) {
    key += std::to_string(part->size());
    key += ':';
    key += *part;
  }
  return key;
}

StatusOr<std::shared_ptr<const Grammar>> Grammar::Compile(
    const GrammarSpec& spec, std::shared_ptr<const TokenVocabulary> vocabulary,
    const GrammarOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(options.Validate());
  if (vocabulary == nullptr) return InvalidArgumentError("a grammar needs a vocabulary");
  std::shared_ptr<Grammar> g(new Grammar());
  g->spec_ = spec;
  g->options_ = options;
  g->vocabulary_ = std::move(vocabulary);
  Nfa nfa(options.max_nfa_states);
  JsonNfaBuilder json(&nfa, options.max_whitespace);
  nfa.start = nfa.AddState();
  // Whitespace may lead a bare value: SentencePiece models tend to start with
  // "\u2581{", whose space the decoder drops at the start of the output.
  int32_t at =
      spec.prefix.empty() ? json.Whitespace(nfa.start) : nfa.Literal(nfa.start, spec.prefix);
  switch (spec.kind) {
    case GrammarSpec::Kind::kJsonObject:
      at = json.AnyObject(at, options.json_object_depth - 1);
      break;
    case GrammarSpec::Kind::kJsonSchema: {
      ASSIGN_OR_RETURN(const JsonValue schema, ParseJsonTree(spec.schema, "the schema"));
      ASSIGN_OR_RETURN(at, BuildSchema(schema, options, &json, at));
      break;
    }
  }
  nfa.accept = nfa.Literal(at, spec.suffix);
  if (nfa.overflowed()) {
    return ResourceExhaustedError("the grammar is too large: its automaton needs more than " +
                                  std::to_string(options.max_nfa_states) + " states");
  }
  ASSIGN_OR_RETURN(g->dfa_, Dfa::Build(nfa, options.max_dfa_states));
  g->max_destination_.assign(static_cast<size_t>(g->dfa_.num_states()), -1);
  g->compile_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::shared_ptr<const Grammar>(std::move(g));
}

void Grammar::ComputeMask(int32_t state, int32_t budget, TokenMask* mask, int32_t* max_destination,
                          int64_t* visited) const {
  const TokenVocabulary& v = *vocabulary_;
  mask->words.assign(static_cast<size_t>(v.mask_words()), 0);
  mask->allowed = 0;
  const auto nodes = v.nodes();
  const auto ids = v.token_ids();
  const auto& classes = dfa_.byte_classes();
  // The DFA state after each byte of the path to the current node (by depth).
  std::vector<int32_t> at(static_cast<size_t>(v.max_depth()) + 1);
  at[0] = state;
  int32_t max_d = -1;
  int64_t count = 0;
  const auto n = static_cast<int32_t>(nodes.size());
  for (int32_t i = 0; i < n;) {
    const TokenVocabulary::Node& node = nodes[static_cast<size_t>(i)];
    ++count;
    const int32_t s = dfa_.Row(at[node.depth - 1u])[classes[node.byte]];
    if (s == Dfa::kDead) {
      i = node.subtree_end;
      continue;
    }
    const int32_t d = dfa_.distance(s);
    // Each further byte brings completion at most one byte nearer.
    if (budget >= 0 && d - static_cast<int32_t>(node.height) > budget) {
      i = node.subtree_end;
      continue;
    }
    at[node.depth] = s;
    if (node.tokens_end > node.tokens_begin && (budget < 0 || d <= budget)) {
      for (int32_t t = node.tokens_begin; t < node.tokens_end; ++t)
        mask->Allow(ids[static_cast<size_t>(t)]);
      max_d = std::max(max_d, d);
    }
    ++i;
  }
  *max_destination = max_d;
  *visited = count;
}

std::shared_ptr<const TokenMask> Grammar::Mask(int32_t state, int32_t budget) const {
  if (budget != kNoBudget) {
    const int32_t max_d = MaxDestinationDistance(state);
    if (budget >= max_d) budget = kNoBudget;  // the bound rules nothing out
  }
  const uint64_t key = static_cast<uint64_t>(state) << 32 | static_cast<uint32_t>(budget + 1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memo_.find(key);
    if (it != memo_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++stats_.hits;
      return it->second.mask;
    }
  }
  const auto started = std::chrono::steady_clock::now();
  auto mask = std::make_shared<TokenMask>();
  int32_t max_d = -1;
  int64_t visited = 0;
  ComputeMask(state, budget, mask.get(), &max_d, &visited);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto bytes = static_cast<int64_t>(mask->words.size() * 4);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.computed;
  stats_.nodes += visited;
  stats_.compute_seconds += seconds;
  if (budget == kNoBudget) max_destination_[static_cast<size_t>(state)] = max_d;
  auto [it, inserted] = memo_.try_emplace(key);
  if (!inserted) return it->second.mask;  // another thread computed it meanwhile
  lru_.push_front(key);
  it->second = Entry{mask, lru_.begin()};
  stats_.memo_bytes += bytes;
  // Past the budget, the least recently used masks go (never the one just made).
  while (stats_.memo_bytes > options_.mask_memo_bytes && lru_.size() > 1) {
    auto victim = memo_.find(lru_.back());
    stats_.memo_bytes -= static_cast<int64_t>(victim->second.mask->words.size() * 4);
    memo_.erase(victim);
    lru_.pop_back();
  }
  return mask;
}

int32_t Grammar::MaxDestinationDistance(int32_t state) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int32_t known = max_destination_[static_cast<size_t>(state)];
    if (known >= 0) return known;
  }
  // Computing the unbounded mask records it (a state with no allowed token
  // records -1 and is recomputed: it has nothing to bound anyway).
  const auto mask = Mask(state, kNoBudget);
  std::lock_guard<std::mutex> lock(mu_);
  return max_destination_[static_cast<size_t>(state)];
}

int32_t Grammar::Next(int32_t state, int32_t token) const {
  const std::string_view bytes = vocabulary_->bytes(token);
  if (bytes.empty()) return Dfa::kDead;
  int32_t s = state;
  for (char c : bytes) {
    s = dfa_.Next(s, static_cast<uint8_t>(c));
    if (s == Dfa::kDead) return s;
  }
  return s;
}

MaskStats Grammar::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace radixlm::grammar
