#include "client/native/options.hpp"
#include "client/native/rest_client.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <unistd.h>

using namespace portico::client;

namespace {
std::vector<std::string> base() {
    return {"--headless", "--broker", "https://127.0.0.1:8443", "--user", "demo", "--resource", "Terminal"};
}
}  // namespace

TEST_CASE("options: the documented flags parse, escapes in --type are interpreted") {
    auto a = base();
    for (std::string s : {"--insecure", "--direct", "--type", R"(ls\n)", "--type-delay-ms", "5", "--wait-frames", "3",
                          "--duration", "1.5", "--png", "/tmp/o.png", "--logoff", "--json", "--pointer", "100,20"})
        a.push_back(s);
    auto o = parse_options(a, std::string("secret"));
    REQUIRE(o.ok());
    CHECK(o->headless);
    CHECK(o->broker == "https://127.0.0.1:8443");
    CHECK(o->password == "secret");
    CHECK(o->insecure);
    CHECK(o->direct);
    CHECK(o->type_text == std::optional<std::string>("ls\n"));
    CHECK(o->type_delay_ms == 5);
    CHECK(o->wait_frames == 3);
    CHECK(o->duration_s == Approx(1.5));
    CHECK(o->png_path == "/tmp/o.png");
    CHECK(o->logoff);
    CHECK(o->json);
    CHECK(o->pointer == std::optional<std::pair<int, int>>({100, 20}));
}

TEST_CASE("options: the benchmark flags parse (--frame-log, --probe-latency, --size)") {
    auto a = base();
    for (std::string s : {"--frame-log", "/tmp/f.jsonl", "--probe-latency", "100", "--size", "1920x1080"})
        a.push_back(s);
    auto o = parse_options(a, std::string("pw"));
    REQUIRE(o.ok());
    CHECK(o->frame_log_path == "/tmp/f.jsonl");
    CHECK(o->probe_latency == 100);
    CHECK(o->size == std::optional<std::pair<int, int>>({1920, 1080}));
    auto plain = parse_options(base(), std::string("pw"));
    REQUIRE(plain.ok());
    CHECK(plain->probe_latency == 0);
    CHECK_FALSE(plain->size);
    CHECK(plain->frame_log_path.empty());
    for (std::vector<std::string> bad : {std::vector<std::string>{"--size", "1920"},
                                         {"--size", "0x10"},
                                         {"--size", "axb"},
                                         {"--probe-latency", "0"},
                                         {"--probe-latency", "x"},
                                         {"--frame-log"}}) {
        auto b = base();
        b.insert(b.end(), bad.begin(), bad.end());
        auto r = parse_options(b, std::string("pw"));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ClientError::usage);
    }
}

TEST_CASE("options: --record goes with a session, --replay alone needs no broker or password") {
    auto a = base();
    a.insert(a.end(), {"--record", "/tmp/r.rec"});
    auto o = parse_options(a, std::string("pw"));
    REQUIRE(o.ok());
    CHECK(o->record_path == "/tmp/r.rec");

    auto r = parse_options({"--replay", "/tmp/r.rec", "--png", "/tmp/p.png", "--png-at-ms", "1764750000123.5",
                            "--raw-out", "/tmp/raw", "--frame-log", "/tmp/i.jsonl"},
                           std::nullopt);
    REQUIRE(r.ok());
    CHECK(r->replay_path == "/tmp/r.rec");
    CHECK(r->png_at_ms == std::optional<double>(1764750000123.5));
    CHECK(r->raw_out_path == "/tmp/raw");

    for (std::vector<std::string> bad : {std::vector<std::string>{"--replay", "/tmp/r.rec"},  // nothing to write
                                         {"--replay", "/tmp/r.rec", "--png", "p", "--png-at-ms", "soon"},
                                         {"--replay", "/tmp/r.rec", "--png", "p", "--png-at-ms", "-5"}}) {
        auto e = parse_options(bad, std::nullopt);
        REQUIRE_FALSE(e.ok());
        CHECK(e.error().code == ClientError::usage);
    }
    auto live = base();
    live.insert(live.end(), {"--png-at-ms", "5"});  // only a replay has a moment to pick
    auto e = parse_options(live, std::string("pw"));
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == ClientError::usage);
}

TEST_CASE("options: the password file's first line wins over the environment") {
    std::string path = "/tmp/portico-pw-" + std::to_string(getpid());
    std::ofstream(path) << "from-file\r\nsecond line\n";
    auto a = base();
    a.push_back("--password-file");
    a.push_back(path);
    auto o = parse_options(a, std::string("from-env"));
    std::remove(path.c_str());
    REQUIRE(o.ok());
    CHECK(o->password == "from-file");
}

