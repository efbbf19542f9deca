#include "protocol/control.hpp"

#include <nlohmann/json.hpp>

namespace portico::protocol::control {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxControlBytes = 64 * 1024;
constexpr std::size_t kMaxField = 4096;

// Field readers that throw std::invalid_argument naming the field; parse() turns that into an error.
std::string str(const json& j, const char* k) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string())
        throw std::invalid_argument(std::string("field '") + k + "' must be a string");
    auto s = it->get<std::string>();
    if (s.size() > kMaxField) throw std::invalid_argument(std::string("field '") + k + "' is too long");
    return s;
}
std::string nonempty(const json& j, const char* k) {
    auto s = str(j, k);
    if (s.empty()) throw std::invalid_argument(std::string("field '") + k + "' must not be empty");
    return s;
}
std::int64_t integer(const json& j, const char* k, std::int64_t lo, std::int64_t hi) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer())
        throw std::invalid_argument(std::string("field '") + k + "' must be an integer");
    auto v = it->get<std::int64_t>();
    if (v < lo || v > hi) throw std::invalid_argument(std::string("field '") + k + "' out of range");
    return v;
}
// An optional number in 0..1 (absent = 0), for load figures.
double fraction(const json& j, const char* k) {
    auto it = j.find(k);
    if (it == j.end()) return 0;
    if (!it->is_number()) throw std::invalid_argument(std::string("field '") + k + "' must be a number");
    auto v = it->get<double>();
    if (!(v >= 0 && v <= 1)) throw std::invalid_argument(std::string("field '") + k + "' must be within 0..1");
    return v;
}
std::vector<std::string> strings(const json& j, const char* k, bool allow_empty, std::size_t max_items = 256) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_array())
        throw std::invalid_argument(std::string("field '") + k + "' must be an array");
    if (it->size() > max_items) throw std::invalid_argument(std::string("field '") + k + "' has too many items");
    std::vector<std::string> out;
    for (const auto& v : *it) {
        if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxField)
            throw std::invalid_argument(std::string("field '") + k + "' must hold strings");
        out.push_back(v.get<std::string>());
    }
    if (!allow_empty && out.empty()) throw std::invalid_argument(std::string("field '") + k + "' must not be empty");
    return out;
}

json desktop_json(const DesktopSpec& d) {
    return {{"pool", d.pool}, {"image", d.image}, {"mode", d.mode}, {"memory_mib", d.memory_mib}, {"cpus", d.cpus}};
}

std::string mode_of(const json& j) {
    auto m = nonempty(j, "mode");
    if (m != "pooled" && m != "dedicated")
        throw std::invalid_argument("field 'mode' must be \"pooled\" or \"dedicated\"");
    return m;
}

DesktopSpec parse_desktop(const json& j) {
    if (!j.is_object()) throw std::invalid_argument("field 'desktop' must be an object");
    DesktopSpec d;
    d.pool = nonempty(j, "pool");
    d.image = nonempty(j, "image");
    d.mode = mode_of(j);
    d.memory_mib = static_cast<int>(integer(j, "memory_mib", 64, 1 << 20));
    d.cpus = static_cast<int>(integer(j, "cpus", 1, 64));
    return d;
}

Pools parse_pools(const json& j) {
    auto it = j.find("pools");
    if (it == j.end() || !it->is_array()) throw std::invalid_argument("field 'pools' must be an array");
    if (it->size() > 1000) throw std::invalid_argument("field 'pools' has too many items");
    Pools out;
    for (const auto& p : *it) {
        if (!p.is_object()) throw std::invalid_argument("field 'pools' must hold objects");
        PoolSpec s;
        s.pool = nonempty(p, "pool");
        s.image = nonempty(p, "image");
        s.mode = mode_of(p);
        s.spares = static_cast<int>(integer(p, "spares", 0, 64));
        s.memory_mib = static_cast<int>(integer(p, "memory_mib", 64, 1 << 20));
        s.cpus = static_cast<int>(integer(p, "cpus", 1, 64));
        out.pools.push_back(std::move(s));
    }
    return out;
}

