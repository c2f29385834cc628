// Building a Tokenizer from tokenizer.json. Every refusal names what it refuses
// and the file, so a user with an unsupported model learns why at load time.
#include <simdjson.h>

#include <algorithm>
#include <cstdio>

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

Status LoadModel(const Loader& l, object model, BpeModel::Options* options,
                 std::string_view* unk_token) {
  std::string_view type = "BPE";  // HF accepts a BPE model without "type"
  if (Loader::Present(model, "type")) RETURN_IF_ERROR(l.String(model, "type", &type));
  if (type != "BPE") {
    return l.Bad("unsupported model type " + Quote(type) +
                 " (only BPE is supported: byte-level as in GPT-2, Llama 3, Qwen, or "
                 "SentencePiece-style as in Llama 2, Mistral, Gemma)");
  }
  RETURN_IF_ERROR(l.Bool(model, "byte_fallback", &options->byte_fallback));
  RETURN_IF_ERROR(l.Bool(model, "fuse_unk", &options->fuse_unk));
  if (Loader::Present(model, "unk_token")) RETURN_IF_ERROR(l.String(model, "unk_token", unk_token));
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
  RETURN_IF_ERROR(l.Bool(model, "ignore_merges", &options->ignore_merges));
  return OkStatus();
}

Status LoadVocabAndMerges(const Loader& l, object model, TokenizerImpl* t,
                          std::vector<BpeModel::Merge>* merges) {
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

Status LoadReplacement(const Loader& l, object obj, const char* what, Replacement* r) {
  object pattern;
  std::string_view text, content;
  if (obj["pattern"].get_object().get(pattern)) return l.Bad(std::string(what) + " has no pattern");
  if (!pattern["Regex"].get_string().get(text)) {
    auto regex = Regex::Compile(text);
    if (!regex.ok()) return l.Bad(std::string(what) + " pattern: " + regex.status().message());
    r->regex = std::move(regex).value();
  } else if (!pattern["String"].get_string().get(text)) {
    r->literal = std::string(text);
  } else {
    return l.Bad(std::string(what) + " pattern must be {\"Regex\": ...} or {\"String\": ...}");
  }
  RETURN_IF_ERROR(l.String(obj, "content", &content));
  r->content = std::string(content);
  return OkStatus();
}

Status LoadNormalizer(const Loader& l, element e, TokenizerImpl* t) {
  if (e.is_null()) return OkStatus();
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "normalizer", &type));
  object obj = e.get_object().value_unsafe();
  NormalizerStep step;
  if (type == "Sequence") {
    array list;
    if (obj["normalizers"].get_array().get(list)) return l.Bad("normalizer Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadNormalizer(l, item, t));
    return OkStatus();
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.form = type == "NFC"    ? UnicodeForm::kNfc
                : type == "NFD"  ? UnicodeForm::kNfd
                : type == "NFKC" ? UnicodeForm::kNfkc
                                 : UnicodeForm::kNfkd;
  } else if (type == "Lowercase") {
    step.kind = NormalizerStep::Kind::kLowercase;
  } else if (type == "Prepend") {
    std::string_view prepend;
    RETURN_IF_ERROR(l.String(obj, "prepend", &prepend));
    step.kind = NormalizerStep::Kind::kPrepend;
    step.prepend = std::string(prepend);
  } else if (type == "Replace") {
    step.kind = NormalizerStep::Kind::kReplace;
    RETURN_IF_ERROR(LoadReplacement(l, obj, "Replace normalizer", &step.replace));
  } else {
    return l.Bad("unsupported normalizer type " + Quote(type) +
                 " (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence)");
  }
  t->normalizer.push_back(std::move(step));
  return OkStatus();
}