TEST_CASE("options: usage errors are ClientError::usage (exit 2)") {
    auto expect_usage = [](std::vector<std::string> a, std::optional<std::string> pw) {
        auto o = parse_options(a, pw);
        REQUIRE_FALSE(o.ok());
        CHECK(o.error().code == ClientError::usage);
        CHECK(exit_code(o.error().code) == 2);
    };
    expect_usage(base(), std::nullopt);  // no password
    auto a = base();
    a.erase(a.begin());  // no --headless: a window, where --png means nothing
    a.insert(a.end(), {"--png", "/tmp/x.png"});
    expect_usage(a, "pw");
    a = base();
    a.push_back("--fullscreen");  // a window's option with --headless
    expect_usage(a, "pw");
    a = base();
    a.push_back("https://other:1");  // the broker twice
    expect_usage(a, "pw");
    a = base();
    a.push_back("--bogus");
    expect_usage(a, "pw");
    a = base();
    a.push_back("--duration");
    expect_usage(a, "pw");  // missing value
    a = base();
    a.insert(a.end(), {"--duration", "abc"});
    expect_usage(a, "pw");
    a = base();
    a.insert(a.end(), {"--pointer", "12"});
    expect_usage(a, "pw");
    a = base();
    a.insert(a.end(), {"--insecure", "--ca", "x.pem"});
    expect_usage(a, "pw");
    a = base();
    a.insert(a.end(), {"--password-file", "/nonexistent/pw"});
    expect_usage(a, "pw");
    auto help = parse_options({"--help"}, std::nullopt);
    REQUIRE(help.ok());
    CHECK(help->help);
}

TEST_CASE("resources resolve by id, then name, then name ignoring case") {
    std::vector<ResourceInfo> list = {{"terminal", "Terminal", "app"}, {"calc", "terminal", "app"}};
    CHECK(resolve_resource(list, "terminal") == "terminal");  // id beats the other's name
    CHECK(resolve_resource(list, "Terminal") == "terminal");
    CHECK(resolve_resource(list, "calc") == "calc");
    CHECK(resolve_resource(list, "TERMINAL") == "terminal");
    CHECK(resolve_resource(list, "nope").empty());
}

TEST_CASE("broker error bodies are described by code and message") {
    CHECK(describe_api_error(404, R"({"error":{"code":"not_found","message":"no such resource"}})") ==
          "HTTP 404 not_found: no such resource");
    CHECK(describe_api_error(502, "Bad Gateway") == "HTTP 502 Bad Gateway");
    CHECK(describe_api_error(500, "") == "HTTP 500");
}

TEST_CASE("options: the window takes the broker as its first argument and asks for what is missing") {
    auto o = parse_options({"https://broker.example:8443", "--resource", "Terminal"}, std::nullopt);
    REQUIRE(o.ok());
    CHECK_FALSE(o->headless);
    CHECK(o->broker == "https://broker.example:8443");
    CHECK(o->user.empty());  // asked on the terminal
    CHECK(o->ask_password);  // never on the command line
    o = parse_options({"https://b:1", "--resource", "T", "--user", "demo", "--fullscreen", "--scale", "2", "--stats",
                       "--size", "800x600"},
                      std::string("pw"));
    REQUIRE(o.ok());
    CHECK_FALSE(o->ask_password);
    CHECK(o->password == "pw");
    CHECK(o->fullscreen);
    CHECK(o->scale == std::optional<double>(2.0));
    CHECK(o->stats_overlay);
    CHECK(o->size == std::optional<std::pair<int, int>>({800, 600}));
    CHECK_FALSE(parse_options({"https://b:1", "--resource", "T", "--scale", "5"}, std::nullopt).ok());
    CHECK_FALSE(parse_options({"https://b:1", "--resource", "T", "--password", "x"}, std::nullopt).ok());
}

TEST_CASE("options: --decoder chooses how H.264 is decoded, VA-API when there is one by default") {
    using portico::codec::H264Acceleration;
    auto o = parse_options({"https://b:1", "--resource", "T"}, std::nullopt);
    REQUIRE(o.ok());
    CHECK(o->decoder == H264Acceleration::automatic);
    o = parse_options({"https://b:1", "--resource", "T", "--decoder", "software"}, std::nullopt);
    REQUIRE(o.ok());
    CHECK(o->decoder == H264Acceleration::software);
    o = parse_options({"--headless", "--broker", "https://b:1", "--user", "u", "--resource", "T", "--decoder", "VAAPI"},
                      std::string("pw"));
    REQUIRE(o.ok());
    CHECK(o->decoder == H264Acceleration::vaapi);
    auto bad = parse_options({"https://b:1", "--resource", "T", "--decoder", "nvdec"}, std::nullopt);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ClientError::usage);
}

