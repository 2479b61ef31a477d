// Connection bookkeeping shared by the HTTP and WebSocket code: the Beast
// stream type, the connection-count cap and the registry that lets Shutdown()
// abort every open connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>

namespace sockwire::server::rest {

namespace beast = boost::beast;
namespace net = boost::asio;

// The byte stream under HTTP: TCP or a Unix socket, with Beast's per-operation
// timeouts. Every connection's executor is its own strand.
template <class Protocol>
using Stream = beast::basic_stream<Protocol, net::any_io_executor, beast::unlimited_rate_policy>;

// An open connection that Shutdown() can abort.
class Connection {
 public:
  virtual ~Connection() = default;
  // Closes the connection and cancels its calls. Thread-safe (posts to the
  // connection's strand).
  virtual void Abort() = 0;
};

class ConnectionRegistry;

// One slot of the connection cap. The connection object owns it; the slot is
// freed when the last owner (HTTP session, then WebSocket relay) is gone.
class ConnectionSlot {
 public:
  ConnectionSlot(ConnectionRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
  ~ConnectionSlot();
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  // Names the object to abort on shutdown (changes on a WebSocket upgrade).
  void Bind(std::weak_ptr<Connection> c);
  // Keeps `x` (e.g. the gateway's per-session slot of a WebSocket stream)
  // alive as long as the connection. Connection strand only.
  void Hold(std::shared_ptr<void> x) { held_ = std::move(x); }

 private:
  ConnectionRegistry* registry_;
  uint64_t id_;
  std::shared_ptr<void> held_;
};

class ConnectionRegistry {
 public:
  explicit ConnectionRegistry(size_t max_connections) : max_(max_connections) {}
  // nullptr when the cap is reached or after AbortAll().
  std::shared_ptr<ConnectionSlot> Acquire();
  // Aborts every connection and refuses new ones.
  void AbortAll();
  size_t size() const;

 private:
  friend class ConnectionSlot;
  void Bind(uint64_t id, std::weak_ptr<Connection> c);
  void Release(uint64_t id);

  const size_t max_;
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> live_;
};

}  // namespace sockwire::server::rest
