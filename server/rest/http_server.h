// The REST listener: one acceptor (TCP or Unix socket) on a small Asio
// io_context with its own threads, the connection cap, and shutdown.
//
// Threading: `threads` io threads run every connection; each connection's
// handlers run on its own strand. Shutdown() may run on any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "absl/status/statusor.h"
#include "rest/connection.h"
#include "rest/gateway.h"

namespace sockwire::server::rest {

class HttpServer {
 public:
  HttpServer(Gateway& gateway, int threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `spec` ("tcp:HOST:PORT", port 0 picks one, or "unix:/path", created
  // 0600) and starts serving. Returns "127.0.0.1:PORT", "[::1]:PORT" or
  // "unix:/path".
  absl::StatusOr<std::string> Start(const std::string& spec);

  // Stops accepting (and refuses new connections). Idempotent.
  void StopAccepting();
  // Aborts every open connection (their calls get cancelled). Idempotent.
  void AbortConnections();
  size_t connection_count() const { return registry_.size(); }
  // Stops the io threads and joins them. Call after the gateway's calls have
  // drained. Idempotent.
  void Join();

  bool is_loopback_tcp() const { return loopback_; }
  bool is_tcp() const { return tcp_ != nullptr; }

 private:
  void AcceptTcp();
  void AcceptUnix();
  template <class Socket>
  void RejectBusy(Socket socket);
  void RetryLater(void (HttpServer::*accept)());

  Gateway& gw_;
  int threads_count_;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::optional<net::strand<net::io_context::executor_type>> accept_strand_;
  std::unique_ptr<net::ip::tcp::acceptor> tcp_;
  std::unique_ptr<net::local::stream_protocol::acceptor> unix_;
  std::string unix_path_;
  bool loopback_ = false;
  ConnectionRegistry registry_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
  bool joined_ = false;
};

}  // namespace sockwire::server::rest
