#include "broker/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace portico::broker::proxy_protocol {

namespace {

constexpr std::array<std::uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

}  // namespace

Result<std::size_t, std::string> address_block_size(std::span<const std::uint8_t> fixed) {
    if (fixed.size() < kFixedSize || !std::equal(kSignature.begin(), kSignature.end(), fixed.begin()))
        return Error<std::string>{"", "not a PROXY protocol v2 header"};
    if ((fixed[12] >> 4) != 2) return Error<std::string>{"", "PROXY protocol version is not 2"};
    const std::size_t length = (std::size_t{fixed[14]} << 8) | fixed[15];
    if (length > kMaxAddressBlock) return Error<std::string>{"", "PROXY protocol header too long"};
    return length;
}

Result<std::optional<std::string>, std::string> client_address(std::span<const std::uint8_t> fixed,
                                                               std::span<const std::uint8_t> block) {
    auto size = address_block_size(fixed);
    if (!size) return size.error();
    if (block.size() != size.value()) return Error<std::string>{"", "PROXY protocol address block cut short"};
    const int command = fixed[12] & 0x0F;
    if (command == 0) return std::optional<std::string>{};  // LOCAL: the balancer speaking for itself
    if (command != 1) return Error<std::string>{"", "unknown PROXY protocol command"};
    const int family = fixed[13];
    char text[INET6_ADDRSTRLEN] = {};
    if (family == 0x11) {  // TCP over IPv4: source, destination (4 bytes each), ports
        if (block.size() < 12) return Error<std::string>{"", "PROXY protocol IPv4 addresses cut short"};
        if (!inet_ntop(AF_INET, block.data(), text, sizeof text)) return Error<std::string>{"", "bad IPv4 address"};
        return std::optional<std::string>{text};
    }
    if (family == 0x21) {  // TCP over IPv6: 16 bytes each, then ports
        if (block.size() < 36) return Error<std::string>{"", "PROXY protocol IPv6 addresses cut short"};
        if (!inet_ntop(AF_INET6, block.data(), text, sizeof text)) return Error<std::string>{"", "bad IPv6 address"};
        return std::optional<std::string>{text};
    }
    return std::optional<std::string>{};  // UNSPEC, UDP or unix sockets: nothing to take
}

}  // namespace portico::broker::proxy_protocol
