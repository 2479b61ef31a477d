// REST (HTTP/1.1 + JSON, WebSocket byte stream) front-end. Owned by the REST
// gateway issue; this is the factory the daemon calls when --rest-listen is set.
#pragma once

#include <memory>

#include "server/daemon.h"

namespace sockwire::server {

std::unique_ptr<Frontend> MakeRestFrontend(Daemon& daemon);

}  // namespace sockwire::server
