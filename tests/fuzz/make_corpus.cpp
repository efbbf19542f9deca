// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/) from real messages made
// by Portico's own encoders: display and control messages, signed tickets, launch files, a signed package, and
// an RFB session as QEMU's VNC server speaks it. Run by hand when a format changes:
//   build-fuzz/tests/fuzz/make_corpus tests/fuzz/corpus
// (the corpus is kept in the repository; libFuzzer adds what it finds to a copy, not to it).

#include "common/crypto.hpp"
#include "packager/format.hpp"
#include "protocol/control.hpp"
#include "protocol/display.hpp"
#include "protocol/launch_file.hpp"
#include "protocol/ticket.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace portico;
using Bytes = std::vector<std::uint8_t>;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
    fs::create_directories(g_root / target);
    std::ofstream(g_root / target / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void put(const std::string& target, const std::string& name, const std::string& text) {
    put(target, name, Bytes(text.begin(), text.end()));
}
Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }

void display() {
    using namespace protocol;
    int i = 0;
    auto add = [&](const Message& m) { put("display", "msg" + std::to_string(i++), encode(m)); };
    add(Hello{kDisplayVersion, "eyJ0aWQiOiIxIn0.c2ln"});
    add(Key{true, 30});
    add(Pointer{100, 200, 1});
    add(Wheel{0, -120});
    add(FrameAck{7, 1500});
    add(KeyframeRequest{});
    add(Logoff{});
    add(ResizeRequest{1280, 800});
    add(ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1024, 0, 800, 600}}, 1});  // a monitor layout
    add(Clipboard{"hello \xc3\xa9", true});
    add(Clipboard{std::string("\x89PNG\r\n\x1a\n\xff", 9), false, true});  // a piece of an image
    add(Ping{3, 123456789});
    add(KeyChar{true, 0x20AC, 18});
    add(ServerHello{kDisplayVersion, 1280, 800, "s-1"});
    add(VideoFrame{9, true, 64, 48, 1000, {{0, 0, 16, 16}}, {0, 0, 0, 1, 0x65, 0x88}, 32, 24});
    add(TileFrame{10, 64, 48, {{0, 0, 16, 16, 0, 16}}, {{0, 0, 16, 16, TileEncoding::png, {0x89, 'P', 'N', 'G'}}}});
    add(TileFrame{11, 64, 48, {}, {{0, 0, 2, 2, TileEncoding::palette, {1, 0, 0, 0, 9, 9, 9, 0, 0x40, 0x80}}}});
    add(Resize{1024, 768});
    add(SessionEnded{EndReason::logged_off, "bye"});
    add(ErrorMsg{ErrorCode::ticket_expired, "ticket expired"});
    add(ClipboardData{"text", false});
    add(ClipboardData{std::string("\x89PNG\r\n\x1a\n", 8), true, true});
    add(CursorShape{5, 1, 1, 2, 2, Bytes(16, 0xff)});
    add(Pong{3, 123456789});
    add(RelativePointer{-12, 7, 1});
    add(PointerMode{true});
}

void control() {
    using namespace protocol::control;
    int i = 0;
    auto add = [&](const Message& m) { put("control", "msg" + std::to_string(i++), serialize(m)); };
    add(Register{kVersion, "host-1", "Host 1", "s3cret", "wss://127.0.0.1:7443", "ab12", {"*"}, 8, {"debian"}, "tcg"});
    add(Registered{"AAAA"});
    StartSession s;
    s.request_id = 4, s.session_id = "s-1", s.user = "alice", s.app = {"term", "Terminal", {"xterm", "-fa", "Mono"}};
    s.width = 1280, s.height = 800, s.scale = 1.5;
    add(s);
    s.app = {}, s.desktop = DesktopSpec{"pool-1", "debian", "pooled", 1024, 2};
    add(s);
    add(SessionReady{4, "s-1"});
    add(SessionFailed{4, "s-1", "no such app"});
    add(EndSession{"s-1"});
    add(SessionEnded{"s-1", "app_exited"});
    add(Heartbeat{2, 0.25, 0.5, {{"s-1", 30}}});
    add(ErrorMsg{"bad message"});
    add(SessionState{"s-1", "active"});
    add(DisconnectSession{"s-1"});
    add(Pools{{{"pool-1", "debian", "pooled", 1, 512, 1}}});
    add(SessionStats{{{"s-1", 30.0, 1200.0, 2.5, 4.0, 30.0, 0, 1}}});
}

