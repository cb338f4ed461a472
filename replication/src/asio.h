#pragma once
// Every Asio include of the replication layer goes through here: Boost 1.74's awaitable.hpp
// uses std::exchange and the coroutine header without including them.

#include <coroutine>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tape::replication {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
}  // namespace tape::replication
