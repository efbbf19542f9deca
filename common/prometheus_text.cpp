#include "common/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace portico::prometheus {

Value::Value(double v) {
    if (std::isnan(v)) {
        text_ = "NaN";
    } else if (std::isinf(v)) {
        text_ = v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back the same
        text_.assign(buf, r.ptr);
    }
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

namespace {

// HELP text escapes only backslash and newline (the format's rule).
std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void append_labels(std::string& out, const Labels& labels, std::string_view le = {}) {
    if (labels.empty() && le.empty()) return;
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out.append(k);
        out += "=\"";
        out += escape_label_value(v);
        out += '"';
    }
    if (!le.empty()) {
        if (!first) out += ',';
        out += "le=\"";
        out.append(le);
        out += '"';
    }
    out += '}';
}

}  // namespace

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_.append(name);
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_.append(name);
    out_ += ' ';
    out_.append(type);
    out_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels& labels, const Value& value) {
    out_.append(name);
    append_labels(out_, labels);
    out_ += ' ';
    out_ += value.text();
    out_ += '\n';
}

void TextWriter::histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                           std::span<const std::uint64_t> cumulative, std::uint64_t count, double sum,
                           const Labels& labels) {
    family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    auto bucket_line = [&](std::string_view le, std::uint64_t n) {
        out_ += bucket;
        append_labels(out_, labels, le);
        out_ += ' ';
        out_ += std::to_string(n);
        out_ += '\n';
    };
    for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i)
        bucket_line(Value(bounds[i]).text(), cumulative[i]);
    bucket_line("+Inf", count);
    sample(std::string(name) + "_sum", labels, sum);
    sample(std::string(name) + "_count", labels, count);
}

}  // namespace portico::prometheus
