// The JSON Schema subset of OpenAI's strict structured outputs, compiled into
// an NFA of the JSON texts that satisfy it (json_nfa.h's lexical forms):
//
//   type            "object", "array", "string", "number", "integer",
//                   "boolean", "null", or a list of them (a union)
//   object          properties (written in the schema's order), required (the
//                   others may be left out), additionalProperties false, true or
//                   absent (only the declared properties are written, which
//                   satisfies all three) or a schema when there are no
//                   properties (a map: any keys, values of that schema)
//   array           items (a schema), minItems, maxItems
//   enum, const     any JSON values, written canonically (json_tree.h)
//   anyOf           a union; allOf with one schema
//   $ref            "#" or "#/<JSON pointer>" into the same document ($defs,
//                   definitions); recursion expands GrammarOptions::max_recursion
//                   times
//   true, {}        any JSON value (nesting bounded by any_value_depth)
//   annotations     title, description, default, examples, ... are ignored, as
//                   are keywords JSON Schema does not define
//
// Refused by name (INVALID_ARGUMENT): pattern, format, minLength, maxLength,
// minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, oneOf, not,
// if/then/else, allOf of several schemas, prefixItems, items as a list,
// contains, uniqueItems, patternProperties, propertyNames, min/maxProperties,
// dependent*, unevaluated*, $dynamicRef, and $ref outside the document.
// Messages name the place in the schema as a JSON pointer ("#/properties/a").
#pragma once

#include <cstdint>

#include "core/status.h"
#include "grammar/json_nfa.h"
#include "grammar/json_tree.h"
#include "grammar/options.h"

namespace radixlm::grammar {

// Grows `json`'s NFA from `from` with the values `schema` admits; returns the
// state after them. RESOURCE_EXHAUSTED when the NFA outgrows its bound.
StatusOr<int32_t> BuildSchema(const JsonValue& schema, const GrammarOptions& options,
                              JsonNfaBuilder* json, int32_t from);

}  // namespace radixlm::grammar
