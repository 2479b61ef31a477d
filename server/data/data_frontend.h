// The raw data channel front-end (--data-listen): a listener where a client
// presents a one-time token (from StreamService.OpenDataChannel or
// TakeDescriptor) and then either has its connection relayed to the socket
// (splice(2) through a pipe per direction) or receives the socket's real
// descriptor (SCM_RIGHTS, Unix listener only).
//
// Threads: a small fixed pool of relay workers (kWorkers), each an epoll loop;
// a channel costs two pipes and no thread. Per channel memory is bounded by
// the two pipes' capacity whatever either side does.
#pragma once

#include <memory>

#include "server/daemon.h"

namespace sockwire::server {

std::unique_ptr<Frontend> MakeDataFrontend(Daemon& daemon);

}  // namespace sockwire::server
