// Session history and the audit of launches and ends (issue 16): the end reason and usage kept with
// a session's row, the command-line parser of apps, the CSV export; pure parts directly, the rest
// through a real broker over real TLS with a fake host.

#include "broker/command_line.hpp"
#include "broker/csv.hpp"
#include "broker/live_stats.hpp"
#include "broker/store.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using json = nlohmann::json;
using portico::broker::CommandLineError;
using portico::broker::HistoryFilter;
using portico::broker::SessionRecord;
using portico::broker::SessionState;
using test::http::verb;

namespace {

using Argv = std::vector<std::string>;

Argv split_ok(std::string_view line) {
    auto r = portico::broker::split_command_line(line);
    INFO(std::string(line) << " -> " << (r ? "" : r.error().message));
    REQUIRE(r);
    return r.value();
}

json get_json(const test::BrokerFixture& b, const std::string& path, const std::string& cookie) {
    auto r = test::request(b, verb::get, path, "", cookie);
    INFO(path << ": " << r.status << " " << r.body);
    REQUIRE(r.status == 200);
    return r.json();
}

// The audit entries with this action and target, newest first.
std::vector<json> audit_of(const test::BrokerFixture& b, const std::string& cookie, const std::string& action,
                           const std::string& target) {
    std::vector<json> out;
    for (auto& e : get_json(b, "/api/v1/audit?action=" + action, cookie))
        if (e["target"] == target) out.push_back(e);
    return out;
}

SessionRecord session(std::string id, std::string user, std::string host, std::int64_t created_at) {
    SessionRecord s;
    s.id = std::move(id);
    s.user = std::move(user);
    s.resource = "terminal";
    s.host_id = std::move(host);
    s.state = SessionState::active;
    s.width = 800;
    s.height = 600;
    s.created_at = created_at;
    return s;
}

}  // namespace

