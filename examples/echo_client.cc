// Echo client program (the seed's, line for line).
//
//   echo_client [--target=TARGET] [HOST [PORT]]
#include <iostream>
#include <string>

#include "example_util.h"
#include "sockwire/sockwire.h"

int main(int argc, char** argv) try {
  auto args = examples::ParseArgs(argc, argv);
  sockwire::Client client(args.target);  // the daemon that owns the sockets

  std::string HOST = args.rest.size() > 0 ? args.rest[0] : "127.0.0.1";  // The remote host
  int PORT = args.rest.size() > 1 ? std::stoi(args.rest[1]) : 50007;  // The same port as used by the server
  std::string data;
  {
    sockwire::Socket s(client, AF_INET, SOCK_STREAM);
    s.connect({HOST, PORT});
    s.sendall("Hello, world");
    data = s.recv(1024);
  }
  std::cout << "Received " << examples::repr(data) << std::endl;
  return 0;
} catch (const sockwire::error& e) {
  std::cerr << "echo_client: " << e.what() << std::endl;
  return 1;
}
