// The device's token choice (choose_tokens.h) run from host arrays, for the test
// that checks it bit for bit against backend::ChooseToken at real vocabulary
// sizes. Plain C++.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/sampling.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

// rows: [choices.size()][vocab] F32; out[i] = the device's choice for row i.
Status RunChooseTokens(const std::vector<float>& rows, int64_t vocab,
                       const std::vector<TokenChoice>& choices, std::vector<int32_t>* out);

}  // namespace radixlm::backend::cuda
