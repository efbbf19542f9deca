#include "common/cli.hpp"

#include <algorithm>
#include <charconv>

namespace portico::cli {

namespace {

// Help as Portico's programs print it: the program's description (which starts with its own usage
// lines) and then the options; CLI11's generated "Usage: prog [OPTIONS]" line says less than ours.
class Formatter : public CLI::Formatter {
public:
    std::string make_description(const CLI::App* app) const override {
        return app->get_description().empty() ? "" : app->get_description() + "\n";
    }
    std::string make_usage(const CLI::App*, std::string) const override { return ""; }
};

}  // namespace

void setup(CLI::App& app, bool* help) {
    // CLI11's own help flag throws out of parse(); a plain flag lets the caller's parse function
    // return "help wanted" like any other result.
    app.set_help_flag();
    app.add_flag("-h,--help", *help, "show this help");
    // Unknown arguments are collected and reported by parse() in Portico's words.
    app.allow_extras();
    app.allow_config_extras(CLI::config_extras_mode::error);
    // An option given twice keeps its last value, as with the parsers before CLI11 (a script may add
    // a flag to a command line that already has it); repeatable options (vectors) keep every value.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    auto formatter = std::make_shared<Formatter>();
    formatter->column_width(34);
    app.formatter(formatter);
}

void add_config(CLI::App& app) {
    app.set_config("--config", "",
                   "read options from FILE (TOML or INI; keys are the long option names\n"
                   "without '--'); options on the command line win")
        ->option_text("FILE");
}

Result<std::vector<std::string>, Code> parse_known(CLI::App& app, std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    try {
        app.parse(std::move(args));
    } catch (const CLI::ArgumentMismatch& e) {
        // "--broker: 1 required TEXT missing": the flag came without its value.
        std::string what = e.what();
        if (auto colon = what.find(": ");
            colon != std::string::npos && what.find("missing", colon) != std::string::npos)
            return Error<Code>{Code::missing_value, what.substr(0, colon) + " needs a value"};
        return Error<Code>{Code::invalid_value, what};
    } catch (const CLI::ValidationError& e) {
        return Error<Code>{Code::invalid_value, e.what()};
    } catch (const CLI::ConversionError& e) {
        return Error<Code>{Code::invalid_value, e.what()};
    } catch (const CLI::RequiredError& e) {
        return Error<Code>{Code::missing_required, e.what()};
    } catch (const CLI::RequiresError& e) {
        return Error<Code>{Code::missing_required, e.what()};
    } catch (const CLI::ExcludesError& e) {
        return Error<Code>{Code::invalid_value, e.what()};
    } catch (const CLI::ConfigError& e) {
        return Error<Code>{Code::bad_config, std::string("--config: ") + e.what()};
    } catch (const CLI::FileError& e) {
        return Error<Code>{Code::bad_config, std::string("--config: ") + e.what()};
    } catch (const CLI::ParseError& e) {
        return Error<Code>{Code::invalid_value, e.what()};
    }
    return app.remaining(true);
}

Result<void, Code> parse(CLI::App& app, std::vector<std::string> args) {
    auto extras = parse_known(app, std::move(args));
    if (!extras) return extras.error();
    if (!extras->empty()) {
        const std::string& first = extras->front();
        if (first.size() > 1 && first[0] == '-')
            return Error<Code>{Code::unknown_argument,
                               "unknown flag '" + first.substr(0, first.find('=')) + "' (see --help)"};
        return Error<Code>{Code::unknown_argument, "unexpected argument '" + first + "' (see --help)"};
    }
    return {};
}

Result<void, Code> parse(CLI::App& app, int argc, const char* const* argv) {
    return parse(app, std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
}

CLI::Validator count(long min, long max) {
    return CLI::Validator(
        [min, max](std::string& value) -> std::string {
            long n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < min || n > max)
                return "expected a number from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" +
                       value + "'";
            return {};
        },
        "");
}

CLI::Validator one_of(std::vector<std::string> words) {
    return CLI::Validator(
        [words](std::string& value) -> std::string {
            if (std::find(words.begin(), words.end(), value) != words.end()) return {};
            std::string list;
            for (std::size_t i = 0; i < words.size(); ++i)
                list += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
            return "expected " + list + ", got '" + value + "'";
        },
        "");
}

CLI::Validator non_empty() {
    return CLI::Validator([](std::string& value) -> std::string { return value.empty() ? "needs a value" : ""; }, "");
}

}  // namespace portico::cli
