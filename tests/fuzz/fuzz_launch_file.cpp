// libFuzzer target: launch files (protocol/launch_file.hpp) as portico-client reads them from
// whatever a download left on disk. Any bytes: parsed without a crash, refused with a message, or
// accepted; what is accepted has a well-formed token, an https broker and a 64-hex pin, and writes
// back (format_launch_file) to a file that reads as the same fields. The same bytes as a launch
// link (parse_launch_url): refused with a message, or accepted with the same guarantees, its
// broker an https:// host and port, and written back (format_launch_url) to a link that reads the same.

#include "fuzz_check.hpp"
#include "protocol/launch_file.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace portico::protocol;

namespace {

void check_link(const std::string& text) {
    auto r = parse_launch_url(text);
    if (!r) {
        FUZZ_CHECK(!r.error().message.empty(), "a refused link says why");
        return;
    }
    const auto& f = r.value();
    FUZZ_CHECK(well_formed_launch_token(f.token), "an accepted link has a well-formed token");
    FUZZ_CHECK(f.broker.rfind("https://", 0) == 0 && f.broker.find('/', 8) == std::string::npos,
               "an accepted link names an https broker by host and port alone");
    auto again = parse_launch_url(format_launch_url(f));
    FUZZ_CHECK(again.ok(), "what was read writes back to a link that reads");
    const auto& g = again.value();
    FUZZ_CHECK(g.broker == f.broker && g.broker_cert_sha256 == f.broker_cert_sha256 && g.resource == f.resource &&
                   g.session == f.session && g.expires_at == f.expires_at && g.token == f.token,
               "a link written back reads as the same fields");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    check_link(text);
    auto r = parse_launch_file(text);
    if (!r) {
        FUZZ_CHECK(!r.error().message.empty(), "a refused file says why");
        return 0;
    }
    const auto& f = r.value();
    FUZZ_CHECK(well_formed_launch_token(f.token), "an accepted file has a well-formed token");
    FUZZ_CHECK(f.broker.rfind("https://", 0) == 0, "an accepted file names an https broker");
    FUZZ_CHECK(f.broker_cert_sha256.size() == 64, "an accepted file pins a SHA-256");
    auto again = parse_launch_file(format_launch_file(f));
    FUZZ_CHECK(again.ok(), "what was read writes back to a file that reads");
    const auto& g = again.value();
    FUZZ_CHECK(g.broker == f.broker && g.broker_cert_sha256 == f.broker_cert_sha256 && g.resource == f.resource &&
                   g.session == f.session && g.expires_at == f.expires_at && g.token == f.token,
               "a file written back reads as the same fields");
    return 0;
}
