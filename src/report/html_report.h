// HtmlReport: one standalone HTML page of a command's results (`sim run --html`):
// headings, paragraphs, tables and inline SVG charts (svg_chart.h), with its
// CSS inline and nothing fetched from elsewhere, so the file opens anywhere.
// Text is escaped; SVG is included as given.
#pragma once

#include <string>
#include <vector>

namespace radixlm::report {

class HtmlReport {
 public:
  explicit HtmlReport(std::string title) : title_(std::move(title)) {}
  void Heading(const std::string& text);
  void Paragraph(const std::string& text);
  // The first row is the header; cells that parse as numbers align right.
  void Table(const std::vector<std::vector<std::string>>& rows, const std::string& id = "");
  void Svg(const std::string& svg);
  std::string Render() const;

 private:
  std::string title_;
  std::string body_;
};

// &, <, >, " escaped for HTML text and attribute values.
std::string HtmlEscape(const std::string& text);

}  // namespace radixlm::report
