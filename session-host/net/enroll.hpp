#pragma once
// Host enrollment (`portico-host --enroll TOKEN`): generates the host's control-channel key and a
// CSR, exchanges them with a one-time token for a certificate from the broker's CA
// (POST /api/v1/enroll), and stores both in the state directory. Start-up only: blocks, throws.

#include <string>

namespace portico::host {

struct ClientCertPaths {
    std::string cert, key;
    static ClientCertPaths in(const std::string& state_dir);
    bool exist() const;
};

// broker_url is the control URL (wss://host:port/...); the enroll request goes to the same
// host and port over HTTPS, trusting only `ca_file`.
void enroll_host(const std::string& broker_url, const std::string& ca_file, const std::string& host_id,
                 const std::string& token, const ClientCertPaths& out);

}  // namespace portico::host
