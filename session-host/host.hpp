#pragma once
// The portico-host process: wires the display server, the broker link and the session manager
// to one io_context (2 network threads) and runs until SIGINT/SIGTERM. Called from main().

#include "session-host/host_options.hpp"

namespace portico::host {

// Returns the process exit status. Start-up failures are logged and return 1.
int run_host(const HostOptions& options);

}  // namespace portico::host
