#include "common/crypto.hpp"

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace portico::crypto {

std::vector<std::uint8_t> random_bytes(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    if (n && RAND_bytes(out.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
    return out;
}

std::string random_token(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode_with(std::span<const std::uint8_t> d, const char* alphabet, bool pad) {
    std::string out;
    out.reserve((d.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < d.size(); i += 3) {
        std::uint32_t v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
    }
    std::size_t rest = d.size() - i;
    if (rest) {
        std::uint32_t v = d[i] << 16;
        if (rest == 2) v |= d[i + 1] << 8;
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        if (rest == 2) out.push_back(alphabet[(v >> 6) & 63]);
        if (pad) out.append(rest == 1 ? "==" : "=");
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> decode_with(std::string_view t, const char* alphabet, bool allow_pad) {
    if (allow_pad) {
        while (!t.empty() && t.back() == '=') t.remove_suffix(1);
    }
    if (t.size() % 4 == 1) return std::nullopt;
    int rev[256];
    for (int& r : rev) r = -1;
    for (int k = 0; k < 64; ++k) rev[static_cast<unsigned char>(alphabet[k])] = k;
    std::vector<std::uint8_t> out;
    out.reserve(t.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : t) {
        int v = rev[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    // Leftover bits must be zero, otherwise two texts would decode to the same bytes.
    if (bits && (acc & ((1u << bits) - 1))) return std::nullopt;
    return out;
}
}  // namespace

std::string base64url_encode(std::span<const std::uint8_t> d) { return encode_with(d, kB64Url, false); }
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view t) { return decode_with(t, kB64Url, false); }
std::string base64_encode(std::span<const std::uint8_t> d) { return encode_with(d, kB64, true); }
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view t) { return decode_with(t, kB64, true); }

std::string sha256_hex(std::span<const std::uint8_t> data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("sha256 failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}

// ---- Ed25519 ----

static EVP_PKEY* pk(void* p) { return static_cast<EVP_PKEY*>(p); }

Ed25519Key Ed25519Key::generate() {
    EVP_PKEY* key = nullptr;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) throw std::runtime_error("Ed25519 key generation failed");
    return Ed25519Key(key);
}

Ed25519Key Ed25519Key::load_private_pem(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) throw std::runtime_error("cannot open key file " + path);
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        throw std::runtime_error("not an Ed25519 private key: " + path);
    }
    return Ed25519Key(key);
}

std::optional<Ed25519Key> Ed25519Key::from_public_raw(std::span<const std::uint8_t> raw) {
    if (raw.size() != 32) return std::nullopt;
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
    if (!key) return std::nullopt;
    return Ed25519Key(key);
}

Ed25519Key::Ed25519Key(Ed25519Key&& o) noexcept : pkey_(o.pkey_) { o.pkey_ = nullptr; }
Ed25519Key& Ed25519Key::operator=(Ed25519Key&& o) noexcept {
    if (this != &o) {
        EVP_PKEY_free(pk(pkey_));
        pkey_ = o.pkey_;
        o.pkey_ = nullptr;
    }
    return *this;
}
Ed25519Key::~Ed25519Key() { EVP_PKEY_free(pk(pkey_)); }

void Ed25519Key::save_private_pem(const std::string& path) const {
    mode_t old = umask(077);
    FILE* f = std::fopen(path.c_str(), "w");
    umask(old);
    if (!f) throw std::runtime_error("cannot write key file " + path);
    bool ok = PEM_write_PrivateKey(f, pk(pkey_), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    if (!ok) throw std::runtime_error("cannot write key file " + path);
}

std::vector<std::uint8_t> Ed25519Key::public_raw() const {
    std::vector<std::uint8_t> out(32);
    std::size_t len = out.size();
    if (EVP_PKEY_get_raw_public_key(pk(pkey_), out.data(), &len) != 1 || len != 32)
        throw std::runtime_error("cannot export Ed25519 public key");
    return out;
}

std::vector<std::uint8_t> Ed25519Key::sign(std::span<const std::uint8_t> msg) const {
    std::vector<std::uint8_t> sig(64);
    std::size_t len = sig.size();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pk(pkey_)) == 1 &&
              EVP_DigestSign(ctx, sig.data(), &len, msg.data(), msg.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) throw std::runtime_error("Ed25519 signing failed");
    return sig;
}

bool Ed25519Key::verify(std::span<const std::uint8_t> msg, std::span<const std::uint8_t> sig) const {
    if (sig.size() != 64) return false;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk(pkey_)) == 1 &&
              EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

// ---- passwords ----

std::string hash_password(std::string_view password, const PasswordHashParams& p) {
    auto salt = random_bytes(16);
    std::size_t len = argon2_encodedlen(p.t_cost, p.m_cost_kib, p.parallelism, salt.size(), 32, Argon2_id);
    std::string encoded(len, '\0');
    int rc = argon2id_hash_encoded(p.t_cost, p.m_cost_kib, p.parallelism, password.data(), password.size(), salt.data(),
                                   salt.size(), 32, encoded.data(), encoded.size());
    if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2id failed: ") + argon2_error_message(rc));
    encoded.resize(encoded.find('\0'));
    return encoded;
}

bool verify_password(std::string_view password, const std::string& encoded) {
    if (encoded.rfind("$argon2id$", 0) != 0) return false;
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace portico::crypto
