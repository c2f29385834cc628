// The interpreter against expectations produced by the reference Jinja2
// (python3-jinja2 with transformers' settings; see jinja_reference.py), plus
// its errors and limits. No Python needed to run.
#include "template/template.h"

#include <gtest/gtest.h>

#include "template/json_value.h"

namespace radixlm::tmpl {
namespace {

constexpr int64_t kFixedTime = 1700000000;  // 2023-11-14 22:13:20 UTC, as in jinja_reference.py

StatusOr<std::string> Render(const std::string& source, const std::string& context = "{}",
                             const RenderOptions& options = {}) {
  ASSIGN_OR_RETURN(auto t, Template::Parse(source));
  ASSIGN_OR_RETURN(Value ctx, ParseJson(context, "context"));
  RenderOptions o = options;
  o.fixed_time = kFixedTime;
  return t->Render(ctx.dict(), o);
}

struct Case {
  const char* name;
  const char* source;
  const char* context;
  const char* expected;  // Jinja2's output
};

const Case kCases[] = {
    {"Text", R"(Hello)", R"({})", R"(Hello)"},
    {"Arithmetic", R"({{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 ** 8 }} {{ 1 / 4 }})", R"({})",
     R"(7 3 2 256 0.25)"},
    {"StringConcat", R"({{ 'a' ~ 1 ~ none }}{{ 'b' + 'c' }})", R"({})", R"(a1Nonebc)"},
    {"Comparisons", R"({{ 1 < 2 }}{{ 'a' in 'cat' }}{{ 3 not in [1, 2] }}{{ 1 == 1.0 }})", R"({})",
     R"(TrueTrueTrueTrue)"},
    {"InlineIf", R"({{ 'y' if x else 'n' }}[{{ 'y' if not x }}])", R"({"x": false})", R"(n[y])"},
    {"AttributesAndItems", R"({{ m.role }}{{ m['content'] }}{{ l[-1] }}{{ l.0 }})",
     R"({"m": {"role": "user", "content": "hi"}, "l": [1, 2]})", R"(userhi21)"},
    {"Slices", R"({{ l[::-1] }}{{ l[1:] }}{{ s[:2] }}{{ s[::-1] }})",
     R"({"l": [1, 2, 3], "s": "h\u00e9llo"})", R"([3, 2, 1][2, 3]héolléh)"},
    {"Undefined",
     R"([{{ nope }}][{{ nope is defined }}][{{ m.x is defined }}][{{ nope | length }}])",
     R"({"m": {}})", R"([][False][False][0])"},
    {"LoopVariables",
     R"({% for x in 'abc' %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex0 }}{{ loop.previtem }}{% endfor %})",
     R"({})", R"(1TrueFalse22FalseFalse1a3FalseTrue0b)"},
    {"LoopElseAndFilter",
     R"({% for x in [1, 2, 3, 4] if x > 2 %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}{% for x in [] %}x{% else %}empty{% endfor %})",
     R"({})", R"(3/2 4/2 empty)"},
    {"LoopControls",
     R"({% for x in range(6) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %})",
     R"({})", R"(023)"},
    {"TupleUnpacking",
     R"({% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}{% set a, b = 1, 2 %}{{ a + b }})",
     R"({"d": {"x": 1, "y": 2}})", R"(x=1 y=2 3)"},
    {"IfElifElse",
     R"({% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %})",
     R"({})", R"(one two many )"},
    {"LoopScoping", R"({% set x = 0 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }})",
     R"({})", R"(0)"},
    {"NamespaceSet",
     R"({% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }})",
     R"({})", R"(6)"},
    {"BlockSet", R"({% set x | upper %}ab{{ 'c' }}{% endset %}{{ x }})", R"({})", R"(ABC)"},
    {"Macros", R"({% macro m(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(2, b=3) }})",
     R"({})", R"(1B23)"},
    {"CallerMacro",
     R"({% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}in{% endcall %})", R"({})",
     R"(<in>)"},
    {"Generation", R"({% generation %}reply{% endgeneration %})", R"({})", R"(reply)"},
    {"FiltersStrings",
     R"({{ ' x ' | trim }}|{{ 'ab' | upper }}|{{ 'Ab' | lower }}|{{ 'hello world' | title }}|{{ 'hello' | capitalize }}|{{ 'aXa' | replace('a', 'b') }}|{{ 'a\nb' | indent(2, true) }})",
     R"({})", R"(x|AB|ab|Hello World|Hello|bXb|  a
  b)"},
    {"FiltersSequences",
     R"({{ l | length }}{{ l | first }}{{ l | last }}{{ l | join('-') }}{{ l | reverse | list }}{{ l | sort }}{{ [1, 1, 2] | unique | list }}{{ [3, 1] | max }}{{ l | sum }})",
     R"({"l": [3, 1, 2]})", R"(3323-1-2[2, 1, 3][1, 2, 3][1, 2]36)"},
    {"FiltersDicts", R"({{ d | items | list }}{{ d | dictsort }}{{ d | list }}{{ d | length }})",
     R"({"d": {"b": 1, "a": 2}})", R"([('b', 1), ('a', 2)][('a', 2), ('b', 1)]['b', 'a']2)"},
    {"FiltersSelectMap",
     R"({{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ ms | rejectattr('role', 'eq', 'user') | list | length }}|{{ [1, 2, 3] | select('odd') | list }})",
     R"({"ms": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]})",
     R"(a,c|1|[1, 3])"},
    {"FiltersNumbers",
     R"({{ '5' | int + 1 }} {{ 'x' | int(7) }} {{ '2.5' | float }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 3 | string }})",
     R"({})", R"(6 7 2.5 3 2.57 3)"},
    {"FiltersDefault", R"({{ nope | default('d') }}{{ '' | default('e', true) }}{{ 0 | d(1) }})",
     R"({})", R"(de0)"},
    {"FiltersEscape", R"({{ '<a&"b\'>' | e }}{{ '<x>' | safe }})", R"({})",
     R"(&lt;a&amp;&#34;b&#39;&gt;<x>)"},
    {"ToJson",
     R"({{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'hé\n' | tojson }}|{{ d | tojson(sort_keys=true) }})",
     R"({"d": {"b": [1, 2.5, null, true], "a": "x"}})", R"({"b": [1, 2.5, null, true], "a": "x"}|{
  "b": [
    1,
    2.5,
    null,
    true
  ],
  "a": "x"
}|"hé\n"|{"a": "x", "b": [1, 2.5, null, true]})"},
    {"Tests",
     R"({{ 1 is number }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ none is none }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 'ab' is lower }}{{ 1 is eq 1 }}{{ x is not defined }}{{ range is callable }}{{ true is boolean }}{{ 1.5 is float }}{{ 1 is integer }})",
     R"({})", R"(TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue)"},
    {"StringMethods",
     R"({{ s.startswith('He') }}{{ s.endswith('lo') }}{{ s.split('l') }}{{ ' a b '.split() }}{{ s.strip('Ho') }}{{ s.lstrip('H') }}{{ s.rstrip('o') }}{{ s.upper() }}{{ s.find('l') }}{{ s.count('l') }}{{ s.replace('l', 'L', 1) }}{{ 'a b'.title() }}{{ '{}-{}'.format(1, 2) }}{{ 'a,b,c'.rsplit(',', 1) }})",
     R"({"s": "Hello"})",
     R"(TrueTrue['He', '', 'o']['a', 'b']ellelloHellHELLO22HeLloA B1-2['a,b', 'c'])"},
    {"CaseMappingBeyondLatin",  // expected: Python 3 with Jinja2 3.1
     R"({{ 'ԱԲİ ΟΔΥΣΣΕΥΣ' | lower }}|{{ 'աբ ß' | upper }}|{{ 'ǆemal' | capitalize }}|{{ 'ΣΑΣ'.lower() }}|{{ 'Ա' is upper }}|{{ 'ǆa ǆb'.title() }})",
     R"({})", R"(աբi̇ οδυσσευς|ԱԲ SS|ǅemal|σας|True|ǅa ǅb)"},
    {"DictMethods",
     R"({{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('z', 0) }}{{ d.items() | list }})",
     R"({"d": {"a": 1}})", R"(['a'][1]10[('a', 1)])"},
    {"Repr", R"({{ [1, 'a', none, true, 2.0, {'k': 'it\'s'}, (1,)] }})", R"({})",
     R"([1, 'a', None, True, 2.0, {'k': "it's"}, (1,)])"},
    {"Globals", R"({{ range(1, 5, 2) | list }}{{ dict(a=1) }}{{ strftime_now('%Y-%m-%d') }})",
     R"({})", R"([1, 3]{'a': 1}2023-11-14)"},
    {"WhitespaceTrimBlocks", R"({% if true %}
line
{% endif %}
end)",
     R"({})", R"(line
end)"},
    {"WhitespaceLstripBlocks", R"(a
    {% if true %}
    b
    {% endif %}
c)",
     R"({})", R"(a
    b
