#pragma once
// CSV text (RFC 4180) for downloads such as the audit log export: a field with a comma, quote, CR
// or LF is quoted and its quotes doubled; lines end in CRLF. A field a spreadsheet would run as a
// formula (starting with = + - @ or a tab) gets a leading ' so it stays text, except a lone "-"
// (the audit's "nobody" actor). Pure; any thread.

#include <string>
#include <vector>

namespace portico::broker {

std::string csv_field(const std::string& value);
std::string csv_line(const std::vector<std::string>& fields);  // with its CRLF

}  // namespace portico::broker
