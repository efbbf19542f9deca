#include "broker/command_line.hpp"

#include <algorithm>

namespace portico::broker {

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

// Characters a word may hold and still be written without quotes.
bool plain(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-+=@%:,./").find(c) != std::string_view::npos;
}

}  // namespace

Result<std::vector<std::string>, CommandLineError> split_command_line(std::string_view line) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;  // a word has started (so "" is an empty word, not nothing)
    std::size_t i = 0;
    auto fail = [](CommandLineError code, std::string why) {
        return Result<std::vector<std::string>, CommandLineError>(Error<CommandLineError>{code, std::move(why)});
    };
    while (i < line.size()) {
        const char c = line[i];
        if (static_cast<unsigned char>(c) < 0x20 && !blank(c))
            return fail(CommandLineError::control_character,
                        "the command contains a control character at position " + std::to_string(i + 1));
        if (blank(c)) {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
            ++i;
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (i + 1 >= line.size())
                return fail(CommandLineError::trailing_backslash,
                            "the command ends with a backslash that escapes nothing");
            word += line[i + 1];
            i += 2;
        } else if (c == '\'') {
            auto end = line.find('\'', i + 1);
            if (end == std::string_view::npos)
                return fail(CommandLineError::unterminated_quote,
                            "the single quote at position " + std::to_string(i + 1) + " is never closed");
            word.append(line.substr(i + 1, end - i - 1));
            i = end + 1;
        } else if (c == '"') {
            const auto open = i++;
            for (;;) {
                if (i >= line.size())
                    return fail(CommandLineError::unterminated_quote,
                                "the double quote at position " + std::to_string(open + 1) + " is never closed");
                const char d = line[i];
                if (d == '"') {
                    ++i;
                    break;
                }
                if (d == '\\' && i + 1 < line.size() &&
                    std::string_view("\"\\$`").find(line[i + 1]) != std::string_view::npos) {
                    word += line[i + 1];
                    i += 2;
                    continue;
                }
                word += d;
                ++i;
            }
        } else {
            word += c;
            ++i;
        }
    }
    if (in_word) words.push_back(std::move(word));
    if (words.empty()) return fail(CommandLineError::empty, "the command is empty");
    return words;
}

std::string join_command_line(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& w : argv) {
        if (!out.empty()) out += ' ';
        if (!w.empty() && std::all_of(w.begin(), w.end(), plain)) {
            out += w;
            continue;
        }
        out += '\'';
        for (char c : w) {
            if (c == '\'')
                out += "'\\''";
            else
                out += c;
        }
        out += '\'';
    }
    return out;
}

}  // namespace portico::broker