TEST_CASE("options: a launch file names the broker, its pin and the resource, and a damaged one is a usage error") {
    portico::protocol::LaunchFile lf;
    lf.broker = "https://broker.example.org:8443";
    lf.broker_cert_sha256 = std::string(64, 'c');
    lf.resource = "terminal";
    lf.expires_at = 1'800'000'000;
    lf.token = std::string(portico::protocol::kLaunchTokenLength, 'T');
    const std::string path = "/tmp/portico-options-test-" + std::to_string(getpid()) + ".portico";
    std::ofstream(path) << portico::protocol::format_launch_file(lf);

    auto windowed = parse_options({path}, std::nullopt);  // no user, no password asked: the token stands in
    REQUIRE(windowed.ok());
    REQUIRE(windowed->launch_file);
    CHECK(windowed->launch_file->token == lf.token);
    CHECK(windowed->broker == "https://broker.example.org:8443");
    CHECK(windowed->resource == "terminal");
    CHECK_FALSE(windowed->ask_password);
    auto headless = parse_options({"--headless", path, "--duration", "1", "--png", "/tmp/x.png"}, std::string("pw"));
    REQUIRE(headless.ok());
    CHECK(headless->password.empty());  // PORTICO_PASSWORD is not sent anywhere with a launch file

    for (auto extra : {"--user", "--resource", "--ca", "--password-file"}) {
        auto r = parse_options({path, extra, "x"}, std::nullopt);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ClientError::usage);
        CHECK_THAT(r.error().message, Catch::Contains("launch file"));
    }
    CHECK_FALSE(parse_options({path, "--insecure"}, std::nullopt).ok());
    CHECK_FALSE(parse_options({path, "--broker", "https://other"}, std::nullopt).ok());

    std::ofstream(path) << portico::protocol::format_launch_file(lf).substr(0, 100);
    auto cut = parse_options({path}, std::nullopt);
    REQUIRE_FALSE(cut.ok());
    CHECK(cut.error().code == ClientError::usage);
    CHECK_THAT(cut.error().message, Catch::Contains(path) && Catch::Contains("cut short"));
    auto missing = parse_options({path + ".gone"}, std::nullopt);
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message, Catch::Contains("cannot read launch file"));
    // The desktop file's %u may hand the file over as a file:// URL (escapes decoded).
    const std::string spaced = "/tmp/portico options test " + std::to_string(getpid()) + ".portico";
    std::ofstream(spaced) << portico::protocol::format_launch_file(lf);
    std::string url = "file://" + spaced;
    for (std::size_t at; (at = url.find(' ')) != std::string::npos;) url.replace(at, 1, "%20");
    auto by_url = parse_options({url}, std::nullopt);
    REQUIRE(by_url.ok());
    REQUIRE(by_url->launch_file);
    CHECK(by_url->launch_file->token == lf.token);
    std::remove(spaced.c_str());
    std::remove(path.c_str());
}

TEST_CASE("options: a launch link stands in for the file, a malformed one is a usage error, --error-window") {
    portico::protocol::LaunchFile lf;
    lf.broker = "https://broker.example.org:8443";
    lf.broker_cert_sha256 = std::string(64, 'c');
    lf.resource = "terminal";
    lf.expires_at = 1'800'000'000;
    lf.token = std::string(portico::protocol::kLaunchTokenLength, 'T');
    const std::string link = portico::protocol::format_launch_url(lf);
    CHECK(is_launch_link(link));
    CHECK(is_launch_link("Portico://x"));
    CHECK_FALSE(is_launch_link("https://broker.example.org:8443"));

    auto o = parse_options({link, "--error-window"}, std::nullopt);
    REQUIRE(o.ok());
    REQUIRE(o->launch_file);
    CHECK(o->launch_file->token == lf.token);
    CHECK(o->broker == "https://broker.example.org:8443");
    CHECK(o->resource == "terminal");
    CHECK(o->error_window);
    CHECK_FALSE(o->ask_password);
    CHECK_FALSE(parse_options({link, "--user", "x"}, std::nullopt).ok());

    auto bad = parse_options({link.substr(0, link.size() - 5)}, std::nullopt);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ClientError::usage);
    CHECK_THAT(bad.error().message, Catch::StartsWith("launch link: ") && Catch::Contains("token"));
    CHECK_THAT(bad.error().message, !Catch::Contains(lf.token.substr(0, 38)));  // the token is not repeated
    CHECK_FALSE(parse_options({"--headless", link, "--error-window"}, std::string("pw")).ok());
    // A launch file's token is the login: no login window to force.
    CHECK_FALSE(parse_options({link, "--login-dialog"}, std::nullopt).ok());
}

TEST_CASE("options: --login-dialog goes with the window and asks for the password there") {
    auto o = parse_options({"https://b:1", "--resource", "T", "--login-dialog"}, std::nullopt);
    REQUIRE(o.ok());
    CHECK(o->login_dialog);
    CHECK(o->ask_password);
    CHECK_FALSE(parse_options({"https://b:1", "--resource", "T"}, std::nullopt)->login_dialog);
    auto headless =
        parse_options({"--headless", "--broker", "https://b:1", "--user", "u", "--resource", "T", "--login-dialog"},
                      std::string("pw"));
    REQUIRE_FALSE(headless.ok());
    CHECK(headless.error().code == ClientError::usage);
    CHECK(exit_code(ClientError::cancelled) == 6);  // documented in --help: the user cancelled the login
    CHECK_THAT(help_text(), Catch::Contains("--login-dialog") && Catch::Contains("6  the user cancelled"));
}
