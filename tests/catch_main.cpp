// Catch2's implementation and main(), compiled once for every unit suite (portico_catch_main in
// tests/CMakeLists.txt) instead of once per suite: at -O2 -g it is one of the slowest files to compile.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
