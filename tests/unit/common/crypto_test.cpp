// Crypto helpers the protocol relies on: base64 variants, SHA-256, Ed25519, Argon2id passwords.
#include "common/crypto.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace portico::crypto;

TEST_CASE("base64 and base64url round trip and reject garbage", "[crypto]") {
    for (std::size_t n = 0; n < 40; ++n) {
        auto data = random_bytes(n);
        CHECK(*base64url_decode(base64url_encode(data)) == data);
        CHECK(*base64_decode(base64_encode(data)) == data);
    }
    CHECK(base64_encode(bytes_of("foob")) == "Zm9vYg==");
    CHECK(base64url_encode(std::vector<std::uint8_t>{0xfb, 0xff}) == "-_8");
    CHECK_FALSE(base64url_decode("a").has_value());
    CHECK_FALSE(base64url_decode("ab+c").has_value());
    CHECK_FALSE(base64url_decode("ab=").has_value());
}

TEST_CASE("sha256 matches a known vector", "[crypto]") {
    CHECK(sha256_hex(bytes_of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("Ed25519 keys sign, verify, persist", "[crypto]") {
    auto key = Ed25519Key::generate();
    auto sig = key.sign(bytes_of("hello"));
    CHECK(sig.size() == 64);
    CHECK(key.verify(bytes_of("hello"), sig));
    CHECK_FALSE(key.verify(bytes_of("hellp"), sig));
    auto pub = Ed25519Key::from_public_raw(key.public_raw());
    REQUIRE(pub);
    CHECK(pub->verify(bytes_of("hello"), sig));
    CHECK_FALSE(Ed25519Key::from_public_raw(std::vector<std::uint8_t>(31)).has_value());

    auto path = std::filesystem::temp_directory_path() / ("portico-key-" + random_token(6) + ".pem");
    key.save_private_pem(path.string());
    CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::group_all) ==
          std::filesystem::perms::none);
    auto loaded = Ed25519Key::load_private_pem(path.string());
    CHECK(loaded.public_raw() == key.public_raw());
    std::filesystem::remove(path);
}

TEST_CASE("passwords are hashed with Argon2id and verified", "[crypto]") {
    PasswordHashParams cheap{1, 8 * 1024, 1};  // keep the unit test fast; production uses the defaults
    auto h = hash_password("correct horse", cheap);
    CHECK(h.rfind("$argon2id$", 0) == 0);
    CHECK(verify_password("correct horse", h));
    CHECK_FALSE(verify_password("correct horsf", h));
    CHECK(hash_password("correct horse", cheap) != h);  // salted
    CHECK_FALSE(verify_password("x", "$2y$10$notargon"));
    CHECK_FALSE(verify_password("x", "$argon2id$garbage"));
}