TEST_CASE("command line: words, quotes and escapes as a shell splits them", "[broker][command]") {
    CHECK(split_ok("xterm") == Argv{"xterm"});
    CHECK(split_ok("  xcalc   -stipple\t-bg red  ") == Argv{"xcalc", "-stipple", "-bg", "red"});
    CHECK(split_ok(R"(gedit "My Documents/a b.txt")") == Argv{"gedit", "My Documents/a b.txt"});
    CHECK(split_ok(R"(sh -c 'echo "$HOME" \n')") == Argv{"sh", "-c", R"(echo "$HOME" \n)"});
    CHECK(split_ok(R"(echo "say \"hi\" \\ \$x \n")") == Argv{"echo", R"(say "hi" \ $x \n)"});
    CHECK(split_ok(R"(a\ b c\'d)") == Argv{"a b", "c'd"});
    CHECK(split_ok(R"(x "" '' y)") == Argv{"x", "", "", "y"});
    CHECK(split_ok(R"(pre"mid dle"'post fix')") == Argv{"premid dlepost fix"});
    CHECK(split_ok("firefox --url=https://example.org/?q=1&r=2") ==
          Argv{"firefox", "--url=https://example.org/?q=1&r=2"});
}

TEST_CASE("command line: bad input is an error that says where", "[broker][command]") {
    auto error_of = [](std::string_view line) {
        auto r = portico::broker::split_command_line(line);
        REQUIRE_FALSE(r);
        return r.error();
    };
    auto e = error_of(R"(gedit "unterminated)");
    CHECK(e.code == CommandLineError::unterminated_quote);
    CHECK(e.message == "the double quote at position 7 is never closed");
    CHECK(error_of("echo 'a b").code == CommandLineError::unterminated_quote);
    CHECK(error_of(R"(echo "a \" b)").code ==
          CommandLineError::unterminated_quote);  // the escaped quote does not close
    CHECK(error_of("echo a\\").code == CommandLineError::trailing_backslash);
    CHECK(error_of("").code == CommandLineError::empty);
    CHECK(error_of(" \t ").code == CommandLineError::empty);
    CHECK(error_of("echo a\nrm -rf /").code == CommandLineError::control_character);
    CHECK(error_of(std::string_view("a\0b", 3)).code == CommandLineError::control_character);
}

TEST_CASE("command line: join quotes what needs it and splits back to the same words", "[broker][command]") {
    using portico::broker::join_command_line;
    CHECK(join_command_line({"xcalc", "-stipple"}) == "xcalc -stipple");
    CHECK(join_command_line({"gedit", "a b.txt"}) == "gedit 'a b.txt'");
    CHECK(join_command_line({"echo", "it's", ""}) == R"(echo 'it'\''s' '')");
    for (const Argv& argv : {Argv{"sh", "-c", "echo \"$HOME\" 'x' \\ `y`"}, Argv{"a\tb", "*", "~", "#c", ";", "|"}})
        CHECK(split_ok(join_command_line(argv)) == argv);
}

TEST_CASE("csv: commas, quotes and newlines are quoted, formulas stay text", "[broker][csv]") {
    using portico::broker::csv_field;
    using portico::broker::csv_line;
    CHECK(csv_field("plain text") == "plain text");
    CHECK(csv_field("a,b") == "\"a,b\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field("two\nlines") == "\"two\nlines\"");
    CHECK(csv_field("cr\r") == "\"cr\r\"");
    CHECK(csv_field("") == "");
    CHECK(csv_field("-") == "-");  // the audit's system actor
    CHECK(csv_field("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"");
    CHECK(csv_field("+1") == "'+1");
    CHECK(csv_field("@SUM(A1)") == "'@SUM(A1)");
    CHECK(csv_line({"1", "a,b", ""}) == "1,\"a,b\",\r\n");
}

TEST_CASE("live stats: usage adds up bytes and averages over the time with viewers", "[broker][stats]") {
    namespace control = portico::protocol::control;
    portico::broker::LiveStats live(10);
    auto report = [&](const std::string& host, double kbps, double fps, std::optional<double> rtt, std::int64_t at) {
        control::StreamStats st;
        st.session_id = "s1";
        st.kbps = kbps;
        st.fps = fps;
        st.rtt_ms = rtt;
        live.update(host, control::SessionStats{{st}}, at);
    };
    report("h1", 800, 30, 10.0, 1000);          // the first report stands for one 2 s period: 200 kB
    report("h1", 800, 10, std::nullopt, 1002);  // 2 s more: 200 kB
    auto u = live.usage("s1");
    CHECK(u.bytes_sent == 400000);
    REQUIRE(u.avg_fps);
    CHECK(*u.avg_fps == Approx(20.0));
    REQUIRE(u.avg_rtt_ms);
    CHECK(*u.avg_rtt_ms == Approx(10.0));  // only reports that had the figure
    report("h2", 8000, 60, 1.0, 1003);     // another host's report of the id does not count
    CHECK(live.usage("s1").bytes_sent == 400000);
    report("h1", 80, 5, 20.0, 1100);  // after a gap without viewers: one period again, not 98 s
    CHECK(live.usage("s1").bytes_sent == 420000);
    live.drop("s1");  // the figures go, the usage stays until taken
    CHECK(live.take_usage("s1").bytes_sent == 420000);
    CHECK(live.usage("s1").bytes_sent == 0);
    CHECK_FALSE(live.take_usage("s1").avg_fps);
    // A report after its session ended (a late one) is forgotten by the next reconciliation.
    report("h1", 800, 30, 10.0, 1200);
    live.retain_usage({"s2"});
    CHECK(live.usage("s1").bytes_sent == 0);
}

TEST_CASE("store: history keeps the end reason, who ended it and usage, pages by end time",
          "[broker][store][history]") {
    test::TempDir dir;
    auto sp = portico::broker::open_store((dir.path / "p.db").string());
    auto& s = *sp;
    CHECK(s.schema_version() == 7);
    s.create_user("alice", "x", 1);
    s.create_user("bob", "x", 1);
    for (int i = 0; i < 5; ++i)
        s.create_session(session("s" + std::to_string(i), i % 2 ? "bob" : "alice", "h1", 100 + i));
    // The first cause recorded wins: the admin's log off, not the host's later report.
    s.set_end_reason("s0", "admin_logoff", "admin");
    s.set_end_reason("s0", "user_logoff", "");
    REQUIRE(s.set_session_state("s0", SessionState::ended, 200));
    s.set_session_usage("s0", {123456, 24.5, 3.25});
    s.set_end_reason("s1", "app_exited", "");
    REQUIRE(s.set_session_state("s1", SessionState::ended, 200));
    s.set_end_reason("s2", "idle_timeout", "");
    REQUIRE(s.set_session_state("s2", SessionState::ended, 300));
    // Lost with its host: host_lost; s3 is live on another host.
    s.create_session(session("s9", "bob", "h2", 150));
    auto lost = s.lose_sessions_of_host("h1", 400);
    CHECK(lost.size() == 2);  // s3 and s4
    CHECK(s.session("s3")->end_reason == "host_lost");

    auto all = s.session_history(HistoryFilter{});
    std::vector<std::string> ids;
    for (auto& r : all) ids.push_back(r.id);
    CHECK(ids == std::vector<std::string>{"s4", "s3", "s2", "s1", "s0"});  // by end time, then id, newest first
    auto s0 = s.session("s0");
    CHECK(s0->end_reason == "admin_logoff");
    CHECK(s0->ended_by == "admin");
    CHECK(s0->ended_at == 200);
    CHECK(s0->usage.bytes_sent == 123456);
    CHECK(s0->usage.avg_fps == 24.5);
    CHECK(s0->usage.avg_rtt_ms == 3.25);
    CHECK_FALSE(s.session("s1")->usage.avg_fps);  // never reported: unknown, not 0

    // Paging: the cursor is the last row's (ended_at, id), ties at the same second included.
    HistoryFilter f;
    f.limit = 3;
    auto page1 = s.session_history(f);
    REQUIRE(page1.size() == 3);
    f.before_ended_at = page1.back().ended_at;
    f.before_id = page1.back().id;
    auto page2 = s.session_history(f);
    REQUIRE(page2.size() == 2);
    CHECK(page2[0].id == "s1");
    CHECK(page2[1].id == "s0");
    f = HistoryFilter{};
    f.user = "bob";
    CHECK(s.session_history(f).size() == 2);  // s1, s3 (s9 is live)
}

TEST_CASE("history: a launch and its end are audited and the ended session is in the history", "[broker][history]") {
    test::BrokerFixture b;
    auto demo = test::login(b);
    auto admin = test::login_as(b, "admin");
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin);
    auto r = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(r.status == 200);
    auto sid = r.json().at("session_id").get<std::string>();

    auto launches = audit_of(b, admin, "session.launch", sid);
    REQUIRE(launches.size() == 1);
    CHECK(launches[0]["actor"] == "demo");
    CHECK(launches[0]["detail"] == "user demo, resource terminal, host host-1");
    CHECK(launches[0]["from"] == "127.0.0.1");

    // Two reports of the stream, then the app exits.
    for (double kbps : {400.0, 800.0}) {
        host.send(
            {{"type", "session_stats"},
             {"stats",
              json::array({{{"session_id", sid}, {"fps", 20.0}, {"kbps", kbps}, {"rtt_ms", 4.0}, {"viewers", 1}}})}});
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    }
    REQUIRE(test::eventually(
        [&] { return get_json(b, "/api/v1/sessions/" + sid, admin)["bytes_sent"].get<std::int64_t>() > 0; }));
    host.send({{"type", "session_ended"}, {"session_id", sid}, {"reason", "app_exited"}});
    REQUIRE(test::eventually([&] { return get_json(b, "/api/v1/sessions/" + sid, admin)["state"] == "ended"; }));

    auto history = get_json(b, "/api/v1/sessions/history?scope=all", admin);
    REQUIRE(history.size() == 1);
    auto& h = history[0];
    CHECK(h["id"] == sid);
    CHECK(h["user"] == "demo");
    CHECK(h["resource_name"] == "Terminal");
    CHECK(h["host"] == "host-1");
    CHECK(h["end_reason"] == "app_exited");
    CHECK(h["ended_by"] == "");
    CHECK(h["ended_at"].get<std::int64_t>() >= h["created_at"].get<std::int64_t>());
    // 400 kbit/s for the first report period (2 s) and 800 for the whole seconds until the second
    // (1.1 s apart: 1 or 2 s on the broker's clock; up to 4 s on a machine slow to deliver them).
    CHECK(h["bytes_sent"].get<std::int64_t>() >= 100000 + 100000);
    CHECK(h["bytes_sent"].get<std::int64_t>() <= 100000 + 400000);
    CHECK(h["avg_fps"] == 20.0);
    CHECK(h["avg_rtt_ms"] == 4.0);
    CHECK(h["stats"].is_null());
    // The user sees their own history; the live list leaves it out.
    CHECK(get_json(b, "/api/v1/sessions/history", demo).size() == 1);
    CHECK(get_json(b, "/api/v1/sessions?scope=all", admin).empty());

    auto ends = audit_of(b, admin, "session.end", sid);
    REQUIRE(ends.size() == 1);
    CHECK(ends[0]["actor"] == "-");
    auto detail = ends[0]["detail"].get<std::string>();
    CHECK(detail.rfind("user demo, resource terminal, host host-1, reason app_exited, duration ", 0) == 0);
}

TEST_CASE("history: an admin's log off is the end reason, with who, bad paging is 400", "[broker][history]") {
    test::BrokerFixture b;
    auto demo = test::login(b);
    auto admin = test::login_as(b, "admin");
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin);
    auto first =
        test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo).json()["session_id"].get<std::string>();
    // The fake host answers end_session with session_ended "logged_off": the admin's reason stays.
    REQUIRE(test::post(b, "/api/v1/sessions/" + first + "/logoff", json::object(), admin).status == 204);
    REQUIRE(test::eventually([&] { return get_json(b, "/api/v1/sessions/" + first, admin)["state"] == "ended"; }));
    auto second =
        test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo).json()["session_id"].get<std::string>();
    REQUIRE(test::post(b, "/api/v1/sessions/" + second + "/logoff", json::object(), demo).status == 204);
    REQUIRE(test::eventually([&] { return get_json(b, "/api/v1/sessions/" + second, admin)["state"] == "ended"; }));

    auto s1 = get_json(b, "/api/v1/sessions/" + first, admin);
    CHECK(s1["end_reason"] == "admin_logoff");
    CHECK(s1["ended_by"] == "admin");
    auto s2 = get_json(b, "/api/v1/sessions/" + second, admin);
    CHECK(s2["end_reason"] == "user_logoff");
    CHECK(s2["ended_by"] == "demo");
    auto end1 = audit_of(b, admin, "session.end", first);
    REQUIRE(end1.size() == 1);
    CHECK(end1[0]["actor"] == "admin");
    CHECK(end1[0]["detail"].get<std::string>().find("reason admin_logoff") != std::string::npos);

    // Paging by the last row.
    auto page1 = get_json(b, "/api/v1/sessions/history?scope=all&limit=1", admin);
    REQUIRE(page1.size() == 1);
    auto page2 = get_json(b,
                          "/api/v1/sessions/history?scope=all&limit=1&before=" + page1[0]["ended_at"].dump() +
                              "&before_id=" + page1[0]["id"].get<std::string>(),
                          admin);
    REQUIRE(page2.size() == 1);
    CHECK(page2[0]["id"] != page1[0]["id"]);

    test::check_error(test::request(b, verb::get, "/api/v1/sessions/history?before=soon", "", admin), 400,
                      "bad_request");
    test::check_error(test::request(b, verb::get, "/api/v1/sessions/history?before_id=x", "", admin), 400,
                      "bad_request");
    test::check_error(test::request(b, verb::get, "/api/v1/sessions/history?limit=0", "", admin), 400, "bad_request");
    test::check_error(test::request(b, verb::get, "/api/v1/sessions/history?scope=all", "", demo), 403, "forbidden");
    test::check_error(test::request(b, verb::delete_, "/api/v1/sessions/history", "", admin), 405,
                      "method_not_allowed");
}

