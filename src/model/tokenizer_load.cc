// Building a Tokenizer from tokenizer.json. Every refusal names what it refuses
// and the file, so a user with an unsupported model learns why at load time.
#include <simdjson.h>

#include <algorithm>

#include "core/json_writer.h"
#include "model/tokenizer_impl.h"
#include "model/tokenizer_utf8.h"

namespace radixlm::model {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// GPT-2's pattern, which ByteLevel applies when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Loader {
 public:
  explicit Loader(std::string_view name) : name_(name) {}

  Status Bad(const std::string& what) const {
    return InvalidArgumentError(std::string(name_) + ": " + what);
  }
  // `key` of `obj`, or a null element when absent.
  static element Get(object obj, const char* key) {
    element e;
    if (obj[key].get(e)) return element();
    return e;
  }
  static bool Present(object obj, const char* key) {
    element e;
    return !obj[key].get(e) && !e.is_null();
  }
  Status Bool(object obj, const char* key, bool* out) const {
    if (!Present(obj, key)) return OkStatus();
    if (obj[key].get_bool().get(*out)) return Bad(std::string("\"") + key + "\" must be a boolean");
    return OkStatus();
  }
  Status String(object obj, const char* key, std::string_view* out) const {
    if (obj[key].get_string().get(*out))
      return Bad(std::string("\"") + key + "\" must be a string");
    return OkStatus();
  }
  Status Type(element e, const char* what, std::string_view* type) const {
    object obj;
    if (e.get_object().get(obj)) return Bad(std::string(what) + " must be an object");
    if (obj["type"].get_string().get(*type)) return Bad(std::string(what) + " has no \"type\"");
    return OkStatus();
  }

  std::string_view name_;
};

std::string Quote(std::string_view s) {
  std::string out;
  JsonWriter::AppendQuoted(out, s);
  return out;
}

