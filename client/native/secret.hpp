#pragma once
// Wiping a secret (a password) from a string's memory once it has served: a password typed into
// the login dialog or read from --password-file should not linger in the process's heap, where
// a core dump or a swapped page would keep it. explicit_bzero, so the compiler cannot drop the
// writes to memory that is not read again.

#include <cstring>
#include <string>

namespace portico::client {

// Zeroes the whole buffer (also what earlier, longer contents left beyond the current size) and
// empties the string. resize() to the capacity reallocates nothing.
inline void wipe_secret(std::string& s) {
    s.resize(s.capacity());
    explicit_bzero(s.data(), s.size());
    s.clear();
}

}  // namespace portico::client