c)"},
    {"WhitespaceMinus", R"(a  {{- ' b ' -}}  c {%- if true %} d{% endif -%}
 e)",
     R"({})", R"(a b c de)"},
    {"WhitespacePlus", R"(a
  {%+ if true %}b{% endif %})",
     R"({})", R"(a
  b)"},
    {"WhitespaceComments", R"(a {# note #} b
  {# own line #}
c)",
     R"({})", R"(a  b
c)"},
    {"TrailingNewlineDropped", R"(x
)",
     R"({})", R"(x)"},
};

TEST(Template, RendersAsJinja2) {
  for (const Case& c : kCases) {
    auto out = Render(c.source, c.context);
    ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().ToString();
    EXPECT_EQ(*out, c.expected) << c.name;
  }
}

// Parse errors name the construct and where it is.
TEST(Template, ParseErrorsNameLineAndColumn) {
  const struct {
    const char* source;
    const char* message;
  } cases[] = {
      {"{% extends 'base' %}", "line 1, column 4: unsupported tag 'extends'"},
      {"a\n{% include 'x' %}", "line 2, column 4: unsupported tag 'include'"},
      {"line\n\n{{ x | nofilter }}", "line 3, column 8: unknown filter 'nofilter'"},
      {"{{ x is bogus }}", "line 1, column 9: unknown test 'bogus'"},
      {"{% if x %}never closed", "missing {% endif %}"},
      {"{% for x in y recursive %}{% endfor %}", "unsupported: recursive for loops"},
      {"{{ 'unterminated }}", "unterminated string literal"},
      {"{% break %}", "'break' outside a for loop"},
      {"{{ a b }}", "line 1, column 6: expected '}}', got 'b'"},
      {"{% endfor %}", "unexpected 'endfor'"},
      {"{{ x", "unclosed '{{'"},
      {"{# never closed", "unclosed comment"},
      {"{{ f(*args) }}", "unsupported: *args"},
      {"{% frobnicate %}", "unknown tag 'frobnicate'"},
      {"{{ 1 $ 2 }}", "unexpected character '$'"},
  };
  for (const auto& c : cases) {
    auto t = Template::Parse(c.source);
    ASSERT_FALSE(t.ok()) << c.source;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(t.status().message()).find(c.message), std::string::npos)
        << c.source << " -> " << t.status().ToString();
  }
}

