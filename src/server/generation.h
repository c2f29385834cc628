// Generation: the engine requests of one API call (one per prompt, each with n
// samples) followed to the end, as choices and usage.
//
// Choice i * n + s is sample s of prompt i. Poll waits for news from any of the
// requests and hands back the updates; Usage sums the latest figures the engine
// reported per request (prompt tokens count once per prompt, whatever n).
// Destroying a Generation cancels the requests still running (a client that went
// away frees its pages at the engine's next step).
//
// Not thread-safe: one caller (the HTTP thread serving the call); the wake-up
// runs on the engine's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "server/openai_format.h"

namespace radixlm::server {

class Generation {
 public:
  // `prompt_lengths[i]` stands in for prompt i's usage until the engine reports it.
  Generation(std::vector<std::shared_ptr<engine::RequestHandle>> handles,
             std::vector<int64_t> prompt_lengths, int32_t n);
  ~Generation();

  struct Event {
    size_t prompt = 0;
    engine::RequestUpdate update;
  };
  // Appends the updates that arrived within `wait` to *events (none on timeout).
  void Poll(std::vector<Event>* events, std::chrono::milliseconds wait);

  // `wake` is called from the engine's thread after each update (null: stop).
  void SetWake(std::function<void()> wake);
  bool finished() const { return unfinished_ == 0; }
  void Cancel();
  int32_t n() const { return n_; }
  size_t prompts() const { return handles_.size(); }
  int32_t ChoiceIndex(size_t prompt, int32_t sample) const {
    return static_cast<int32_t>(prompt) * n_ + sample;
  }
  Usage usage() const;
  // The first request-level error the engine reported (OK if none).
  const Status& error() const { return error_; }

 private:
  void Record(size_t prompt, const engine::RequestUpdate& update);

  std::vector<std::shared_ptr<engine::RequestHandle>> handles_;
  std::vector<Usage> usage_;
  std::vector<bool> done_;
  size_t unfinished_ = 0;
  int32_t n_ = 1;
  Status error_;
};

}  // namespace radixlm::server
