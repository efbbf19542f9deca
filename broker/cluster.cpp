#include "broker/cluster.hpp"

#include "broker/audit_log.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace portico::broker {

namespace control = protocol::control;
using json = nlohmann::json;

namespace {

// How long the holder remembers who asked a host something: past any launch's or thumbnail's
// own timeout, so a late answer still finds its way and the table cannot grow.
constexpr auto kAskedFor = std::chrono::seconds(60);

// A host connected to another broker: messages for it go to that broker over the bus.
class RemoteLink final : public ControlLink {
public:
    RemoteLink(Cluster& cluster, std::string holder, std::string host_id)
        : cluster_(cluster), holder_(std::move(holder)), host_id_(std::move(host_id)) {}
    void send(std::string json_text) override { cluster_.send_to_host(holder_, host_id_, std::move(json_text)); }
    void close() override { cluster_.close_host(holder_, host_id_); }

private:
    Cluster& cluster_;
    const std::string holder_, host_id_;
};

std::vector<std::string> strings(const json& j, const char* key) {
    std::vector<std::string> out;
    if (auto it = j.find(key); it != j.end() && it->is_array())
        for (const auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

// The request a broker's message asks of a host, if it expects an answer.
std::optional<std::uint64_t> request_of(const control::Message& m) {
    if (auto* s = std::get_if<control::StartSession>(&m)) return s->request_id;
    if (auto* t = std::get_if<control::ThumbnailRequest>(&m)) return t->request_id;
    return std::nullopt;
}

// A host's sessions' figures in its row: the host's own session_stats message (so the one
// parser of control.hpp checks them on the way back), and per session when it was reported and
// what it used so far.
json streams_json(const std::vector<LiveStats::Shared>& streams) {
    control::SessionStats figures;
    json at = json::object(), usage = json::object();
    for (const auto& s : streams) {
        figures.stats.push_back(s.stats);
        at[s.stats.session_id] = s.updated_at;
        json u{{"bytes_sent", s.usage.bytes_sent}};
        if (s.usage.avg_fps) u["avg_fps"] = *s.usage.avg_fps;
        if (s.usage.avg_rtt_ms) u["avg_rtt_ms"] = *s.usage.avg_rtt_ms;
        usage[s.stats.session_id] = std::move(u);
    }
    return json{{"figures", json::parse(control::serialize(figures))}, {"at", at}, {"usage", usage}};
}

// The figures another broker wrote with its host; a row it wrote wrong is ignored, not fatal.
std::vector<LiveStats::Shared> streams_of(const json& j, const std::string& host_id) {
    std::vector<LiveStats::Shared> out;
    if (!j.is_object() || !j.contains("figures")) return out;
    auto m = control::parse(j["figures"].dump());
    auto* figures = m ? std::get_if<control::SessionStats>(&m.value()) : nullptr;
    if (!figures) {
        log::warn("host ", host_id, ": its row's stream figures are malformed; not shown");
        return out;
    }
    const json at = j.value("at", json::object()), usage = j.value("usage", json::object());
    for (const auto& st : figures->stats) {
        LiveStats::Shared s{st, 0, {}};
        if (auto t = at.find(st.session_id); t != at.end() && t->is_number_integer())
            s.updated_at = t->get<std::int64_t>();
        if (auto u = usage.find(st.session_id); u != usage.end() && u->is_object()) {
            if (auto b = u->find("bytes_sent"); b != u->end() && b->is_number())
                s.usage.bytes_sent = b->get<std::int64_t>();
            if (auto f = u->find("avg_fps"); f != u->end() && f->is_number()) s.usage.avg_fps = f->get<double>();
            if (auto r = u->find("avg_rtt_ms"); r != u->end() && r->is_number()) s.usage.avg_rtt_ms = r->get<double>();
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

Cluster::Cluster(const BrokerConfig& config, std::string broker_id, Store& store, HostRegistry& registry,
                 LiveStats& live_stats, StoreExecutor& jobs, std::unique_ptr<MessageBus> bus)
    : config_(config),
      broker_id_(std::move(broker_id)),
      store_(store),
      registry_(registry),
      live_stats_(live_stats),
      jobs_(jobs),
      bus_(std::move(bus)) {}

Cluster::~Cluster() { stop(); }

void Cluster::check_shared_keys(const std::string& ticket_public_key, const std::string& ca_cert_pem) {
    if (!shared()) return;
    const auto ca = crypto::sha256_hex(crypto::bytes_of(ca_cert_pem));
    if (store_.agree_setting("ticket_public_key", ticket_public_key) != ticket_public_key)
        throw std::runtime_error(
            "this broker's ticket key differs from the one the other brokers on this database use: hosts would "
            "refuse its tickets. Give every broker a copy of the first broker's state directory (ticket.key, "
            "tls.crt, tls.key, ca/)");
    if (store_.agree_setting("host_ca_sha256", ca) != ca)
        throw std::runtime_error(
            "this broker's host CA differs from the one the other brokers on this database use: it would refuse "
            "their enrolled hosts. Give every broker a copy of the first broker's state directory (ca/)");
}

void Cluster::start() {
    if (!bus_) return;
    bus_->start([this](std::string payload) {
        jobs_.post("message from a broker",
                   [this, payload = std::move(payload)]() mutable { received(std::move(payload)); });
    });
    log::info("broker ", broker_id_, ": sharing its store with other brokers (message bus on ", bus_channel(broker_id_),
              ")");
}

void Cluster::stop() {
    if (bus_) bus_->stop();
}

// ---- other brokers' hosts ----

std::string Cluster::live_json(const HostInfo& h, const std::vector<LiveStats::Shared>& streams) {
    json live{{"name", h.name},
              {"display_url", h.display_url},
              {"cert_sha256", h.cert_sha256},
              {"apps", h.apps},
              {"images", h.images},
              {"vm_accel", h.vm_accel},
              {"isolation", h.isolation},
              {"auth", h.auth},
              {"max_sessions", h.max_sessions},
              {"sessions", h.sessions},
              {"cpu", h.cpu},
              {"mem", h.mem}};
    if (!streams.empty()) live["streams"] = streams_json(streams);
    return live.dump(-1, ' ', false, json::error_handler_t::replace);
}

void Cluster::sync_remote_hosts(std::int64_t now) {
    if (!shared()) return;
    std::vector<HostInfo> remote;
    std::map<std::string, std::vector<LiveStats::Shared>> streams;
    for (const auto& r : store_.hosts()) {
        if (r.state != "up") continue;
        if (r.broker_id == broker_id_) {
            registry_.set_drain(r.id, r.drain);  // drained through another broker
            continue;
        }
        if (r.broker_id.empty() || r.last_seen < now - config_.heartbeat_timeout_seconds) continue;
        auto live = json::parse(r.live, nullptr, false);
        if (!live.is_object()) continue;
        HostInfo h;
        h.host_id = r.id;
        h.broker_id = r.broker_id;
        h.drain = r.drain;
        h.name = live.value("name", r.name);
        h.display_url = live.value("display_url", "");
        h.cert_sha256 = live.value("cert_sha256", "");
        h.apps = strings(live, "apps");
        h.images = strings(live, "images");
        h.vm_accel = live.value("vm_accel", "");
        h.isolation = live.value("isolation", "");
        h.auth = live.value("auth", "");
        h.max_sessions = live.value("max_sessions", 0);
        h.reported_sessions = live.value("sessions", 0);
        h.cpu = live.value("cpu", 0.0);
        h.mem = live.value("mem", 0.0);
        h.last_heartbeat = std::chrono::steady_clock::now() - std::chrono::seconds(now - r.last_seen);
        h.link = std::make_shared<RemoteLink>(*this, r.broker_id, r.id);
        remote.push_back(std::move(h));
        if (auto it = live.find("streams"); it != live.end()) streams[r.id] = streams_of(*it, r.id);
    }
    registry_.set_remote(std::move(remote));
    live_stats_.set_remote(streams);
    const auto old = std::chrono::steady_clock::now() - kAskedFor;
    std::erase_if(asked_, [&](const auto& kv) { return kv.second.at < old; });
    if (now % 60 == 0) store_.purge_bus_messages(now - 60);
}

// ---- sending ----

void Cluster::send_to_host(const std::string& holder, const std::string& host_id, std::string control_text) {
    send(holder, json{{"t", "to_host"}, {"host", host_id}, {"msg", std::move(control_text)}}.dump());
}

void Cluster::close_host(const std::string& holder, const std::string& host_id) {
    send(holder, json{{"t", "close"}, {"host", host_id}}.dump());
}

bool Cluster::forward_answer(const std::string& host_id, std::uint64_t request_id, const control::Message& m) {
    if (!shared()) return false;
    auto it = asked_.find({host_id, request_id});
    if (it == asked_.end()) return false;
    auto to = std::move(it->second.broker);
    asked_.erase(it);
    send(to, json{{"t", "answer"}, {"host", host_id}, {"msg", control::serialize(m)}}.dump());
    return true;
}

void Cluster::send(const std::string& to, std::string envelope) {
    if (!bus_) return;
    // "from" and a sequence number on every message: the receiver answers to "from", and no two
    // messages are identical (PostgreSQL folds identical notifications of one transaction).
    envelope.insert(1, "\"from\":" + json(broker_id_).dump() + ",\"n\":" + std::to_string(++sequence_) + ",");
    if (envelope.size() <= MessageBus::kMaxPayload) return bus_->publish(to, std::move(envelope));
    // Too large for a notification (a thumbnail): the body waits in the store, the note names it.
    jobs_.post("large message to a broker", [this, to, envelope = std::move(envelope)] {
        auto id = store_.put_bus_message(envelope, unix_now());
        bus_->publish(to, "@" + std::to_string(id));
    });
}

// ---- receiving (store thread) ----

void Cluster::received(std::string payload) {
    if (!payload.empty() && payload[0] == '@') {
        std::int64_t id = 0;
        try {
            id = std::stoll(payload.substr(1));
        } catch (const std::exception&) {
        }
        auto body = store_.take_bus_message(id);
        if (!body) return log::warn("message bus: message ", payload, " is not in the store (taken or purged)");
        payload = std::move(*body);
    }
    auto m = json::parse(payload, nullptr, false);
    if (!m.is_object() || !m.contains("t") || !m["t"].is_string() || !m.contains("host") || !m["host"].is_string())
        return log::warn("message bus: a malformed message was ignored");
    const auto type = m["t"].get<std::string>();
    const auto host = m["host"].get<std::string>();
    const auto from = m.value("from", "");
    const auto text = m.value("msg", "");
    if (type == "to_host") return deliver_to_host(host, from, text);
    if (type == "answer") {
        auto msg = control::parse(text);
        if (!msg) return log::warn("message bus: a malformed answer from host ", host, ": ", msg.error().message);
        if (on_report_) on_report_(host, msg.value());
        return;
    }
    if (type == "gone") {
        if (on_host_gone_) on_host_gone_(host);
        return;
    }
    if (type == "close") {
        if (auto h = registry_.get(host); h && h->broker_id.empty() && h->link) h->link->close();
        return;
    }
    log::warn("message bus: unknown message type '", type, "' ignored");
}

void Cluster::deliver_to_host(const std::string& host_id, const std::string& from, const std::string& text) {
    auto h = registry_.get(host_id);
    if (!h || !h->broker_id.empty() || !h->link) {
        // Not connected here (any more): the asking broker fails its launch now, not at its timeout.
        if (!from.empty()) send(from, json{{"t", "gone"}, {"host", host_id}}.dump());
        return;
    }
    auto m = control::parse(text);
    if (!m) return log::warn("message bus: a malformed message for host ", host_id, ": ", m.error().message);
    if (auto request = request_of(m.value()); request && !from.empty())
        asked_[{host_id, *request}] = Asked{from, std::chrono::steady_clock::now()};
    h->link->send(text);
}

// ---- ids ----

std::string default_broker_id() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || !name[0]) std::strcpy(name, "broker");
    auto suffix = crypto::random_bytes(4);
    static const char* hex = "0123456789abcdef";
    std::string id = name;
    id += '-';
    for (auto b : suffix) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

}  // namespace portico::broker