// An optional non-negative figure: absent or null = unknown.
std::optional<double> figure(const json& j, const char* k) {
    auto it = j.find(k);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) throw std::invalid_argument(std::string("field '") + k + "' must be a number or null");
    auto v = it->get<double>();
    if (!(v >= 0 && v < 1e12))
        throw std::invalid_argument(std::string("field '") + k + "' must be a non-negative number");
    return v;
}
std::optional<std::int64_t> count(const json& j, const char* k) {
    auto it = j.find(k);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
        throw std::invalid_argument(std::string("field '") + k + "' must be a non-negative integer or null");
    return it->get<std::int64_t>();
}
template <typename T>
void put(json& j, const char* k, const std::optional<T>& v) {
    j[k] = v ? json(*v) : json(nullptr);
}

}  // namespace

std::string serialize(const Message& m) {
    json j = std::visit(
        [](const auto& x) -> json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Register>) {
                json r = {{"type", "register"},
                          {"version", x.version},
                          {"host_id", x.host_id},
                          {"name", x.name},
                          {"secret", x.secret},
                          {"display_url", x.display_url},
                          {"cert_sha256", x.cert_sha256},
                          {"apps", x.apps},
                          {"max_sessions", x.max_sessions}};
                if (!x.images.empty()) r["images"] = x.images;
                if (!x.vm_accel.empty()) r["vm_accel"] = x.vm_accel;
                r["isolation"] = x.isolation;
                if (x.sessions) r["sessions"] = *x.sessions;
                return r;
            } else if constexpr (std::is_same_v<T, Registered>)
                return {{"type", "registered"}, {"ticket_key", x.ticket_key}};
            else if constexpr (std::is_same_v<T, StartSession>) {
                json s = {{"type", "start_session"}, {"request_id", x.request_id}, {"session_id", x.session_id},
                          {"user", x.user},          {"width", x.width},           {"height", x.height}};
                if (x.scale != 1) s["scale"] = x.scale;
                if (x.desktop)
                    s["desktop"] = desktop_json(*x.desktop);
                else
                    s["app"] = {{"id", x.app.id}, {"name", x.app.name}, {"command", x.app.command}};
                return s;
            } else if constexpr (std::is_same_v<T, SessionReady>)
                return {{"type", "session_ready"}, {"request_id", x.request_id}, {"session_id", x.session_id}};
            else if constexpr (std::is_same_v<T, SessionFailed>)
                return {{"type", "session_failed"},
                        {"request_id", x.request_id},
                        {"session_id", x.session_id},
                        {"message", x.message}};
            else if constexpr (std::is_same_v<T, EndSession>)
                return {{"type", "end_session"}, {"session_id", x.session_id}};
            else if constexpr (std::is_same_v<T, SessionEnded>)
                return {{"type", "session_ended"}, {"session_id", x.session_id}, {"reason", x.reason}};
            else if constexpr (std::is_same_v<T, Heartbeat>) {
                json j = {{"type", "heartbeat"}, {"sessions", x.sessions}, {"cpu", x.cpu}, {"mem", x.mem}};
                if (!x.idle.empty()) {
                    json idle = json::object();
                    for (const auto& [sid, secs] : x.idle) idle[sid] = secs;
                    j["idle"] = idle;
                }
                return j;
            } else if constexpr (std::is_same_v<T, SessionState>)
                return {{"type", "session_state"}, {"session_id", x.session_id}, {"state", x.state}};
            else if constexpr (std::is_same_v<T, DisconnectSession>)
                return {{"type", "disconnect_session"}, {"session_id", x.session_id}};
            else if constexpr (std::is_same_v<T, Pools>) {
                json pools = json::array();
                for (const auto& p : x.pools)
                    pools.push_back({{"pool", p.pool},
                                     {"image", p.image},
                                     {"mode", p.mode},
                                     {"spares", p.spares},
                                     {"memory_mib", p.memory_mib},
                                     {"cpus", p.cpus}});
                return {{"type", "pools"}, {"pools", pools}};
            } else if constexpr (std::is_same_v<T, SessionStats>) {
                json arr = json::array();
                for (const auto& st : x.stats) {
                    json e = {{"session_id", st.session_id}};
                    put(e, "fps", st.fps);
                    put(e, "kbps", st.kbps);
                    put(e, "rtt_ms", st.rtt_ms);
                    put(e, "encode_ms", st.encode_ms);
                    put(e, "skipped", st.skipped);
                    put(e, "input_to_photon_ms", st.input_to_photon_ms);
                    put(e, "viewers", st.viewers);
                    arr.push_back(std::move(e));
                }
                return {{"type", "session_stats"}, {"stats", std::move(arr)}};
            } else if constexpr (std::is_same_v<T, ThumbnailRequest>)
                return {{"type", "thumbnail_request"},
                        {"request_id", x.request_id},
                        {"session_id", x.session_id},
                        {"max_width", x.max_width},
                        {"max_height", x.max_height}};
            else if constexpr (std::is_same_v<T, Thumbnail>)
                return {{"type", "thumbnail"},
                        {"request_id", x.request_id},
                        {"session_id", x.session_id},
                        {"jpeg_base64", x.jpeg_base64}};
            else if constexpr (std::is_same_v<T, ThumbnailFailed>)
                return {{"type", "thumbnail_failed"},
                        {"request_id", x.request_id},
                        {"session_id", x.session_id},
                        {"message", x.message}};
            else
                return {{"type", "error"}, {"message", x.message}};
        },
        m);
    return j.dump();
}

