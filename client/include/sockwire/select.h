// select() and poll() over sockwire sockets: one SocketService.Poll call that
// waits in the daemon. All sockets of one call must belong to the same
// Client (else sockwire::error(EINVAL)).
#pragma once

#include <poll.h>

#include <optional>
#include <vector>

#include "sockwire/socket.h"

namespace sockwire {

struct SelectResult {
  std::vector<Socket*> rlist, wlist, xlist;
};

// select.select(rlist, wlist, xlist, timeout): the ready subsets, in the
// order given. timeout nullopt waits until something is ready; 0 polls.
// Readable = POLLIN/POLLHUP/POLLERR, writable = POLLOUT/POLLERR, exceptional =
// POLLPRI (Linux's select rules). Closed sockets: error(EBADF).
SelectResult select(const std::vector<Socket*>& rlist, const std::vector<Socket*>& wlist,
                    const std::vector<Socket*>& xlist,
                    std::optional<double> timeout = std::nullopt);

struct PollFd {
  Socket* socket = nullptr;
  short events = POLLIN;
};

struct PollEvent {
  Socket* socket = nullptr;
  short revents = 0;
};

// select.poll().poll(timeout) in one call: the ready sockets and their
// revents (Linux POLL* bits). timeout in seconds, nullopt = wait forever.
std::vector<PollEvent> poll(const std::vector<PollFd>& fds,
                            std::optional<double> timeout = std::nullopt);

}  // namespace sockwire