Status LoadModel(const Loader& l, object model, TokenizerImpl* t,
                 std::vector<BpeModel::Merge>* merges, bool* ignore_merges) {
  std::string_view type = "BPE";  // HF accepts a BPE model without "type"
  if (Loader::Present(model, "type")) RETURN_IF_ERROR(l.String(model, "type", &type));
  if (type != "BPE") {
    return l.Bad("unsupported model type " + Quote(type) +
                 " (only byte-level BPE is supported: GPT-2, Llama 3, Qwen2/2.5/3)");
  }
  bool byte_fallback = false;
  RETURN_IF_ERROR(l.Bool(model, "byte_fallback", &byte_fallback));
  if (byte_fallback) {
    return l.Bad(
        "unsupported BPE with byte_fallback (SentencePiece-style, e.g. Llama 2); "
        "only byte-level BPE is supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    std::string_view affix;
    if (Loader::Present(model, key) && (l.String(model, key, &affix).ok() && !affix.empty())) {
      return l.Bad(std::string("unsupported BPE option \"") + key + "\" = " + Quote(affix));
    }
  }
  if (Loader::Present(model, "dropout")) {
    double dropout = 0;
    if (model["dropout"].get_double().get(dropout) || dropout != 0) {
      return l.Bad("unsupported BPE dropout (it makes encoding random)");
    }
  }
  RETURN_IF_ERROR(l.Bool(model, "ignore_merges", ignore_merges));

  object vocab;
  if (model["vocab"].get_object().get(vocab)) return l.Bad("model.vocab must be an object");
  int64_t max_id = -1;
  for (auto field : vocab) {
    int64_t id;
    if (field.value.get_int64().get(id) || id < 0 || id > INT32_MAX - 1) {
      return l.Bad("vocab entry " + Quote(field.key) + " has no valid id");
    }
    max_id = std::max(max_id, id);
  }
  t->token_text.resize(max_id + 1);
  t->token_bytes.resize(max_id + 1);
  t->token_to_id.reserve(vocab.size());
  for (auto field : vocab) {
    const auto id = int32_t(int64_t(field.value));
    t->token_text[id] = std::string(field.key);
    t->token_to_id.emplace(std::string(field.key), id);
  }

  array list;
  if (model["merges"].get_array().get(list)) return l.Bad("model.merges must be an array");
  merges->reserve(list.size());
  for (element m : list) {
    std::string_view left, right;
    std::string_view line;
    array pair;
    if (!m.get_string().get(line)) {
      const size_t space = line.find(' ');
      if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
        return l.Bad("merge " + std::to_string(merges->size()) + " " + Quote(line) +
                     " is not two tokens separated by one space");
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (!m.get_array().get(pair) && pair.size() == 2 && !pair.at(0).get_string().get(left) &&
               !pair.at(1).get_string().get(right)) {
    } else {
      return l.Bad("merge " + std::to_string(merges->size()) +
                   " must be a string \"a b\" or a pair [\"a\", \"b\"]");
    }
    const std::string merged = std::string(left) + std::string(right);
    int32_t ids[3];
    const std::string_view parts[3] = {left, right, merged};
    for (int k = 0; k < 3; ++k) {
      auto it = t->token_to_id.find(parts[k]);
      if (it == t->token_to_id.end()) {
        return l.Bad("merge " + std::to_string(merges->size()) + " (" + Quote(left) + ", " +
                     Quote(right) + ") refers to " + Quote(parts[k]) +
                     ", which is not in the vocab");
      }
      ids[k] = it->second;
    }
    merges->push_back({ids[0], ids[1], ids[2]});
  }
  return OkStatus();
}

Status LoadAddedTokens(const Loader& l, element e, TokenizerImpl* t) {
  if (e.is_null()) return OkStatus();
  array list;
  if (e.get_array().get(list)) return l.Bad("added_tokens must be an array");
  for (element item : list) {
    object obj;
    if (item.get_object().get(obj)) return l.Bad("added_tokens entries must be objects");
    AddedToken a;
    std::string_view content;
    int64_t id;
    RETURN_IF_ERROR(l.String(obj, "content", &content));
    if (obj["id"].get_int64().get(id) || id < 0 || id > INT32_MAX - 1) {
      return l.Bad("added token " + Quote(content) + " has no valid id");
    }
    a.content = std::string(content);
    a.id = int32_t(id);
    RETURN_IF_ERROR(l.Bool(obj, "special", &a.special));
    RETURN_IF_ERROR(l.Bool(obj, "lstrip", &a.lstrip));
    RETURN_IF_ERROR(l.Bool(obj, "rstrip", &a.rstrip));
    RETURN_IF_ERROR(l.Bool(obj, "single_word", &a.single_word));
    RETURN_IF_ERROR(l.Bool(obj, "normalized", &a.normalized));
    t->added.push_back(std::move(a));
  }
  return OkStatus();
}

Status LoadNormalizer(const Loader& l, element e, TokenizerImpl* t) {
  if (e.is_null()) return OkStatus();
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "normalizer", &type));
  if (type == "NFC") {
    t->nfc = true;
    return OkStatus();
  }
  if (type == "Sequence") {
    array list;
    if (e["normalizers"].get_array().get(list)) return l.Bad("normalizer Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadNormalizer(l, item, t));
    return OkStatus();
  }
  return l.Bad("unsupported normalizer type " + Quote(type) + " (supported: NFC, Sequence)");
}

Status LoadPreTokenizer(const Loader& l, element e, TokenizerImpl* t, bool* byte_level) {
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "pre_tokenizer", &type));
  object obj = e.get_object().value_unsafe();
  if (type == "Sequence") {
    array list;
    if (obj["pretokenizers"].get_array().get(list))
      return l.Bad("pre_tokenizer Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadPreTokenizer(l, item, t, byte_level));
    return OkStatus();
  }
  PreTokenizerStep step;
  if (type == "Split") {
    object pattern;
    std::string_view text, behavior;
    if (obj["pattern"].get_object().get(pattern)) return l.Bad("Split has no pattern");
    if (!pattern["Regex"].get_string().get(text)) {
      auto regex = Regex::Compile(text);
      if (!regex.ok()) return l.Bad("Split pattern: " + regex.status().message());
      step.regex = std::move(regex).value();
    } else if (!pattern["String"].get_string().get(text)) {
      step.literal = std::string(text);
    } else {
      return l.Bad("Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    RETURN_IF_ERROR(l.String(obj, "behavior", &behavior));
    if (behavior == "Removed") {
      step.behavior = SplitBehavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = SplitBehavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = SplitBehavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = SplitBehavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = SplitBehavior::kContiguous;
    } else {
      return l.Bad("unknown Split behavior " + Quote(behavior));
    }
    RETURN_IF_ERROR(l.Bool(obj, "invert", &step.invert));
  } else if (type == "ByteLevel") {
    // HF's defaults when the fields are absent: add_prefix_space and use_regex on.
    bool use_regex = true;
    step.kind = PreTokenizerStep::Kind::kByteLevel;
    step.add_prefix_space = true;
    RETURN_IF_ERROR(l.Bool(obj, "add_prefix_space", &step.add_prefix_space));
    RETURN_IF_ERROR(l.Bool(obj, "use_regex", &use_regex));
    if (use_regex) {
      auto regex = Regex::Compile(kGpt2Pattern);
      if (!regex.ok()) return regex.status();
      step.regex = std::move(regex).value();
    }
    *byte_level = true;
  } else {
    return l.Bad("unsupported pre_tokenizer type " + Quote(type) +
                 " (supported: Sequence, Split, ByteLevel)");
  }
  t->pre_tokenizer.push_back(std::move(step));
  return OkStatus();
}

Status LoadTemplate(const Loader& l, object obj, TokenizerImpl* t) {
  object specials;
  if (obj["special_tokens"].get_object().get(specials)) {
    return l.Bad("TemplateProcessing has no special_tokens");
  }
  array single;
  if (obj["single"].get_array().get(single))
    return l.Bad("TemplateProcessing has no single template");
  bool seen_sequence = false;
  for (element item : single) {
    object piece;
    std::string_view id;
    if (!item["Sequence"].get_object().get(piece)) {
      RETURN_IF_ERROR(l.String(piece, "id", &id));
      if (id != "A" || seen_sequence)
        return l.Bad("TemplateProcessing single template must hold sequence A once");
      seen_sequence = true;
    } else if (!item["SpecialToken"].get_object().get(piece)) {
      RETURN_IF_ERROR(l.String(piece, "id", &id));
      object special;
      array ids;
      if (specials[id].get_object().get(special) || special["ids"].get_array().get(ids)) {
        return l.Bad("TemplateProcessing uses " + Quote(id) + ", missing from its special_tokens");
      }
      for (element v : ids) {
        int64_t n;
        if (v.get_int64().get(n) || n < 0 || n > INT32_MAX) return l.Bad("bad id for " + Quote(id));
        (seen_sequence ? t->template_suffix : t->template_prefix).push_back(int32_t(n));
      }
    } else {
      return l.Bad("TemplateProcessing items must be Sequence or SpecialToken");
    }
  }
  if (!seen_sequence) return l.Bad("TemplateProcessing single template lacks sequence A");
  return OkStatus();
}

Status LoadPostProcessor(const Loader& l, element e, TokenizerImpl* t) {
  if (e.is_null()) return OkStatus();
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "post_processor", &type));
  object obj = e.get_object().value_unsafe();
  if (type == "ByteLevel") return OkStatus();  // offsets only
  if (type == "TemplateProcessing") return LoadTemplate(l, obj, t);
  if (type == "Sequence") {
    array list;
    if (obj["processors"].get_array().get(list))
      return l.Bad("post_processor Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadPostProcessor(l, item, t));
    return OkStatus();
  }
  return l.Bad("unsupported post_processor type " + Quote(type) +
               " (supported: ByteLevel, TemplateProcessing, Sequence)");
}

Status LoadDecoder(const Loader& l, element e, bool* byte_level) {
  if (e.is_null()) return OkStatus();
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "decoder", &type));
  if (type == "ByteLevel") {
    *byte_level = true;
    return OkStatus();
  }
  if (type == "Sequence") {
    array list;
    if (e["decoders"].get_array().get(list)) return l.Bad("decoder Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadDecoder(l, item, byte_level));
    return OkStatus();
  }
  return l.Bad("unsupported decoder type " + Quote(type) + " (supported: ByteLevel, Sequence)");
}

