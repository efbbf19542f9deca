// The one translation unit that compiles Boost.Asio's, Asio SSL's and Beast's non-template code.
// Every target that links portico_common is built with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (PUBLIC definitions of portico_boost_impl), so each includes only
// declarations of these functions instead of compiling them again in every file (cmake/PorticoBuild.cmake).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
