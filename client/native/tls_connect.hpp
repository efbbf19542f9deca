#pragma once
// The client's network plumbing shared by rest_client and display_connection (both on WssStream):
// a deadline-bounded way to drive an io_context from the client's one thread, and connecting
// (resolve, TCP, TLS handshake with SNI and, under CA trust, host name verification).

#include "client/native/client_error.hpp"
#include "common/tls.hpp"
#include "common/wss_stream.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace portico::client {

namespace net = boost::asio;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

inline constexpr std::chrono::seconds kConnectTimeout{10};
inline constexpr std::chrono::seconds kIoTimeout{10};

// Runs handlers on ioc until done() holds or the deadline passes; returns done(). Handlers of
// operations still pending at the deadline stay pending (a later call can complete them).
bool run_until(net::io_context& ioc, Clock::time_point deadline, const std::function<bool()>& done);

// Resolves host, connects and completes the TLS handshake before the deadline. With
// verify_host_name (CA trust) the certificate must also name host.
Status connect_tls(net::io_context& ioc, WssStream& stream, const std::string& host, const std::string& port,
                   bool verify_host_name, Clock::time_point deadline);

// Whether a trust setting asks for host name verification (only chain-based trust does; a pin
// is exact and --insecure accepts anything).
inline bool wants_host_name_check(const tls::ClientTrust& t) { return !t.insecure && t.pinned_sha256.empty(); }

}  // namespace portico::client