// The bytes a byte-level token stands for, or nullopt when some character of it
// is not one of the 256 byte characters.
std::optional<std::string> ByteLevelBytes(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const size_t len = Utf8SequenceLength(token, i);
    if (len == 0) return std::nullopt;
    const int b = CharToByte(Utf8Decode(token, i, len));
    if (b < 0) return std::nullopt;
    bytes.push_back(char(b));
    i += len;
  }
  return bytes;
}

}  // namespace

StatusOr<std::unique_ptr<TokenizerImpl>> TokenizerImpl::Load(std::string_view json,
                                                             std::string_view name) {
  Loader l(name);
  simdjson::dom::parser parser;
  element doc;
  if (auto error = parser.parse(json.data(), json.size()).get(doc)) {
    return l.Bad(std::string("malformed JSON (") + simdjson::error_message(error) + ")");
  }
  object root;
  if (doc.get_object().get(root)) return l.Bad("not a JSON object");
  object model;
  if (root["model"].get_object().get(model)) return l.Bad("no \"model\" object");

  auto t = std::make_unique<TokenizerImpl>();
  std::vector<BpeModel::Merge> merges;
  bool ignore_merges = false;
  RETURN_IF_ERROR(LoadModel(l, model, t.get(), &merges, &ignore_merges));
  RETURN_IF_ERROR(LoadAddedTokens(l, Loader::Get(root, "added_tokens"), t.get()));
  RETURN_IF_ERROR(LoadNormalizer(l, Loader::Get(root, "normalizer"), t.get()));
  bool byte_level_pre = false, byte_level_decoder = false;
  element pre = Loader::Get(root, "pre_tokenizer");
  if (!pre.is_null()) RETURN_IF_ERROR(LoadPreTokenizer(l, pre, t.get(), &byte_level_pre));
  RETURN_IF_ERROR(LoadPostProcessor(l, Loader::Get(root, "post_processor"), t.get()));
  RETURN_IF_ERROR(LoadDecoder(l, Loader::Get(root, "decoder"), &byte_level_decoder));
  if (!byte_level_pre || !byte_level_decoder) {
    return l.Bad(std::string("unsupported BPE without a ByteLevel ") +
                 (byte_level_pre ? "decoder" : "pre_tokenizer") +
                 " (only byte-level BPE is supported)");
  }

  // Vocab tokens by their bytes, for the BPE's symbols and ignore_merges.
  StringIdMap words;
  words.reserve(t->token_text.size());
  for (size_t id = 0; id < t->token_text.size(); ++id) {
    if (t->token_text[id].empty()) continue;
    if (auto bytes = ByteLevelBytes(t->token_text[id])) {
      t->token_bytes[id] = *bytes;
      words.emplace(std::move(*bytes), int32_t(id));
    } else {
      t->token_bytes[id] = t->token_text[id];  // as HF's ByteLevel decoder does
    }
  }
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) {
    const char c = char(b);
    auto it = words.find(std::string_view(&c, 1));
    byte_ids[b] = it == words.end() ? -1 : it->second;
  }
  t->bpe = std::make_unique<BpeModel>(byte_ids, std::move(words), merges, ignore_merges);

  // Added tokens override the vocab's entry for their id, as in HF's id_to_token.
  int64_t size = int64_t(t->token_text.size());
  for (const AddedToken& a : t->added) size = std::max<int64_t>(size, int64_t(a.id) + 1);
  t->token_text.resize(size);
  t->token_bytes.resize(size);
  t->special.assign(size, false);
  for (const AddedToken& a : t->added) {
    t->token_text[a.id] = a.content;
    t->token_bytes[a.id] = ByteLevelBytes(a.content).value_or(a.content);
    t->special[a.id] = a.special;
    t->token_to_id.emplace(a.content, a.id);
    (a.normalized ? t->normalized_matcher : t->raw_matcher).Add(&a);
  }
  for (int32_t id : t->template_prefix) {
    if (id >= size)
      return l.Bad("TemplateProcessing id " + std::to_string(id) + " is out of range");
  }
  for (int32_t id : t->template_suffix) {
    if (id >= size)
      return l.Bad("TemplateProcessing id " + std::to_string(id) + " is out of range");
  }
  return t;
}

