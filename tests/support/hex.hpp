#pragma once
// Hex text of bytes and back, for the golden vectors (protocol/vectors/*.json) the C++ and the web
// client's tests both read.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace portico::test {

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto c : bytes) {
        s += kDigits[c >> 4];
        s += kDigits[c & 15];
    }
    return s;
}

inline std::vector<std::uint8_t> from_hex(const std::string& s) {
    std::vector<std::uint8_t> b;
    b.reserve(s.size() / 2);
    for (std::size_t i = 0; i + 1 < s.size(); i += 2)
        b.push_back(static_cast<std::uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return b;
}

}  // namespace portico::test