void ticket() {
    auto key = crypto::Ed25519Key::generate();
    protocol::TicketClaims c{"t-1", "s-1", "alice", "host-1", "term", 1'700'000'030, false};
    put("ticket", "token", cat({str(protocol::sign_ticket(c, key)), {0}}));
    put("ticket", "payload",
        R"({"tid":"t-2","sid":"s-1","usr":"alice","hst":"host-1","res":"term","exp":1700000030,"view_only":true})"
        "\x01");
    put("ticket", "claims",
        cat({str("\x03t-3\x03s-1\x05"
                 "alice\x01\x04term"),
             {10, 1, 0, 2}}));
}

void launch_file() {
    protocol::LaunchFile f;
    f.broker = "https://127.0.0.1:8443";
    f.broker_cert_sha256 = crypto::sha256_hex(crypto::bytes_of("a certificate"));
    f.resource = "terminal";
    f.expires_at = 1'700'000'060;
    f.token = crypto::random_token(32);
    put("launch_file", "new", protocol::format_launch_file(f));
    put("launch_file", "link", protocol::format_launch_url(f));  // fuzz_launch_file reads links too
    f.session = "s-1";
    std::string crlf;
    for (char c : protocol::format_launch_file(f)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    put("launch_file", "reconnect-crlf", crlf);
}

void http() {
    auto req = [](const std::string& head, const std::string& body) {
        return "\x40" + head +
               "Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    };
    put("http", "login", req("POST /api/v1/login HTTP/1.1\r\n", R"({"username":"admin","password":"pw"})"));
    put("http", "enroll",
        req("POST /api/v1/enroll HTTP/1.1\r\n",
            R"({"token":"abc","host_id":"host-1","csr_pem":"-----BEGIN CERTIFICATE REQUEST-----\n"})"));
    put("http", "launch",
        req("POST /api/v1/launch HTTP/1.1\r\nCookie: portico_session=x\r\n",
            R"({"resource":"term","width":1280,"height":800,"scale":1.25})"));
    put("http", "users", req("POST /api/v1/users HTTP/1.1\r\n", R"({"name":"bob","role":"user","password":"pw"})"));
    put("http", "pools", req("PATCH /api/v1/pools/p1 HTTP/1.1\r\n", R"({"size":2,"spares":1,"memory_mib":512})"));
    put("http", "apps_ents",
        req("PUT /api/v1/apps/term/entitlements HTTP/1.1\r\n",
            R"({"entitlements":[{"user":"bob"},{"group":"staff"}]})"));
    put("http", "get", std::string("\x10") + "GET /api/v1/sessions?limit=10&before=99 HTTP/1.1\r\nHost: x\r\n\r\n");
    put("http", "chunked",
        std::string("\x30") +
            "POST /api/v1/groups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n9\r\n{\"name\":\"\r\n7\r\nstaff\"}\r\n0\r\n\r\n");
}

void rfb() {
    auto be16 = [](int v) { return Bytes{std::uint8_t(v >> 8), std::uint8_t(v)}; };
    auto be32 = [](std::uint32_t v) {
        return Bytes{std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)};
    };
    Bytes pixel_format = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
    Bytes handshake =
        cat({str("RFB 003.008\n"), {1, 1}, be32(0), be16(64), be16(48), pixel_format, be32(4), str("QEMU")});
    Bytes raw = cat({{0, 0}, be16(1), be16(2), be16(3), be16(4), be16(2), be32(0), Bytes(4 * 2 * 4, 0x7f)});
    Bytes copy = cat({{0, 0}, be16(1), be16(10), be16(10), be16(8), be16(8), be32(1), be16(0), be16(0)});
    Bytes resize = cat({{0, 0},
                        be16(2),
                        be16(0),
                        be16(0),
                        be16(80),
                        be16(60),
                        be32(std::uint32_t(-223)),
                        be16(0),
                        be16(0),
                        be16(0),
                        be16(0),
                        be32(std::uint32_t(-258))});
    Bytes misc = cat({{2}, {3, 0, 0, 0}, be32(3), str("abc"), {1, 0}, be16(0), be16(1), Bytes(6, 0)});
    // Records: a length byte (its low bits also pick a client action), then that many bytes.
    auto records = [](const Bytes& stream, std::size_t piece) {
        Bytes out;
        for (std::size_t i = 0; i < stream.size(); i += piece) {
            auto n = std::min(piece, stream.size() - i);
            out.push_back(std::uint8_t(n));
            out.insert(out.end(), stream.begin() + long(i), stream.begin() + long(i + n));
        }
        return out;
    };
    put("rfb", "handshake", records(handshake, 255));
    put("rfb", "raw_update", records(cat({handshake, raw}), 13));
    put("rfb", "copy_resize", records(cat({handshake, copy, resize}), 250));
    put("rfb", "misc", records(cat({handshake, misc, raw}), 7));
    put("rfb", "refused", records(cat({str("RFB 003.008\n"), {0}, be32(6), str("denied")}), 255));
}

void packages() {
    using namespace pack;
    auto key = crypto::Ed25519Key::generate();
    Manifest m;
    m.name = "hello";
    m.entries = {{"hello", "/usr/bin/hello"}};
    m.isolation = "writecopy";
    m.publisher = "Portico tests";
    m.loader = "/lib64/ld-linux-x86-64.so.2";
    m.library_path = {"/usr/lib", "/lib"};
    m.created = "2026-12-02T00:00:00Z";
    const std::string content = "#!/bin/sh\necho hello\n";
    ChunkRef c;
    auto digest = crypto::sha256_hex(crypto::bytes_of(content));
    for (int i = 0; i < 32; ++i) c.hash[i] = std::uint8_t(std::stoi(digest.substr(i * 2, 2), nullptr, 16));
    c.offset = 0, c.comp_size = content.size(), c.raw_size = content.size();
    std::vector<FileEntry> files = {{"usr", EntryType::dir, 0755},
                                    {"usr/bin", EntryType::dir, 0755},
                                    {"usr/bin/hello", EntryType::file, 0755, 0, content.size()},
                                    {"usr/bin/hi", EntryType::symlink, 0777, 0, 0, "hello"},
                                    {"etc/removed.conf", EntryType::whiteout, 0}};
    const Bytes chunks(content.begin(), content.end());
    const Bytes runtime =
        str("\x7f"
            "ELF-not-really-a-runtime");
    auto pkg = assemble_package({}, m, {c}, files, chunks, key);
    auto with_rt = assemble_package(runtime, m, {c}, files, chunks, key);
    put("runtime_package", "package", pkg);
    put("runtime_package", "package_with_runtime", with_rt);
    put("package", "package", cat({{0}, pkg}));
    put("package", "trailer", cat({{1}, Bytes(pkg.end() - long(kTrailerSize), pkg.end())}));
    m.publisher_fpr = key_fingerprint(key.public_raw());
    put("package", "manifest", cat({{2}, str(m.to_json())}));
    Bytes len(8);
    for (int i = 0; i < 8; ++i) len[i] = std::uint8_t(chunks.size() >> (8 * i));
    put("package", "table", cat({{3}, len, {1}, encode_table({c}, files)}));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    display();
    control();
    ticket();
    launch_file();
    http();
    rfb();
    packages();
    return 0;
}