TEST_CASE("audit: exported as CSV, escaped, and group changes say who", "[broker][audit]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    REQUIRE(test::post(b, "/api/v1/groups", {{"name", "helpdesk"}, {"members", {"demo", "admin"}}}, admin).status ==
            201);
    // An app name with a comma, quotes and a newline lands in an audit detail.
    REQUIRE(
        test::post(b, "/api/v1/apps", {{"id", "odd"}, {"name", "Odd, \"quoted\"\nname"}, {"command", {"xterm"}}}, admin)
            .status == 201);
    auto j = get_json(b, "/api/v1/audit?action=group.create", admin);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["detail"] == "members demo, admin");

    auto r = test::request(b, verb::get, "/api/v1/audit?format=csv", "", admin);
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"] == "text/csv; charset=utf-8");
    CHECK(r.headers["content-disposition"] == "attachment; filename=\"portico-audit.csv\"");
    CHECK(r.headers["cache-control"] == "no-store");
    CHECK(r.body.rfind("id,time,actor,action,target,from,detail\r\n", 0) == 0);
    CHECK(r.body.find(",admin,app.create,odd,127.0.0.1,\"Odd, \"\"quoted\"\"\nname\"\r\n") != std::string::npos);
    CHECK(r.body.find(",admin,group.create,helpdesk,127.0.0.1,\"members demo, admin\"\r\n") != std::string::npos);
    // The same filters as JSON.
    auto one = test::request(b, verb::get, "/api/v1/audit?format=csv&action=group.create", "", admin).body;
    CHECK(std::count(one.begin(), one.end(), '\n') == 2);  // header and one row
    test::check_error(test::request(b, verb::get, "/api/v1/audit?format=xml", "", admin), 400, "bad_request");
    test::check_error(test::request(b, verb::get, "/api/v1/audit?format=csv", "", test::login(b)), 403, "forbidden");
}

