#include "loadgen/workload.h"

#include <algorithm>

#include "core/hash.h"
#include "sim/prompt_builder.h"

namespace radixlm::loadgen {
namespace {

// 512 common English words, lowercase ASCII letters only, all distinct: each is
// one pre-token with its leading space in every byte-level BPE tokenizer, and
// a single token in most real vocabularies.
constexpr const char kWordList[] =
    "the of and to in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there been one all we their has would when if so no will more "
    "out "
    "can up other into about than its only some time them these may two first any new like then "
    "now "
    "could my over made such our after most even also through where much your before way well "
    "should "
    "because each just those people how too little state good very make world still own see men "
    "work "
    "long here get both between life being under never day same another know while last might us "
    "great "
    "old year off come since against go came right used take three states himself few house use "
    "during "
    "without again place american around however home small found thought went say part once "
    "general "
    "high upon school every does got united left number course war until always away something "
    "fact "
    "though water less public put think almost hand enough far took head yet government system "
    "better "
    "set told nothing night end why called eyes find going look asked later knew point next "
    "program "
    "city business give group toward young days let room president side social given present "
    "several "
    "order national possible rather second face per among form important often things looked early "
    "white case john become large big need four within felt along children saw best church ever "
    "least "
    "power development light thing seemed family interest want members mind country area others "
    "done "
    "turned although open god service certain kind problem began different door thus help sense "
    "means "
    "whole matter perhaps itself york times law human line above name example action company hands "
    "local show whether five history gave today either act feet across taken past quite anything "
    "having seen death experience body word half really week car field already information tell "
    "together college shall money period held keep sure free real probably seems political cannot "
    "behind miss question air office making brought whose special heard major problems ago became "
    "federal moment study available known result street economic boy position reason change south "
    "board individual job areas society west close turn love community true court force full seem "
    "policy wife future age wanted department voice center woman common control necessary "
    "following "
    "front sometimes six girl clear further land run students provide feel party able mother music "
    "education university child effect level stood military town short morning total outside rate "
    "figure class art century washington north usually plan leave therefore evidence million sound "
    "top "
    "black strong hard various says believe type value play surface soon mean near lines table "
    "peace "
    "modern tax road red book personal process situation minutes increase idea english alone women "
    "gone nor living months america started longer dark private finally cut sat basis kept "
    "research "
    "entire schools council eight security cost nature needed words ten receive coming space "
    "finger "
    "stone bread river winter summer autumn spring garden forest mountain ocean island valley "
    "desert "
    "bridge castle tower market station harbor ";

const std::vector<std::string_view>& Words() {
  static const std::vector<std::string_view> words = [] {
    std::vector<std::string_view> w;
    std::string_view all(kWordList);
    while (!all.empty()) {
      const size_t space = all.find(' ');
      if (space != 0) w.push_back(all.substr(0, space));
      if (space == std::string_view::npos) break;
      all.remove_prefix(space + 1);
    }
    return w;
  }();
  return words;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

void Append(std::vector<int32_t>* to, const std::vector<int32_t>& from) {
  to->insert(to->end(), from.begin(), from.end());
}

std::string Strip(std::string s) {
  size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

}  // namespace

Status BenchWorkloadOptions::Validate() const {
  if (vocab < 2 || vocab > (int64_t{1} << 31))
    return InvalidArgumentError("--vocab must be in [2, 2^31]");
  if (max_tokens < 0) return InvalidArgumentError("--max-tokens must be >= 0");
  return OkStatus();
}

int32_t WireToken(sim::Token token, int64_t vocab) {
  return static_cast<int32_t>(Mix(static_cast<uint32_t>(token)) % static_cast<uint64_t>(vocab));
}

std::string_view WordFor(sim::Token token) {
  const auto& words = Words();
  return words[Mix(static_cast<uint32_t>(token) ^ 0x5bd1e995u) % words.size()];
}

int32_t WordUnit(std::string_view word) {
  return static_cast<int32_t>(Hash64(word, 0x776f7264) & 0x7fffffff);
}

void AppendWordUnits(std::string_view text, std::vector<int32_t>* units) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
      ++i;
    size_t j = i;
    while (j < text.size() &&
           !(text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r'))
      ++j;
    if (j > i) units->push_back(WordUnit(text.substr(i, j - i)));
    i = j;
  }
}

void AppendWords(std::span<const sim::Token> tokens, std::string* text) {
  for (sim::Token t : tokens) {
    text->push_back(' ');
    text->append(WordFor(t));
  }
}

BuiltPrompt UniquePrompt(uint64_t key, int64_t n, PromptFormat format, Endpoint endpoint,
                         int64_t vocab) {
  std::vector<sim::Token> tokens;
  for (int64_t i = 0; i < n; ++i) {
    // The simulator's tokens of unique content lie in [2^30, 2^31); these are
    // keyed apart from every trace's.
    const uint64_t bits =
        MixBits(key * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i) + 0x70726f6265ULL);
    tokens.push_back(static_cast<sim::Token>((1u << 30) | (bits & ((1u << 30) - 1))));
  }
  BuiltPrompt p;
  if (format == PromptFormat::kTokens) {
    for (sim::Token t : tokens) p.tokens.push_back(WireToken(t, vocab));
    p.units = p.tokens;
    return p;
  }
  AppendWords(tokens, &p.text);
  if (endpoint == Endpoint::kChat) {
    p.messages.push_back({"user", Strip(p.text)});
    p.units.push_back(WordUnit("<|user|>"));
    p.text.clear();
  }
  AppendWordUnits(endpoint == Endpoint::kChat ? std::string_view(p.messages[0].content)
                                              : std::string_view(p.text),
                  &p.units);
  return p;
}

std::vector<int32_t> HeldAfter(const BuiltPrompt& p, const Answer& answer, PromptFormat format,
                               Endpoint endpoint) {
  if (!answer.known) return p.units;
  std::vector<int32_t> held;
  if (format == PromptFormat::kTokens) {
    if (!answer.ids_known || answer.ids.empty()) return p.units;
    held = p.units;
    held.insert(held.end(), answer.ids.begin(), answer.ids.end() - 1);
    return held;
  }
  if (endpoint == Endpoint::kCompletions) {
    // The answer continues the prompt's text (and may merge with its last word).
    AppendWordUnits(p.text + answer.text, &held);
  } else {
    held = p.units;
    held.push_back(WordUnit("<|assistant|>"));
    AppendWordUnits(answer.text, &held);
  }
  if (held.size() > p.units.size()) held.pop_back();
  return held;
}

const std::string& AgentToolsJson() {
  static const std::string tools = [] {
    struct Tool {
      const char* name;
      const char* description;
      const char* parameter;
    };
    static constexpr Tool kTools[] = {
        {"search_docs", "Search the project's documentation.", "query"},
        {"read_file", "Read a file of the repository.", "path"},
        {"list_directory", "List a directory of the repository.", "path"},
        {"run_tests", "Run the test suite, or the tests matching a filter.", "filter"},
        {"edit_file", "Replace text in a file.", "patch"},
        {"web_fetch", "Fetch a web page as text.", "url"},
        {"run_shell", "Run a shell command in the sandbox.", "command"},
        {"ask_user", "Ask the user a question and wait for the answer.", "question"},
    };
    std::string out = "[";
    for (const Tool& t : kTools) {
      if (out.size() > 1) out += ", ";
      out += std::string("{\"type\": \"function\", \"function\": {\"name\": \"") + t.name +
             "\", \"description\": \"" + t.description +
             "\", \"parameters\": {\"type\": \"object\", \"properties\": {\"" + t.parameter +
             "\": {\"type\": \"string\"}}, \"required\": [\"" + t.parameter + "\"]}}}";
    }
    return out + "]";
  }();
  return tools;
}

namespace {

// The agent's tool call for the output of request `from`: the tool by the
// request's index, the generator's words as its one argument.
void AgentCall(int64_t from, const std::string& words, ChatMessage* m) {
  static constexpr const char* kNames[] = {"search_docs", "read_file", "list_directory",
                                           "run_tests",   "edit_file", "web_fetch",
                                           "run_shell",   "ask_user"};
  static constexpr const char* kParameters[] = {"query", "path", "path",    "filter",
                                                "patch", "url",  "command", "question"};
  const size_t t = static_cast<size_t>(from) % 8;
  m->tool_call_id = "call_" + std::to_string(from);
  m->tool_name = kNames[t];
  m->tool_arguments = std::string("{\"") + kParameters[t] + "\": \"" + Strip(words) + "\"}";
}

}  // namespace

BenchWorkload::~BenchWorkload() = default;

StatusOr<std::unique_ptr<BenchWorkload>> BenchWorkload::Create(
    sim::Trace trace, size_t limit, const BenchWorkloadOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  RETURN_IF_ERROR(trace.Validate());
  if (limit > 0 && trace.requests.size() > limit) trace.requests.resize(limit);
  if (trace.requests.empty()) return InvalidArgumentError("the workload has no requests");
  std::unique_ptr<BenchWorkload> w(new BenchWorkload);
  w->trace_ = std::move(trace);
  w->options_ = options;
  w->builder_ = std::make_unique<sim::PromptBuilder>(w->trace_, options.seed);
  w->output_of_.assign(w->trace_.content_names.size(), -1);
  for (size_t i = 0; i < w->trace_.requests.size(); ++i) {
    const sim::TraceRequest& r = w->trace_.requests[i];
    BenchRequest b;
    b.trace_index = i;
    b.arrival_s = r.arrival_s;
    b.session = r.session;
    b.max_tokens =
        options.max_tokens > 0 ? options.max_tokens : std::max<int64_t>(r.output_tokens, 1);
    for (const sim::Segment& s : r.segments) {
      if (s.content != sim::Segment::kUnique && w->output_of_[s.content] >= 0) {
        b.after = std::max(b.after, w->output_of_[s.content]);
      }
    }
    // Registered after the prompt's own segments: an output is only ever
    // repeated by later requests.
    if (r.output_content != sim::Segment::kUnique && w->output_of_[r.output_content] < 0) {
      w->output_of_[r.output_content] = static_cast<int64_t>(i);
    }
    w->requests_.push_back(std::move(b));
  }
  return w;
}

BuiltPrompt BenchWorkload::Build(size_t i, PromptFormat format, Endpoint endpoint,
                                 const std::vector<Answer>& answers) const {
  BuiltPrompt p;
  const sim::TraceRequest& r = trace_.requests[i];
  std::vector<sim::Token> raw;
  builder_->Build(i, &raw);
  // Pieces of the prompt in order: the role each belongs to and its content.
  struct Piece {
    const char* role;
    std::span<const sim::Token> tokens;  // the generator's
    const Answer* answer = nullptr;      // or the server's answer
    int64_t from = -1;                   // an earlier request's output: that request
  };
  std::vector<Piece> pieces;
  if (r.segments.empty()) {
    pieces.push_back({"user", raw});
  } else {
    size_t at = 0;
    for (size_t s = 0; s < r.segments.size(); ++s) {
      const sim::Segment& seg = r.segments[s];
      const size_t n = static_cast<size_t>(seg.tokens);
      Piece piece{"user", std::span<const sim::Token>(raw).subspan(at, n)};
      at += n;
      const bool shared = seg.content != sim::Segment::kUnique;
      const int64_t from = shared ? output_of_[seg.content] : -1;
      if (from >= 0 && static_cast<size_t>(from) < i) {
        piece.role = "assistant";
        piece.from = from;
        if (options_.history == HistoryMode::kServer) {
          const Answer& a = answers[static_cast<size_t>(from)];
          const bool usable = a.known && (format == PromptFormat::kText || a.ids_known);
          if (usable) {
            piece.answer = &a;
          } else {
            ++p.history_fallbacks;
          }
        }
      } else if (s == 0 && shared && r.segments.size() > 1) {
        piece.role = "system";
      }
      pieces.push_back(piece);
    }
  }

  if (format == PromptFormat::kTokens) {
    for (const Piece& piece : pieces) {
      if (piece.answer != nullptr) {
        Append(&p.tokens, piece.answer->ids);
      } else {
        for (sim::Token t : piece.tokens) p.tokens.push_back(WireToken(t, options_.vocab));
      }
    }
    p.units = p.tokens;
    return p;
  }
  auto piece_text = [](const Piece& piece) {
    if (piece.answer != nullptr) return piece.answer->text;
    std::string text;
    AppendWords(piece.tokens, &text);
    return text;
  };
  if (endpoint == Endpoint::kCompletions) {
    for (const Piece& piece : pieces) p.text += piece_text(piece);
    AppendWordUnits(p.text, &p.units);
    return p;
  }
  if (options_.agent) {
    int64_t call = -1;  // the tool call the next piece answers
    for (const Piece& piece : pieces) {
      ChatMessage m;
      m.role = piece.role;
      if (piece.from >= 0) {
        std::string words;
        AppendWords(piece.tokens, &words);
        AgentCall(piece.from, words, &m);
        m.content_null = piece.answer == nullptr;
        if (piece.answer != nullptr) m.content = Strip(piece.answer->text);
        call = piece.from;
      } else {
        m.content = Strip(piece_text(piece));
        if (call >= 0) {
          m.role = "tool";
          m.tool_call_id = "call_" + std::to_string(call);
          call = -1;
        }
      }
      p.messages.push_back(std::move(m));
    }
    for (const ChatMessage& m : p.messages) {
      p.units.push_back(WordUnit("<|" + m.role + "|>"));
      AppendWordUnits(m.content, &p.units);
      if (!m.tool_name.empty()) {
        p.units.push_back(WordUnit(m.tool_name));
        AppendWordUnits(m.tool_arguments, &p.units);
      }
    }
    return p;
  }
  for (const Piece& piece : pieces) {
    std::string text = piece_text(piece);
    if (!p.messages.empty() && p.messages.back().role == piece.role) {
      p.messages.back().content += text;
    } else {
      p.messages.push_back({piece.role, Strip(std::move(text))});
    }
  }
  for (const ChatMessage& m : p.messages) {
    p.units.push_back(WordUnit("<|" + m.role + "|>"));
    AppendWordUnits(m.content, &p.units);
  }
  return p;
}

}  // namespace radixlm::loadgen
