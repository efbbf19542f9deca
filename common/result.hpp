#pragma once
// Result<T>: a value or an error, for hot and async paths where exceptions are not wanted.

#include <string>
#include <utility>
#include <variant>

namespace portico {

template <class Code>
struct Error {
    Code code;
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

}  // namespace portico