TEST_CASE("apps: a command line with quotes is split by the broker, bad quoting is 400", "[broker][command][rest]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto r = test::post(
        b, "/api/v1/apps",
        {{"id", "notes"}, {"name", "Notes"}, {"command_line", R"(gedit "My Notes/a b.txt" --new-window)"}}, admin);
    REQUIRE(r.status == 201);
    CHECK(r.json()["command"] == json::array({"gedit", "My Notes/a b.txt", "--new-window"}));
    CHECK(r.json()["command_line"] == "gedit 'My Notes/a b.txt' --new-window");
    auto p = test::request(b, verb::patch, "/api/v1/apps/notes", json{{"command_line", "gedit 'it''s'"}}.dump(), admin);
    REQUIRE(p.status == 200);
    CHECK(p.json()["command"] == json::array({"gedit", "its"}));

    auto bad =
        test::request(b, verb::patch, "/api/v1/apps/notes", json{{"command_line", "gedit \"oops"}}.dump(), admin);
    test::check_error(bad, 400, "bad_request");
    CHECK(bad.json()["error"]["message"] == "field 'command_line': the double quote at position 7 is never closed");
    CHECK(test::request(b, verb::get, "/api/v1/apps/notes", "", admin).json()["command"] ==
          json::array({"gedit", "its"}));  // unchanged
    test::check_error(test::post(b, "/api/v1/apps", {{"id", "x"}, {"name", "X"}, {"command_line", "   "}}, admin), 400,
                      "bad_request");
    test::check_error(test::post(b, "/api/v1/apps", {{"id", "x"}, {"name", "X"}}, admin), 400, "bad_request");
    test::check_error(
        test::post(b, "/api/v1/apps", {{"id", "x"}, {"name", "X"}, {"command", {"a"}}, {"command_line", "a"}}, admin),
        400, "bad_request");
}
