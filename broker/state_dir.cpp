#include "broker/state_dir.hpp"

#include "broker/pki.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "common/tls.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace portico::broker {

namespace fs = std::filesystem;

StatePaths StatePaths::in(const std::string& dir) {
    StatePaths p;
    p.dir = dir;
    p.tls_cert = dir + "/tls/broker.crt";
    p.tls_key = dir + "/tls/broker.key";
    p.ticket_key = dir + "/ticket-key.pem";
    p.enrollment_secret = dir + "/enrollment-secret";
    p.database = dir + "/portico.db";
    p.ca_cert = dir + "/ca/ca.crt";
    p.ca_key = dir + "/ca/ca.key";
    return p;
}

namespace {

void write_secret_file(const std::string& path, const std::string& content) {
    mode_t old = umask(077);
    std::ofstream f(path, std::ios::trunc);
    umask(old);
    if (!f) throw std::runtime_error("cannot write " + path);
    f << content << "\n";
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

bool is_ip_literal(const std::string& s) {
    return !s.empty() && (s.find(':') != std::string::npos || s.find_first_not_of("0123456789.") == std::string::npos);
}

}  // namespace

InitResult init_state(const InitOptions& o) {
    if (o.state_dir.empty()) throw std::runtime_error("--state is required");
    StatePaths p = StatePaths::in(o.state_dir);
    InitResult r;
    r.demo_user = o.demo_user;

    const std::string location = o.database.empty() ? p.database : o.database;
    const bool shared_database = is_postgres_location(location);
    // Any piece of existing state means "already initialised": never overwrite keys or the DB.
    for (const auto& f : {location, p.ticket_key, p.enrollment_secret, p.tls_key, p.tls_cert})
        if (!(shared_database && f == location) && fs::exists(f)) return r;

    fs::create_directories(p.dir);
    fs::permissions(p.dir, fs::perms::owner_all, fs::perm_options::replace);
    fs::create_directories(p.dir + "/tls");
    fs::permissions(p.dir + "/tls", fs::perms::owner_all, fs::perm_options::replace);

    std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1"};
    if (!o.host_name.empty() && o.host_name != "localhost" && o.host_name != "127.0.0.1")
        sans.push_back((is_ip_literal(o.host_name) ? "IP:" : "DNS:") + o.host_name);
    tls::generate_self_signed(p.tls_cert, p.tls_key, o.host_name.empty() ? "localhost" : o.host_name, sans);

    crypto::Ed25519Key::generate().save_private_pem(p.ticket_key);
    write_secret_file(p.enrollment_secret, crypto::random_token(32));

    ensure_ca(p);

    std::string password = o.demo_password.value_or(crypto::random_token(12));
    std::string admin_password = o.admin_password.value_or(crypto::random_token(12));
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    {
        auto store = open_store(location);
        if (shared_database && !store->users().empty()) {
            // Another broker's init filled this database: its users and passwords stay.
            r.created = true;
            r.database_seeded = false;
            return r;
        }
        // An Xft font (not xterm's default bitmap "fixed"): its size follows the session's Xft.dpi,
        // so the terminal is as readable on a HiDPI browser as at 1x.
        store->put_resource(
            Resource{"terminal", "Terminal", "app", {"xterm", "-fa", "Monospace", "-fs", "11"}, "", ""});
        // The demo user is a plain user who may launch Terminal through the group `users`.
        std::vector<std::string> members;
        if (!o.demo_user.empty()) {
            store->create_user(o.demo_user, crypto::hash_password(password), now, Role::user);
            members.push_back(o.demo_user);
        }
        store->create_group("users", members, now);
        store->set_entitlements("terminal", {Entitlement{"group", "users"}});
        if (!o.admin_user.empty() && o.admin_user != o.demo_user)
            store->create_user(o.admin_user, crypto::hash_password(admin_password), now, Role::admin);
    }
    if (!shared_database)
        fs::permissions(location, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    r.created = true;
    r.demo_password = password;
    if (!o.admin_user.empty() && o.admin_user != o.demo_user) {
        r.admin_user = o.admin_user;
        r.admin_password = admin_password;
    }
    return r;
}

std::string store_location(const std::string& state_dir, const std::string& database) {
    return database.empty() ? StatePaths::in(state_dir).database : database;
}

void ensure_ca(const StatePaths& p) {
    if (fs::exists(p.ca_cert) && fs::exists(p.ca_key)) return;
    auto dir = fs::path(p.ca_cert).parent_path();
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    BrokerCa::create(p.ca_cert, p.ca_key);
}

std::string read_enrollment_secret(const StatePaths& p) {
    std::ifstream f(p.enrollment_secret);
    if (!f) throw std::runtime_error("cannot read " + p.enrollment_secret + " (run `portico-broker init` first)");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    if (s.empty()) throw std::runtime_error(p.enrollment_secret + " is empty");
    return s;
}

}  // namespace portico::broker
