#include "client/native/session_launch.hpp"

#include "common/log.hpp"

#include <iostream>

namespace portico::client {

ClientResult<Broker> open_broker(const Options& o) {
    auto broker = parse_url(o.broker, "https");
    if (!broker) return fail(ClientError::usage, "--broker: " + broker.error().message);
    Broker b;
    b.url = *broker;
    if (o.launch_file) {
        b.trust.pinned_sha256 = o.launch_file->broker_cert_sha256;  // no CA file needed, and no other broker taken
    } else if (o.insecure) {
        b.trust.insecure = true;
        std::cerr << "portico-client: WARNING: --insecure: the broker's certificate is not verified\n";
    } else {
        b.trust.ca_file = o.ca_file;
    }
    try {
        b.rest = std::make_unique<RestClient>(b.url, b.trust);
    } catch (const std::exception& e) {
        return fail(ClientError::usage, std::string("cannot load trust settings: ") + e.what());
    }
    return b;
}

ClientResult<std::string> login_and_resolve(Broker& b, const Options& o) {
    if (auto s = b.rest->login(o.user, o.password); !s) return s.error();
    std::string resource = o.resource;
    if (auto list = b.rest->resources(); list) {
        if (auto id = resolve_resource(list.value(), o.resource); !id.empty()) resource = id;
    } else {
        log::warn("listing resources failed (", list.error().message, "); launching '", o.resource, "' as given");
    }
    return resource;
}

namespace {

// Where the display channel of a launch is: the broker's gateway, or with `direct` the host,
// pinned to the certificate the broker names.
ClientResult<DisplayTarget> display_target(Broker& b, LaunchInfo launched, bool direct) {
    DisplayTarget t;
    t.launch = std::move(launched);
    if (direct) {
        auto u = parse_url(t.launch.direct_url, "wss");
        if (!u) return fail(ClientError::protocol, "launch: bad direct_url: " + u.error().message);
        if (t.launch.host_cert_sha256.empty()) return fail(ClientError::protocol, "launch: no host_cert_sha256 to pin");
        t.url = *u;
        t.trust.pinned_sha256 = t.launch.host_cert_sha256;
    } else {
        if (t.launch.gateway_path.empty() || t.launch.gateway_path.front() != '/')
            return fail(ClientError::protocol, "launch: bad gateway_path '" + t.launch.gateway_path + "'");
        t.url = b.url;
        t.url.scheme = "wss";
        t.url.target = t.launch.gateway_path;
        t.trust = b.trust;
    }
    return t;
}

}  // namespace

ClientResult<DisplayTarget> launch_display(Broker& b, const std::string& resource, bool direct,
                                           std::optional<double> scale) {
    auto launched = b.rest->launch(resource, scale);
    if (!launched) return launched.error();
    return display_target(b, std::move(launched.value()), direct);
}

ClientResult<DisplayTarget> redeem_launch_file(Broker& b, const protocol::LaunchFile& file, bool direct,
                                               std::optional<double> scale) {
    auto launched = b.rest->redeem(file.token, scale);
    if (!launched) return launched.error();
    return display_target(b, std::move(launched.value()), direct);
}

ClientResult<protocol::ServerHello> display_handshake(DisplayConnection& conn, const std::string& ticket,
                                                      std::optional<protocol::EndReason>* ended) {
    namespace proto = protocol;
    if (auto s = conn.send(proto::Hello{proto::kDisplayVersion, ticket}); !s) return s.error();
    auto r = conn.receive(Clock::now() + kConnectTimeout);
    if (!r) return r.error();
    if (!r.value()) return fail(ClientError::network, "no ServerHello within 10 s");
    auto& m = *r.value();
    if (auto* e = std::get_if<proto::ErrorMsg>(&m))
        return fail(ClientError::refused,
                    std::string("host refused: ") + proto::to_string(e->code) + ": " + e->message);
    if (auto* e = std::get_if<proto::SessionEnded>(&m)) {
        if (ended) *ended = e->reason;
        return fail(ClientError::refused, "session ended before it started: " + e->message);
    }
    auto* hello = std::get_if<proto::ServerHello>(&m);
    if (!hello) return fail(ClientError::protocol, "expected ServerHello");
    if (hello->version != proto::kDisplayVersion)
        return fail(ClientError::protocol, "host speaks display version " + std::to_string(hello->version));
    if (hello->width < 1 || hello->height < 1 || hello->width > proto::kMaxScreenDim ||
        hello->height > proto::kMaxScreenDim)
        return fail(ClientError::protocol, "ServerHello has an invalid screen size");
    return std::move(*hello);
}

}  // namespace portico::client
