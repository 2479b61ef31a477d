#include "rest/connection.h"

#include <vector>

namespace sockwire::server::rest {

ConnectionSlot::~ConnectionSlot() { registry_->Release(id_); }

void ConnectionSlot::Bind(std::weak_ptr<Connection> c) { registry_->Bind(id_, std::move(c)); }

std::shared_ptr<ConnectionSlot> ConnectionRegistry::Acquire() {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_ || live_.size() >= max_) return nullptr;
  uint64_t id = next_id_++;
  live_.emplace(id, std::weak_ptr<Connection>());
  return std::make_shared<ConnectionSlot>(this, id);
}

void ConnectionRegistry::Bind(uint64_t id, std::weak_ptr<Connection> c) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = live_.find(id);
  if (it != live_.end()) it->second = std::move(c);
}

void ConnectionRegistry::Release(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  live_.erase(id);
}

void ConnectionRegistry::AbortAll() {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    for (auto& [id, weak] : live_) {
      if (auto c = weak.lock()) conns.push_back(std::move(c));
    }
  }
  for (auto& c : conns) c->Abort();
}

size_t ConnectionRegistry::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return live_.size();
}

}  // namespace sockwire::server::rest
