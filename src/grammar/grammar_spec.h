// GrammarSpec: what a grammar allows (grammar.h compiles it): `prefix`, then
// one JSON value (any JSON object for kJsonObject, a value of a JSON Schema
// for kJsonSchema: schema_compiler.h's subset), then `suffix`.
#pragma once

#include <string>

namespace radixlm::grammar {

struct GrammarSpec {
  enum class Kind { kJsonObject, kJsonSchema };
  Kind kind = Kind::kJsonObject;
  std::string schema;  // kJsonSchema: the schema document's JSON text
  std::string prefix;  // literal text before the value
  std::string suffix;  // literal text after it
  // A key for caches: equal specs (and options) compile to the same grammar.
  std::string Key() const;
};

}  // namespace radixlm::grammar
