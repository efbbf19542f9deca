// The broker's vocabularies (broker/states.hpp): text forms at the boundaries, is_live.

#include "broker/states.hpp"

#include <catch2/catch.hpp>

#include <string>

using portico::broker::Role;
using portico::broker::SessionState;

TEST_CASE("session states: every state round-trips through its text form", "[broker][states][unit]") {
    for (auto s : {SessionState::starting, SessionState::active, SessionState::disconnected, SessionState::ending,
                   SessionState::ended, SessionState::lost}) {
        auto text = std::string(to_string(s));
        auto back = portico::broker::parse_session_state(text);
        REQUIRE(back);
        CHECK(*back == s);
    }
    CHECK(std::string(to_string(SessionState::disconnected)) == "disconnected");
    // The store's columns and the REST API use exactly these names: nothing else parses.
    CHECK_FALSE(portico::broker::parse_session_state("Active"));
    CHECK_FALSE(portico::broker::parse_session_state("active "));
    CHECK_FALSE(portico::broker::parse_session_state(""));
    CHECK_FALSE(portico::broker::parse_session_state("up"));
}

TEST_CASE("session states: only ended and lost are not live, only active and disconnected reconnect",
          "[broker][states][unit]") {
    using portico::broker::is_live;
    using portico::broker::is_reconnectable;
    CHECK(is_live(SessionState::starting));
    CHECK(is_live(SessionState::active));
    CHECK(is_live(SessionState::disconnected));
    CHECK(is_live(SessionState::ending));  // asked to end, the host has not confirmed: still counts
    CHECK_FALSE(is_live(SessionState::ended));
    CHECK_FALSE(is_live(SessionState::lost));
    CHECK(is_reconnectable(SessionState::active));
    CHECK(is_reconnectable(SessionState::disconnected));
    CHECK_FALSE(is_reconnectable(SessionState::starting));
    CHECK_FALSE(is_reconnectable(SessionState::ending));
    CHECK_FALSE(is_reconnectable(SessionState::ended));
}

TEST_CASE("roles: text forms, and who is staff", "[broker][states][unit]") {
    for (auto r : {Role::admin, Role::helpdesk, Role::user}) {
        auto back = portico::broker::parse_role(to_string(r));
        REQUIRE(back);
        CHECK(*back == r);
    }
    CHECK(std::string(to_string(Role::helpdesk)) == "helpdesk");
    CHECK_FALSE(portico::broker::parse_role("root"));
    CHECK_FALSE(portico::broker::parse_role("Admin"));
    CHECK(portico::broker::is_staff(Role::admin));
    CHECK(portico::broker::is_staff(Role::helpdesk));
    CHECK_FALSE(portico::broker::is_staff(Role::user));
}
