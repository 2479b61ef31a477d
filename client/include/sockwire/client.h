// sockwire::Client: one connection to a sockwired daemon and one session on it.
//
// Construction opens a session (SessionService.Open) and holds a
// SessionService.Hold stream for as long as the Client, or any Socket made
// through it, is alive; the stream runs on gRPC's callback threads, so no
// thread is parked per Client. When the last reference goes away the stream
// ends and the daemon closes the session's sockets after its grace period
// (detached sockets survive and can be re-attached with fromfd()).
//
// Thread safety: a Client may be copied and used from several threads; copies
// share the session.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <sys/socket.h>

namespace sockwire {

namespace internal {
class ClientImpl;
}  // namespace internal

class Socket;

struct ClientOptions {
  // Sent as "authorization: Bearer <token>" on every call when not empty
  // (daemon started with --token-file).
  std::string bearer_token;
  // TLS to a daemon started with --tls-cert: the CA that signed its
  // certificate (PEM; empty with a client certificate set: the system's
  // roots). For mutual TLS (--tls-client-ca) also this client's
  // certificate chain and private key (PEM). All empty: plain text.
  std::string tls_root_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Deadline for calls that do not wait on the network (bind, getsockname,
  // setsockopt, ...) and for opening the session.
  std::chrono::milliseconds rpc_timeout{30000};
  // Extra time granted past a socket's own timeout before the client gives
  // up on a waiting call (the daemon enforces the socket timeout itself).
  std::chrono::milliseconds timeout_margin{5000};
  // Local fast path: when true, each Socket takes its real descriptor from
  // the daemon (Socket::use_local_descriptor) at its first send/recv-family
  // call and does its I/O natively from then on. Needs a daemon on this host
  // with --allow-fd-passing and a unix: --data-listen. When the daemon
  // refuses (or its data listener cannot be reached or refuses the token),
  // the Client remembers and its sockets keep using RPCs, silently; call
  // use_local_descriptor() yourself to get the error.
  bool local_descriptors = false;
};

class Client {
 public:
  // `target`: "unix:/path/to/sockwired.sock", "host:port" or "tcp:host:port".
  // Throws sockwire::error when the daemon cannot be reached or refuses.
  explicit Client(const std::string& target, ClientOptions options = {});
  Client(const Client&) = default;
  Client& operator=(const Client&) = default;
  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) noexcept = default;
  ~Client();

  const std::string& target() const;
  // The session token ("sockwire-session" metadata).
  const std::string& session() const;
  // socket.socket(family, type, proto) on this daemon.
  Socket socket(int family = AF_INET, int type = SOCK_STREAM, int proto = 0) const;
  // Ends the session now (SessionService.Close): the daemon closes its
  // sockets except detached ones. Returns how many it closed.
  int close_session();

  // Internal: the shared connection state.
  explicit Client(std::shared_ptr<internal::ClientImpl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<internal::ClientImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<internal::ClientImpl> impl_;
};

}  // namespace sockwire
