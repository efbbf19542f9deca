#include "broker/rest_api.hpp"

#include "broker/command_line.hpp"
#include "broker/core.hpp"
#include "broker/csv.hpp"
#include "broker/rest_views.hpp"
#include "common/crypto.hpp"
#include "common/utf8.hpp"
#include "protocol/launch_file.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <ctime>

namespace portico::broker {

namespace http = boost::beast::http;
using json = nlohmann::json;
using Reply = Result<RestReply, ApiErrorCode>;

namespace {

const char* type_name(FieldType t) {
    switch (t) {
        case FieldType::string: return "a string";
        case FieldType::integer: return "an integer";
        case FieldType::boolean: return "a boolean";
        case FieldType::array: return "an array";
        case FieldType::object: return "an object";
        case FieldType::number: return "a number";
    }
    return "?";
}

bool has_type(const json& v, FieldType t) {
    switch (t) {
        case FieldType::string: return v.is_string();
        case FieldType::integer: return v.is_number_integer();
        case FieldType::boolean: return v.is_boolean();
        case FieldType::array: return v.is_array();
        case FieldType::object: return v.is_object();
        case FieldType::number: return v.is_number();
    }
    return false;
}

Error<ApiErrorCode> bad(std::string msg) { return {ApiErrorCode::bad_request, std::move(msg)}; }
Error<ApiErrorCode> forbidden() { return {ApiErrorCode::forbidden, "your role does not allow this"}; }
Error<ApiErrorCode> not_found(const std::string& what) { return {ApiErrorCode::not_found, "no such " + what}; }
Error<ApiErrorCode> method_not_allowed() { return {ApiErrorCode::method_not_allowed, "method not allowed"}; }

RestReply ok(json body, http::status s = http::status::ok) { return RestReply{s, std::move(body), std::nullopt}; }
RestReply no_content() { return RestReply{http::status::no_content, std::nullopt, std::nullopt}; }

using Check = Result<void, ApiErrorCode>;

Check check_string_array(const json& j, const char* field, std::size_t max_items, std::size_t max_len, bool non_empty) {
    if (!j.contains(field)) return {};
    const auto& a = j.at(field);
    if (a.size() > max_items) return bad(std::string("field '") + field + "' has too many items");
    if (non_empty && a.empty()) return bad(std::string("field '") + field + "' must not be empty");
    for (const auto& v : a)
        if (!v.is_string() || v.get_ref<const std::string&>().size() > max_len)
            return bad(std::string("field '") + field + "' must hold strings of at most " + std::to_string(max_len) +
                       " bytes");
    return {};
}

Check check_len(const json& j, const char* field, std::size_t min, std::size_t max) {
    if (!j.contains(field)) return {};
    auto n = j.at(field).get_ref<const std::string&>().size();
    if (n < min || n > max)
        return bad(std::string("field '") + field + "' must be " + std::to_string(min) + ".." + std::to_string(max) +
                   " bytes long");
    return {};
}

// [{user}|{group}] -> entitlements, or a bad_request.
Result<std::vector<Entitlement>, ApiErrorCode> parse_entitlements(const json& arr) {
    if (arr.size() > 1000) return bad("field 'entitlements' has too many items");
    std::vector<Entitlement> out;
    for (const auto& e : arr) {
        if (!e.is_object() || e.size() != 1 || !(e.contains("user") || e.contains("group")))
            return bad("each entitlement must be {\"user\": name} or {\"group\": name}");
        auto kind = e.contains("user") ? std::string("user") : std::string("group");
        if (!e.at(kind).is_string() || !valid_name(e.at(kind).get<std::string>()))
            return bad("entitlement " + kind + " must be a valid name");
        Entitlement ent{kind, e.at(kind).get<std::string>()};
        if (std::find(out.begin(), out.end(), ent) == out.end()) out.push_back(ent);
    }
    return out;
}

json entitlements_json(const std::vector<Entitlement>& ents) {
    json out = json::array();
    for (const auto& e : ents) out.push_back({{e.kind, e.name}});
    return out;
}

json user_json(const UserRecord& u) {
    return json{{"name", u.name}, {"role", to_string(u.role)}, {"groups", u.groups}, {"created_at", u.created_at}};
}

json group_json(const GroupRecord& g) { return json{{"name", g.name}, {"members", g.members}}; }

json app_json(Store& store, const Resource& r) {
    return json{{"id", r.id},
                {"name", r.name},
                {"type", r.type},
                {"command", r.command},
                {"command_line", join_command_line(r.command)},
                {"icon", r.icon},
                {"host_group", r.host_group},
                {"entitlements", entitlements_json(store.entitlements(r.id))}};
}

std::optional<int> int_query(const RestRequest& req, const char* key, int lo, int hi, int def, std::string& err) {
    auto it = req.query.find(key);
    if (it == req.query.end()) return def;
    const auto& v = it->second;
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
        err = std::string("query parameter '") + key + "' must be a number";
        return std::nullopt;
    }
    long long n = std::stoll(v);
    if (n < lo || n > hi) {
        err = std::string("query parameter '") + key + "' must be within " + std::to_string(lo) + ".." +
              std::to_string(hi);
        return std::nullopt;
    }
    return static_cast<int>(n);
}

// ---- users ----

Reply users_route(Core& core, const Caller& c, const RestRequest& req) {
    auto& store = core.store();
    const auto& seg = req.segments;
    if (!c.staff()) return forbidden();
    if (seg.size() == 1) {
        if (req.method == http::verb::get) {
            json out = json::array();
            for (auto& u : store.users()) out.push_back(user_json(u));
            return ok(out);
        }
        if (req.method != http::verb::post) return method_not_allowed();
        if (!c.admin()) return forbidden();
        auto body = parse_body(
            req.body,
            {{"name", FieldType::string, true}, {"role", FieldType::string}, {"password", FieldType::string}});
        if (!body) return body.error();
        auto& b = body.value();
        auto name = b["name"].get<std::string>();
        if (!valid_name(name))
            return bad("field 'name' must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit");
        auto role = parse_role(b.value("role", std::string("user")));
        if (!role) return bad("field 'role' must be admin, helpdesk or user");
        if (auto e = check_len(b, "password", 8, 1024); !e) return e.error();
        bool generated = !b.contains("password");
        std::string password = generated ? crypto::random_token(12) : b["password"].get<std::string>();
        if (store.user(name)) return Error<ApiErrorCode>{ApiErrorCode::conflict, "a user named " + name + " exists"};
        // Argon2: this route runs on a password worker (rest_hashes_password), not the store thread.
        try {
            store.create_user(name, crypto::hash_password(password), unix_now(), *role);
        } catch (const std::exception&) {
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "a user named " + name + " exists"};
        }
        core.audit().record(c.name, "user.create", name, c.ip, std::string("role ") + to_string(*role));
        auto j = user_json(*store.user(name));
        if (generated) j["password"] = password;
        return ok(j, http::status::created);
    }
    if (seg.size() != 2) return not_found("endpoint");
    const auto& name = seg[1];
    if (req.method == http::verb::get) {
        auto u = store.user(name);
        if (!u) return not_found("user");
        return ok(user_json(*u));
    }
    if (req.method != http::verb::patch && req.method != http::verb::delete_) return method_not_allowed();
    if (!c.admin()) return forbidden();
    if (req.method == http::verb::patch) {
        auto body = parse_body(req.body, {{"role", FieldType::string}, {"password", FieldType::string}});
        if (!body) return body.error();
        auto& b = body.value();
        if (b.empty()) return bad("give at least one of 'role', 'password'");
        std::optional<Role> role;
        if (b.contains("role")) {
            role = parse_role(b["role"].get<std::string>());
            if (!role) return bad("field 'role' must be admin, helpdesk or user");
        }
        if (auto e = check_len(b, "password", 8, 1024); !e) return e.error();
        auto u = store.user(name);
        if (!u) return not_found("user");
        if (role && u->role == Role::admin && *role != Role::admin && store.count_admins() <= 1)
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "cannot take the admin role from the last admin"};
        if (b.contains("password"))
            store.set_password_hash(name, crypto::hash_password(b["password"].get<std::string>()));
        if (role) store.set_role(name, *role);
        std::string detail;
        if (role) detail += std::string("role ") + to_string(*role);
        if (b.contains("password")) detail += std::string(detail.empty() ? "" : ", ") + "password changed";
        core.audit().record(c.name, "user.update", name, c.ip, detail);
        return ok(user_json(*store.user(name)));
    }
    auto u = store.user(name);
    if (!u) return not_found("user");
    if (name == c.name) return Error<ApiErrorCode>{ApiErrorCode::conflict, "you cannot delete yourself"};
    if (u->role == Role::admin && store.count_admins() <= 1)
        return Error<ApiErrorCode>{ApiErrorCode::conflict, "cannot delete the last admin"};
    // A session that ended meanwhile needs no log off: its refusal is of no interest here.
    for (const auto& s : store.live_sessions_of(name)) static_cast<void>(core.launches().logoff(c, s.id));
    store.delete_user(name);
    core.audit().record(c.name, "user.delete", name, c.ip);
    return no_content();
}

