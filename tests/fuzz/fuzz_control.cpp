// libFuzzer target: the control channel parser (protocol/control.hpp), which reads every JSON
// message between session hosts and the broker. Whatever parse() accepts must serialize without
// throwing and parse back to a message that serializes to the same text.

#include "fuzz_check.hpp"
#include "protocol/control.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace portico::protocol::control;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = parse(text);
    if (!parsed) {
        FUZZ_CHECK(!parsed.error().message.empty(), "a refusal says why");
        return 0;
    }
    const std::string once = serialize(parsed.value());  // throws on a bug: libFuzzer reports it
    auto again = parse(once);
    FUZZ_CHECK(again.ok(), "what parse() accepted serializes to something parse() accepts");
    FUZZ_CHECK(serialize(again.value()) == once, "serialize(parse(serialize(m))) == serialize(m)");
    return 0;
}
