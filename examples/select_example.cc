// A non-blocking echo server driven by select(), with a non-blocking client
// in the same program: one listening socket, accept on readable, echo on
// readable, all sockets in non-blocking mode.
//
//   select_example [--target=TARGET]
#include <iostream>
#include <memory>
#include <vector>

#include "example_util.h"
#include "sockwire/sockwire.h"

int main(int argc, char** argv) try {
  auto args = examples::ParseArgs(argc, argv);
  sockwire::Client client(args.target);

  sockwire::Socket server(client, AF_INET, SOCK_STREAM);
  server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  server.bind({"127.0.0.1", 0});
  server.listen(5);
  server.setblocking(false);
  sockwire::Address addr = server.getsockname();
  std::cout << "Listening on " << addr << std::endl;

  // The client connects without blocking: EINPROGRESS, then writable.
  sockwire::Socket peer(client, AF_INET, SOCK_STREAM);
  peer.setblocking(false);
  int err = peer.connect_ex(addr);
  std::cout << "connect_ex: " << (err == EINPROGRESS ? "EINPROGRESS" : std::to_string(err))
            << std::endl;
  auto [r0, w0, x0] = sockwire::select({}, {&peer}, {}, 5.0);
  if (w0.empty() || peer.getsockopt(SOL_SOCKET, SO_ERROR) != 0) {
    std::cerr << "connect failed" << std::endl;
    return 1;
  }

  std::vector<std::unique_ptr<sockwire::Socket>> conns;
  bool sent = false;
  std::string echoed;
  while (echoed.size() < 5) {
    std::vector<sockwire::Socket*> readers = {&server, &peer};
    for (auto& c : conns) readers.push_back(c.get());
    auto [readable, writable, exceptional] = sockwire::select(readers, {}, {}, 5.0);
    if (readable.empty()) {
      std::cerr << "select timed out" << std::endl;
      return 1;
    }
    for (sockwire::Socket* s : readable) {
      if (s == &server) {
        auto [conn, from] = server.accept();
        conn.setblocking(false);
        std::cout << "Accepted " << from << std::endl;
        conns.push_back(std::make_unique<sockwire::Socket>(std::move(conn)));
        if (!sent) {
          peer.sendall("hello");
          sent = true;
        }
      } else if (s == &peer) {
        echoed += peer.recv(1024);
      } else {
        std::string data = s->recv(1024);
        if (!data.empty()) s->sendall(data);  // echo
      }
    }
  }
  std::cout << "Echoed " << examples::repr(echoed) << std::endl;
  return 0;
} catch (const sockwire::error& e) {
  std::cerr << "select_example: " << e.what() << std::endl;
  return 1;
}
