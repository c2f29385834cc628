// UTF-8 encoding of one code point, shared by the tokenizer and the template
// engine (each adds its own decoding rules on top).
#pragma once

#include <string>

namespace radixlm {

// Appends `cp` (below 0x110000) as 1 to 4 UTF-8 bytes.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace radixlm
