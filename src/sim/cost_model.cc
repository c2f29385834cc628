#include "sim/cost_model.h"

#include <simdjson.h>

#include <cmath>
#include <filesystem>

namespace radixlm::sim {
namespace {

CostProfile Llama3_8bH100() {
  // Roofline figures (see the header): weights 16.06e9 B / 3.35e12 B/s; 2 * 8.03e9
  // FLOP per token / 600e12 FLOP/s; attention 4 * 32 layers * 4096 dims FLOP per
  // (query, key) pair / 600e12; KV 131072 B per context token / 3.35e12 B/s.
  CostProfile p;
  p.name = "llama3-8b-h100";
  p.overhead_s = 16.06e9 / 3.35e12;
  p.prefill_token_s = 2 * 8.03e9 / 600e12;
  p.attention_pair_s = 4.0 * 32 * 4096 / 600e12;
  p.decode_token_s = 2 * 8.03e9 / 600e12;
  p.context_token_s = 131072.0 / 3.35e12;
  return p;
}

}  // namespace

Status CostProfile::Validate() const {
  for (double v :
       {overhead_s, prefill_token_s, attention_pair_s, decode_token_s, context_token_s}) {
    if (!std::isfinite(v) || v < 0) {
      return InvalidArgumentError("cost profile '" + name + "': coefficients must be finite, >= 0");
    }
  }
  if (overhead_s + prefill_token_s + decode_token_s <= 0) {
    return InvalidArgumentError("cost profile '" + name + "': a step must take some time");
  }
  return OkStatus();
}

StatusOr<CostProfile> LoadCostProfile(const std::string& name_or_path) {
  if (name_or_path == "llama3-8b-h100") return Llama3_8bH100();
  if (!std::filesystem::exists(name_or_path)) {
    return NotFoundError("no cost profile '" + name_or_path +
                         "' (built in: llama3-8b-h100; or a JSON file)");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.load(name_or_path).get(doc)) {
    return InvalidArgumentError(name_or_path + ": " + simdjson::error_message(error));
  }
  CostProfile p;
  p.name = name_or_path;
  std::string_view name;
  if (!doc["name"].get_string().get(name)) p.name = std::string(name);
  struct Field {
    const char* key;
    double* value;
  } fields[] = {{"overhead_s", &p.overhead_s},
                {"prefill_token_s", &p.prefill_token_s},
                {"attention_pair_s", &p.attention_pair_s},
                {"decode_token_s", &p.decode_token_s},
                {"context_token_s", &p.context_token_s}};
  for (const Field& f : fields) {
    if (doc[f.key].get_double().get(*f.value)) {
      return InvalidArgumentError(name_or_path + ": missing or non-numeric \"" + f.key + "\"");
    }
  }
  RETURN_IF_ERROR(p.Validate());
  return p;
}

}  // namespace radixlm::sim