// ---- groups ----

// "members alice, bob" (the first 20, then how many more), or "no members": read by people.
std::string members_detail(const std::vector<std::string>& members) {
    if (members.empty()) return "no members";
    std::string out = "members ";
    for (std::size_t i = 0; i < members.size() && i < 20; ++i) out += (i ? ", " : "") + members[i];
    if (members.size() > 20) out += " and " + std::to_string(members.size() - 20) + " more";
    return out;
}

Reply groups_route(Core& core, const Caller& c, const RestRequest& req) {
    auto& store = core.store();
    const auto& seg = req.segments;
    if (!c.staff()) return forbidden();
    if (seg.size() == 1) {
        if (req.method == http::verb::get) {
            json out = json::array();
            for (auto& g : store.groups()) out.push_back(group_json(g));
            return ok(out);
        }
        if (req.method != http::verb::post) return method_not_allowed();
        if (!c.admin()) return forbidden();
        auto body = parse_body(req.body, {{"name", FieldType::string, true}, {"members", FieldType::array}});
        if (!body) return body.error();
        auto& b = body.value();
        auto name = b["name"].get<std::string>();
        if (!valid_name(name))
            return bad("field 'name' must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit");
        if (auto e = check_string_array(b, "members", 10000, 64, false); !e) return e.error();
        std::vector<std::string> members;
        if (b.contains("members"))
            for (auto& m : b["members"]) {
                if (!store.user(m.get<std::string>())) return not_found("user: " + m.get<std::string>());
                members.push_back(m.get<std::string>());
            }
        if (!store.create_group(name, members, unix_now()))
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "a group named " + name + " exists"};
        core.audit().record(c.name, "group.create", name, c.ip, members_detail(members));
        return ok(group_json(*store.group(name)), http::status::created);
    }
    const auto& name = seg[1];
    if (seg.size() == 2) {
        if (req.method == http::verb::get) {
            auto g = store.group(name);
            if (!g) return not_found("group");
            return ok(group_json(*g));
        }
        if (req.method != http::verb::delete_) return method_not_allowed();
        if (!c.admin()) return forbidden();
        if (!store.delete_group(name)) return not_found("group");
        core.audit().record(c.name, "group.delete", name, c.ip);
        return no_content();
    }
    if (seg.size() != 4 || seg[2] != "members") return not_found("endpoint");
    if (req.method != http::verb::put && req.method != http::verb::delete_) return method_not_allowed();
    if (!c.admin()) return forbidden();
    const auto& user = seg[3];
    if (req.method == http::verb::put) {
        auto body = parse_body(req.body, {});
        if (!body) return body.error();
        if (!store.add_member(name, user)) return not_found("group or user");
        core.audit().record(c.name, "group.add_member", name, c.ip, "user " + user);
        return no_content();
    }
    if (!store.remove_member(name, user)) return not_found("membership");
    core.audit().record(c.name, "group.remove_member", name, c.ip, "user " + user);
    return no_content();
}

