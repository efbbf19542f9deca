#pragma once
// FUZZ_CHECK: a property every fuzz target asserts beyond "no crash" (e.g. what decode() accepted
// re-encodes to the same bytes). A violated property aborts, which libFuzzer reports as a crash
// and saves the input. Called on libFuzzer's thread only.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                       \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, what); \
            std::abort();                                                                            \
        }                                                                                            \
    } while (0)
