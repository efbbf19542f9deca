// portico-host: runs published applications on private X displays and streams them to clients.
#include "common/log.hpp"
#include "session-host/host.hpp"
#include "session-host/host_options.hpp"

#include <iostream>

int main(int argc, char** argv) {
    using namespace portico::host;
    HostOptions options;
    try {
        options = parse_host_options(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "portico-host: " << e.what() << "\n\n" << host_usage();
        return 2;
    }
    if (options.help) {
        std::cout << host_usage();
        return 0;
    }
    return run_host(options);
}
