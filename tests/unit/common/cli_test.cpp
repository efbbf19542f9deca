#include "common/cli.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace portico;

namespace {

// A small program's command line: the shapes every executable uses.
struct Program {
    bool help = false;
    bool verbose = false;
    std::string broker;
    int sessions = 20;
    std::string mode = "auto";
    std::vector<std::string> entries;
    CLI::App app{"", "prog"};

    Program() {
        cli::setup(app, &help);
        app.description("usage: prog --broker URL [options]");
        app.add_option("--broker", broker, "the broker")->option_text("URL");
        app.add_option("--max-sessions", sessions, "at most N")->option_text("N")->check(cli::count(1, 100));
        app.add_option("--mode", mode, "auto | kvm | tcg")->check(cli::one_of({"auto", "kvm", "tcg"}));
        app.add_flag("--verbose", verbose, "say more");
        app.add_option("--entry", entries, "repeatable");
        cli::add_config(app);
    }
    Result<void, cli::Code> parse(std::vector<std::string> args) { return cli::parse(app, std::move(args)); }
};

struct TempFile {
    std::string path = "/tmp/portico-cli-test-" + std::to_string(::getpid()) + ".toml";
    explicit TempFile(const std::string& text) { std::ofstream(path) << text; }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("cli: values, defaults, --name=value and flags parse") {
    Program p;
    REQUIRE(p.parse({"--broker", "wss://b", "--max-sessions=7", "--verbose"}));
    CHECK(p.broker == "wss://b");
    CHECK(p.sessions == 7);
    CHECK(p.verbose);
    CHECK(p.mode == "auto");
    CHECK_FALSE(p.help);
}

TEST_CASE("cli: an option given twice keeps its last value, a repeatable one every value") {
    Program p;
    REQUIRE(p.parse(
        {"--broker", "a", "--max-sessions", "3", "--broker", "b", "--max-sessions=4", "--entry", "x", "--entry", "y"}));
    CHECK(p.broker == "b");
    CHECK(p.sessions == 4);
    CHECK(p.entries == std::vector<std::string>{"x", "y"});
}

TEST_CASE("cli: --help is a flag, not an exception, and the help text lists every option") {
    Program p;
    REQUIRE(p.parse({"--help"}));
    CHECK(p.help);
    Program q;
    REQUIRE(q.parse({"-h"}));
    CHECK(q.help);
    std::string text = p.app.help();
    CHECK(text.rfind("usage: prog --broker URL", 0) == 0);  // the program's own usage lines come first
    for (const char* flag : {"--broker URL", "--max-sessions N", "--mode", "--verbose", "--config FILE", "--help"})
        CHECK_THAT(text, Catch::Contains(flag));
}

TEST_CASE("cli: a bad command line is one error naming the argument") {
    auto error = [](std::vector<std::string> args) {
        Program p;
        auto r = p.parse(std::move(args));
        REQUIRE_FALSE(r);
        return r.error();
    };
    auto unknown = error({"--frobnicate"});
    CHECK(unknown.code == cli::Code::unknown_argument);
    CHECK(unknown.message == "unknown flag '--frobnicate' (see --help)");
    CHECK(error({"--frobnicate=3"}).message == "unknown flag '--frobnicate' (see --help)");
    auto stray = error({"--broker", "x", "stray"});
    CHECK(stray.code == cli::Code::unknown_argument);
    CHECK(stray.message == "unexpected argument 'stray' (see --help)");

    auto last = error({"--broker"});
    CHECK(last.code == cli::Code::missing_value);
    CHECK(last.message == "--broker needs a value");
    // The word after a flag that takes a value is its value, as in every parser before CLI11
    // (portico-client --type -x types "-x").
    Program p;
    REQUIRE(p.parse({"--broker", "--verbose"}));
    CHECK(p.broker == "--verbose");
    CHECK_FALSE(p.verbose);

    auto lots = error({"--max-sessions", "lots"});
    CHECK(lots.code == cli::Code::invalid_value);
    CHECK(lots.message == "--max-sessions: expected a number from 1 to 100, got 'lots'");
    CHECK(error({"--max-sessions", "0"}).message == "--max-sessions: expected a number from 1 to 100, got '0'");
    CHECK(error({"--max-sessions", "101"}).code == cli::Code::invalid_value);
    CHECK(error({"--max-sessions", "5x"}).code == cli::Code::invalid_value);
    CHECK(error({"--mode", "xen"}).message == "--mode: expected auto, kvm or tcg, got 'xen'");
}

TEST_CASE("cli: the count validator's bounds are inclusive") {
    for (const char* n : {"1", "100"}) {
        Program p;
        REQUIRE(p.parse({"--max-sessions", n}));
        CHECK(p.sessions == std::stoi(n));
    }
}

TEST_CASE("cli: --config reads options from a TOML file and the command line wins") {
    TempFile file("broker = \"wss://from-file\"\nmax-sessions = 9\nverbose = true\n");
    Program p;
    REQUIRE(p.parse({"--config", file.path}));
    CHECK(p.broker == "wss://from-file");
    CHECK(p.sessions == 9);
    CHECK(p.verbose);

    Program q;
    REQUIRE(q.parse({"--config", file.path, "--max-sessions", "3"}));
    CHECK(q.sessions == 3);
    CHECK(q.broker == "wss://from-file");
}

TEST_CASE("cli: a config file's values are validated like the command line's") {
    TempFile file("max-sessions = 1000\n");
    Program p;
    auto r = p.parse({"--config", file.path});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == cli::Code::invalid_value);
    CHECK_THAT(r.error().message, Catch::Contains("expected a number from 1 to 100"));
}

TEST_CASE("cli: an unknown key in the config file or a missing file is bad_config") {
    TempFile file("brokr = \"typo\"\n");
    Program p;
    auto r = p.parse({"--config", file.path});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == cli::Code::bad_config);
    CHECK_THAT(r.error().message, Catch::Contains("brokr"));

    Program q;
    auto missing = q.parse({"--config", "/nonexistent/portico.toml"});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == cli::Code::bad_config);
}

TEST_CASE("cli: argc/argv skips the program name") {
    Program p;
    const char* argv[] = {"prog", "--broker", "wss://x"};
    REQUIRE(cli::parse(p.app, 3, argv));
    CHECK(p.broker == "wss://x");
}
