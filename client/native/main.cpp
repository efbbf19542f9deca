// portico-client: the native thin client. This build is headless only (see --help).
#include "client/native/headless.hpp"

int main(int argc, char** argv) { return portico::client::client_main(argc, argv); }
