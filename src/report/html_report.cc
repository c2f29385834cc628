#include "report/html_report.h"

#include <cctype>

namespace radixlm::report {

namespace {

bool Numeric(const std::string& cell) {
  if (cell.empty()) return false;
  for (char c : cell) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != ',' && c != '-' &&
        c != '%' && c != ' ' && c != 'm' && c != 's') {
      return false;
    }
  }
  return std::isdigit(static_cast<unsigned char>(cell.front())) || cell.front() == '-';
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void HtmlReport::Heading(const std::string& text) {
  body_ += "<h2>" + HtmlEscape(text) + "</h2>\n";
}

void HtmlReport::Paragraph(const std::string& text) {
  body_ += "<p>" + HtmlEscape(text) + "</p>\n";
}

void HtmlReport::Table(const std::vector<std::vector<std::string>>& rows, const std::string& id) {
  body_ += id.empty() ? "<table>\n" : "<table id=\"" + HtmlEscape(id) + "\">\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    body_ += r == 0 ? "<thead><tr>" : "<tr>";
    for (const std::string& cell : rows[r]) {
      const char* tag = r == 0 ? "th" : "td";
      body_ += std::string("<") + tag + (r > 0 && Numeric(cell) ? " class=\"n\"" : "") + ">" +
               HtmlEscape(cell) + "</" + tag + ">";
    }
    body_ += r == 0 ? "</tr></thead>\n<tbody>\n" : "</tr>\n";
  }
  body_ += rows.empty() ? "</table>\n" : "</tbody></table>\n";
}

void HtmlReport::Svg(const std::string& svg) {
  // Drop an XML declaration: inline SVG in HTML has none.
  const size_t start = svg.rfind("<?xml", 0) == 0 ? svg.find("?>") + 2 : 0;
  body_ += "<div class=\"chart\">" + svg.substr(start) + "</div>\n";
}

std::string HtmlReport::Render() const {
  return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         HtmlEscape(title_) +
         "</title>\n<style>\n"
         "body { margin: 24px; font: 14px/1.4 system-ui, sans-serif; color: #1d232b; background: "
         "#fff; }\n"
         "h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }\n"
         "table { border-collapse: collapse; font-variant-numeric: tabular-nums; }\n"
         "td, th { padding: 3px 8px; border-bottom: 1px solid #d9dee4; text-align: left; "
         "white-space: nowrap; }\n"
         "td.n { text-align: right; } th { background: #f6f7f9; }\n"
         ".chart svg { max-width: 100%; height: auto; }\n"
         "</style>\n</head>\n<body>\n<h1>" +
         HtmlEscape(title_) + "</h1>\n" + body_ + "</body>\n</html>\n";
}

}  // namespace radixlm::report
