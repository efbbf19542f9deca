#pragma once
// The steps every run of the client takes before frames flow, shared by the headless run and the
// window: the broker's URL and trust from the options (or a launch file), log in and resolve the
// resource, launch (or redeem the launch file's token), and
// where the display channel is (the broker's gateway, or with --direct the host pinned to the
// certificate the broker names). Synchronous; called on the client's main thread.

#include "client/native/display_connection.hpp"
#include "client/native/options.hpp"
#include "client/native/rest_client.hpp"

#include <memory>
#include <optional>
#include <string>

namespace portico::client {

struct Broker {
    Url url;
    tls::ClientTrust trust;
    std::unique_ptr<RestClient> rest;
};

// Parses --broker, applies --ca / --insecure (warning on stderr) and makes the REST client. With
// a launch file: its broker, trusting exactly the certificate it pins.
ClientResult<Broker> open_broker(const Options& o);

// Logs in and returns the resource id for --resource (a name is looked up; if the list cannot be
// read, the argument is launched as given).
ClientResult<std::string> login_and_resolve(Broker& b, const Options& o);

struct DisplayTarget {
    LaunchInfo launch;
    Url url;
    tls::ClientTrust trust;
};

// POST /launch (a new session, or the user's running one: a reconnect) and the display channel's URL.
ClientResult<DisplayTarget> launch_display(Broker& b, const std::string& resource, bool direct,
                                           std::optional<double> scale = std::nullopt);

// POST /launch-files/redeem with the launch file's token (which also logs the client in as the
// file's user, for later reconnects) and the display channel's URL, as launch_display.
ClientResult<DisplayTarget> redeem_launch_file(Broker& b, const protocol::LaunchFile& file, bool direct,
                                               std::optional<double> scale = std::nullopt);

// Hello with the ticket and the host's ServerHello (version and screen size checked), on a
// connected display channel. Errors: refused (the host's Error, or the session ended before it
// started: then *ended, if given, is its reason), protocol, network (no answer within 10 s).
ClientResult<protocol::ServerHello> display_handshake(DisplayConnection& conn, const std::string& ticket,
                                                      std::optional<protocol::EndReason>* ended = nullptr);

}  // namespace portico::client
