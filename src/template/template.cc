// Template: parsing and the static questions asked of a parsed template.
#include "template/template.h"

#include "template/lexer.h"
#include "template/parser.h"
#include "template/renderer.h"

namespace radixlm::tmpl {

Template::~Template() = default;

StatusOr<std::unique_ptr<Template>> Template::Parse(std::string_view source) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source, LexOptions{}));
  ASSIGN_OR_RETURN(Body body, tmpl::Parse(tokens));
  std::unique_ptr<Template> t(new Template());
  t->body_ = std::make_unique<Body>(std::move(body));
  return t;
}

StatusOr<std::string> Template::Render(const Dict& globals, const RenderOptions& options) const {
  Renderer r(globals, options);
  return r.Run(*body_);
}

namespace {

template <typename F>
void VisitExpr(const Expr* e, const F& f) {
  if (e == nullptr) return;
  f(*e);
  for (const ExprPtr& c : e->children) VisitExpr(c.get(), f);
  for (const auto& kv : e->kwargs) VisitExpr(kv.second.get(), f);
}

template <typename FE, typename FN>
void VisitBody(const Body& body, const FE& fe, const FN& fn) {
  for (const NodePtr& n : body) {
    fn(*n);
    VisitExpr(n->expr.get(), fe);
    VisitExpr(n->condition.get(), fe);
    for (const auto& [c, b] : n->branches) {
      VisitExpr(c.get(), fe);
      VisitBody(b, fe, fn);
    }
    for (const auto& p : n->params) VisitExpr(p.second.get(), fe);
    VisitBody(n->body, fe, fn);
    VisitBody(n->else_body, fe, fn);
  }
}

bool IsContentAccess(const Expr& e) {
  if (e.kind == ExprKind::kGetAttr) return e.name == "content";
  if (e.kind == ExprKind::kGetItem && e.children[1]->kind == ExprKind::kLiteral &&
      e.children[1]->literal.is_string()) {
    return e.children[1]->literal.str() == "content";
  }
  return false;
}

}  // namespace

bool Template::ReadsName(std::string_view name) const {
  bool found = false;
  VisitBody(
      *body_, [&](const Expr& e) { found |= e.kind == ExprKind::kName && e.name == name; },
      [](const Node&) {});
  return found;
}

bool Template::IteratesContent() const {
  bool found = false;
  VisitBody(
      *body_, [](const Expr&) {},
      [&](const Node& n) {
        found |= n.kind == NodeKind::kFor && n.expr && IsContentAccess(*n.expr);
      });
  return found;
}

}  // namespace radixlm::tmpl