TEST(Template, RuntimeErrorsNameTheLine) {
  auto out = Render("a\n{{ m.x.y }}", R"({"m": {}})");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "line 2: 'dict object' has no attribute 'x'");
  out = Render("{{ nope + 1 }}");
  EXPECT_EQ(out.status().message(), "line 1: 'nope' is undefined");
  out = Render("\n\n{{ 'a' + 1 }}");
  EXPECT_EQ(out.status().message(), "line 3: can only concatenate str (not \"int\") to str");
  out = Render("{% for x in 5 %}{% endfor %}");
  EXPECT_EQ(out.status().message(), "line 1: 'int' object is not iterable");
  out = Render("{{ 1 // 0 }}");
  EXPECT_FALSE(out.ok());
  out = Render("{{ 'x'.nomethod() }}");
  EXPECT_EQ(out.status().message(), "line 1: 'str' object has no attribute 'nomethod'");
  out = Render("{{ [1].append(2) }}");
  EXPECT_NE(std::string(out.status().message()).find("unsafe"), std::string::npos);
}

// raise_exception(msg) reaches the caller as msg, unprefixed.
TEST(Template, RaiseExceptionMessage) {
  auto out = Render("{% if true %}\n{{ raise_exception('Roles must alternate') }}{% endif %}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Roles must alternate");
  out = Render("{% macro m() %}{{ raise_exception('inside') }}{% endmacro %}{{ m() }}");
  EXPECT_EQ(out.status().message(), "inside");
}

