// connect and listen: a daemon socket piped to stdin/stdout, as nc does.
#include <netdb.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands.h"
#include "conduit.h"
#include "sockwire/errors.h"
#include "sockwire/resolver.h"
#include "sockwire/socket.h"

namespace sockwire::cli {
namespace {

// Runs one connection: stdin -> socket (EOF: half-close) in a thread,
// socket -> stdout here. Returns the exit status. When the socket reaches EOF
// first, the stdin thread may still sit in read(0): the process then ends
// with _exit, which is what nc does too.
int Shuttle(std::unique_ptr<Conduit> conduit, bool wait_stdin) {
  std::atomic<bool> stdin_done{false};
  std::atomic<int> status{0};
  Conduit* c = conduit.get();
  std::thread in([c, &stdin_done, &status] {
    try {
      PumpFdToConduit(0, *c);
    } catch (const std::exception& e) {
      status = ReportError("send", e);
    }
    stdin_done = true;
  });
  try {
    bool ok = true;
    PumpConduitToFd(*c, 1, &ok);
  } catch (const std::exception& e) {
    status = ReportError("recv", e);
  }
  // After the peer's EOF, standard input from a pipe or file is still sent
  // to its end (nothing typed is lost); from a terminal, sockwire exits.
  if (stdin_done || wait_stdin || isatty(0) != 1) {
    in.join();
    return status;
  }
  std::cout.flush();
  _exit(status);
}

// listen -k: stdin is shared by the connections in turn.
struct SharedStdin {
  std::mutex mu;
  Conduit* current = nullptr;
  bool eof = false;
};

}  // namespace

bool ParseListenArgs(const std::string& cmd, const std::vector<std::string>& args,
                     std::string* host, int* port) {
  std::string p;
  if (args.size() == 1) {
    p = args[0];
  } else if (args.size() == 2) {
    *host = args[0];
    p = args[1];
  } else {
    std::cerr << "sockwire: " << cmd << ": expected [HOST] PORT\n";
    return false;
  }
  *port = ParsePort(p);
  if (*port < 0) {
    std::cerr << "sockwire: " << cmd << ": bad port: " << p << "\n";
    return false;
  }
  return true;
}

void PrintListening(const sockwire::Address& a) {
  if (a.family() == AF_UNIX) {
    std::cerr << "Listening on " << a.path() << std::endl;
  } else {
    std::cerr << "Listening on " << a.host() << " " << a.port() << std::endl;
  }
}

int RunConnect(const GlobalOptions& g, const ConnectArgs& a) {
  signal(SIGPIPE, SIG_IGN);
  std::string host, port_s;
  if (a.unix_path.empty()) {
    if (a.args.size() != 2) {
      std::cerr << "sockwire: connect: expected HOST PORT (or --unix PATH)\n";
      return 2;
    }
    host = a.args[0];
    port_s = a.args[1];
  } else if (!a.args.empty()) {
    std::cerr << "sockwire: connect: --unix PATH takes no HOST PORT\n";
    return 2;
  }
  sockwire::Client client = Connect(g);
  sockwire::Socket sock;
  try {
    if (!a.unix_path.empty()) {
      sock = sockwire::Socket(client, AF_UNIX, a.udp ? SOCK_DGRAM : SOCK_STREAM);
      sock.connect(sockwire::Address::unix_path(a.unix_path));
    } else if (a.udp) {
      auto ais = sockwire::getaddrinfo(client, host, port_s, 0, SOCK_DGRAM);
      if (ais.empty()) throw sockwire::gaierror(EAI_NONAME);
      sock = sockwire::Socket(client, ais[0].family, SOCK_DGRAM);
      sock.connect(ais[0].sockaddr);
    } else {
      int port = ParsePort(port_s);
      if (port < 0) {
        // A service name: the daemon resolves it.
        port = sockwire::getservbyname(client, port_s, "tcp");
      }
      sock = sockwire::create_connection(client, sockwire::Address(host, port), std::nullopt);
    }
  } catch (const std::exception& e) {
    return ReportError("connect", e);
  }
  try {
    return Shuttle(OpenConduit(std::move(sock)), false);
  } catch (const std::exception& e) {
    return ReportError("connect", e);
  }
}

int RunListen(const GlobalOptions& g, const ListenArgs& a) {
  signal(SIGPIPE, SIG_IGN);
  std::string host;
  int port = 0;
  if (!ParseListenArgs("listen", a.args, &host, &port)) return 2;
  sockwire::Client client = Connect(g);
  int family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  sockwire::Socket ls;
  try {
    ls = sockwire::Socket(client, family, a.udp ? SOCK_DGRAM : SOCK_STREAM);
    ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    ls.bind(sockwire::Address(host, port));
    if (!a.udp) ls.listen();
    if (port == 0) PrintListening(ls.getsockname());
  } catch (const std::exception& e) {
    return ReportError(a.udp ? "bind" : "listen", e);
  }
  if (a.udp) {
    // As nc -u -l: the first datagram's sender becomes the peer.
    try {
      std::vector<char> buf(65536);
      auto [n, peer] = ls.recvfrom_into(std::span<char>(buf.data(), buf.size()));
      if (!WriteAll(1, buf.data(), n)) return 1;
      ls.connect(peer);
    } catch (const std::exception& e) {
      return ReportError("recvfrom", e);
    }
    try {
      return Shuttle(OpenConduit(std::move(ls)), false);
    } catch (const std::exception& e) {
      return ReportError("recv", e);
    }
  }
  if (!a.keep) {
    sockwire::Socket conn;
    try {
      conn = ls.accept().first;
      ls.close();
      return Shuttle(OpenConduit(std::move(conn)), false);
    } catch (const std::exception& e) {
      return ReportError("accept", e);
    }
  }
  // -k: connections in turn; stdin goes to whichever is current.
  auto shared = std::make_shared<SharedStdin>();
  std::thread([shared] {
    std::vector<char> buf(kChunk);
    for (;;) {
      ssize_t n = ::read(0, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(shared->mu);
      if (n <= 0) {
        shared->eof = true;
        if (shared->current != nullptr) {
          try {
            shared->current->shutdown_write();
          } catch (...) {
          }
        }
        return;
      }
      if (shared->current != nullptr) {
        try {
          shared->current->write(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        } catch (const std::exception& e) {
          ReportError("send", e);
        }
      }
    }
  }).detach();
  for (;;) {
    try {
      sockwire::Socket conn = ls.accept().first;
      std::unique_ptr<Conduit> c = OpenConduit(std::move(conn));
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->current = c.get();
        if (shared->eof) c->shutdown_write();
      }
      try {
        PumpConduitToFd(*c, 1);
      } catch (const std::exception& e) {
        ReportError("recv", e);
      }
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->current = nullptr;
    } catch (const std::exception& e) {
      return ReportError("accept", e);
    }
  }
}

}  // namespace sockwire::cli
