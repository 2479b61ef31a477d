// forward -L / -R: port forwarding through the daemon, as ssh -L / -R.
//   -L [LHOST:]LPORT:HOST:PORT  a local listener; the daemon dials HOST:PORT
//                               for each accepted connection.
//   -R [RHOST:]RPORT:HOST:PORT  the daemon listens; each connection it
//                               accepts is connected here to HOST:PORT.
// Each connection gets two pump threads (one per direction).
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "commands.h"
#include "conduit.h"
#include "sockwire/errors.h"
#include "sockwire/socket.h"

namespace sockwire::cli {
namespace {

struct Spec {
  std::string bind_host = "127.0.0.1";
  int bind_port = 0;
  std::string host;
  std::string port;
};

// Splits on ':' outside [brackets].
std::vector<std::string> SplitColons(const std::string& s) {
  std::vector<std::string> out(1);
  bool br = false;
  for (char c : s) {
    if (c == '[') br = true;
    else if (c == ']') br = false;
    else if (c == ':' && !br) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

bool ParseSpec(const std::string& s, Spec* spec) {
  auto parts = SplitColons(s);
  if (parts.size() != 3 && parts.size() != 4) return false;
  std::size_t i = 0;
  if (parts.size() == 4) spec->bind_host = parts[i++];
  spec->bind_port = ParsePort(parts[i++]);
  spec->host = parts[i++];
  spec->port = parts[i];
  return spec->bind_port >= 0 && !spec->host.empty() && ParsePort(spec->port) >= 0;
}

// Pumps a local descriptor and a conduit both ways until both directions end.
void Relay(int fd, std::unique_ptr<Conduit> c) {
  Conduit* cp = c.get();
  std::thread up([fd, cp] {
    try {
      PumpFdToConduit(fd, *cp);
    } catch (const std::exception& e) {
      ReportError("forward", e);
      ::shutdown(fd, SHUT_RD);
    }
  });
  try {
    PumpConduitToFd(*cp, fd);
  } catch (const std::exception& e) {
    ReportError("forward", e);
  }
  ::shutdown(fd, SHUT_WR);
  up.join();
  c.reset();
  ::close(fd);
}

int ConnectLocal(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    std::cerr << "sockwire: forward: " << host << ":" << port << ": " << gai_strerror(rc) << "\n";
    return -1;
  }
  int fd = -1, err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    std::cerr << "sockwire: forward: connect " << host << ":" << port << ": "
              << strerrorname_np(err) << " (" << strerror(err) << ")\n";
  }
  return fd;
}

int ListenLocal(const Spec& s) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(s.bind_port);
  int rc = getaddrinfo(s.bind_host.empty() ? nullptr : s.bind_host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    std::cerr << "sockwire: forward: " << s.bind_host << ": " << gai_strerror(rc) << "\n";
    return -1;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    std::cerr << "sockwire: forward: listen " << s.bind_host << ":" << s.bind_port << ": "
              << strerrorname_np(err) << " (" << strerror(err) << ")\n";
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char h[NI_MAXHOST], p[NI_MAXSERV];
  getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, h, sizeof h, p, sizeof p,
              NI_NUMERICHOST | NI_NUMERICSERV);
  std::cerr << "Forwarding local " << h << " " << p << " -> " << s.host << ":" << s.port
            << " (via the daemon)" << std::endl;
  return fd;
}

void RunLocal(const sockwire::Client& client, Spec s, int lfd) {
  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::cerr << "sockwire: forward: accept: " << strerror(errno) << "\n";
      return;
    }
    std::thread([client, s, fd] {
      std::unique_ptr<Conduit> c;
      try {
        c = OpenConduit(sockwire::create_connection(
            client, sockwire::Address(s.host, ParsePort(s.port)), std::nullopt));
      } catch (const std::exception& e) {
        ReportError("connect", e, s.host + ":" + s.port);
        ::close(fd);
        return;
      }
      Relay(fd, std::move(c));
    }).detach();
  }
}

void RunRemote(sockwire::Socket ls, Spec s) {
  for (;;) {
    sockwire::Socket conn;
    try {
      conn = ls.accept().first;
    } catch (const std::exception& e) {
      ReportError("accept", e);
      return;
    }
    std::thread([s, conn = std::move(conn)]() mutable {
      int fd = ConnectLocal(s.host, s.port);
      if (fd < 0) return;  // conn closes: the daemon's peer sees the reset/EOF.
      try {
        Relay(fd, OpenConduit(std::move(conn)));
      } catch (const std::exception& e) {
        ReportError("forward", e);
        ::close(fd);
      }
    }).detach();
  }
}

}  // namespace

int RunForward(const GlobalOptions& g, const ForwardArgs& a) {
  signal(SIGPIPE, SIG_IGN);
  if (a.local.empty() && a.remote.empty()) {
    std::cerr << "sockwire: forward: give -L or -R\n";
    return 2;
  }
  std::vector<Spec> ls, rs;
  for (const auto& v : a.local) {
    Spec s;
    if (!ParseSpec(v, &s)) {
      std::cerr << "sockwire: forward: bad -L spec: " << v << " (want [LHOST:]LPORT:HOST:PORT)\n";
      return 2;
    }
    ls.push_back(s);
  }
  for (const auto& v : a.remote) {
    Spec s;
    if (!ParseSpec(v, &s)) {
      std::cerr << "sockwire: forward: bad -R spec: " << v << " (want [RHOST:]RPORT:HOST:PORT)\n";
      return 2;
    }
    rs.push_back(s);
  }
  sockwire::Client client = Connect(g);
  std::vector<std::thread> threads;
  for (const auto& s : ls) {
    int fd = ListenLocal(s);
    if (fd < 0) return 1;
    threads.emplace_back(RunLocal, client, s, fd);
  }
  for (const auto& s : rs) {
    sockwire::Socket sock;
    try {
      sock = sockwire::Socket(client, s.bind_host.find(':') != std::string::npos ? AF_INET6 : AF_INET);
      sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
      sock.bind(sockwire::Address(s.bind_host, s.bind_port));
      sock.listen();
      auto a2 = sock.getsockname();
      std::cerr << "Forwarding remote " << a2.host() << " " << a2.port() << " -> " << s.host << ":"
                << s.port << " (from the daemon)" << std::endl;
    } catch (const std::exception& e) {
      return ReportError("listen", e);
    }
    threads.emplace_back(RunRemote, std::move(sock), s);
  }
  for (auto& t : threads) t.join();
  return 1;
}

}  // namespace sockwire::cli