// ---- apps ----

Check check_app_fields(const json& b) {
    if (auto e = check_len(b, "name", 1, 128); !e) return e;
    if (auto e = check_string_array(b, "command", 256, 4096, true); !e) return e;
    if (auto e = check_len(b, "command_line", 1, 16384); !e) return e;
    if (b.contains("command") && b.contains("command_line")) return bad("give 'command' or 'command_line', not both");
    if (auto e = check_len(b, "icon", 0, 16384); !e) return e;
    if (auto e = check_len(b, "host_group", 0, 128); !e) return e;
    return {};
}

// The argv of a create or update request: "command" as given, or "command_line" split with shell-like
// quoting (command_line.hpp). Nothing if the request has neither.
Result<std::optional<std::vector<std::string>>, ApiErrorCode> app_command(const json& b) {
    if (b.contains("command")) return std::optional(b["command"].get<std::vector<std::string>>());
    if (!b.contains("command_line")) return std::optional<std::vector<std::string>>();
    auto argv = split_command_line(b["command_line"].get<std::string>());
    if (!argv) return bad("field 'command_line': " + argv.error().message);
    if (argv.value().size() > 256) return bad("field 'command_line' has too many words");
    return std::optional(std::move(argv.value()));
}

// The optional "entitlements" of a create request, each user and group checked to exist (so a
// refused request creates nothing).
Result<std::vector<Entitlement>, ApiErrorCode> create_entitlements(Store& store, const json& b) {
    if (!b.contains("entitlements")) return std::vector<Entitlement>{};
    auto parsed = parse_entitlements(b["entitlements"]);
    if (!parsed) return parsed.error();
    for (auto& e : parsed.value())
        if (e.kind == "user" ? !store.user(e.name) : !store.group(e.name)) return not_found(e.kind + ": " + e.name);
    return parsed.value();
}

