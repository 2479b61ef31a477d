#include "ops/metrics_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ops/ops.h"

namespace sockwire::server::ops {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Proto = net::generic::stream_protocol;
using Stream = beast::basic_stream<Proto>;
using Acceptor = net::basic_socket_acceptor<Proto>;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  explicit Conn(Proto::socket s) : stream_(std::move(s)) {}
  void Start() {
    parser_.header_limit(8192);
    parser_.body_limit(4096);
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(stream_, buf_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      self->Reply();
    });
  }

 private:
  void Reply() {
    const auto& req = parser_.get();
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    OpsReply r;
    if (!HandleOpsPath(std::string_view(req.method_string().data(), req.method_string().size()), target, &r)) {
      r.status = 404;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "only /metrics, /healthz and /readyz here\n";
    }
    res_.version(req.version());
    res_.result(r.status);
    res_.set(http::field::content_type, r.content_type);
    res_.keep_alive(false);
    if (req.method() != http::verb::head) res_.body() = std::move(r.body);
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(Proto::socket::shutdown_send, ignored);
    });
  }

  Stream stream_;
  beast::flat_buffer buf_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> res_;
};

}  // namespace

using namespace std::chrono_literals;

struct MetricsServer::Impl {
  net::io_context ioc{1};
  std::unique_ptr<Acceptor> acceptor;
  std::thread thread;
  std::string unix_path;
  bool started = false;

  void Accept() {
    acceptor->async_accept([this](beast::error_code ec, Proto::socket s) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) std::make_shared<Conn>(std::move(s))->Start();
      Accept();
    });
  }
};

MetricsServer::MetricsServer() : impl_(std::make_unique<Impl>()) {}
MetricsServer::~MetricsServer() { Shutdown(); }

absl::StatusOr<std::string> MetricsServer::Start(const std::string& spec) {
  Impl& m = *impl_;
  std::string bound;
  beast::error_code ec;
  if (absl::StartsWith(spec, "unix:")) {
    m.unix_path = spec.substr(5);
    if (m.unix_path.empty()) return absl::InvalidArgumentError("--metrics-listen unix: needs a path");
    struct stat st;
    if (lstat(m.unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(m.unix_path.c_str());
    net::local::stream_protocol::endpoint ep(m.unix_path);
    m.acceptor = std::make_unique<Acceptor>(m.ioc);
    Proto::endpoint gep(ep.data(), ep.size());
    m.acceptor->open(gep.protocol(), ec);
    mode_t old = umask(0177);
    if (!ec) m.acceptor->bind(gep, ec);
    umask(old);
    bound = spec;
  } else if (absl::StartsWith(spec, "tcp:")) {
    std::string hp = spec.substr(4);
    auto colon = hp.rfind(':');
    if (colon == std::string::npos) return absl::InvalidArgumentError("--metrics-listen tcp: needs HOST:PORT");
    std::string host = hp.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
    int port = 0;
    try {
      port = std::stoi(hp.substr(colon + 1));
    } catch (...) {
      return absl::InvalidArgumentError(absl::StrCat("--metrics-listen: bad port in ", spec));
    }
    auto addr = net::ip::make_address(host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--metrics-listen: bad host in ", spec));
    net::ip::tcp::endpoint ep(addr, static_cast<uint16_t>(port));
    Proto::endpoint gep(ep.data(), ep.size());
    m.acceptor = std::make_unique<Acceptor>(m.ioc);
    m.acceptor->open(gep.protocol(), ec);
    if (!ec) m.acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) m.acceptor->bind(gep, ec);
    if (!ec) {
      auto local = m.acceptor->local_endpoint(ec);
      net::ip::tcp::endpoint tep;
      std::memcpy(tep.data(), local.data(), std::min<size_t>(local.size(), sizeof(sockaddr_in6)));
      bound = addr.is_v6() ? absl::StrCat("[", host, "]:", tep.port()) : absl::StrCat(host, ":", tep.port());
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-listen \"", spec, "\" must start with unix: or tcp:"));
  }
  if (!ec) m.acceptor->listen(64, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("--metrics-listen ", spec, ": ", ec.message()));
  m.Accept();
  m.started = true;
  m.thread = std::thread([&m] { m.ioc.run(); });
  return bound;
}

void MetricsServer::Shutdown() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  net::post(m.ioc, [&m] {
    beast::error_code ignored;
    m.acceptor->close(ignored);
  });
  m.ioc.stop();
  if (m.thread.joinable()) m.thread.join();
  if (!m.unix_path.empty()) unlink(m.unix_path.c_str());
}

}  // namespace sockwire::server::ops
