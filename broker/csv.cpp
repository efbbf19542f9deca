#include "broker/csv.hpp"

namespace portico::broker {

std::string csv_field(const std::string& value) {
    std::string v = value;
    if (!v.empty() && v != "-" && std::string("=+-@\t").find(v[0]) != std::string::npos) v.insert(0, 1, '\'');
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string csv_line(const std::vector<std::string>& fields) {
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i) out += ',';
        out += csv_field(fields[i]);
    }
    out += "\r\n";
    return out;
}

}  // namespace portico::broker