// PUT /{apps|pools}/{id}/entitlements: replaces the entitlements of a resource of `type`.
// Nothing on success (the caller answers with the resource).
Check put_entitlements(Core& core, const Caller& c, const RestRequest& req, const std::string& id,
                       const std::string& type) {
    if (req.method != http::verb::put) return method_not_allowed();
    if (!c.admin()) return forbidden();
    auto body = parse_body(req.body, {{"entitlements", FieldType::array, true}});
    if (!body) return body.error();
    auto parsed = parse_entitlements(body.value()["entitlements"]);
    if (!parsed) return parsed.error();
    auto& store = core.store();
    auto r = store.resource(id);
    if (!r || r->type != type) return not_found(type == "app" ? "app" : "pool");
    if (!store.set_entitlements(id, parsed.value())) return not_found("user or group in the entitlements");
    json detail = entitlements_json(parsed.value());
    core.audit().record(c.name, (type == "app" ? "app" : "pool") + std::string(".entitlements"), id, c.ip,
                        json_text(detail));
    return {};
}

Reply apps_route(Core& core, const Caller& c, const RestRequest& req) {
    auto& store = core.store();
    const auto& seg = req.segments;
    if (!c.staff()) return forbidden();
    if (seg.size() == 1) {
        if (req.method == http::verb::get) {
            json out = json::array();
            for (auto& r : store.resources())
                if (r.type == "app") out.push_back(app_json(store, r));
            return ok(out);
        }
        if (req.method != http::verb::post) return method_not_allowed();
        if (!c.admin()) return forbidden();
        auto body = parse_body(req.body, {{"id", FieldType::string, true},
                                          {"name", FieldType::string, true},
                                          {"command", FieldType::array},
                                          {"command_line", FieldType::string},
                                          {"icon", FieldType::string},
                                          {"host_group", FieldType::string},
                                          {"entitlements", FieldType::array}});
        if (!body) return body.error();
        auto& b = body.value();
        if (!valid_name(b["id"].get<std::string>())) return bad("field 'id' must be 1-64 of A-Z a-z 0-9 . _ -");
        if (auto e = check_app_fields(b); !e) return e.error();
        auto command = app_command(b);
        if (!command) return command.error();
        if (!command.value()) return bad("field 'command' (or 'command_line') is required");
        auto ents = create_entitlements(store, b);
        if (!ents) return ents.error();
        Resource r{b["id"].get<std::string>(), b["name"].get<std::string>(),   "app",
                   *command.value(),           b.value("icon", std::string()), b.value("host_group", std::string())};
        if (!store.create_resource(r, ents.value()))
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "a resource with id " + r.id + " exists"};
        core.audit().record(c.name, "app.create", r.id, c.ip, r.name);
        return ok(app_json(store, *store.resource(r.id)), http::status::created);
    }
    const auto& id = seg[1];
    if (seg.size() == 2) {
        if (req.method == http::verb::get) {
            auto r = store.resource(id);
            if (!r || r->type != "app") return not_found("app");
            return ok(app_json(store, *r));
        }
        if (req.method != http::verb::patch && req.method != http::verb::delete_) return method_not_allowed();
        if (!c.admin()) return forbidden();
        if (req.method == http::verb::delete_) {
            auto r = store.resource(id);
            if (!r || r->type != "app" || !store.delete_resource(id)) return not_found("app");
            core.audit().record(c.name, "app.delete", id, c.ip, r->name);
            return no_content();
        }
        auto body = parse_body(req.body, {{"name", FieldType::string},
                                          {"command", FieldType::array},
                                          {"command_line", FieldType::string},
                                          {"icon", FieldType::string},
                                          {"host_group", FieldType::string}});
        if (!body) return body.error();
        auto& b = body.value();
        if (b.empty()) return bad("give at least one of 'name', 'command', 'command_line', 'icon', 'host_group'");
        if (auto e = check_app_fields(b); !e) return e.error();
        auto command = app_command(b);
        if (!command) return command.error();
        auto r = store.resource(id);
        if (!r || r->type != "app") return not_found("app");
        if (b.contains("name")) r->name = b["name"].get<std::string>();
        if (command.value()) r->command = *command.value();
        if (b.contains("icon")) r->icon = b["icon"].get<std::string>();
        if (b.contains("host_group")) r->host_group = b["host_group"].get<std::string>();
        if (!store.update_resource(*r)) return not_found("app");
        std::string fields;
        for (auto& [k, _] : b.items()) fields += (fields.empty() ? "" : ",") + k;
        core.audit().record(c.name, "app.update", id, c.ip, fields);
        return ok(app_json(store, *store.resource(id)));
    }
    if (seg.size() != 3 || seg[2] != "entitlements") return not_found("endpoint");
    if (auto e = put_entitlements(core, c, req, id, "app"); !e) return e.error();
    return ok(app_json(store, *store.resource(id)));
}