TEST(Template, WorkIsBounded) {
  RenderOptions o;
  o.limits.max_steps = 100000;
  auto out = Render(
      "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "{}", o);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);

  o = RenderOptions();
  o.limits.max_output_bytes = 1000;
  out = Render("{% for i in range(1000) %}0123456789{% endfor %}", "{}", o);
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  out = Render("{{ 'x' * 100000 }}", "{}", o);
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  out = Render("{{ range(200000) | length }}");
  EXPECT_NE(std::string(out.status().message()).find("Range too big"), std::string::npos);
}

TEST(Template, RecursionIsBounded) {
  auto out = Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(std::string(out.status().message()).find("nested deeper than"), std::string::npos);
  // Deep expressions are refused at parse time, not by the stack.
  const std::string deep = "{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}";
  EXPECT_FALSE(Template::Parse(deep).ok());
  std::string nots = "{{ ";
  for (int i = 0; i < 500; ++i) nots += "not ";
  EXPECT_FALSE(Template::Parse(nots + "x }}").ok());
  std::string ifs;
  for (int i = 0; i < 200; ++i) ifs += "{% if true %}";
  for (int i = 0; i < 200; ++i) ifs += "{% endif %}";
  EXPECT_FALSE(Template::Parse(ifs).ok());
}

// A namespace holding itself is released (ASan's leak check runs this).
TEST(Template, NamespaceCyclesDoNotLeak) {
  auto out = Render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me is defined }}");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "True");
  out = Render("{% macro m() %}x{% endmacro %}{% set ns = namespace(f=m) %}{{ ns.f() }}");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "x");
}

TEST(Template, StaticQuestions) {
  auto t = Template::Parse(
      "{% for m in messages %}{% for p in m['content'] %}{{ p.text }}{% endfor %}{% endfor %}");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE((*t)->IteratesContent());
  EXPECT_FALSE((*t)->ReadsName("tools"));
  t = Template::Parse("{% if tools %}{{ tools | tojson }}{% endif %}{{ messages[0].content }}");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->IteratesContent());
  EXPECT_TRUE((*t)->ReadsName("tools"));
}

TEST(Value, FloatReprMatchesPython) {
  EXPECT_EQ(FloatRepr(1.0), "1.0");
  EXPECT_EQ(FloatRepr(0.1), "0.1");
  EXPECT_EQ(FloatRepr(1e16), "1e+16");
  EXPECT_EQ(FloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(FloatRepr(1.5e-5), "1.5e-05");
  EXPECT_EQ(FloatRepr(0.0001), "0.0001");
  EXPECT_EQ(FloatRepr(-0.0), "-0.0");
  EXPECT_EQ(FloatRepr(123.456), "123.456");
}

TEST(Json, KeepsOrderAndDumpsLikePython) {
  auto v = ParseJson(
      R"({"z": 1, "a": [1.0, 2, "é\n"], "n": null, "big": 1000000000000000019884624838656})", "t");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto s = DumpJson(*v, {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, R"({"z": 1, "a": [1.0, 2, "é\n"], "n": null, "big": 1e+30})");
  JsonDumpOptions o;
  o.ensure_ascii = true;
  o.sort_keys = true;
  s = DumpJson(*v, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, R"({"a": [1.0, 2, "\u00e9\n"], "big": 1e+30, "n": null, "z": 1})");
  EXPECT_FALSE(ParseJson("{", "t").ok());
}

}  // namespace
}  // namespace radixlm::tmpl
