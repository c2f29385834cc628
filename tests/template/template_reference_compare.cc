// Renders every case that jinja_reference.py wrote with radixlm's template
// library and compares with the reference Jinja2 text, character for
// character. A case where Jinja2 failed must fail here too. Prints one line
// per template family and every mismatch with where it starts; exits 1 on any.
// Usage: template_reference_compare CASES.json
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "template/chat_template.h"
#include "template/json_value.h"
#include "template/template.h"

namespace radixlm::tmpl {
namespace {

std::string Field(const Value& obj, const char* key) {
  const Value* v = obj.dict().Find(key);
  return v != nullptr && v->is_string() ? v->str() : std::string();
}

std::string Snippet(const std::string& s, size_t at) {
  const size_t b = at > 30 ? at - 30 : 0;
  std::string out;
  for (char c : s.substr(b, 60)) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

StatusOr<std::string> RenderCase(const Value& c, const RenderOptions& options) {
  if (c.dict().Find("template") != nullptr) {
    ASSIGN_OR_RETURN(auto t, Template::Parse(Field(c, "template")));
    const Value* ctx = c.dict().Find("context");
    return t->Render(ctx != nullptr && ctx->is_dict() ? ctx->dict() : Dict{}, options);
  }
  ASSIGN_OR_RETURN(ChatTemplateConfig config, ReadChatTemplateConfig(Field(c, "model_dir")));
  ASSIGN_OR_RETURN(auto chat, ChatTemplate::Create(config));
  const Value& in = *c.dict().Find("input");
  ChatInput input;
  input.messages = *in.dict().Find("messages");
  if (const Value* t = in.dict().Find("tools")) input.tools = *t;
  if (const Value* a = in.dict().Find("add_generation_prompt"))
    input.add_generation_prompt = a->Truthy();
  if (const Value* f = in.dict().Find("continue_final_message"))
    input.continue_final_message = f->Truthy();
  if (const Value* k = in.dict().Find("kwargs")) input.kwargs = k->dict();
  return chat->Apply(input, options);
}

int Run(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  auto doc = ParseJson(text.str(), path);
  if (!doc.ok()) {
    std::fprintf(stderr, "%s\n", doc.status().ToString().c_str());
    return 1;
  }
  RenderOptions options;
  options.fixed_time = doc->dict().Find("fixed_time")->int_value();
  std::map<std::string, std::pair<int, int>> families;  // matched, total
  int failures = 0;
  for (const Value& c : doc->dict().Find("cases")->list().items) {
    const std::string name = Field(c, "name");
    const std::string family = name.substr(0, name.find('/'));
    auto& [matched, total] = families[family];
    ++total;
    auto got = RenderCase(c, options);
    const Value* expected = c.dict().Find("expected");
    if (expected == nullptr) {
      if (got.ok()) {
        std::printf("MISMATCH %s: Jinja2 failed (%s), radixlm rendered %zu bytes\n", name.c_str(),
                    Field(c, "error").c_str(), got->size());
        ++failures;
      } else {
        // raise_exception's message must come through as is.
        const std::string want = Field(c, "error");
        const std::string prefix = "TemplateError: ";
        if (want.rfind(prefix, 0) == 0 &&
            std::string(got.status().message()) != want.substr(prefix.size())) {
          std::printf("MISMATCH %s: error '%s', Jinja2 '%s'\n", name.c_str(),
                      got.status().ToString().c_str(), want.c_str());
          ++failures;
        } else {
          ++matched;
        }
      }
      continue;
    }
    if (!got.ok()) {
      std::printf("MISMATCH %s: radixlm failed: %s\n", name.c_str(),
                  got.status().ToString().c_str());
      ++failures;
      continue;
    }
    const std::string& want = expected->str();
    if (*got == want) {
      ++matched;
      continue;
    }
    size_t at = 0;
    while (at < want.size() && at < got->size() && want[at] == (*got)[at]) ++at;
    std::printf("MISMATCH %s at byte %zu:\n  jinja2:  %s\n  radixlm: %s\n", name.c_str(), at,
                Snippet(want, at).c_str(), Snippet(*got, at).c_str());
    ++failures;
  }
  for (const auto& [family, counts] : families) {
    std::printf("%-12s %3d / %3d cases identical to Jinja2\n", family.c_str(), counts.first,
                counts.second);
  }
  std::printf("%s\n",
              failures == 0 ? "all identical" : (std::to_string(failures) + " mismatches").c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace radixlm::tmpl

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: template_reference_compare CASES.json\n");
    return 2;
  }
  return radixlm::tmpl::Run(argv[1]);
}
