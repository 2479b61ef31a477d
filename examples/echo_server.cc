// Echo server program (the seed's, line for line).
//
//   echo_server [--target=TARGET] [PORT]      PORT 0 picks a free port.
#include <iostream>
#include <string>

#include "example_util.h"
#include "sockwire/sockwire.h"

int main(int argc, char** argv) try {
  auto args = examples::ParseArgs(argc, argv);
  sockwire::Client client(args.target);  // the daemon that owns the sockets

  std::string HOST = "";  // Symbolic name meaning all available interfaces
  int PORT = args.rest.empty() ? 50007 : std::stoi(args.rest[0]);  // Arbitrary non-privileged port
  {
    sockwire::Socket s(client, AF_INET, SOCK_STREAM);
    s.bind({HOST, PORT});
    s.listen(1);
    std::cout << "Listening on " << s.getsockname() << std::endl;
    auto [conn, addr] = s.accept();
    {
      std::cout << "Connected by " << addr << std::endl;
      while (true) {
        std::string data = conn.recv(1024);
        if (data.empty()) break;
        conn.sendall(data);
      }
    }
  }
  return 0;
} catch (const sockwire::error& e) {
  std::cerr << "echo_server: " << e.what() << std::endl;
  return 1;
}
