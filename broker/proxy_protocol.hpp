#pragma once
// The PROXY protocol, version 2 (HAProxy's `send-proxy-v2`): behind a TCP load balancer every
// connection comes from the balancer's address, so the per-address connection caps, the login
// throttle and the audit would see one client. From an address the admin trusts
// (`serve --trusted-proxy`), the broker reads this header before TLS and takes the client's
// address from it. Pure parsing here; broker.cpp reads the bytes.

#include "common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace portico::broker::proxy_protocol {

// The fixed part every v2 header starts with: 12 signature bytes, version/command, family, length.
inline constexpr std::size_t kFixedSize = 16;
inline constexpr std::size_t kMaxAddressBlock = 512;  // more is not a header we accept

// From the fixed part: how many address bytes follow, or why this is not a v2 header.
Result<std::size_t, std::string> address_block_size(std::span<const std::uint8_t> fixed);

// The client's address from the fixed part and the address block: nullopt for a LOCAL header
// (the balancer's own health check) or an address family other than TCP over IPv4/IPv6, which
// keep the connection's own address.
Result<std::optional<std::string>, std::string> client_address(std::span<const std::uint8_t> fixed,
                                                               std::span<const std::uint8_t> block);

}  // namespace portico::broker::proxy_protocol
