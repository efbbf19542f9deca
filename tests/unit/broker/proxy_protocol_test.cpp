// The PROXY protocol v2 header (broker/proxy_protocol.hpp): what HAProxy's send-proxy-v2 sends,
// and what is refused.

#include "broker/proxy_protocol.hpp"

#include <catch2/catch.hpp>

#include <vector>

namespace pp = portico::broker::proxy_protocol;

namespace {

std::vector<std::uint8_t> header(std::uint8_t version_command, std::uint8_t family, std::vector<std::uint8_t> block) {
    std::vector<std::uint8_t> h = {0x0D,
                                   0x0A,
                                   0x0D,
                                   0x0A,
                                   0x00,
                                   0x0D,
                                   0x0A,
                                   0x51,
                                   0x55,
                                   0x49,
                                   0x54,
                                   0x0A,
                                   version_command,
                                   family,
                                   static_cast<std::uint8_t>(block.size() >> 8),
                                   static_cast<std::uint8_t>(block.size() & 0xFF)};
    h.insert(h.end(), block.begin(), block.end());
    return h;
}

portico::Result<std::optional<std::string>, std::string> parse(const std::vector<std::uint8_t>& h) {
    std::span<const std::uint8_t> all(h);
    return pp::client_address(all.first(pp::kFixedSize), all.subspan(pp::kFixedSize));
}

}  // namespace

TEST_CASE("proxy protocol: a client's IPv4 and IPv6 address, a LOCAL check, and what is refused",
          "[broker][proxy][bad-input]") {
    // PROXY, TCP over IPv4: 192.0.2.7:51000 -> 10.0.0.11:8443.
    auto v4 = header(0x21, 0x11, {192, 0, 2, 7, 10, 0, 0, 11, 0xC7, 0x38, 0x20, 0xFB});
    REQUIRE(pp::address_block_size(std::span<const std::uint8_t>(v4).first(pp::kFixedSize)).value() == 12);
    CHECK(parse(v4).value() == std::optional<std::string>("192.0.2.7"));

    std::vector<std::uint8_t> block6(36, 0);
    block6[0] = 0x20, block6[1] = 0x01, block6[2] = 0x0d, block6[3] = 0xb8, block6[15] = 0x05;
    CHECK(parse(header(0x21, 0x21, block6)).value() == std::optional<std::string>("2001:db8::5"));

    // LOCAL (the balancer's own health check) and families with no address keep the connection's.
    CHECK(parse(header(0x20, 0x00, {})).value() == std::nullopt);
    CHECK(parse(header(0x21, 0x31, std::vector<std::uint8_t>(216, 0))).value() == std::nullopt);

    // Refused: not the signature (a TLS ClientHello, version 1 text), version 1, unknown command,
    // a block too short for its family, or too long to be a header.
    auto tls = header(0x21, 0x11, {192, 0, 2, 7, 10, 0, 0, 11, 0, 1, 0, 2});
    tls[0] = 0x16;
    CHECK(!parse(tls));
    std::string v1 = "PROXY TCP4 192.0.2.7 10.0.0.11 1 2\r\n";
    CHECK(!pp::address_block_size(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(v1.data()), 16)));
    CHECK(!parse(header(0x11, 0x11, std::vector<std::uint8_t>(12, 1))));
    CHECK(!parse(header(0x23, 0x11, std::vector<std::uint8_t>(12, 1))));
    CHECK(!parse(header(0x21, 0x11, {192, 0, 2})));
    CHECK(!parse(header(0x21, 0x21, std::vector<std::uint8_t>(12, 1))));
    CHECK(!pp::address_block_size(
        std::span<const std::uint8_t>(header(0x21, 0x11, std::vector<std::uint8_t>(600, 0))).first(pp::kFixedSize)));
}
