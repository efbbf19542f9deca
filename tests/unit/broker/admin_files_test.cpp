// The files an admin hands the broker or takes from it: the TLS pair it serves and reloads
// (tls_files.hpp) and backup folders (backup.hpp), on real files; a broker serving them end to end
// is tests/integration/test_admin_ops.py.

#include "broker/backup.hpp"
#include "broker/state_dir.hpp"
#include "broker/tls_files.hpp"
#include "common/tls.hpp"
#include "pg_server.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using portico::broker::ServerCertificate;

namespace {

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("tls files: a bad pair is refused naming the file, and a failed reload keeps the pair served",
          "[broker][tls]") {
    test::TempDir dir;
    const auto a_crt = (dir.path / "a.crt").string(), a_key = (dir.path / "a.key").string();
    const auto b_crt = (dir.path / "b.crt").string(), b_key = (dir.path / "b.key").string();
    portico::tls::generate_self_signed(a_crt, a_key, "a.example", {"DNS:a.example"});
    portico::tls::generate_self_signed(b_crt, b_key, "b.example", {"DNS:b.example"});

    CHECK(message_of([&] { ServerCertificate c(a_crt + ".missing", a_key); }).find(a_crt + ".missing") !=
          std::string::npos);
    std::ofstream(dir.path / "garbage.crt") << "not a certificate\n";
    auto garbage = message_of([&] { ServerCertificate c((dir.path / "garbage.crt").string(), a_key); });
    CHECK(garbage.find("garbage.crt holds no PEM certificate") != std::string::npos);
    auto mismatch = message_of([&] { ServerCertificate c(a_crt, b_key); });
    CHECK(mismatch == "the TLS key file " + b_key + " does not match the certificate in " + a_crt);
    // A certificate file with the certificate as its key: no private key in it.
    CHECK(message_of([&] { ServerCertificate c(a_crt, a_crt); }).find("holds no unencrypted PEM private key") !=
          std::string::npos);

    // Served from copies the admin replaces, then reloads.
    const auto crt = (dir.path / "served.crt").string(), key = (dir.path / "served.key").string();
    fs::copy_file(a_crt, crt);
    fs::copy_file(a_key, key);
    ServerCertificate served(crt, key);
    CHECK(served.sha256() == portico::tls::cert_sha256_hex(a_crt));
    CHECK(served.describe().find("CN=a.example") != std::string::npos);
    fs::copy_file(b_crt, crt, fs::copy_options::overwrite_existing);  // the key is still a's
    CHECK(message_of([&] { served.reload(); }).find("does not match") != std::string::npos);
    CHECK(served.sha256() == portico::tls::cert_sha256_hex(a_crt));
    fs::copy_file(b_key, key, fs::copy_options::overwrite_existing);
    served.reload();
    CHECK(served.sha256() == portico::tls::cert_sha256_hex(b_crt));
}

TEST_CASE("backup: with a PostgreSQL store the keys are copied and the database left to pg_dump",
          "[broker][backup][postgres]") {
    test::TempDir dir;
    const auto url = test::PgServer::shared().new_database();
    portico::broker::InitOptions o;
    o.state_dir = (dir.path / "state").string();
    o.database = url;
    REQUIRE(portico::broker::init_state(o).created);
    auto m = portico::broker::backup_state(o.state_dir, url, (dir.path / "backup").string());
    CHECK(m.store == "postgresql");
    CHECK(m.schema_version > 0);
    CHECK(m.files.size() == 6);
    CHECK_FALSE(fs::exists(dir.path / "backup" / "portico.db"));
    auto restored = dir.path / "restored";
    portico::broker::restore_state((dir.path / "backup").string(), restored.string());
    CHECK(mode_of(restored) == 0700);
    CHECK(mode_of(restored / "ticket-key.pem") == 0600);
    CHECK(mode_of(restored / "ca" / "ca.key") == 0600);
    CHECK(fs::exists(restored / "tls" / "broker.crt"));
    CHECK_FALSE(fs::exists(restored / "portico.db"));
}

TEST_CASE("backup: a manifest cannot place a file outside the state directory", "[broker][backup][bad-input]") {
    test::TempDir dir;
    portico::broker::InitOptions o;
    o.state_dir = (dir.path / "state").string();
    REQUIRE(portico::broker::init_state(o).created);
    const auto backup = dir.path / "backup";
    auto m = portico::broker::backup_state(o.state_dir, "", backup.string());
    CHECK(m.store == "sqlite");
    // An edited manifest: ticket-key.pem's entry now says ../evil (with a matching file there).
    auto manifest = nlohmann::json::parse(std::ifstream(backup / "manifest.json"));
    for (auto& f : manifest["files"])
        if (f["path"] == "ticket-key.pem") f["path"] = "../evil";
    std::ofstream(backup / "manifest.json", std::ios::trunc) << manifest.dump();
    fs::copy_file(backup / "ticket-key.pem", dir.path / "evil");
    auto why = message_of([&] { portico::broker::restore_state(backup.string(), (dir.path / "target").string()); });
    CHECK(why.find("names an unexpected file '../evil'") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path / "target"));
    // And a backup into a folder that holds something is refused before anything is written.
    std::ofstream(dir.path / "busy.txt") << "x";
    auto busy = message_of([&] { portico::broker::backup_state(o.state_dir, "", dir.path.string()); });
    CHECK(busy.find("is not empty") != std::string::npos);
}
