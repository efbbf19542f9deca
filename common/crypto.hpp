#pragma once
// Small crypto helpers over OpenSSL 3 and libargon2: random ids, base64, SHA-256, Ed25519 keys
// (launch tickets) and memory-hard password hashing (Argon2id).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portico::crypto {

std::vector<std::uint8_t> random_bytes(std::size_t n);
std::string random_token(std::size_t bytes = 24);  // base64url, for ids, cookies, passwords

std::string base64url_encode(std::span<const std::uint8_t> data);
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);
std::string base64_encode(std::span<const std::uint8_t> data);
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

std::string sha256_hex(std::span<const std::uint8_t> data);
inline std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// An Ed25519 key pair (private key optional: a verifier holds only the public half).
class Ed25519Key {
public:
    static Ed25519Key generate();
    static Ed25519Key load_private_pem(const std::string& path);  // throws on failure
    static std::optional<Ed25519Key> from_public_raw(std::span<const std::uint8_t> raw32);
    Ed25519Key(Ed25519Key&&) noexcept;
    Ed25519Key& operator=(Ed25519Key&&) noexcept;
    ~Ed25519Key();

    void save_private_pem(const std::string& path) const;                     // mode 0600; throws on failure
    std::vector<std::uint8_t> public_raw() const;                             // 32 bytes
    std::vector<std::uint8_t> sign(std::span<const std::uint8_t> msg) const;  // 64 bytes
    bool verify(std::span<const std::uint8_t> msg, std::span<const std::uint8_t> sig) const;

private:
    explicit Ed25519Key(void* pkey) : pkey_(pkey) {}
    void* pkey_ = nullptr;  // EVP_PKEY*
};

// Argon2id with parameters chosen to cost tens of milliseconds and 64 MiB per hash; the encoded
// string carries its own parameters and salt, so they can be raised later without migrations.
struct PasswordHashParams {
    std::uint32_t t_cost = 2;
    std::uint32_t m_cost_kib = 64 * 1024;
    std::uint32_t parallelism = 1;
};
std::string hash_password(std::string_view password, const PasswordHashParams& p = {});
bool verify_password(std::string_view password, const std::string& encoded);

}  // namespace portico::crypto
