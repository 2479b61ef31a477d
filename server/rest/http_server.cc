#include "rest/http_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <future>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "rest/http_session.h"
#include "rest/strings.h"

namespace sockwire::server::rest {
namespace {

// The whole answer to a connection over the cap, written before closing.
const std::string& BusyResponse() {
  static const std::string* r = [] {
    std::string body = ErrorJson(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many connections", [] {
      sockwire::v1::ErrorDetail d;
      d.set_kind(sockwire::v1::ERROR_KIND_POLICY);
      d.set_reason("TOO_MANY_CONNECTIONS");
      return d;
    }());
    return new std::string(absl::StrCat(
        "HTTP/1.1 429 Too Many Requests\r\nServer: sockwired\r\n"
        "Content-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\n"
        "Content-Length: ",
        body.size(), "\r\n\r\n", body));
  }();
  return *r;
}

}  // namespace

HttpServer::HttpServer(Gateway& gateway, int threads)
    : gw_(gateway),
      threads_count_(threads < 1 ? 1 : threads),
      ioc_(std::make_unique<net::io_context>(threads_count_)),
      work_(std::make_unique<net::executor_work_guard<net::io_context::executor_type>>(
          ioc_->get_executor())),
      accept_strand_(net::make_strand(*ioc_)),
      registry_(gateway.limits().max_connections) {}

HttpServer::~HttpServer() {
  StopAccepting();
  AbortConnections();
  Join();
  // Before the io_context: objects that hold its services.
  tcp_.reset();
  unix_.reset();
  accept_strand_.reset();
  work_.reset();
  // Destroys the handlers still queued, and with them the last connections
  // (which release their slots in registry_, still alive here).
  ioc_.reset();
}

absl::StatusOr<std::string> HttpServer::Start(const std::string& spec) {
  beast::error_code ec;
  std::string bound;
  if (absl::StartsWith(spec, "tcp:")) {
    std::string_view rest = std::string_view(spec).substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError("--rest-listen: expected tcp:HOST:PORT, got " + spec);
    }
    std::string host(rest.substr(0, colon));
    uint32_t port;
    if (!absl::SimpleAtoi(AV(rest.substr(colon + 1)), &port) || port > 65535) {
      return absl::InvalidArgumentError("--rest-listen: bad port in " + spec);
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
    if (host.empty()) host = "0.0.0.0";
    net::ip::address addr = net::ip::make_address(host, ec);
    if (ec) return absl::InvalidArgumentError("--rest-listen: not a numeric address: " + host);
    loopback_ = addr.is_loopback();
    gw_.set_local_only(loopback_ && !gw_.has_token());
    net::ip::tcp::endpoint ep(addr, static_cast<uint16_t>(port));
    tcp_ = std::make_unique<net::ip::tcp::acceptor>(*accept_strand_);
    tcp_->open(ep.protocol(), ec);
    if (!ec) tcp_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) tcp_->bind(ep, ec);
    if (!ec) tcp_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      tcp_.reset();
      return absl::UnavailableError(absl::StrCat("--rest-listen ", spec, ": ", ec.message()));
    }
    auto local = tcp_->local_endpoint(ec);
    std::string h = local.address().to_string();
    bound = local.address().is_v6() ? absl::StrCat("[", h, "]:", local.port())
                                    : absl::StrCat(h, ":", local.port());
    AcceptTcp();
  } else if (absl::StartsWith(spec, "unix:")) {
    unix_path_ = spec.substr(5);
    if (unix_path_.empty() || unix_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return absl::InvalidArgumentError("--rest-listen: bad Unix socket path in " + spec);
    }
    // A stale socket from an earlier run would make bind fail; only a socket
    // is removed, never another kind of file.
    struct stat st;
    if (lstat(unix_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(unix_path_.c_str());
    net::local::stream_protocol::endpoint ep(unix_path_);
    unix_ = std::make_unique<net::local::stream_protocol::acceptor>(*accept_strand_);
    unix_->open(ep.protocol(), ec);
    // The socket is created 0600 (the umask applies to bind).
    mode_t old = umask(0177);
    if (!ec) unix_->bind(ep, ec);
    umask(old);
    if (!ec) unix_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      unix_.reset();
      return absl::UnavailableError(absl::StrCat("--rest-listen ", spec, ": ", ec.message()));
    }
    chmod(unix_path_.c_str(), 0600);
    bound = "unix:" + unix_path_;
    AcceptUnix();
  } else {
    return absl::InvalidArgumentError("--rest-listen: expected tcp:HOST:PORT or unix:PATH, got " +
                                      spec);
  }
  for (int i = 0; i < threads_count_; ++i) {
    threads_.emplace_back([this] {
      // Handlers never throw (error_code overloads everywhere); this keeps a
      // surprise from killing the daemon.
      for (;;) {
        try {
          ioc_->run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "sockwired: rest: unexpected exception: %s\n", e.what());
        }
      }
    });
  }
  return bound;
}

template <class Socket>
void HttpServer::RejectBusy(Socket socket) {
  auto s = std::make_shared<Socket>(std::move(socket));
  net::async_write(*s, net::buffer(BusyResponse()), [s](beast::error_code, size_t) {
    beast::error_code ec;
    s->shutdown(net::socket_base::shutdown_both, ec);
    s->close(ec);
  });
}

void HttpServer::RetryLater(void (HttpServer::*accept)()) {
  // EMFILE and friends: back off instead of spinning on the acceptor.
  auto timer = std::make_shared<net::steady_timer>(*accept_strand_, std::chrono::milliseconds(100));
  timer->async_wait([this, timer, accept](beast::error_code ec) {
    if (ec || stopped_) return;
    (this->*accept)();
  });
}

void HttpServer::AcceptTcp() {
  tcp_->async_accept(net::make_strand(*ioc_), [this](beast::error_code ec,
                                                     net::ip::tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopped_ || !tcp_ || !tcp_->is_open()) return;
    if (ec) return RetryLater(&HttpServer::AcceptTcp);
    if (auto slot = registry_.Acquire()) {
      ServeHttp(std::move(socket), gw_, std::move(slot));
    } else {
      RejectBusy(std::move(socket));
    }
    AcceptTcp();
  });
}

void HttpServer::AcceptUnix() {
  unix_->async_accept(net::make_strand(*ioc_), [this](beast::error_code ec,
                                                      net::local::stream_protocol::socket socket) {
    if (ec == net::error::operation_aborted || stopped_ || !unix_ || !unix_->is_open()) return;
    if (ec) return RetryLater(&HttpServer::AcceptUnix);
    if (auto slot = registry_.Acquire()) {
      ServeHttp(std::move(socket), gw_, std::move(slot));
    } else {
      RejectBusy(std::move(socket));
    }
    AcceptUnix();
  });
}

void HttpServer::StopAccepting() {
  if (!ioc_ || !accept_strand_) return;
  // Close the acceptors on their strand (accept handlers run there), and wait
  // for it when the io threads are running.
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  net::post(*accept_strand_, [this, closed] {
    stopped_ = true;
    beast::error_code ec;
    if (tcp_) tcp_->close(ec);
    if (unix_) unix_->close(ec);
    closed->set_value();
  });
  if (!threads_.empty() && !joined_) done.wait_for(std::chrono::seconds(5));
  if (!unix_path_.empty()) {
    unlink(unix_path_.c_str());
    unix_path_.clear();
  }
}

void HttpServer::AbortConnections() { registry_.AbortAll(); }

void HttpServer::Join() {
  if (joined_) return;
  joined_ = true;
  work_.reset();
  if (ioc_) ioc_->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace sockwire::server::rest
