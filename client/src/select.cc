#include "sockwire/select.h"

#include <chrono>
#include <map>
#include <thread>

#include "internal.h"

namespace sockwire {
namespace {

// One Poll call over (socket, events) pairs; returns revents per handle.
std::map<std::string, int> PollHandles(const std::vector<std::pair<Socket*, int>>& items,
                                       std::optional<double> timeout) {
  std::map<std::string, int> ready;
  if (items.empty()) {
    // Python's select with nothing to wait for just sleeps.
    if (timeout) std::this_thread::sleep_for(std::chrono::duration<double>(*timeout));
    return ready;
  }
  std::shared_ptr<internal::ClientImpl> impl;
  std::map<std::string, int> events;
  for (const auto& [sock, ev] : items) {
    if (sock == nullptr || !*sock) throw error(EBADF, "select on a closed socket");
    // client() returns a Client by value: copy its shared_ptr, since a reference
    // into the temporary dangles at the end of this statement (ASan:
    // stack-use-after-scope).
    std::shared_ptr<internal::ClientImpl> sock_impl = sock->client().impl();
    if (!impl) {
      impl = sock_impl;
    } else if (impl != sock_impl) {
      throw error(EINVAL, "select over sockets of different clients");
    }
    events[sock->fileno()] |= ev;
  }
  v1::PollRequest req;
  for (const auto& [handle, ev] : events) {
    auto* item = req.add_items();
    item->set_handle(handle);
    item->set_events(ev);
  }
  std::optional<double> deadline;
  if (timeout) {
    if (!(*timeout >= 0)) throw std::invalid_argument("timeout must be non-negative");
    internal::ToDuration(*timeout, req.mutable_timeout());
    deadline = *timeout + impl->margin();
  }
  v1::PollResponse resp;
  impl->Call(deadline, [&](grpc::ClientContext* ctx) {
    return impl->sockets().Poll(ctx, req, &resp);
  });
  for (const auto& r : resp.ready()) ready[r.handle()] |= r.revents();
  return ready;
}

}  // namespace

SelectResult select(const std::vector<Socket*>& rlist, const std::vector<Socket*>& wlist,
                    const std::vector<Socket*>& xlist, std::optional<double> timeout) {
  std::vector<std::pair<Socket*, int>> items;
  for (Socket* s : rlist) items.emplace_back(s, POLLIN);
  for (Socket* s : wlist) items.emplace_back(s, POLLOUT);
  for (Socket* s : xlist) items.emplace_back(s, POLLPRI);
  auto ready = PollHandles(items, timeout);
  auto revents = [&](Socket* s) {
    auto it = ready.find(s->fileno());
    return it == ready.end() ? 0 : it->second;
  };
  SelectResult out;
  for (Socket* s : rlist) {
    if (revents(s) & (POLLIN | POLLHUP | POLLERR)) out.rlist.push_back(s);
  }
  for (Socket* s : wlist) {
    if (revents(s) & (POLLOUT | POLLERR)) out.wlist.push_back(s);
  }
  for (Socket* s : xlist) {
    if (revents(s) & POLLPRI) out.xlist.push_back(s);
  }
  return out;
}

std::vector<PollEvent> poll(const std::vector<PollFd>& fds, std::optional<double> timeout) {
  std::vector<std::pair<Socket*, int>> items;
  for (const auto& fd : fds) items.emplace_back(fd.socket, fd.events);
  auto ready = PollHandles(items, timeout);
  std::vector<PollEvent> out;
  for (const auto& fd : fds) {
    auto it = ready.find(fd.socket->fileno());
    if (it != ready.end() && it->second != 0) {
      out.push_back(PollEvent{fd.socket, static_cast<short>(it->second)});
    }
  }
  return out;
}

}  // namespace sockwire