// Metaspace's fields, shared by the pre-tokenizer and the decoder: replacement
// (one character), prepend_scheme (default "always"; a legacy add_prefix_space
// false means "never", as HF reads old files), split (default true).
Status LoadMetaspace(const Loader& l, object obj, std::string* replacement, PrependScheme* scheme,
                     bool* split) {
  std::string_view rep = "\u2581";
  if (Loader::Present(obj, "replacement")) RETURN_IF_ERROR(l.String(obj, "replacement", &rep));
  if (rep.empty() || Utf8SequenceLength(rep, 0) != rep.size()) {
    return l.Bad("Metaspace replacement " + Quote(rep) + " must be one character");
  }
  *replacement = std::string(rep);
  *scheme = PrependScheme::kAlways;
  if (Loader::Present(obj, "prepend_scheme")) {
    std::string_view s;
    RETURN_IF_ERROR(l.String(obj, "prepend_scheme", &s));
    if (s == "always") {
      *scheme = PrependScheme::kAlways;
    } else if (s == "first") {
      *scheme = PrependScheme::kFirst;
    } else if (s == "never") {
      *scheme = PrependScheme::kNever;
    } else {
      return l.Bad("unknown Metaspace prepend_scheme " + Quote(s) +
                   " (expected always, first or never)");
    }
  }
  bool add_prefix_space = true;
  RETURN_IF_ERROR(l.Bool(obj, "add_prefix_space", &add_prefix_space));
  if (!add_prefix_space) *scheme = PrependScheme::kNever;
  *split = true;
  RETURN_IF_ERROR(l.Bool(obj, "split", split));
  return OkStatus();
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
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::kMetaspace;
    RETURN_IF_ERROR(LoadMetaspace(l, obj, &step.literal, &step.prepend_scheme, &step.split));
  } else {
    return l.Bad("unsupported pre_tokenizer type " + Quote(type) +
                 " (supported: Sequence, Split, ByteLevel, Metaspace)");
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

// Decoder steps before a Fuse work token by token; after it only a Strip of
// the whole text is supported (what real files hold), since the text must
// stream out token by token (IncrementalDecoder).
Status LoadDecoder(const Loader& l, element e, TokenizerImpl* t, bool* fused) {
  if (e.is_null()) return OkStatus();
  std::string_view type;
  RETURN_IF_ERROR(l.Type(e, "decoder", &type));
  object obj = e.get_object().value_unsafe();
  if (type == "Sequence") {
    array list;
    if (obj["decoders"].get_array().get(list)) return l.Bad("decoder Sequence has no list");
    for (element item : list) RETURN_IF_ERROR(LoadDecoder(l, item, t, fused));
    return OkStatus();
  }
  if (type == "Fuse") {
    *fused = true;
    return OkStatus();
  }
  DecoderStep step;
  if (type == "Strip") {
    std::string_view content;
    int64_t start = 0, stop = 0;
    RETURN_IF_ERROR(l.String(obj, "content", &content));
    if (content.empty() || Utf8SequenceLength(content, 0) != content.size()) {
      return l.Bad("Strip decoder content " + Quote(content) + " must be one character");
    }
    if ((Loader::Present(obj, "start") && (obj["start"].get_int64().get(start) || start < 0)) ||
        (Loader::Present(obj, "stop") && (obj["stop"].get_int64().get(stop) || stop < 0)) ||
        start > 1024 || stop > 1024) {
      return l.Bad("Strip decoder start and stop must be small non-negative integers");
    }
    if (*fused) {
      if (!t->strip_content.empty()) return l.Bad("unsupported: two Strip decoders after a Fuse");
      t->strip_content = std::string(content);
      t->strip_start = int(start);
      t->strip_stop = int(stop);
      return OkStatus();
    }
    step.kind = DecoderStep::Kind::kStrip;
    step.content = std::string(content);
    step.start = int(start);
    step.stop = int(stop);
  } else if (*fused) {
    return l.Bad("unsupported decoder " + Quote(type) + " after a Fuse (only Strip may follow it)");
  } else if (type == "ByteLevel") {
    step.kind = DecoderStep::Kind::kByteLevel;
  } else if (type == "ByteFallback") {
    step.kind = DecoderStep::Kind::kByteFallback;
  } else if (type == "Replace") {
    step.kind = DecoderStep::Kind::kReplace;
    RETURN_IF_ERROR(LoadReplacement(l, obj, "Replace decoder", &step.replace));
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::Kind::kMetaspace;
    bool split;
    RETURN_IF_ERROR(LoadMetaspace(l, obj, &step.content, &step.prepend_scheme, &split));
    if (step.prepend_scheme != PrependScheme::kNever) t->first_token_differs = true;
  } else {
    return l.Bad("unsupported decoder type " + Quote(type) +
                 " (supported: ByteLevel, ByteFallback, Replace, Metaspace, Strip, Fuse, "
                 "Sequence)");
  }
  t->decoder.push_back(std::move(step));
  return OkStatus();
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
  BpeModel::Options options;
  std::string_view unk_token;
  RETURN_IF_ERROR(LoadModel(l, model, &options, &unk_token));
  RETURN_IF_ERROR(LoadVocabAndMerges(l, model, t.get(), &merges));
  RETURN_IF_ERROR(LoadAddedTokens(l, Loader::Get(root, "added_tokens"), t.get()));
  RETURN_IF_ERROR(LoadNormalizer(l, Loader::Get(root, "normalizer"), t.get()));
  element pre = Loader::Get(root, "pre_tokenizer");
  // A ByteLevel pre-tokenizer makes the BPE's symbols bytes; without one they
  // are characters (SentencePiece-style).
  options.byte_level = false;
  if (!pre.is_null()) RETURN_IF_ERROR(LoadPreTokenizer(l, pre, t.get(), &options.byte_level));
  RETURN_IF_ERROR(LoadPostProcessor(l, Loader::Get(root, "post_processor"), t.get()));
  bool fused = false;
  element decoder = Loader::Get(root, "decoder");
  t->space_between = decoder.is_null();
  RETURN_IF_ERROR(LoadDecoder(l, decoder, t.get(), &fused));

  // Vocab tokens by their symbols' text: bytes for byte-level, else as written.
  StringIdMap words;
  words.reserve(t->token_text.size());
  for (size_t id = 0; id < t->token_text.size(); ++id) {
    if (t->token_text[id].empty()) continue;
    if (!options.byte_level) {
      words.emplace(t->token_text[id], int32_t(id));
    } else if (auto bytes = ByteLevelBytes(t->token_text[id])) {
      words.emplace(std::move(*bytes), int32_t(id));
    }
  }
  for (int b = 0; b < 256; ++b) {
    std::string key(1, char(b));
    if (!options.byte_level) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);  // HF's spelling: upper-case hex
      key = hex;
    }
    auto it = words.find(key);
    options.byte_ids[b] = it == words.end() ? -1 : it->second;
  }
  if (!unk_token.empty()) {
    auto it = t->token_to_id.find(unk_token);
    if (it == t->token_to_id.end()) {
      return l.Bad("model.unk_token " + Quote(unk_token) + " is not in the vocab");
    }
    options.unk_id = it->second;
  }
  t->bpe = std::make_unique<BpeModel>(options, std::move(words), merges);

  // Added tokens override the vocab's entry for their id, as in HF's id_to_token.
  int64_t size = int64_t(t->token_text.size());
  for (const AddedToken& a : t->added) size = std::max<int64_t>(size, int64_t(a.id) + 1);
  t->token_text.resize(size);
  t->special.assign(size, false);
  for (const AddedToken& a : t->added) {
    t->token_text[a.id] = a.content;
    t->special[a.id] = a.special;
    t->token_to_id.emplace(a.content, a.id);
    (a.normalized ? t->normalized_matcher : t->raw_matcher).Add(&a);
  }
  t->token_bytes.resize(size);
  for (int64_t id = 0; id < size; ++id) {
    if (!t->token_text[id].empty()) t->token_bytes[id] = t->DecodeToken(t->token_text[id], false);
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
