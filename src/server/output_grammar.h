// The grammar a request's output must follow (constrained decoding): from
// response_format json_object / json_schema, or from a tool_choice that forces
// a call ("required": one call of any tool; a named function: a call of that
// one), in the model's tool-call form (grammar/tool_call.h: by default the
// generic JSON form {"name": ..., "arguments": {...}}). Compiled through the
// model's GrammarCache, so a schema or tool list that many requests share is
// compiled once.
//
// A schema the grammar cannot enforce is a 400 naming the field
// (response_format.json_schema.schema, tools[i].function.parameters) with
// the place in the schema ("at #/properties/a: 'pattern' is not supported").
//
// Thread safety: as the cache's (any thread).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "grammar/tool_call.h"
#include "server/openai_protocol.h"

namespace radixlm::grammar {
class Grammar;
class GrammarCache;
}  // namespace radixlm::grammar

namespace radixlm::server {

// Null when the output is free (text, tool_choice none / auto). `chat` is null
// for completions. `cache` may be null only when nothing is constrained.
StatusOr<std::shared_ptr<const grammar::Grammar>> OutputGrammar(grammar::GrammarCache* cache,
                                                                const grammar::ToolCallForm& form,
                                                                const GenerationRequest& gen,
                                                                const ChatRequest* chat,
                                                                std::string* param);

}  // namespace radixlm::server
