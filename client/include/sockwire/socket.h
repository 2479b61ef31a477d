// sockwire::Socket: Python's socket object over a sockwired handle.
//
// Every method has the seed's name and meaning; each is one RPC (sendall,
// sendfile and makefile may make several). The socket's timeout mode lives in
// the daemon: blocking (nullopt), non-blocking (0: an operation that would
// block throws sockwire::blocking_io_error) or t seconds (sockwire::timeout).
// Waiting calls get no client deadline in blocking mode and the socket timeout
// plus ClientOptions::timeout_margin otherwise.
//
// Ownership: a Socket owns its handle. The destructor closes it (errors
// ignored), a move transfers it, close() and detach() release it. A Socket is
// not synchronized: use one from one thread at a time (distinct Sockets, even
// on one Client, are independent).
//
// Bytes are carried in std::string (like Python's bytes) and taken as
// std::string_view.
//
// Local fast path: on the daemon's host, use_local_descriptor() (or
// ClientOptions::local_descriptors) gives the Socket the socket's real
// descriptor, and the data calls (send, sendall, sendto, sendmsg, sendfile,
// recv, recvfrom, recvmsg and their _into forms) become syscalls on it, with
// the same timeout semantics and exceptions. Everything else (connect,
// accept, options, addresses, timeouts, shutdown, ...) still goes through the
// daemon, which acts on the same socket.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sockwire/address.h"
#include "sockwire/client.h"
#include "sockwire/data_channel.h"
#include "sockwire/errors.h"
#include "sockwire/helpers.h"
#include "sockwire/stream.h"
#include "sockwire/unique_fd.h"

namespace sockwire {

class SocketFile;

// One ancillary (control) message: (cmsg_level, cmsg_type, cmsg_data).
struct Ancillary {
  int level = 0;
  int type = 0;
  std::string data;
  friend bool operator==(const Ancillary&, const Ancillary&) = default;
};

// recvmsg(): (data, ancdata, msg_flags, address).
struct RecvMsgResult {
  std::string data;
  std::vector<Ancillary> ancdata;
  int msg_flags = 0;
  Address address;
};

// recvmsg_into(): (nbytes, ancdata, msg_flags, address).
struct RecvMsgIntoResult {
  std::size_t nbytes = 0;
  std::vector<Ancillary> ancdata;
  int msg_flags = 0;
  Address address;
};

class Socket {
 public:
  // A closed socket (fileno() == "").
  Socket() = default;
  // socket.socket(family, type, proto). `type` may include SOCK_NONBLOCK
  // (start non-blocking) and SOCK_CLOEXEC; type() reports it without them.
  // New sockets take getdefaulttimeout() unless SOCK_NONBLOCK is given.
  explicit Socket(const Client& client, int family = AF_INET, int type = SOCK_STREAM,
                  int proto = 0);
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // --- connections ---
  std::pair<Socket, Address> accept();
  void bind(const Address& address);
  // Without a backlog: Python's default, min(SOMAXCONN, 128).
  void listen();
  void listen(int backlog);
  void connect(const Address& address);
  // 0 on success, else the errno (EINPROGRESS in non-blocking mode).
  int connect_ex(const Address& address);
  void shutdown(int how);
  // Closes the local descriptor (if any) and the handle; a closed socket's
  // close() does nothing.
  void close();
  // Releases the handle without closing it and returns it; the socket
  // outlives the session and can be re-attached with fromfd(). A local
  // descriptor is closed (the detached handle keeps the socket).
  std::string detach();
  Socket dup() const;
  // A one-time token another session redeems with fromshare().
  std::string share() const;

  // --- identity ---
  // The handle ("" when closed); what select() and fromfd() take.
  std::string fileno() const { return handle_; }
  int family() const noexcept { return family_; }
  int type() const noexcept { return type_; }
  int proto() const noexcept { return proto_; }
  Address getsockname() const;
  Address getpeername() const;
  bool get_inheritable() const;
  void set_inheritable(bool inheritable);
  // The Client this socket belongs to (a copy sharing the session).
  Client client() const;

