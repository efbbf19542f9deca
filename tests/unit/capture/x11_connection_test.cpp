// Xauthority parsing and X11FrameSource's failure path (no server needed; the live-server tests
// are in unit_host, which can start an Xvfb).
#include "capture/x11/x11_connection.hpp"
#include "capture/x11/x11_source.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

using namespace portico::capture;

namespace {

void put(std::string& s, const std::string& field) {
    s.push_back(static_cast<char>(field.size() >> 8));
    s.push_back(static_cast<char>(field.size() & 0xff));
    s += field;
}

std::string entry(std::uint16_t family, const std::string& addr, const std::string& number, const std::string& name,
                  const std::string& data) {
    std::string s;
    s.push_back(static_cast<char>(family >> 8));
    s.push_back(static_cast<char>(family & 0xff));
    put(s, addr);
    put(s, number);
    put(s, name);
    put(s, data);
    return s;
}

struct TempFile {
    std::string path = "/tmp/portico-xauth-test-" + std::to_string(::getpid());
    explicit TempFile(const std::string& content) { std::ofstream(path, std::ios::binary) << content; }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("xauthority: entries are parsed and the cookie for a display is found", "[xauth]") {
    std::string cookie_a(16, '\x01'), cookie_b(16, '\x02');
    cookie_b[3] = '\0';  // binary data with NUL bytes must survive
    TempFile f(entry(256, "myhost", "3", "MIT-MAGIC-COOKIE-1", cookie_a) +
               entry(256, "myhost", "7", "XDM-AUTHORIZATION-1", "xxxxxxxx") +
               entry(0xffff, "", "", "MIT-MAGIC-COOKIE-1", cookie_b));
    auto entries = read_xauthority(f.path);
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].family == 256);
    CHECK(entries[0].address == "myhost");
    CHECK(entries[1].name == "XDM-AUTHORIZATION-1");
    CHECK(entries[2].family == 0xffff);

    auto for3 = find_cookie(entries, "3");
    REQUIRE(for3);
    CHECK(std::string(for3->data.begin(), for3->data.end()) == cookie_a);
    auto for7 = find_cookie(entries, "7");  // XDM entry skipped, the wildcard matches
    REQUIRE(for7);
    CHECK(std::string(for7->data.begin(), for7->data.end()) == cookie_b);
}

TEST_CASE("xauthority: truncated or missing files are errors", "[xauth]") {
    std::string good = entry(0xffff, "", "", "MIT-MAGIC-COOKIE-1", std::string(16, 'k'));
    TempFile f(good.substr(0, good.size() - 3));
    CHECK_THROWS_AS(read_xauthority(f.path), std::runtime_error);
    CHECK_THROWS_AS(read_xauthority("/nonexistent/portico/Xauthority"), std::runtime_error);
}

TEST_CASE("x11 source: an unreachable display is a runtime_error", "[x11]") {
    TempFile f(entry(0xffff, "", "", "MIT-MAGIC-COOKIE-1", std::string(16, 'k')));
    // Display numbers this high are never served here.
    CHECK_THROWS_AS(X11FrameSource(":59999", f.path), std::runtime_error);
    TempFile empty("");
    CHECK_THROWS_AS(X11FrameSource(":59999", empty.path), std::runtime_error);  // no cookie at all
}