Result<Message, std::string> parse(std::string_view text) {
    if (text.size() > kMaxControlBytes) return Error<std::string>{"", "control message too large"};
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return Error<std::string>{"", "control message is not JSON"};
    if (!j.is_object()) return Error<std::string>{"", "control message is not an object"};
    try {
        std::string type = str(j, "type");
        if (type == "register") {
            Register r;
            r.version = static_cast<int>(integer(j, "version", 1, 1000));
            if (r.version != kVersion) return Error<std::string>{"", "unsupported control version"};
            r.host_id = nonempty(j, "host_id");
            r.name = str(j, "name");
            r.secret = str(j, "secret");
            r.display_url = nonempty(j, "display_url");
            r.cert_sha256 = nonempty(j, "cert_sha256");
            r.apps = strings(j, "apps", false);
            r.max_sessions = static_cast<int>(integer(j, "max_sessions", 1, 100000));
            if (j.contains("images")) r.images = strings(j, "images", true);
            if (j.contains("vm_accel")) {
                r.vm_accel = str(j, "vm_accel");
                if (r.vm_accel != "kvm" && r.vm_accel != "tcg")
                    throw std::invalid_argument("field 'vm_accel' must be \"kvm\" or \"tcg\"");
            }
            if (j.contains("isolation")) {
                r.isolation = str(j, "isolation");
                if (r.isolation != "per-user" && r.isolation != "none" && r.isolation != "refused")
                    throw std::invalid_argument("field 'isolation' must be \"per-user\", \"none\" or \"refused\"");
            }
            if (j.contains("sessions")) r.sessions = strings(j, "sessions", true, 100000);
            return Message{r};
        }
        if (type == "registered") return Message{Registered{nonempty(j, "ticket_key")}};
        if (type == "start_session") {
            StartSession s;
            s.request_id = static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX));
            s.session_id = nonempty(j, "session_id");
            s.user = nonempty(j, "user");
            if (auto d = j.find("desktop"); d != j.end()) {
                s.desktop = parse_desktop(*d);
            } else {
                auto it = j.find("app");
                if (it == j.end() || !it->is_object()) throw std::invalid_argument("field 'app' must be an object");
                s.app.id = nonempty(*it, "id");
                s.app.name = nonempty(*it, "name");
                s.app.command = strings(*it, "command", false);
            }
            s.width = static_cast<int>(integer(j, "width", 64, 8192));
            s.height = static_cast<int>(integer(j, "height", 64, 8192));
            if (auto it = j.find("scale"); it != j.end()) {
                if (!it->is_number() || !(it->get<double>() >= kMinScale && it->get<double>() <= kMaxScale))
                    throw std::invalid_argument("field 'scale' must be a number within 1..4");
                s.scale = it->get<double>();
            }
            return Message{s};
        }
        if (type == "session_ready")
            return Message{SessionReady{static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX)),
                                        nonempty(j, "session_id")}};
        if (type == "session_failed")
            return Message{SessionFailed{static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX)),
                                         nonempty(j, "session_id"), str(j, "message")}};
        if (type == "end_session") return Message{EndSession{nonempty(j, "session_id")}};
        if (type == "session_ended") return Message{SessionEnded{nonempty(j, "session_id"), nonempty(j, "reason")}};
        if (type == "heartbeat") {
            Heartbeat h{
                static_cast<int>(integer(j, "sessions", 0, 1000000)), fraction(j, "cpu"), fraction(j, "mem"), {}};
            if (auto it = j.find("idle"); it != j.end()) {
                if (!it->is_object() || it->size() > 100000)
                    throw std::invalid_argument("field 'idle' must be an object");
                for (const auto& [sid, secs] : it->items()) {
                    if (!secs.is_number_integer() || secs.get<std::int64_t>() < 0 || sid.empty() ||
                        sid.size() > kMaxField)
                        throw std::invalid_argument("field 'idle' must map session ids to seconds");
                    h.idle.emplace_back(sid,
                                        static_cast<int>(std::min<std::int64_t>(secs.get<std::int64_t>(), INT32_MAX)));
                }
            }
            return Message{h};
        }
        if (type == "session_state") {
            SessionState st{nonempty(j, "session_id"), nonempty(j, "state")};
            if (st.state != "active" && st.state != "disconnected")
                throw std::invalid_argument("field 'state' must be \"active\" or \"disconnected\"");
            return Message{st};
        }
        if (type == "session_stats") {
            auto it = j.find("stats");
            if (it == j.end() || !it->is_array()) throw std::invalid_argument("field 'stats' must be an array");
            if (it->size() > 10000) throw std::invalid_argument("field 'stats' has too many items");
            SessionStats m;
            for (const auto& e : *it) {
                if (!e.is_object()) throw std::invalid_argument("field 'stats' must hold objects");
                StreamStats st;
                st.session_id = nonempty(e, "session_id");
                st.fps = figure(e, "fps");
                st.kbps = figure(e, "kbps");
                st.rtt_ms = figure(e, "rtt_ms");
                st.encode_ms = figure(e, "encode_ms");
                st.input_to_photon_ms = figure(e, "input_to_photon_ms");
                st.skipped = count(e, "skipped");
                st.viewers = count(e, "viewers");
                m.stats.push_back(std::move(st));
            }
            return Message{std::move(m)};
        }
        if (type == "thumbnail_request") {
            ThumbnailRequest t;
            t.request_id = static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX));
            t.session_id = nonempty(j, "session_id");
            t.max_width = static_cast<int>(integer(j, "max_width", kMinThumbnailSide, kMaxThumbnailSide));
            t.max_height = static_cast<int>(integer(j, "max_height", kMinThumbnailSide, kMaxThumbnailSide));
            return Message{t};
        }
        if (type == "thumbnail") {
            Thumbnail t;
            t.request_id = static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX));
            t.session_id = nonempty(j, "session_id");
            // Longer than other fields (kMaxField): read with its own bound.
            auto it = j.find("jpeg_base64");
            if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
                throw std::invalid_argument("field 'jpeg_base64' must be a non-empty string");
            if (it->get_ref<const std::string&>().size() > kMaxThumbnailBase64)
                throw std::invalid_argument("field 'jpeg_base64' is too long");
            t.jpeg_base64 = it->get<std::string>();
            return Message{std::move(t)};
        }
        if (type == "thumbnail_failed")
            return Message{ThumbnailFailed{static_cast<std::uint64_t>(integer(j, "request_id", 0, INT64_MAX)),
                                           nonempty(j, "session_id"), str(j, "message")}};
        if (type == "disconnect_session") return Message{DisconnectSession{nonempty(j, "session_id")}};
        if (type == "pools") return Message{parse_pools(j)};
        if (type == "error") return Message{ErrorMsg{str(j, "message")}};
        return Error<std::string>{"", "unknown control message type '" + type + "'"};
    } catch (const std::invalid_argument& e) {
        return Error<std::string>{"", e.what()};
    }
}

}  // namespace portico::protocol::control