  // --- options and modes ---
  // Integer result (buflen 0).
  int getsockopt(int level, int optname) const;
  // Bytes result of at most `buflen` bytes (1..1024).
  std::string getsockopt(int level, int optname, std::size_t buflen) const;
  void setsockopt(int level, int optname, int value);
  void setsockopt(int level, int optname, std::string_view value);
  // setsockopt(level, optname, None, optlen).
  void setsockopt(int level, int optname, std::nullptr_t, unsigned optlen);
  bool getblocking() const;
  // nullopt = blocking (None), 0 = non-blocking, t > 0 = seconds.
  std::optional<double> gettimeout() const;
  void setblocking(bool flag);
  void settimeout(std::optional<double> value);
  // FIONREAD, SIOCOUTQ (TIOCOUTQ) or SIOCATMARK; other requests: error(EINVAL).
  long ioctl(unsigned long request) const;

  // --- data ---
  std::size_t send(std::string_view data, int flags = 0);
  // All of `data` or an exception. A SOCK_STREAM socket that is not
  // non-blocking sends payloads of 1 MiB or more (flags 0) over a
  // StreamService byte stream instead of one SendAll RPC per MiB; it returns
  // once every byte was written to the socket. The socket timeout, if any,
  // bounds the whole call.
  void sendall(std::string_view data, int flags = 0);
  std::size_t sendto(std::string_view data, const Address& address);
  std::size_t sendto(std::string_view data, int flags, const Address& address);
  std::size_t sendmsg(const std::vector<std::string_view>& buffers,
                      const std::vector<Ancillary>& ancdata = {}, int flags = 0,
                      const std::optional<Address>& address = std::nullopt);
  // Sends the file (from `offset`, `count` bytes or to the end) with
  // sendall; returns the bytes sent. Files of 1 MiB or more go over one
  // StreamService byte stream (as sendall). Non-blocking sockets:
  // std::invalid_argument (Python's ValueError).
  std::size_t sendfile(const std::string& path, std::size_t offset = 0,
                       std::optional<std::size_t> count = std::nullopt);
  std::size_t sendfile(std::istream& file, std::size_t offset = 0,
                       std::optional<std::size_t> count = std::nullopt);

  // Empty result: the peer closed (stream) or an empty datagram.
  std::string recv(std::size_t bufsize, int flags = 0);
  std::pair<std::string, Address> recvfrom(std::size_t bufsize, int flags = 0);
  RecvMsgResult recvmsg(std::size_t bufsize, std::size_t ancbufsize = 0, int flags = 0);
  // nbytes 0 = the buffer's size.
  std::size_t recv_into(std::span<std::byte> buffer, std::size_t nbytes = 0, int flags = 0);
  std::size_t recv_into(std::span<char> buffer, std::size_t nbytes = 0, int flags = 0);
  std::pair<std::size_t, Address> recvfrom_into(std::span<std::byte> buffer,
                                                std::size_t nbytes = 0, int flags = 0);
  std::pair<std::size_t, Address> recvfrom_into(std::span<char> buffer, std::size_t nbytes = 0,
                                                int flags = 0);
  RecvMsgIntoResult recvmsg_into(std::span<const std::span<std::byte>> buffers,
                                 std::size_t ancbufsize = 0, int flags = 0);

