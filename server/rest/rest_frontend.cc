// The REST front-end: wires the gateway (gateway.h) to its HTTP listener
// (http_server.h) for the daemon.
//
// Design (decided by the lead): the gateway is a thin adapter that sends each
// HTTP request to the SAME gRPC method, in-process, through
// daemon.grpc_server()->InProcessChannel() and a grpc::GenericStub (raw
// ByteBuffer request/response). Routes come from the (sockwire.v1.http)
// options in the descriptors. So every RPC is reachable over REST
// automatically, sessions/handles/errors are the gRPC ones, and nothing can
// drift between the two front-ends.
#include "rest/rest_frontend.h"

#include "server/obs/log.h"

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "rest/gateway.h"
#include "rest/http_server.h"

namespace sockwire::server {
namespace {

using rest::Gateway;
using rest::HttpServer;
using rest::Limits;

class RestFrontend : public Frontend {
 public:
  explicit RestFrontend(Daemon& daemon) : daemon_(daemon) {}
  ~RestFrontend() override { Shutdown(); }

  absl::StatusOr<std::string> Start() override {
    const Options& o = daemon_.options();
    if (daemon_.grpc_server() == nullptr) {
      return absl::FailedPreconditionError("the REST gateway needs the gRPC server started first");
    }
    std::string token;
    if (!o.token_file.empty()) {
      std::ifstream in(o.token_file);
      if (!in) return absl::InvalidArgumentError("cannot read --token-file " + o.token_file);
      std::stringstream ss;
      ss << in.rdbuf();
      token = std::string(absl::StripAsciiWhitespace(ss.str()));
      if (token.empty()) return absl::InvalidArgumentError("--token-file is empty");
    }

    Limits limits;
    // Bodies carry payloads base64-encoded inside JSON: 4/3 of
    // --max-message-bytes plus room for the JSON around them.
    uint64_t max = o.max_message_bytes == 0 ? (16u << 20) : o.max_message_bytes;
    limits.max_body_bytes = (max + 2) / 3 * 4 + (64u << 10);
    limits.max_ws_message = max;
    limits.max_connections = o.rest_max_connections != 0 ? o.rest_max_connections : 512;
    limits.header_timeout = o.rest_header_timeout;
    limits.slots_per_session = o.rest_slots_per_session;

    grpc::ChannelArguments args;
    // The server enforces --max-message-bytes; the in-process client must
    // not add gRPC's 4 MiB default receive limit on top.
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    gateway_ = std::make_unique<Gateway>(daemon_.grpc_server()->InProcessChannel(args), limits, token);
    for (const auto& p : gateway_->route_problems()) {
      std::fprintf(stderr, "sockwired: rest: route skipped: %s\n", p.c_str());
    }
    for (const auto* m : gateway_->routes().unrouted()) {
      std::fprintf(stderr, "sockwired: rest: %s has no REST route\n", m->full_name().c_str());
    }

    server_ = std::make_unique<HttpServer>(*gateway_, /*threads=*/2);
    auto bound = server_->Start(o.rest_listen);
    if (!bound.ok()) {
      server_.reset();
      gateway_.reset();
      return bound.status();
    }
    // The gRPC rule: a TCP listener needs a token, or an explicit
    // --insecure-tcp. Loopback is no exception: every local user (nobody
    // included) can reach it, and the daemon has privileges they lack.
    if (server_->is_tcp() && token.empty() && !o.insecure_tcp) {
      Shutdown();
      return absl::PermissionDeniedError(
          "--rest-listen on TCP needs --token-file (bearer token); --insecure-tcp accepts anyone who can connect");
    }
    if (server_->is_tcp() && token.empty()) {
      obs::Log(obs::Level::kWarning, "insecure_rest", {{"rest", *bound}, {"note", "accepts anyone who can connect (--insecure-tcp)"}});
    }
    obs::Log(obs::Level::kDebug, "rest_routes",
             {{"rest", *bound}, {"routes", std::to_string(gateway_->routes().routes().size())}});
    return bound;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> l(mu_);
    if (done_) return;
    done_ = true;
    if (server_) server_->StopAccepting();
    if (gateway_) {
      // Pending calls are cancelled and answered 503 "shutting down". Every
      // call in flight must finish before the io_context its callbacks post
      // to goes away.
      gateway_->BeginShutdown();
      gateway_->bridge().CancelAll();
      if (!gateway_->bridge().WaitIdle(std::chrono::seconds(10))) {
        std::fprintf(stderr, "sockwired: rest: calls still pending at shutdown\n");
      }
    }
    if (server_) {
      // A moment for those 503s to be written, then every connection goes.
      if (server_->connection_count() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      server_->AbortConnections();
      server_->Join();
    }
    server_.reset();
    gateway_.reset();
  }

 private:
  Daemon& daemon_;
  std::mutex mu_;
  bool done_ = false;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace

std::unique_ptr<Frontend> MakeRestFrontend(Daemon& daemon) {
  return std::make_unique<RestFrontend>(daemon);
}

}  // namespace sockwire::server
