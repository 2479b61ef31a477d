// Byte streams through sockwired (stream, unary, raw data channel, descriptor
// passing) and through a bare gRPC echo server built with the same gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "bench_util.h"
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

// StreamService.Stream as a Conn, single-threaded: reads frames only when it
// needs bytes or write credit. Grants read credit as it consumes data.
class StreamConn : public Conn {
 public:
  // `bare`: the bench's own echo server (no handle, no flow control frames).
  StreamConn(v1::StreamService::Stub* stub, std::unique_ptr<grpc::ClientContext> ctx, const std::string& handle,
             bool bare);
  ~StreamConn() override;
  void Write(const char* p, size_t n) override;
  size_t Read(char* p, size_t n) override;
  void ShutdownWrite() override;

 private:
  // One frame from the daemon; false at the end of the stream.
  bool ReadFrame();
  [[noreturn]] void FailWrite(const std::string& what);
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamFrame, v1::StreamFrame>> rw_;
  bool bare_;
  int64_t write_credit_ = 0;
  int64_t consumed_ = 0;
  std::string buf_;
  size_t off_ = 0;
  bool eof_ = false;
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

// OpenDataChannel: a plain connection the daemon relays to `handle`.
std::unique_ptr<Conn> OpenRawChannel(const SwClient& c, const std::string& handle);
// TakeDescriptor: the socket's own descriptor, received over SCM_RIGHTS.
std::unique_ptr<Conn> TakeDescriptor(const SwClient& c, const std::string& handle);

// The bare gRPC ceiling: a StreamService whose Stream echoes (first data byte
// 'E') or sinks ('S': Sum of the rest, sent back after shutdown_write) and
// whose OpenDataChannel echoes `handle` into `token` (unary echo). Serves on
// `address` until killed.
int ServeBare(const std::string& address);

}  // namespace sockwire::bench