std::string MakeByteLevelTokenizerJson(const std::vector<std::string>& special_tokens) {
  JsonWriter w;
  auto byte_level = [&](bool add_prefix_space, bool trim_offsets) {
    w.BeginObject();
    w.Key("type");
    w.String("ByteLevel");
    w.Key("add_prefix_space");
    w.Bool(add_prefix_space);
    w.Key("trim_offsets");
    w.Bool(trim_offsets);
    w.Key("use_regex");
    w.Bool(true);
    w.EndObject();
  };
  w.BeginObject();
  w.Key("version");
  w.String("1.0");
  w.Key("truncation");
  w.Null();
  w.Key("padding");
  w.Null();
  w.Key("added_tokens");
  w.BeginArray();
  for (size_t i = 0; i < special_tokens.size(); ++i) {
    w.BeginObject();
    w.Key("id");
    w.Int(256 + int64_t(i));
    w.Key("content");
    w.String(special_tokens[i]);
    for (const char* key : {"single_word", "lstrip", "rstrip", "normalized"}) {
      w.Key(key);
      w.Bool(false);
    }
    w.Key("special");
    w.Bool(true);
    w.EndObject();
  }
  w.EndArray();
  w.Key("normalizer");
  w.Null();
  w.Key("pre_tokenizer");
  byte_level(false, true);
  w.Key("post_processor");
  byte_level(true, false);
  w.Key("decoder");
  byte_level(true, true);
  w.Key("model");
  w.BeginObject();
  w.Key("type");
  w.String("BPE");
  for (const char* key :
       {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"}) {
    w.Key(key);
    w.Null();
  }
  for (const char* key : {"fuse_unk", "byte_fallback", "ignore_merges"}) {
    w.Key(key);
    w.Bool(false);
  }
  w.Key("vocab");
  w.BeginObject();
  for (int b = 0; b < 256; ++b) {
    std::string token;
    AppendUtf8(ByteToChar(uint8_t(b)), &token);
    w.Key(token);
    w.Int(b);
  }
  w.EndObject();
  w.Key("merges");
  w.BeginArray();
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace radixlm::model
