#pragma once
// ClientError: the kinds of failure the native client distinguishes, and the one place that maps
// them to process exit codes. Used by every client piece from the client's single thread.

#include "common/result.hpp"

#include <variant>

namespace portico::client {

enum class ClientError {
    usage,      // bad command line
    refused,    // the broker or host said no: login 401, launch error, ticket refused
    network,    // could not connect, TLS failure, timeout, connection lost
    protocol,   // the peer sent something that breaks the protocol
    decode,     // frames arrived but none could be decoded
    cancelled,  // the user cancelled the login dialog
};

template <class T>
using ClientResult = Result<T, ClientError>;
using Status = ClientResult<std::monostate>;

inline Status ok() { return Status(std::monostate{}); }
inline Error<ClientError> fail(ClientError code, std::string message) { return {code, std::move(message)}; }

// Exit codes documented in `portico-client --help`.
inline int exit_code(ClientError e) {
    switch (e) {
        case ClientError::usage: return 2;
        case ClientError::refused: return 3;
        case ClientError::network: return 4;
        case ClientError::protocol: return 4;
        case ClientError::decode: return 5;
        case ClientError::cancelled: return 6;
    }
    return 4;
}

}  // namespace portico::client