// ---- desktop pools ----

json pool_json(Store& store, const DesktopPool& p) {
    return json{{"id", p.id},
                {"name", p.name},
                {"type", "desktop"},
                {"icon", p.icon},
                {"image", p.image},
                {"mode", p.mode},
                {"size", p.size},
                {"spares", p.spares},
                {"memory_mib", p.memory_mib},
                {"cpus", p.cpus},
                {"sessions", store.live_session_count(p.id)},
                {"entitlements", entitlements_json(store.entitlements(p.id))}};
}

int clamp_int(const json& v) {
    return static_cast<int>(std::clamp<std::int64_t>(v.get<std::int64_t>(), INT32_MIN, INT32_MAX));
}

// Copies the pool fields present in `b` onto `p` (types already checked by parse_body).
void apply_pool_fields(const json& b, DesktopPool& p) {
    if (b.contains("name")) p.name = b["name"].get<std::string>();
    if (b.contains("icon")) p.icon = b["icon"].get<std::string>();
    if (b.contains("image")) p.image = b["image"].get<std::string>();
    if (b.contains("mode")) p.mode = b["mode"].get<std::string>();
    if (b.contains("size")) p.size = clamp_int(b["size"]);
    if (b.contains("spares")) p.spares = clamp_int(b["spares"]);
    if (b.contains("memory_mib")) p.memory_mib = clamp_int(b["memory_mib"]);
    if (b.contains("cpus")) p.cpus = clamp_int(b["cpus"]);
}

Reply pools_route(Core& core, const Caller& c, const RestRequest& req) {
    auto& store = core.store();
    const auto& seg = req.segments;
    if (!c.staff()) return forbidden();
    if (seg.size() == 1) {
        if (req.method == http::verb::get) {
            json out = json::array();
            for (auto& p : store.desktop_pools()) out.push_back(pool_json(store, p));
            return ok(out);
        }
        if (req.method != http::verb::post) return method_not_allowed();
        if (!c.admin()) return forbidden();
        auto body = parse_body(req.body, {{"id", FieldType::string, true},
                                          {"name", FieldType::string, true},
                                          {"image", FieldType::string, true},
                                          {"mode", FieldType::string, true},
                                          {"icon", FieldType::string},
                                          {"size", FieldType::integer},
                                          {"spares", FieldType::integer},
                                          {"memory_mib", FieldType::integer},
                                          {"cpus", FieldType::integer},
                                          {"entitlements", FieldType::array}});
        if (!body) return body.error();
        auto& b = body.value();
        DesktopPool p;
        p.id = b["id"].get<std::string>();
        apply_pool_fields(b, p);
        if (auto e = check_len(b, "icon", 0, 16384); !e) return e.error();
        if (auto why = validate_desktop_pool(p); !why.empty()) return bad(why);
        auto ents = create_entitlements(store, b);
        if (!ents) return ents.error();
        if (!store.create_desktop_pool(p, ents.value()))
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "a resource with id " + p.id + " exists"};
        core.audit().record(c.name, "pool.create", p.id, c.ip, p.name + " (" + p.mode + ", image " + p.image + ")");
        core.desktops().changed();
        return ok(pool_json(store, *store.desktop_pool(p.id)), http::status::created);
    }
    const auto& id = seg[1];
    if (seg.size() == 2) {
        if (req.method == http::verb::get) {
            auto p = store.desktop_pool(id);
            if (!p) return not_found("pool");
            return ok(pool_json(store, *p));
        }
        if (req.method != http::verb::patch && req.method != http::verb::delete_) return method_not_allowed();
        if (!c.admin()) return forbidden();
        if (req.method == http::verb::delete_) {
            auto p = store.desktop_pool(id);
            if (!p || !store.delete_resource(id)) return not_found("pool");
            core.audit().record(c.name, "pool.delete", id, c.ip, p->name);
            core.desktops().changed();
            return no_content();
        }
        auto body = parse_body(req.body, {{"name", FieldType::string},
                                          {"image", FieldType::string},
                                          {"mode", FieldType::string},
                                          {"icon", FieldType::string},
                                          {"size", FieldType::integer},
                                          {"spares", FieldType::integer},
                                          {"memory_mib", FieldType::integer},
                                          {"cpus", FieldType::integer}});
        if (!body) return body.error();
        auto& b = body.value();
        if (b.empty())
            return bad("give at least one of 'name', 'icon', 'image', 'mode', 'size', 'spares', 'memory_mib', 'cpus'");
        if (auto e = check_len(b, "icon", 0, 16384); !e) return e.error();
        auto p = store.desktop_pool(id);
        if (!p) return not_found("pool");
        apply_pool_fields(b, *p);
        if (auto why = validate_desktop_pool(*p); !why.empty()) return bad(why);
        if (!store.update_desktop_pool(*p)) return not_found("pool");
        std::string changed;
        for (auto& [k, _] : b.items()) changed += (changed.empty() ? "" : ",") + k;
        core.audit().record(c.name, "pool.update", id, c.ip, changed);
        core.desktops().changed();
        return ok(pool_json(store, *store.desktop_pool(id)));
    }
    if (seg.size() != 3 || seg[2] != "entitlements") return not_found("endpoint");
    if (auto e = put_entitlements(core, c, req, id, "desktop"); !e) return e.error();
    return ok(pool_json(store, *store.desktop_pool(id)));
}

