// Uses the installed sockwire client: pure helpers, Address, and a Client
// whose failure to reach a daemon proves the gRPC link works.
#include <iostream>

#include "sockwire/proto_convert.h"
#include "sockwire/sockwire.h"

int main() {
  std::cout << "htons(1) = " << sockwire::htons(1) << "\n";
  sockwire::Address a("127.0.0.1", 50007);
  std::cout << "address " << a << " -> proto port "
            << sockwire::ToProto(a).inet().port() << "\n";
  try {
    sockwire::ClientOptions options;
    options.rpc_timeout = std::chrono::milliseconds(500);
    sockwire::Client client("unix:/nonexistent/sockwired.sock", options);
    return 1;
  } catch (const sockwire::error& e) {
    std::cout << "no daemon: " << e.what() << "\n";
  }
  return 0;
}
