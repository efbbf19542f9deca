// libFuzzer target: the display channel decoder (protocol/display.hpp), which reads every message a
// client or host sends over the display WebSocket. Beyond "no crash, no UB, no leak": whatever
// decode() accepts must re-encode to bytes that decode to a message encoding identically.

#include "fuzz_check.hpp"
#include "protocol/display.hpp"

#include <cstddef>
#include <cstdint>

using namespace portico::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto decoded = decode({data, size});
    if (!decoded) {
        FUZZ_CHECK(!decoded.error().message.empty(), "a refusal says why");
        return 0;
    }
    auto bytes = encode(decoded.value());
    FUZZ_CHECK(!bytes.empty() && bytes[0] == data[0], "re-encoding keeps the message type");
    auto again = decode(bytes);
    FUZZ_CHECK(again.ok(), "what decode() accepted re-encodes to something decode() accepts");
    FUZZ_CHECK(encode(again.value()) == bytes, "encode(decode(encode(m))) == encode(m)");
    return 0;
}