// ---- hosts ----

Reply hosts_route(Core& core, const Caller& c, const RestRequest& req) {
    const auto& seg = req.segments;
    if (!c.staff()) return forbidden();
    if (seg.size() == 1) {
        if (req.method != http::verb::get) return method_not_allowed();
        json out = json::array();
        for (const auto& h : core.hosts().list()) out.push_back(host_json(h));
        return ok(out);
    }
    const auto& id = seg[1];
    if (seg.size() == 2) {
        if (req.method == http::verb::get) {
            auto h = core.hosts().get(id);
            if (!h) return not_found("host");
            return ok(host_json(*h));
        }
        if (req.method != http::verb::delete_) return method_not_allowed();
        if (!c.admin()) return forbidden();
        if (auto e = core.hosts().remove(c, id); !e) return e.error();
        return no_content();
    }
    if (seg.size() != 3 || (seg[2] != "drain" && seg[2] != "undrain")) return not_found("endpoint");
    if (req.method != http::verb::post) return method_not_allowed();
    if (!c.admin()) return forbidden();
    auto body = parse_body(req.body, {});
    if (!body) return body.error();
    if (auto e = core.hosts().set_drain(c, id, seg[2] == "drain"); !e) return e.error();
    auto h = core.hosts().get(id);
    if (!h) return not_found("host");  // removed meanwhile
    return ok(host_json(*h));
}

Reply enrollment_tokens_route(Core& core, const Caller& c, const RestRequest& req) {
    if (req.segments.size() != 1) return not_found("endpoint");
    if (req.method != http::verb::get && req.method != http::verb::post) return method_not_allowed();
    if (!c.admin()) return forbidden();
    if (req.method == http::verb::get) {
        json out = json::array();
        for (const auto& t : core.enrollment().tokens()) out.push_back(enrollment_token_json(t));
        return ok(out);
    }
    auto body = parse_body(req.body, {{"host_id", FieldType::string}, {"ttl_seconds", FieldType::integer}});
    if (!body) return body.error();
    auto& b = body.value();
    std::string host_id = b.value("host_id", std::string());
    if (!host_id.empty() && !valid_name(host_id, 128)) return bad("field 'host_id' must be a valid host id");
    auto ttl = b.value("ttl_seconds", std::int64_t{86400});
    if (ttl < 60 || ttl > 604800) return bad("field 'ttl_seconds' must be within 60..604800");
    return ok(new_enrollment_token_json(core.enrollment().create_token(c.name, c.ip, host_id, static_cast<int>(ttl))),
              http::status::created);
}

// ---- sessions ----

// A whole number query parameter of up to 18 digits (unix times, ids), or `def` when absent.
std::optional<std::int64_t> number_query(const RestRequest& req, const char* key, std::int64_t def, std::string& err) {
    auto it = req.query.find(key);
    if (it == req.query.end()) return def;
    if (it->second.empty() || it->second.size() > 18 ||
        it->second.find_first_not_of("0123456789") != std::string::npos) {
        err = std::string("query parameter '") + key + "' must be a number";
        return std::nullopt;
    }
    return std::stoll(it->second);
}

// GET /sessions/history: ended and lost sessions, most recently ended first, paged by the last
// row's (ended_at, id).
Reply history_route(Core& core, const Caller& c, const RestRequest& req) {
    if (req.method != http::verb::get) return method_not_allowed();
    HistoryFilter f;
    auto scope = req.query.count("scope") ? req.query.at("scope") : std::string("own");
    if (scope != "own" && scope != "all") return bad("query parameter 'scope' must be own or all");
    if (scope == "all" && !c.staff()) return forbidden();
    f.user = scope == "own" ? c.name : (req.query.count("user") ? req.query.at("user") : std::string());
    std::string err;
    auto limit = int_query(req, "limit", 1, 1000, 200, err);
    if (!limit) return bad(err);
    f.limit = *limit;
    auto before = number_query(req, "before", 0, err);
    if (!before) return bad(err);
    f.before_ended_at = *before;
    if (req.query.count("before_id")) {
        if (!f.before_ended_at) return bad("query parameter 'before_id' needs 'before'");
        f.before_id = req.query.at("before_id");
    }
    json out = json::array();
    for (const auto& v : core.launches().views(core.store().session_history(f))) out.push_back(session_json(v));
    return ok(out);
}

