// UDP: a datagram to a bound socket and its reply, with sendto/recvfrom.
//
//   udp_example [--target=TARGET]
#include <iostream>

#include "example_util.h"
#include "sockwire/sockwire.h"

int main(int argc, char** argv) try {
  auto args = examples::ParseArgs(argc, argv);
  sockwire::Client client(args.target);

  sockwire::Socket server(client, AF_INET, SOCK_DGRAM);
  server.bind({"127.0.0.1", 0});
  sockwire::Address server_addr = server.getsockname();
  std::cout << "Server bound to " << server_addr << std::endl;

  sockwire::Socket sender(client, AF_INET, SOCK_DGRAM);
  sender.settimeout(5.0);
  server.settimeout(5.0);
  sender.sendto("ping", server_addr);

  auto [data, from] = server.recvfrom(1024);
  std::cout << "Server got " << examples::repr(data) << " from " << from << std::endl;
  server.sendto("pong", from);

  auto [reply, reply_from] = sender.recvfrom(1024);
  std::cout << "Client got " << examples::repr(reply) << " from " << reply_from << std::endl;
  return 0;
} catch (const sockwire::error& e) {
  std::cerr << "udp_example: " << e.what() << std::endl;
  return 1;
}