  // A buffered stream over the socket, mode "r", "w", "rw" (a "b" is
  // accepted and ignored). It works on a dup() of this socket, as Python's
  // file keeps the socket open: the connection ends when both are closed.
  // Socket errors propagate from stream operations as sockwire::error.
  //
  // On a blocking SOCK_STREAM socket (timeout None, Python's usual makefile
  // socket) the file is carried by one ByteStream (stream()), opened at its
  // first read or bulk write: a read loop costs one gRPC stream, not one RPC
  // per buffer. Like Python's buffered file objects, a readable file reads
  // ahead: while it is open the daemon reads up to 1 MiB of socket data
  // for it, and what it read but the file did not hand out is gone when
  // the file closes. So do not mix recv() on the socket with a readable
  // makefile. Writes keep sendall's meaning: a flush returns once every
  // byte is in the socket (bulk in confirmed batches of 512 KiB over the
  // stream, the rest by SendAll); a "w" file never reads ahead. With a
  // timeout (non-blocking, or another socket type), each buffer is one
  // recv/sendall RPC instead, so the timeout applies per operation as in
  // Python. Once the file's stream is open the file keeps it: a timeout set
  // on its socket() later does not apply to the file (recv() would skip the
  // stream's read-ahead).
  SocketFile makefile(std::string_view mode = "r", std::size_t buffering = 8192) const;

  // A ByteStream (sockwire/stream.h) over this socket: StreamService.Stream,
  // the bulk path for both directions. Closing the socket while the stream
  // is open ends the stream with an error. While the stream is open, do not
  // recv()/send() on the socket yourself. SOCK_STREAM sockets only (a byte
  // stream cannot keep datagram boundaries): on any other type stream()
  // throws the daemon's refusal, sockwire::error with info().reason
  // NOT_A_STREAM (FAILED_PRECONDITION). sendall, sendfile and makefile use a
  // stream only on SOCK_STREAM sockets, so they work on every type.
  ByteStream stream() const;

  // A raw data channel (sockwire/data_channel.h) over this SOCK_STREAM
  // socket: a plain connection to the daemon's --data-listen (unix: or tcp:)
  // that the daemon relays to the socket, no gRPC framing. It takes this
  // socket's timeout mode as of now. Throws the daemon's refusal
  // (FAILED_PRECONDITION: info().reason NO_DATA_LISTENER, NOT_A_STREAM;
  // EINVAL), DATA_LISTENER_UNREACHABLE, or TOKEN_REFUSED. While it is open,
  // do not recv()/send() on the socket yourself.
  DataChannel data_channel() const;

  // --- local fast path ---
  // Takes the socket's real descriptor from the daemon
  // (StreamService.TakeDescriptor over its unix data listener, SCM_RIGHTS);
  // from then on the data calls act on it directly. The descriptor shares
  // the daemon's open file description, which stays O_NONBLOCK; the socket's
  // timeout mode is emulated with poll(): blocking waits without limit, 0
  // throws blocking_io_error where the syscall would block, t > 0 throws
  // timeout after t seconds (for sendall: t for the whole call), as Python
  // does. The mode is read from the daemon once here and then followed
  // through this Socket's settimeout()/setblocking(); a mode set through
  // another handle of the same socket is not seen. Errors are the
  // exceptions the RPCs throw (sockwire::error with the errno, ...).
  // Destinations given by name (not numeric) still go through the daemon,
  // which resolves them in its network.
  //
  // Throws, and the socket keeps working over RPCs, when the daemon refuses:
  // sockwire::error with info().reason FD_PASSING_DISABLED (daemon without
  // --allow-fd-passing; EACCES), NO_DATA_LISTENER or NO_UNIX_DATA_LISTENER
  // (--data-listen missing or not unix:; EINVAL), DATA_LISTENER_UNREACHABLE
  // (e.g. the daemon runs on another host). Calling it again once the socket
  // has its descriptor does nothing.
  //
  // Close the Socket (not the descriptor) to end it: close() closes both.
  // The descriptor keeps the socket open in this process even after the
  // daemon closes its handle (e.g. when the session ends).
  void use_local_descriptor();
  // The local descriptor, still owned by this Socket; -1 when it has none.
  int local_descriptor() const noexcept { return local_fd_.get(); }

  explicit operator bool() const noexcept { return !handle_.empty(); }

  // makefile()'s buffer opens its ByteStream with its own read window.
  friend class SocketBuf;

  // Internal: wraps a handle the daemon already created.
  Socket(const Client& client, std::string handle, int family, int type, int proto,
         std::optional<double> timeout);

