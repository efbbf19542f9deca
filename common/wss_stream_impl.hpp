#pragma once
// The Beast stream behind WssStream, for wss_stream.cpp and wss_stream_http.cpp only: including
// this anywhere else brings back the per-file template instantiations WssStream exists to avoid.

#include "common/wss_stream.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace portico {

struct WssStream::Impl {
    template <class... Args>
    explicit Impl(Args&&... args) : ws(std::forward<Args>(args)...) {}
    boost::beast::websocket::stream<Tls> ws;
};

}  // namespace portico
