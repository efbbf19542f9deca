// The three libsodium utilities its Ed25519 verifier calls. Defined here so that the linker does
// not pull libsodium's utils.o, whose sodium_malloc/randombytes references drag in sodium_init and
// with it every cipher of the library (+150 KB in every package).
#include <stddef.h>
#include <string.h>

void sodium_memzero(void* p, size_t n) { explicit_bzero(p, n); }

int sodium_memcmp(const void* a, const void* b, size_t n) {
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return (1 & ((d - 1) >> 8)) - 1;  // constant time: 0 if equal, -1 otherwise
}

int sodium_is_zero(const unsigned char* p, size_t n) {
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= p[i];
    return 1 & ((d - 1) >> 8);
}
