// The device's row sampling (choose_tokens.h) run from host arrays, for the
// test that checks it bit for bit against backend::SampleRow at real
// vocabulary sizes. Plain C++.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/sampling.h"
#include "core/status.h"

namespace radixlm::backend::cuda {

// rows: [samplings.size()][vocab] F32; samplings[i] samples row i on the
// device and gets its ids (and figures) as SampleRow would give them.
Status RunSampleRows(const std::vector<float>& rows, int64_t vocab,
                     std::span<const RowSampling> samplings);

}  // namespace radixlm::backend::cuda