Reply sessions_route(Core& core, const Caller& c, const RestRequest& req) {
    const auto& seg = req.segments;
    if (seg.size() == 1) {
        if (req.method != http::verb::get) return method_not_allowed();
        SessionFilter f;
        auto scope = req.query.count("scope") ? req.query.at("scope") : std::string("own");
        if (scope != "own" && scope != "all") return bad("query parameter 'scope' must be own or all");
        if (scope == "all" && !c.staff()) return forbidden();
        f.user = scope == "own" ? c.name : (req.query.count("user") ? req.query.at("user") : std::string());
        if (req.query.count("host")) f.host = req.query.at("host");
        if (req.query.count("state")) {
            f.state = parse_session_state(req.query.at("state"));
            if (!f.state)
                return bad(
                    "query parameter 'state' must be one of starting, active, disconnected, ending, ended, lost");
        }
        std::string err;
        auto limit = int_query(req, "limit", 1, 1000, 200, err);
        if (!limit) return bad(err);
        f.limit = *limit;
        json out = json::array();
        for (const auto& v : core.launches().views(core.store().sessions(f))) out.push_back(session_json(v));
        return ok(out);
    }
    const auto& id = seg[1];
    if (seg.size() == 2 && id == "history") return history_route(core, c, req);
    if (seg.size() == 2) {
        if (req.method == http::verb::get) {
            auto s = core.launches().visible_session(c, id);
            if (!s) return not_found("session");
            return ok(session_json(core.launches().view(*s)));
        }
        if (req.method != http::verb::delete_) return method_not_allowed();
        if (auto e = core.launches().logoff(c, id); !e) return e.error();
        return no_content();
    }
    if (seg.size() != 3) return not_found("endpoint");
    const auto& action = seg[2];
    if (action != "logoff" && action != "disconnect" && action != "shadow") return not_found("endpoint");
    if (req.method != http::verb::post) return method_not_allowed();
    if (action == "shadow" && !c.staff()) return forbidden();
    auto body = parse_body(req.body, {});
    if (!body) return body.error();
    if (action == "shadow") {
        auto r = core.launches().shadow(c, id);
        if (!r) return r.error();
        return ok(launch_json(r.value()));
    }
    auto e = action == "logoff" ? core.launches().logoff(c, id) : core.launches().disconnect(c, id);
    if (!e) return e.error();
    return no_content();
}

// "2026-12-03T20:15:04Z"
std::string iso_utc(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

RestReply audit_csv(const std::vector<AuditEvent>& events) {
    std::string text = csv_line({"id", "time", "actor", "action", "target", "from", "detail"});
    for (const auto& e : events)
        text += csv_line({std::to_string(e.id), iso_utc(e.at), e.actor, e.action, e.target, e.from, e.detail});
    RestReply r;
    r.download = TextDownload{"text/csv; charset=utf-8", "portico-audit.csv", std::move(text)};
    return r;
}

Reply audit_route(Core& core, const Caller& c, const RestRequest& req) {
    if (req.segments.size() != 1) return not_found("endpoint");
    if (req.method != http::verb::get) return method_not_allowed();
    if (!c.staff()) return forbidden();
    auto format = req.query.count("format") ? req.query.at("format") : std::string("json");
    if (format != "json" && format != "csv") return bad("query parameter 'format' must be json or csv");
    AuditFilter f;
    std::string err;
    // A download takes up to 10000 rows at once (older ones page with 'before').
    auto limit = int_query(req, "limit", 1, 10000, format == "csv" ? 10000 : 100, err);
    if (!limit) return bad(err);
    f.limit = *limit;
    auto before = number_query(req, "before", 0, err);
    if (!before) return bad(err);
    f.before = *before;
    if (req.query.count("actor")) f.actor = req.query.at("actor");
    if (req.query.count("action")) f.action = req.query.at("action");
    if (format == "csv") return audit_csv(core.store().audit(f));
    json out = json::array();
    for (auto& e : core.store().audit(f))
        out.push_back({{"id", e.id},
                       {"at", e.at},
                       {"actor", e.actor},
                       {"action", e.action},
                       {"target", e.target},
                       {"from", e.from},
                       {"detail", e.detail}});
    return ok(out);
}

// ---- launch files ----

// The Host header as a URL authority ("name", "name:port", "[v6]:port"), or nothing: it goes
// into a file a client will connect to, so nothing else passes.
std::optional<std::string> broker_authority(const std::string& host) {
    if (host.empty() || host.size() > 255) return std::nullopt;
    const bool plain = std::all_of(host.begin(), host.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
    });
    if (!plain) return std::nullopt;
    return host;
}

