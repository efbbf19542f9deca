#pragma once
// WsWriteQueue: the one bounded single-writer queue of Portico's WebSocket channels (the display
// stream, the broker's control sessions, the host's control link).
//
// Beast allows one async_write at a time per stream, so messages wait here and go out in order,
// one after another. The limit is the channel's back-pressure: push() refuses a message beyond it
// and the owner decides what a peer that does not read gets (frames dropped, or the connection
// cut). After a failed write the queue writes nothing more; what waited stays readable (waiting())
// until the owner clears it, so a channel can keep reports it must not lose.
//
// Everything runs on the stream's executor (its strand). Each push() carries a `Keep` (the owner's
// shared_ptr, or a pair of them) that the pending write holds, so owner, stream and queue outlive
// the write; the `written` callback runs while it is held.

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cassert>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace portico {

inline boost::asio::const_buffer message_buffer(const std::string& text) { return boost::asio::buffer(text); }
template <class T>
boost::asio::const_buffer message_buffer(const std::shared_ptr<T>& bytes) {
    return boost::asio::buffer(*bytes);
}

template <class Stream, class Message, class Keep = std::shared_ptr<void>>
class WsWriteQueue {
public:
    // Called after each write, on the stream's executor: no error means one message left the queue
    // (already popped); an error means writing stopped, with the failed message still first.
    using Written = std::function<void(boost::system::error_code)>;

    WsWriteQueue(Stream& ws, std::size_t limit, Written written)
        : ws_(ws), limit_(limit), written_(std::move(written)) {}
    WsWriteQueue(const WsWriteQueue&) = delete;
    WsWriteQueue& operator=(const WsWriteQueue&) = delete;

    // Queues `m` and starts writing when idle. False, and nothing queued, when the queue holds
    // `limit + extra` messages already (`extra` lets replies such as errors and pongs pass frames)
    // or a write has failed.
    bool push(Message m, Keep keep, std::size_t extra = 0) {
        if (failed_ || queue_.size() >= limit_ + extra) return false;
        queue_.push_back(std::move(m));
        if (!writing_) write_front(std::move(keep));
        return true;
    }

    bool idle() const { return !writing_ && queue_.empty(); }
    bool failed() const { return failed_; }
    std::size_t size() const { return queue_.size(); }  // the message being written included
    const std::deque<Message>& waiting() const { return queue_; }

    // Drops what waits. Never while a write is in flight: Beast still reads the first message.
    void clear() {
        assert(!writing_);
        queue_.clear();
    }

private:
    void write_front(Keep keep) {
        writing_ = true;
        ws_.async_write(message_buffer(queue_.front()),
                        [this, keep = std::move(keep)](boost::system::error_code ec, std::size_t) mutable {
                            writing_ = false;
                            if (ec) {
                                failed_ = true;
                                written_(ec);
                                return;
                            }
                            queue_.pop_front();
                            written_(ec);  // may push (which restarts writing) or clear
                            if (!writing_ && !failed_ && !queue_.empty()) write_front(std::move(keep));
                        });
    }

    Stream& ws_;
    std::size_t limit_;
    Written written_;
    std::deque<Message> queue_;
    bool writing_ = false, failed_ = false;
};

}  // namespace portico
