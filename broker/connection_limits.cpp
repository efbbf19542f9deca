#include "broker/connection_limits.hpp"

namespace portico::broker {

std::shared_ptr<void> ConnectionLimiter::try_open(const std::string& address) {
    {
        std::lock_guard lk(mu_);
        auto it = per_address_.find(address);
        const std::size_t from_here = it == per_address_.end() ? 0 : it->second;
        if (total_ >= max_total_ || from_here >= max_per_address_) {
            ++refused_;
            return nullptr;
        }
        ++total_;
        ++per_address_[address];
    }
    // The deleter is the bookkeeping: the slot's last owner going away closes it.
    auto self = shared_from_this();
    return std::shared_ptr<void>(static_cast<void*>(this), [self, address](void*) { self->close(address); });
}

void ConnectionLimiter::close(const std::string& address) {
    std::lock_guard lk(mu_);
    if (total_ > 0) --total_;
    auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::size_t ConnectionLimiter::open() const {
    std::lock_guard lk(mu_);
    return total_;
}

std::size_t ConnectionLimiter::open_from(const std::string& address) const {
    std::lock_guard lk(mu_);
    auto it = per_address_.find(address);
    return it == per_address_.end() ? 0 : it->second;
}

std::size_t ConnectionLimiter::take_refused() {
    std::lock_guard lk(mu_);
    auto n = refused_;
    refused_ = 0;
    return n;
}

}  // namespace portico::broker