 private:
  void check_open() const;
  std::optional<double> wait_deadline() const;
  // Whether sendall/sendfile may use a byte stream for bulk data.
  bool bulk_streamable(int flags) const;
  void sendall_unary(std::string_view data, int flags);
  // The local descriptor for a data call, or -1 for the RPC path. With
  // ClientOptions::local_descriptors it takes one on first use.
  int data_fd();
  // recvfrom/recvmsg on the local descriptor.
  std::pair<std::size_t, Address> recvfrom_local(int fd, void* p, std::size_t n, int flags);
  RecvMsgIntoResult recvmsg_local(int fd, std::span<const std::span<std::byte>> buffers,
                                  std::size_t ancbufsize, int flags);

  std::shared_ptr<internal::ClientImpl> impl_;
  std::string handle_;
  int family_ = AF_UNSPEC;
  int type_ = 0;
  int proto_ = 0;
  // Mirror of the daemon's mode, kept in step by settimeout/setblocking; it
  // picks the client-side deadline, and the local path's waits.
  std::optional<double> timeout_;
  // The real descriptor (use_local_descriptor), or empty.
  UniqueFd local_fd_;
  // ClientOptions::local_descriptors: this socket already tried (and failed).
  bool local_tried_ = false;
};

// The streambuf behind makefile().
class SocketBuf : public std::streambuf {
 public:
  SocketBuf(Socket socket, bool readable, bool writable, std::size_t buffering);
  ~SocketBuf() override;
  Socket& socket() { return socket_; }
  // Flushes, ends the byte stream and closes the socket (errors propagate).
  void close();

 protected:
  int_type underflow() override;
  int_type overflow(int_type ch) override;
  int sync() override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;

 private:
  bool flush_out();
  // Whether this file goes over the byte stream (a blocking socket).
  bool streamed() const;
  // The byte stream, opened on first use.
  ByteStream& stream();
  // sendall's meaning for the file's bytes (see makefile()).
  void write_out(std::string_view data);

  Socket socket_;
  // Declared after socket_: ends before the socket closes.
  ByteStream stream_;
  bool readable_, writable_;
  std::size_t buffering_;
  std::string in_;
  std::vector<char> out_;
};

namespace internal {
struct SocketBufHolder {
  SocketBuf buf;
};
}  // namespace internal

// makefile()'s result: a std::iostream with badbit exceptions on, so socket
// errors surface as the sockwire exception. Destruction flushes and closes
// the stream's own handle.
class SocketFile : private internal::SocketBufHolder, public std::iostream {
 public:
  SocketFile(Socket socket, bool readable, bool writable, std::size_t buffering);
  SocketFile(const SocketFile&) = delete;
  SocketFile& operator=(const SocketFile&) = delete;
  ~SocketFile() override;
  // Flushes and closes the stream's handle.
  void close();
};

// --- free functions of the socket module ---

// socket.socketpair(family, type, proto); AF_UNIX/SOCK_STREAM by default.
std::pair<Socket, Socket> socketpair(const Client& client, int family = AF_UNIX,
                                     int type = SOCK_STREAM, int proto = 0);

// socket.create_connection(address, timeout, source_address), dialled by the
// daemon (each resolved address in turn). `timeout` defaults to
// getdefaulttimeout() and becomes the socket's timeout.
Socket create_connection(const Client& client, const Address& address);
Socket create_connection(const Client& client, const Address& address,
                         std::optional<double> timeout,
                         const std::optional<Address>& source_address = std::nullopt);

// socket.fromfd(handle, ...): takes ownership of a detached or inheritable
// handle (SocketService.Attach). family/type/proto are read from the daemon.
Socket fromfd(const Client& client, const std::string& handle);
Socket fromfd(const Client& client, const std::string& handle, int family, int type,
              int proto = 0);
// socket.fromshare(token).
Socket fromshare(const Client& client, const std::string& token);
// socket.close(fd): closes a handle of this session.
void close(const Client& client, const std::string& handle);

}  // namespace sockwire
