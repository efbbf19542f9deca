#pragma once
// Result<T, Code>: a value or a typed error. The one error convention for failures a caller is
// expected to handle (bad input, a peer that misbehaves, a busy store); see docs/architecture.md,
// "Errors". Result<void, Code> is the shape for operations that only succeed or fail.

#include <string>
#include <utility>
#include <variant>

namespace portico {

template <class Code>
struct Error {
    Code code{};
    std::string message;
};

template <class T, class Code>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error<Code> err) : v_(std::move(err)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error<Code>& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error<Code>> v_;
};

template <class Code>
class [[nodiscard]] Result<void, Code> {
public:
    Result() = default;
    Result(Error<Code> err) : err_(std::move(err)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error<Code>& error() const { return err_; }

private:
    Error<Code> err_{};
    bool failed_ = false;
};

}  // namespace portico