// POST /launch-files: a launch file (protocol/launch_file.hpp) for a resource or one of the
// caller's running sessions, as a download.
Reply launch_files_route(Core& core, const Caller& c, const RestRequest& req) {
    if (req.segments.size() != 1) return not_found("endpoint");
    if (req.method != http::verb::post) return method_not_allowed();
    auto body = parse_body(req.body, {{"resource", FieldType::string}, {"session", FieldType::string}});
    if (!body) return body.error();
    auto& b = body.value();
    if (b.contains("resource") == b.contains("session")) return bad("give exactly one of 'resource', 'session'");
    const auto resource = b.value("resource", std::string()), session = b.value("session", std::string());
    if (resource.size() > 256 || session.size() > 256 || (b.contains("resource") && resource.empty()) ||
        (b.contains("session") && session.empty()))
        return bad("'resource' and 'session' must be 1..256 bytes long");
    auto authority = broker_authority(req.host);
    if (!authority) return bad("the request's Host header is not a host name and port");
    auto issued = core.launch_files().issue(c, resource, session, "https://" + *authority, core.server_cert_sha256());
    if (!issued) return issued.error();
    RestReply r;
    r.download = TextDownload{protocol::kLaunchFileMimeType, issued->filename, std::move(issued->text)};
    return r;
}

}  // namespace

bool valid_name(const std::string& s, std::size_t max) {
    if (s.empty() || s.size() > max || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
}

Result<json, ApiErrorCode> parse_body(const std::string& body, std::initializer_list<FieldSpec> fields) {
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
        for (const auto& f : fields)
            if (f.required) return bad(std::string("field '") + f.name + "' is required");
        return json::object();
    }
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return bad("the body is not valid JSON");
    if (!j.is_object()) return bad("the body must be a JSON object");
    for (auto& [k, v] : j.items()) {
        // An init-capture: clang 14 (tests/fuzz) cannot capture a structured binding itself.
        auto it = std::find_if(fields.begin(), fields.end(), [&key = k](const FieldSpec& f) { return key == f.name; });
        if (it == fields.end()) return bad("unknown field '" + utf8_prefix(k, 64) + "'");
        if (!has_type(v, it->type)) return bad("field '" + k + "' must be " + type_name(it->type));
    }
    for (const auto& f : fields)
        if (f.required && !j.contains(f.name)) return bad(std::string("field '") + f.name + "' is required");
    return j;
}

bool is_rest_route(const std::vector<std::string>& seg) {
    if (seg.empty()) return false;
    static const char* const roots[] = {"me",    "resources", "sessions",          "users", "groups",      "apps",
                                        "pools", "hosts",     "enrollment-tokens", "audit", "launch-files"};
    return std::any_of(std::begin(roots), std::end(roots), [&](const char* r) { return seg[0] == r; });
}

Result<RestReply, ApiErrorCode> handle_rest(Core& core, const Caller& c, const RestRequest& req) {
    const auto& seg = req.segments;
    if (seg[0] == "me") {
        if (seg.size() != 1) return not_found("endpoint");
        if (req.method != http::verb::get) return method_not_allowed();
        return ok(json{{"user", c.name}, {"role", to_string(c.role)}});
    }
    if (seg[0] == "resources") {
        if (seg.size() != 1) return not_found("endpoint");
        if (req.method != http::verb::get) return method_not_allowed();
        json out = json::array();
        for (const auto& r : core.store().entitled_resources(c.name))
            out.push_back({{"id", r.id}, {"name", r.name}, {"type", r.type}, {"icon", r.icon}});
        return ok(out);
    }
    if (seg[0] == "sessions") return sessions_route(core, c, req);
    if (seg[0] == "users") return users_route(core, c, req);
    if (seg[0] == "groups") return groups_route(core, c, req);
    if (seg[0] == "apps") return apps_route(core, c, req);
    if (seg[0] == "pools") return pools_route(core, c, req);
    if (seg[0] == "hosts") return hosts_route(core, c, req);
    if (seg[0] == "enrollment-tokens") return enrollment_tokens_route(core, c, req);
    if (seg[0] == "audit") return audit_route(core, c, req);
    if (seg[0] == "launch-files") return launch_files_route(core, c, req);
    return not_found("endpoint");
}

bool rest_hashes_password(const RestRequest& req) {
    const auto& seg = req.segments;
    if (seg.empty() || seg[0] != "users") return false;
    return (seg.size() == 1 && req.method == http::verb::post) || (seg.size() == 2 && req.method == http::verb::patch);
}

}  // namespace portico::broker
