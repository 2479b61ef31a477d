// Conversions between sockwire::Address and the wire's sockwire.v1.Address.
// Separate from address.h so that users who never touch the protos do not
// compile the generated headers.
#pragma once

#include "sockwire/address.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire {

// An empty Address becomes an empty message. A host/port pair is AF_INET
// unless `socket_family` is AF_INET6 (Python's rule: the socket decides).
v1::Address ToProto(const Address& address, int socket_family = AF_UNSPEC);
Address FromProto(const v1::Address& address);

}  // namespace sockwire
