// Byte streams through sockwired (stream, unary, raw data channel, descriptor
// passing) and through a bare gRPC echo server built with the same gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "bench_util.h"
#include "sockwire/sockwire.h"
#include "sockwire/v1/session.grpc.pb.h"
#include "sockwire/v1/socket.grpc.pb.h"
#include "sockwire/v1/stream.grpc.pb.h"

namespace sockwire::bench {

namespace v1 = sockwire::v1;

// A session on a sockwired.
class SwClient {
 public:
  explicit SwClient(const std::string& target);
  std::unique_ptr<grpc::ClientContext> Ctx(int deadline_s = 60) const;
  // A connected TCP socket in the daemon (create_connection to 127.0.0.1:port).
  std::string Dial(int port) const;
  void Close(const std::string& handle) const;

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::SocketService::Stub> sockets;
  std::unique_ptr<v1::StreamService::Stub> streams;
  std::unique_ptr<v1::SessionService::Stub> sessions;
  std::string session;
};

// The bare gRPC ceiling's client: StreamService.Stream against the bench's own
// echo server (ServeBare), which has no handles and no flow control, so this
// only writes data frames and reads them back. (sockwired's stream goes
// through the client library's ByteStream: OpenClientPath.)
class BareStreamConn : public Conn {
 public:
  explicit BareStreamConn(v1::StreamService::Stub* stub);
  ~BareStreamConn() override;
  void Write(const char* p, size_t n) override;
  size_t Read(char* p, size_t n) override;
  void ShutdownWrite() override;

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamFrame, v1::StreamFrame>> rw_;
  std::string buf_;
  size_t off_ = 0;
  bool finished_ = false;
  v1::StreamFrame in_, out_;
};

// SocketService SendAll / Recv / Shutdown as a Conn.
class UnaryConn : public Conn {
 public:
  UnaryConn(const SwClient* c, std::string handle) : c_(c), handle_(std::move(handle)) {}
  ~UnaryConn() override { c_->Close(handle_); }
  void Write(const char* p, size_t n) override;
  size_t Read(char* p, size_t n) override;
  void ShutdownWrite() override;

 private:
  const SwClient* c_;
  std::string handle_;
};

// sockwired's bulk paths as the C++ client library offers them.
enum class ClientPath {
  kStream,      // Socket::stream(): sockwire::ByteStream
  kRawChannel,  // Socket::data_channel(): sockwire::DataChannel
  kFdPassing,   // Socket::use_local_descriptor(), then sendall/recv_into
};
// A connected TCP socket in the daemon (create_connection to
// 127.0.0.1:port, blocking, TCP_NODELAY as the direct path sets).
sockwire::Socket DialSocket(const sockwire::Client& client, int port);
// `sock` through `path` as a Conn; the Conn owns the socket and closes it.
std::unique_ptr<Conn> OpenClientPath(sockwire::Socket sock, ClientPath path);

// The bare gRPC ceiling: a StreamService whose Stream echoes (first data byte
// 'E') or sinks ('S': Sum of the rest, sent back after shutdown_write) and
// whose OpenDataChannel echoes `handle` into `token` (unary echo). Serves on
// `address` until killed.
int ServeBare(const std::string& address);

}  // namespace sockwire::bench
