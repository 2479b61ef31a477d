// Descriptor limits: the daemon must never reach EMFILE. gRPC's listener
// stops accepting for good after one EMFILE (gRPC 1.51 tears the listener
// down on any accept error but EAGAIN), so the only defence is never to get
// there: raise the soft RLIMIT_NOFILE to the hard one at start, keep a
// reserve of descriptors that are never lent to clients, and cap everything
// a client can make the daemon open (handles, data channels, Poll sets,
// unauthenticated REST and data-listener connections) below it.
#pragma once

#include <cstdint>
#include <string>

#include "server/options.h"

namespace sockwire::core {

// Raises the soft RLIMIT_NOFILE to the hard limit (best effort) and returns
// the soft limit now in effect.
uint64_t RaiseNoFileLimit();

// The soft RLIMIT_NOFILE now in effect.
uint64_t NoFileLimit();

// Fills every 0 (= auto) limit of `o` from `limit` (see options.h for the
// formulas) and sets o->fd_limit. Idempotent. Returns "" or, when explicit
// values cannot fit under `limit`, a message naming them.
std::string ApplyDescriptorDefaults(uint64_t limit, server::Options* o);

}  // namespace sockwire::core
