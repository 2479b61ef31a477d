#include "sockwire/socket.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "internal.h"
#include "local_io.h"
#include "sockwire/proto_convert.h"

namespace sockwire {
namespace {

// The quick unary RPCs that take only a handle: HandleRequest in, Resp out.
template <class Resp, class Rpc>
Resp CallOnHandle(const internal::ClientImpl& impl, const std::string& handle, Rpc rpc) {
  v1::HandleRequest req;
  req.set_handle(handle);
  Resp resp;
  impl.Call(impl.quick(), [&](grpc::ClientContext* ctx) { return (impl.sockets().*rpc)(ctx, req, &resp); });
  return resp;
}

using internal::ClientImpl;

// Largest payload of one Send/Recv message. Bigger sends are split (send()
// then sends fewer bytes, which its contract allows); bigger receives are
// clamped (recv may return fewer bytes than bufsize).
constexpr std::size_t kMaxChunk = 1 << 20;
// sendall/sendfile payloads from this size on go over a byte stream.
constexpr std::size_t kBulkThreshold = 1 << 20;
// The read credit Socket::stream() grants (the daemon's own window).
constexpr long long kStreamReadWindow = 1 << 20;
// Makefile writes from this size on go over its stream (confirmed with a
// `flush` frame); smaller ones by SendAll.
constexpr std::size_t kConfirmBatch = 512 << 10;

std::optional<v1::OptionName> TypedOption(int level, int optname) {
  switch (level) {
    case SOL_SOCKET:
      switch (optname) {
        case SO_REUSEADDR: return v1::OPTION_SO_REUSEADDR;
        case SO_REUSEPORT: return v1::OPTION_SO_REUSEPORT;
        case SO_KEEPALIVE: return v1::OPTION_SO_KEEPALIVE;
        case SO_RCVBUF: return v1::OPTION_SO_RCVBUF;
        case SO_SNDBUF: return v1::OPTION_SO_SNDBUF;
        case SO_LINGER: return v1::OPTION_SO_LINGER;
        case SO_BROADCAST: return v1::OPTION_SO_BROADCAST;
        case SO_ERROR: return v1::OPTION_SO_ERROR;
        case SO_TYPE: return v1::OPTION_SO_TYPE;
        case SO_ACCEPTCONN: return v1::OPTION_SO_ACCEPTCONN;
        case SO_PASSCRED: return v1::OPTION_SO_PASSCRED;
      }
      break;
    case IPPROTO_TCP:
      switch (optname) {
        case TCP_NODELAY: return v1::OPTION_TCP_NODELAY;
        case TCP_KEEPIDLE: return v1::OPTION_TCP_KEEPIDLE;
        case TCP_KEEPINTVL: return v1::OPTION_TCP_KEEPINTVL;
        case TCP_KEEPCNT: return v1::OPTION_TCP_KEEPCNT;
      }
      break;
    case IPPROTO_IP:
      switch (optname) {
        case IP_TTL: return v1::OPTION_IP_TTL;
        case IP_ADD_MEMBERSHIP: return v1::OPTION_IP_ADD_MEMBERSHIP;
        case IP_DROP_MEMBERSHIP: return v1::OPTION_IP_DROP_MEMBERSHIP;
        case IP_MULTICAST_TTL: return v1::OPTION_IP_MULTICAST_TTL;
        case IP_MULTICAST_LOOP: return v1::OPTION_IP_MULTICAST_LOOP;
        case IP_PKTINFO: return v1::OPTION_IP_PKTINFO;
      }
      break;
    case IPPROTO_IPV6:
      switch (optname) {
        case IPV6_V6ONLY: return v1::OPTION_IPV6_V6ONLY;
        case IPV6_JOIN_GROUP: return v1::OPTION_IPV6_JOIN_GROUP;
        case IPV6_LEAVE_GROUP: return v1::OPTION_IPV6_LEAVE_GROUP;
      }
      break;
  }
  return std::nullopt;
}

template <typename Req>
void SetOption(Req* req, int level, int optname) {
  if (auto typed = TypedOption(level, optname)) {
    req->set_name(*typed);
  } else {
    req->mutable_raw()->set_level(level);
    req->mutable_raw()->set_optname(optname);
  }
}

std::string Ntop(int family, const void* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, p, buf, sizeof buf);
  return buf;
}

// Fills `value` from Python-style packed bytes: the typed forms the daemon
// knows (linger, ip_mreq(n), ipv6_mreq, a 4-byte int) and raw bytes otherwise.
// Returns false when the option must go raw.
bool PackTyped(int level, int optname, std::string_view bytes, v1::OptionValue* value) {
  if (level == SOL_SOCKET && optname == SO_LINGER && bytes.size() == sizeof(linger)) {
    linger l;
    std::memcpy(&l, bytes.data(), sizeof l);
    value->mutable_linger()->set_onoff(l.l_onoff != 0);
    value->mutable_linger()->set_seconds(l.l_linger);
    return true;
  }
  if (level == IPPROTO_IP && (optname == IP_ADD_MEMBERSHIP || optname == IP_DROP_MEMBERSHIP)) {
    auto* m = value->mutable_membership();
    if (bytes.size() == sizeof(ip_mreq)) {
      ip_mreq mreq;
      std::memcpy(&mreq, bytes.data(), sizeof mreq);
      m->set_group(Ntop(AF_INET, &mreq.imr_multiaddr));
      if (mreq.imr_interface.s_addr != 0) m->set_interface_address(Ntop(AF_INET, &mreq.imr_interface));
      return true;
    }
    if (bytes.size() == sizeof(ip_mreqn)) {
      ip_mreqn mreq;
      std::memcpy(&mreq, bytes.data(), sizeof mreq);
      m->set_group(Ntop(AF_INET, &mreq.imr_multiaddr));
      if (mreq.imr_address.s_addr != 0) m->set_interface_address(Ntop(AF_INET, &mreq.imr_address));
      m->set_interface_index(static_cast<std::uint32_t>(mreq.imr_ifindex));
      return true;
    }
    value->clear_membership();
    return false;
  }
  if (level == IPPROTO_IPV6 && (optname == IPV6_JOIN_GROUP || optname == IPV6_LEAVE_GROUP)) {
    if (bytes.size() != sizeof(ipv6_mreq)) return false;
    ipv6_mreq mreq;
    std::memcpy(&mreq, bytes.data(), sizeof mreq);
    value->mutable_membership()->set_group(Ntop(AF_INET6, &mreq.ipv6mr_multiaddr));
    value->mutable_membership()->set_interface_index(mreq.ipv6mr_interface);
    return true;
  }
  if (bytes.size() == sizeof(int)) {
    int v;
    std::memcpy(&v, bytes.data(), sizeof v);
    value->set_int_value(v);
    return true;
  }
  return false;
}

std::string IntBytes(std::int64_t v) {
  int i = static_cast<int>(v);
  return std::string(reinterpret_cast<const char*>(&i), sizeof i);
}

Ancillary FromProto(const v1::Ancillary& a) { return Ancillary{a.level(), a.type(), a.data()}; }

Socket FromInfo(const Client& client, const v1::SocketInfo& info) {
  return Socket(client, info.handle(), info.family(), info.type(), info.proto(),
                internal::FromTimeoutMode(info.timeout()));
}

// Ancillary data as a control buffer for sendmsg (zeroed: padding included).
std::vector<char> PackControl(const std::vector<Ancillary>& ancdata) {
  std::size_t total = 0;
  for (const auto& a : ancdata) total += CMSG_SPACE(a.data.size());
  std::vector<char> control(total);
  std::size_t off = 0;
  for (const auto& a : ancdata) {
    cmsghdr c{};
    c.cmsg_len = CMSG_LEN(a.data.size());
    c.cmsg_level = a.level;
    c.cmsg_type = a.type;
    std::memcpy(control.data() + off, &c, sizeof c);
    std::memcpy(control.data() + off + CMSG_LEN(0), a.data.data(), a.data.size());
    off += CMSG_SPACE(a.data.size());
  }
  return control;
}

// The ancillary messages recvmsg left in `m`'s control buffer (a truncated
// last one keeps what arrived, as Python's recvmsg does).
std::vector<Ancillary> UnpackControl(msghdr& m) {
  std::vector<Ancillary> out;
  if (m.msg_controllen == 0) return out;
  const char* end = static_cast<const char*>(m.msg_control) + m.msg_controllen;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    const char* data = reinterpret_cast<const char*>(CMSG_DATA(c));
    std::size_t n = c->cmsg_len >= CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
    n = std::min<std::size_t>(n, static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, end - data)));
    out.push_back(Ancillary{c->cmsg_level, c->cmsg_type, std::string(data, n)});
  }
  return out;
}

// Python gives sockets it wraps (accept, socketpair) the default timeout.
void ApplyDefaultTimeout(Socket& s, std::optional<double> current) {
  std::optional<double> wanted = getdefaulttimeout();
  if (wanted != current) s.settimeout(wanted);
}

}  // namespace

// ---------------------------------------------------------------- lifetime

Socket::Socket(const Client& client, int family, int type, int proto)
    : impl_(client.impl()),
      family_(family),
      type_(type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)),
      proto_(proto) {
  v1::CreateRequest req;
  req.set_family(static_cast<v1::Family>(family));
  req.set_type(static_cast<v1::SocketType>(type_));
  req.set_proto(proto);
  req.set_nonblock((type & SOCK_NONBLOCK) != 0);
  req.set_cloexec((type & SOCK_CLOEXEC) != 0);
  v1::SocketInfo info;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Create(ctx, req, &info);
  });
  handle_ = info.handle();
  proto_ = info.proto();
  timeout_ = internal::FromTimeoutMode(info.timeout());
  if (!req.nonblock()) {
    try {
      ApplyDefaultTimeout(*this, timeout_);
    } catch (...) {
      // A throwing constructor runs no destructor: release the handle here.
      try {
        close();
      } catch (...) {
      }
      throw;
    }
  }
}

Socket::Socket(const Client& client, std::string handle, int family, int type, int proto,
               std::optional<double> timeout)
    : impl_(client.impl()),
      handle_(std::move(handle)),
      family_(family),
      type_(type),
      proto_(proto),
      timeout_(timeout) {}

Socket::~Socket() {
  try {
    close();
  } catch (...) {
    // A destructor cannot report; Python's __exit__ would raise, RAII may not.
  }
}

Socket::Socket(Socket&& other) noexcept
    : impl_(std::move(other.impl_)),
      handle_(std::exchange(other.handle_, std::string())),
      family_(other.family_),
      type_(other.type_),
      proto_(other.proto_),
      timeout_(other.timeout_),
      local_fd_(std::move(other.local_fd_)),
      local_tried_(other.local_tried_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    try {
      close();
    } catch (...) {
    }
    impl_ = std::move(other.impl_);
    handle_ = std::exchange(other.handle_, std::string());
    family_ = other.family_;
    type_ = other.type_;
    proto_ = other.proto_;
    timeout_ = other.timeout_;
    local_fd_ = std::move(other.local_fd_);
    local_tried_ = other.local_tried_;
  }
  return *this;
}

Client Socket::client() const { return Client(impl_); }

void Socket::check_open() const {
  if (handle_.empty()) throw error(EBADF, "socket is closed");
}

std::optional<double> Socket::wait_deadline() const {
  if (!timeout_) return std::nullopt;
  return *timeout_ + impl_->margin();
}

void Socket::close() {
  // First: while this process holds the descriptor, the daemon's close
  // would leave the socket open.
  local_fd_.reset();
  if (handle_.empty()) return;
  v1::HandleRequest req;
  req.set_handle(std::exchange(handle_, std::string()));
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Close(ctx, req, &resp);
  });
}

std::string Socket::detach() {
  check_open();
  auto resp = CallOnHandle<v1::DetachResponse>(*impl_, handle_, &v1::SocketService::Stub::Detach);
  local_fd_.reset();
  std::string handle = std::exchange(handle_, std::string());
  return resp.handle().empty() ? handle : resp.handle();
}

Socket Socket::dup() const {
  check_open();
  auto info = CallOnHandle<v1::SocketInfo>(*impl_, handle_, &v1::SocketService::Stub::Dup);
  return FromInfo(client(), info);
}

std::string Socket::share() const {
  check_open();
  auto resp = CallOnHandle<v1::ShareResponse>(*impl_, handle_, &v1::SocketService::Stub::Share);
  return resp.token();
}

// ---------------------------------------------------------------- connections

std::pair<Socket, Address> Socket::accept() {
  check_open();
  v1::HandleRequest req;
  req.set_handle(handle_);
  v1::AcceptResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Accept(ctx, req, &resp);
  });
  Socket conn = FromInfo(client(), resp.socket());
  ApplyDefaultTimeout(conn, conn.timeout_);
  return {std::move(conn), sockwire::FromProto(resp.address())};
}

void Socket::bind(const Address& address) {
  check_open();
  v1::AddressRequest req;
  req.set_handle(handle_);
  *req.mutable_address() = ToProto(address, family_);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Bind(ctx, req, &resp);
  });
}

void Socket::listen() {
  check_open();
  v1::ListenRequest req;
  req.set_handle(handle_);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Listen(ctx, req, &resp);
  });
}

void Socket::listen(int backlog) {
  check_open();
  v1::ListenRequest req;
  req.set_handle(handle_);
  req.set_backlog(backlog);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Listen(ctx, req, &resp);
  });
}

void Socket::connect(const Address& address) {
  check_open();
  v1::AddressRequest req;
  req.set_handle(handle_);
  *req.mutable_address() = ToProto(address, family_);
  v1::Empty resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Connect(ctx, req, &resp);
  });
}

int Socket::connect_ex(const Address& address) {
  check_open();
  v1::AddressRequest req;
  req.set_handle(handle_);
  *req.mutable_address() = ToProto(address, family_);
  v1::ConnectExResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().ConnectEx(ctx, req, &resp);
  });
  return resp.os_errno();
}

void Socket::shutdown(int how) {
  check_open();
  v1::ShutdownRequest req;
  req.set_handle(handle_);
  switch (how) {
    case SHUT_RD: req.set_how(v1::SHUTDOWN_HOW_RD); break;
    case SHUT_WR: req.set_how(v1::SHUTDOWN_HOW_WR); break;
    case SHUT_RDWR: req.set_how(v1::SHUTDOWN_HOW_RDWR); break;
    default: throw error(EINVAL, "invalid shutdown how " + std::to_string(how));
  }
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Shutdown(ctx, req, &resp);
  });
}

// ---------------------------------------------------------------- identity

Address Socket::getsockname() const {
  check_open();
  auto resp = CallOnHandle<v1::Address>(*impl_, handle_, &v1::SocketService::Stub::GetSockName);
  return sockwire::FromProto(resp);
}

Address Socket::getpeername() const {
  check_open();
  auto resp = CallOnHandle<v1::Address>(*impl_, handle_, &v1::SocketService::Stub::GetPeerName);
  return sockwire::FromProto(resp);
}

bool Socket::get_inheritable() const {
  check_open();
  auto resp = CallOnHandle<v1::InheritableResponse>(*impl_, handle_, &v1::SocketService::Stub::GetInheritable);
  return resp.inheritable();
}

void Socket::set_inheritable(bool inheritable) {
  check_open();
  v1::SetInheritableRequest req;
  req.set_handle(handle_);
  req.set_inheritable(inheritable);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetInheritable(ctx, req, &resp);
  });
}

// ---------------------------------------------------------------- options

int Socket::getsockopt(int level, int optname) const {
  check_open();
  v1::GetSockOptRequest req;
  req.set_handle(handle_);
  SetOption(&req, level, optname);
  v1::OptionValue resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().GetSockOpt(ctx, req, &resp);
  });
  switch (resp.value_case()) {
    case v1::OptionValue::kIntValue:
      return static_cast<int>(resp.int_value());
    case v1::OptionValue::kLinger:
      return resp.linger().onoff() ? 1 : 0;
    case v1::OptionValue::kBytesValue: {
      int v = 0;
      std::memcpy(&v, resp.bytes_value().data(), std::min(sizeof v, resp.bytes_value().size()));
      return v;
    }
    default:
      return 0;
  }
}

std::string Socket::getsockopt(int level, int optname, std::size_t buflen) const {
  check_open();
  if (buflen == 0 || buflen > 1024) throw error(EINVAL, "getsockopt buflen out of range");
  v1::GetSockOptRequest req;
  req.set_handle(handle_);
  SetOption(&req, level, optname);
  req.set_buflen(static_cast<std::uint32_t>(buflen));
  v1::OptionValue resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().GetSockOpt(ctx, req, &resp);
  });
  std::string out;
  switch (resp.value_case()) {
    case v1::OptionValue::kIntValue:
      out = IntBytes(resp.int_value());
      break;
    case v1::OptionValue::kBytesValue:
      out = resp.bytes_value();
      break;
    case v1::OptionValue::kLinger: {
      linger l{resp.linger().onoff() ? 1 : 0, resp.linger().seconds()};
      out.assign(reinterpret_cast<const char*>(&l), sizeof l);
      break;
    }
    default:
      break;
  }
  if (out.size() > buflen) out.resize(buflen);
  return out;
}

void Socket::setsockopt(int level, int optname, int value) {
  check_open();
  v1::SetSockOptRequest req;
  req.set_handle(handle_);
  SetOption(&req, level, optname);
  req.mutable_value()->set_int_value(value);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetSockOpt(ctx, req, &resp);
  });
}

void Socket::setsockopt(int level, int optname, std::string_view value) {
  check_open();
  v1::SetSockOptRequest req;
  req.set_handle(handle_);
  if (TypedOption(level, optname) && PackTyped(level, optname, value, req.mutable_value())) {
    SetOption(&req, level, optname);
  } else {
    req.mutable_raw()->set_level(level);
    req.mutable_raw()->set_optname(optname);
    req.mutable_value()->set_bytes_value(std::string(value));
  }
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetSockOpt(ctx, req, &resp);
  });
}

void Socket::setsockopt(int level, int optname, std::nullptr_t, unsigned optlen) {
  check_open();
  v1::SetSockOptRequest req;
  req.set_handle(handle_);
  SetOption(&req, level, optname);
  req.set_optlen(optlen);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetSockOpt(ctx, req, &resp);
  });
}

bool Socket::getblocking() const {
  check_open();
  auto resp = CallOnHandle<v1::BlockingResponse>(*impl_, handle_, &v1::SocketService::Stub::GetBlocking);
  return resp.blocking();
}

std::optional<double> Socket::gettimeout() const {
  check_open();
  auto resp = CallOnHandle<v1::TimeoutResponse>(*impl_, handle_, &v1::SocketService::Stub::GetTimeout);
  return internal::FromTimeoutMode(resp.mode());
}

void Socket::setblocking(bool flag) {
  check_open();
  v1::SetBlockingRequest req;
  req.set_handle(handle_);
  req.set_blocking(flag);
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetBlocking(ctx, req, &resp);
  });
  timeout_ = flag ? std::nullopt : std::optional<double>(0.0);
}

void Socket::settimeout(std::optional<double> value) {
  check_open();
  if (value && !(*value >= 0)) throw std::invalid_argument("Timeout value out of range");
  v1::SetTimeoutRequest req;
  req.set_handle(handle_);
  if (value) internal::ToDuration(*value, req.mutable_timeout());
  v1::Empty resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SetTimeout(ctx, req, &resp);
  });
  timeout_ = value;
}

long Socket::ioctl(unsigned long request) const {
  check_open();
  v1::IoctlRequest req;
  req.set_handle(handle_);
  switch (request) {
    case FIONREAD: req.set_request(v1::IOCTL_FIONREAD); break;
    case SIOCOUTQ: req.set_request(v1::IOCTL_SIOCOUTQ); break;
    case SIOCATMARK: req.set_request(v1::IOCTL_SIOCATMARK); break;
    default: throw error(EINVAL, "unsupported ioctl request");
  }
  v1::IoctlResponse resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Ioctl(ctx, req, &resp);
  });
  return static_cast<long>(resp.value());
}

// ---------------------------------------------------------------- local fast path

void Socket::use_local_descriptor() {
  check_open();
  if (local_fd_) return;
  internal::Presented taken = internal::Present(*impl_, handle_, /*descriptor=*/true);
  // The mirror may be stale (fromfd, a mode set before this Socket existed);
  // the local path enforces the mode itself, so read it once.
  timeout_ = gettimeout();
  local_fd_ = std::move(taken.descriptor);
}

int Socket::data_fd() {
  if (local_fd_ || local_tried_ || !impl_->options().local_descriptors ||
      impl_->local_refused()) {
    return local_fd_.get();
  }
  local_tried_ = true;
  try {
    use_local_descriptor();
  } catch (const error& e) {
    // The daemon's configuration (or where it runs) will not change for the
    // next socket: stop asking. TOKEN_REFUSED too: a remote daemon's unix:
    // path that exists here is some other listener, which refuses every
    // token. Anything else (e.g. a closed handle) is reported by the RPC the
    // caller makes next.
    const std::string& reason = e.info().reason;
    if (reason == "FD_PASSING_DISABLED" || reason == "NO_DATA_LISTENER" ||
        reason == "NO_UNIX_DATA_LISTENER" || reason == "DATA_LISTENER_UNREACHABLE" ||
        reason == "TOKEN_REFUSED") {
      impl_->set_local_refused();
    }
  }
  return local_fd_.get();
}

// ---------------------------------------------------------------- sending

std::size_t Socket::send(std::string_view data, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    return static_cast<std::size_t>(internal::SendLocal(fd, data.data(), data.size(), flags,
                                                        internal::IoDeadline(timeout_, flags)));
  }
  v1::SendRequest req;
  req.set_handle(handle_);
  req.set_data(std::string(data.substr(0, kMaxChunk)));
  req.set_flags(flags);
  v1::SendResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Send(ctx, req, &resp);
  });
  return static_cast<std::size_t>(resp.sent());
}

bool Socket::bulk_streamable(int flags) const {
  // SOCK_STREAM only: the byte stream cannot keep datagram boundaries (the
  // daemon refuses StreamService.Stream on other types, NOT_A_STREAM).
  return flags == 0 && type_ == SOCK_STREAM && !(timeout_ && *timeout_ == 0);
}

ByteStream Socket::stream() const {
  check_open();
  return ByteStream(impl_, handle_, wait_deadline(), kStreamReadWindow);
}

void Socket::sendall(std::string_view data, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    internal::SendAllLocal(fd, data, flags, internal::IoDeadline(timeout_, flags));
    return;
  }
  if (data.size() >= kBulkThreshold && bulk_streamable(flags)) {
    // Read window 0: the daemon never reads the socket for this stream.
    ByteStream bulk(impl_, handle_, wait_deadline(), 0);
    data.remove_prefix(internal::StreamSendConfirmed(bulk, data));
    bulk.close();  // Nothing is pending in the daemon: every byte was confirmed.
    if (data.empty()) return;
  }
  sendall_unary(data, flags);
}

void Socket::sendall_unary(std::string_view data, int flags) {
  do {
    v1::SendRequest req;
    req.set_handle(handle_);
    req.set_data(std::string(data.substr(0, kMaxChunk)));
    req.set_flags(flags);
    v1::SendResponse resp;
    impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
      return impl_->sockets().SendAll(ctx, req, &resp);
    });
    data.remove_prefix(std::min(data.size(), kMaxChunk));
  } while (!data.empty());
}

std::size_t Socket::sendto(std::string_view data, const Address& address) {
  return sendto(data, 0, address);
}

std::size_t Socket::sendto(std::string_view data, int flags, const Address& address) {
  check_open();
  sockaddr_storage sa;
  socklen_t len = 0;
  if (int fd = data_fd(); fd >= 0 && internal::ToSockaddr(address, family_, &sa, &len)) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_name = &sa;
    m.msg_namelen = len;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return static_cast<std::size_t>(
        internal::SendMsgLocal(fd, m, flags, internal::IoDeadline(timeout_, flags)));
  }
  v1::SendToRequest req;
  req.set_handle(handle_);
  req.set_data(std::string(data));
  req.set_flags(flags);
  *req.mutable_address() = ToProto(address, family_);
  v1::SendResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SendTo(ctx, req, &resp);
  });
  return static_cast<std::size_t>(resp.sent());
}

std::size_t Socket::sendmsg(const std::vector<std::string_view>& buffers,
                            const std::vector<Ancillary>& ancdata, int flags,
                            const std::optional<Address>& address) {
  check_open();
  sockaddr_storage sa;
  socklen_t len = 0;
  if (int fd = data_fd();
      fd >= 0 && (!address || internal::ToSockaddr(*address, family_, &sa, &len))) {
    std::vector<iovec> iov;
    for (auto b : buffers) iov.push_back(iovec{const_cast<char*>(b.data()), b.size()});
    std::vector<char> control = PackControl(ancdata);
    msghdr m{};
    if (address) {
      m.msg_name = &sa;
      m.msg_namelen = len;
    }
    m.msg_iov = iov.data();
    m.msg_iovlen = iov.size();
    if (!control.empty()) {
      m.msg_control = control.data();
      m.msg_controllen = control.size();
    }
    return static_cast<std::size_t>(
        internal::SendMsgLocal(fd, m, flags, internal::IoDeadline(timeout_, flags)));
  }
  v1::SendMsgRequest req;
  req.set_handle(handle_);
  for (auto b : buffers) req.add_buffers(std::string(b));
  for (const auto& a : ancdata) {
    auto* anc = req.add_ancillary();
    anc->set_level(a.level);
    anc->set_type(a.type);
    anc->set_data(a.data);
  }
  req.set_flags(flags);
  if (address) *req.mutable_address() = ToProto(*address, family_);
  v1::SendResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().SendMsg(ctx, req, &resp);
  });
  return static_cast<std::size_t>(resp.sent());
}

std::size_t Socket::sendfile(std::istream& file, std::size_t offset,
                             std::optional<std::size_t> count) {
  check_open();
  if (timeout_ && *timeout_ == 0) {
    throw std::invalid_argument("non-blocking sockets are not supported");
  }
  if (offset != 0) file.seekg(static_cast<std::streamoff>(offset));
  if (!file) throw error(EINVAL, "cannot seek file to offset");
  if (int fd = data_fd(); fd >= 0) {
    // The socket timeout bounds the whole call, as on the RPC path.
    internal::IoDeadline deadline(timeout_);
    std::vector<char> chunk(1 << 16);
    std::size_t total = 0;
    while (!count || total < *count) {
      std::size_t want = chunk.size();
      if (count) want = std::min(want, *count - total);
      file.read(chunk.data(), static_cast<std::streamsize>(want));
      auto got = static_cast<std::size_t>(file.gcount());
      if (got == 0) break;
      internal::SendAllLocal(fd, std::string_view(chunk.data(), got), 0, deadline);
      total += got;
      if (got < want) break;
    }
    return total;
  }
  // Chunks of kBulkThreshold: the first full one opens the byte stream (so a
  // small file costs no stream); the stream sends whole confirmed batches and
  // what is left of a chunk goes by unary SendAll, in order.
  std::vector<char> chunk(kBulkThreshold);
  std::size_t total = 0;
  ByteStream bulk;
  while (!count || total < *count) {
    std::size_t want = chunk.size();
    if (count) want = std::min(want, *count - total);
    file.read(chunk.data(), static_cast<std::streamsize>(want));
    auto got = static_cast<std::size_t>(file.gcount());
    if (got == 0) break;
    std::string_view data(chunk.data(), got);
    if (!bulk && got == chunk.size() && bulk_streamable(0)) {
      bulk = ByteStream(impl_, handle_, wait_deadline(), 0);
    }
    if (bulk) data.remove_prefix(internal::StreamSendConfirmed(bulk, data));
    if (!data.empty()) sendall_unary(data, 0);
    total += got;
    if (got < want) break;
  }
  bulk.close();
  return total;
}

std::size_t Socket::sendfile(const std::string& path, std::size_t offset,
                             std::optional<std::size_t> count) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw error(errno != 0 ? errno : ENOENT, path);
  return sendfile(file, offset, count);
}

// ---------------------------------------------------------------- receiving

std::string Socket::recv(std::size_t bufsize, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    if (bufsize == 0) return std::string();  // Python returns b'' without a syscall.
    std::string out(std::min(bufsize, kMaxChunk), '\0');
    ssize_t n = internal::RecvLocal(fd, out.data(), out.size(), flags,
                                    internal::IoDeadline(timeout_, flags));
    // MSG_TRUNC may report a longer datagram than the buffer held.
    out.resize(std::min(static_cast<std::size_t>(n), out.size()));
    return out;
  }
  v1::RecvRequest req;
  req.set_handle(handle_);
  req.set_bufsize(static_cast<std::int64_t>(std::min(bufsize, kMaxChunk)));
  req.set_flags(flags);
  v1::RecvResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().Recv(ctx, req, &resp);
  });
  return std::move(*resp.mutable_data());
}

std::pair<std::string, Address> Socket::recvfrom(std::size_t bufsize, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    std::string out(std::min(bufsize, kMaxChunk), '\0');
    auto [n, address] = recvfrom_local(fd, out.data(), out.size(), flags);
    out.resize(std::min(n, out.size()));
    return {std::move(out), std::move(address)};
  }
  v1::RecvRequest req;
  req.set_handle(handle_);
  req.set_bufsize(static_cast<std::int64_t>(std::min(bufsize, kMaxChunk)));
  req.set_flags(flags);
  v1::RecvFromResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().RecvFrom(ctx, req, &resp);
  });
  return {std::move(*resp.mutable_data()), sockwire::FromProto(resp.address())};
}

RecvMsgResult Socket::recvmsg(std::size_t bufsize, std::size_t ancbufsize, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    RecvMsgResult out;
    out.data.resize(std::min(bufsize, kMaxChunk));
    std::span<std::byte> whole(reinterpret_cast<std::byte*>(out.data.data()), out.data.size());
    RecvMsgIntoResult got = recvmsg_local(fd, std::span<const std::span<std::byte>>(&whole, 1),
                                          ancbufsize, flags);
    out.data.resize(std::min(got.nbytes, out.data.size()));
    out.ancdata = std::move(got.ancdata);
    out.msg_flags = got.msg_flags;
    out.address = std::move(got.address);
    return out;
  }
  v1::RecvMsgRequest req;
  req.set_handle(handle_);
  req.set_bufsize(static_cast<std::int64_t>(std::min(bufsize, kMaxChunk)));
  req.set_ancbufsize(static_cast<std::int64_t>(ancbufsize));
  req.set_flags(flags);
  v1::RecvMsgResponse resp;
  impl_->Call(wait_deadline(), [&](grpc::ClientContext* ctx) {
    return impl_->sockets().RecvMsg(ctx, req, &resp);
  });
  RecvMsgResult out;
  out.data = std::move(*resp.mutable_data());
  for (const auto& a : resp.ancillary()) out.ancdata.push_back(FromProto(a));
  out.msg_flags = resp.msg_flags();
  out.address = sockwire::FromProto(resp.address());
  return out;
}

namespace {
std::size_t IntoSize(std::size_t buffer_size, std::size_t nbytes) {
  if (nbytes > buffer_size) throw std::invalid_argument("buffer too small for requested bytes");
  return nbytes == 0 ? buffer_size : nbytes;
}
}  // namespace

std::size_t Socket::recv_into(std::span<std::byte> buffer, std::size_t nbytes, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    // Straight into the caller's buffer: no copy on this path.
    std::size_t n = IntoSize(buffer.size(), nbytes);
    if (n == 0) return 0;
    return static_cast<std::size_t>(internal::RecvLocal(fd, buffer.data(), n, flags,
                                                        internal::IoDeadline(timeout_, flags)));
  }
  std::string data = recv(IntoSize(buffer.size(), nbytes), flags);
  std::memcpy(buffer.data(), data.data(), std::min(data.size(), buffer.size()));
  return data.size();
}

std::size_t Socket::recv_into(std::span<char> buffer, std::size_t nbytes, int flags) {
  return recv_into(std::as_writable_bytes(buffer), nbytes, flags);
}

std::pair<std::size_t, Address> Socket::recvfrom_into(std::span<std::byte> buffer,
                                                      std::size_t nbytes, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) {
    return recvfrom_local(fd, buffer.data(), IntoSize(buffer.size(), nbytes), flags);
  }
  auto [data, address] = recvfrom(IntoSize(buffer.size(), nbytes), flags);
  std::memcpy(buffer.data(), data.data(), std::min(data.size(), buffer.size()));
  return {data.size(), std::move(address)};
}

std::pair<std::size_t, Address> Socket::recvfrom_into(std::span<char> buffer,
                                                      std::size_t nbytes, int flags) {
  return recvfrom_into(std::as_writable_bytes(buffer), nbytes, flags);
}

RecvMsgIntoResult Socket::recvmsg_into(std::span<const std::span<std::byte>> buffers,
                                       std::size_t ancbufsize, int flags) {
  check_open();
  if (int fd = data_fd(); fd >= 0) return recvmsg_local(fd, buffers, ancbufsize, flags);
  std::size_t total = 0;
  for (const auto& b : buffers) total += b.size();
  RecvMsgResult msg = recvmsg(total, ancbufsize, flags);
  std::size_t pos = 0;
  for (const auto& b : buffers) {
    if (pos >= msg.data.size()) break;
    std::size_t n = std::min(b.size(), msg.data.size() - pos);
    std::memcpy(b.data(), msg.data.data() + pos, n);
    pos += n;
  }
  RecvMsgIntoResult out;
  out.nbytes = msg.data.size();
  out.ancdata = std::move(msg.ancdata);
  out.msg_flags = msg.msg_flags;
  out.address = std::move(msg.address);
  return out;
}

std::pair<std::size_t, Address> Socket::recvfrom_local(int fd, void* p, std::size_t n,
                                                       int flags) {
  sockaddr_storage sa{};
  iovec iov{p, n};
  msghdr m{};
  m.msg_name = &sa;
  m.msg_namelen = sizeof sa;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ssize_t got = internal::RecvMsgLocal(fd, &m, flags, internal::IoDeadline(timeout_, flags));
  return {static_cast<std::size_t>(got), internal::FromSockaddr(sa, m.msg_namelen)};
}

RecvMsgIntoResult Socket::recvmsg_local(int fd, std::span<const std::span<std::byte>> buffers,
                                        std::size_t ancbufsize, int flags) {
  std::vector<iovec> iov;
  for (const auto& b : buffers) iov.push_back(iovec{b.data(), b.size()});
  // cmsghdr-aligned storage for the control buffer.
  std::vector<cmsghdr> control((ancbufsize + sizeof(cmsghdr) - 1) / sizeof(cmsghdr));
  sockaddr_storage sa{};
  msghdr m{};
  m.msg_name = &sa;
  m.msg_namelen = sizeof sa;
  m.msg_iov = iov.data();
  m.msg_iovlen = iov.size();
  if (ancbufsize > 0) {
    m.msg_control = control.data();
    m.msg_controllen = ancbufsize;
  }
  ssize_t got = internal::RecvMsgLocal(fd, &m, flags, internal::IoDeadline(timeout_, flags));
  RecvMsgIntoResult out;
  out.nbytes = static_cast<std::size_t>(got);
  out.ancdata = UnpackControl(m);
  out.msg_flags = m.msg_flags;
  out.address = internal::FromSockaddr(sa, m.msg_namelen);
  return out;
}

// ---------------------------------------------------------------- makefile

SocketFile Socket::makefile(std::string_view mode, std::size_t buffering) const {
  bool readable = mode.find('r') != std::string_view::npos;
  bool writable = mode.find('w') != std::string_view::npos;
  if (mode.find_first_not_of("rwb") != std::string_view::npos || (!readable && !writable)) {
    throw std::invalid_argument("invalid mode " + std::string(mode) + " (only r, w, b allowed)");
  }
  Socket own = dup();
  if (own.timeout_ != timeout_) own.settimeout(timeout_);
  return SocketFile(std::move(own), readable, writable, buffering == 0 ? 8192 : buffering);
}

SocketBuf::SocketBuf(Socket socket, bool readable, bool writable, std::size_t buffering)
    : socket_(std::move(socket)),
      readable_(readable),
      writable_(writable),
      buffering_(buffering),
      out_(writable ? buffering : 0) {
  setg(nullptr, nullptr, nullptr);
  if (writable_) setp(out_.data(), out_.data() + out_.size());
}

SocketBuf::~SocketBuf() {
  try {
    flush_out();
  } catch (...) {
  }
}

bool SocketBuf::streamed() const {
  // A stream's deadline covers the whole call, while Python's timeout bounds
  // each operation: only a blocking socket's file can live on one stream.
  // Only a SOCK_STREAM socket's: a byte stream cannot keep datagram
  // boundaries (the daemon refuses it, NOT_A_STREAM).
  // Once the stream is open it stays the file's path, even if a timeout is
  // set later: it may hold up to a window of read-ahead, which recv() on the
  // socket would skip (data lost and reordered).
  return static_cast<bool>(stream_) ||
         (socket_.type_ == SOCK_STREAM && !socket_.timeout_.has_value());
}

ByteStream& SocketBuf::stream() {
  if (!stream_) {
    // A write-only file grants no read credit: the daemon must not read
    // ahead data the program will recv() from the socket itself.
    stream_ = ByteStream(socket_.impl_, socket_.handle_, std::nullopt,
                         readable_ ? kStreamReadWindow : 0);
  }
  return stream_;
}

void SocketBuf::write_out(std::string_view data) {
  // Bulk goes over the stream and returns once the daemon confirms every
  // byte is in the socket (a `flush` frame). A small write goes by SendAll:
  // one RPC, no dearer than a confirmed stream write, and it keeps a file
  // that only writes small lines from opening a stream at all.
  if (streamed() && data.size() >= kConfirmBatch) {
    data.remove_prefix(internal::StreamSendConfirmed(stream(), data));
  }
  if (!data.empty()) socket_.sendall(data);
}

bool SocketBuf::flush_out() {
  if (!writable_ || !socket_) return true;
  if (pptr() > pbase()) {
    std::string_view pending(pbase(), static_cast<std::size_t>(pptr() - pbase()));
    setp(out_.data(), out_.data() + out_.size());
    write_out(pending);
  }
  return true;
}

SocketBuf::int_type SocketBuf::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (!readable_ || !socket_) return traits_type::eof();
  if (streamed()) {
    in_ = stream().read(buffering_);
  } else {
    in_.resize(buffering_);
    in_.resize(socket_.recv_into(std::span<char>(in_.data(), in_.size())));
  }
  if (in_.empty()) return traits_type::eof();
  setg(in_.data(), in_.data(), in_.data() + in_.size());
  return traits_type::to_int_type(*gptr());
}

SocketBuf::int_type SocketBuf::overflow(int_type ch) {
  if (!writable_) return traits_type::eof();
  flush_out();
  if (!traits_type::eq_int_type(ch, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(ch);
    pbump(1);
  }
  return traits_type::not_eof(ch);
}

std::streamsize SocketBuf::xsputn(const char* s, std::streamsize n) {
  if (!writable_) return 0;
  if (n >= static_cast<std::streamsize>(out_.size())) {
    flush_out();
    write_out(std::string_view(s, static_cast<std::size_t>(n)));
    return n;
  }
  return std::streambuf::xsputn(s, n);
}

int SocketBuf::sync() {
  flush_out();
  return 0;
}

SocketFile::SocketFile(Socket socket, bool readable, bool writable, std::size_t buffering)
    : internal::SocketBufHolder{SocketBuf(std::move(socket), readable, writable, buffering)},
      std::iostream(&buf) {
  exceptions(std::ios::badbit);
}

SocketFile::~SocketFile() = default;

void SocketBuf::close() {
  flush_out();
  setg(nullptr, nullptr, nullptr);
  // Cancels the stream: the file's unread read-ahead is dropped, as in
  // Python; every written byte was already confirmed or sent by SendAll.
  stream_.close();
  socket_.close();
}

void SocketFile::close() {
  flush();
  buf.close();
}

// ---------------------------------------------------------------- free functions

std::pair<Socket, Socket> socketpair(const Client& client, int family, int type, int proto) {
  const auto& impl = client.impl();
  v1::CreatePairRequest req;
  req.set_family(static_cast<v1::Family>(family));
  req.set_type(static_cast<v1::SocketType>(type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)));
  req.set_proto(proto);
  v1::CreatePairResponse resp;
  impl->Call(impl->quick(), [&](grpc::ClientContext* ctx) {
    return impl->sockets().CreatePair(ctx, req, &resp);
  });
  Socket a = FromInfo(client, resp.first());
  Socket b = FromInfo(client, resp.second());
  ApplyDefaultTimeout(a, internal::FromTimeoutMode(resp.first().timeout()));
  ApplyDefaultTimeout(b, internal::FromTimeoutMode(resp.second().timeout()));
  return {std::move(a), std::move(b)};
}

Socket create_connection(const Client& client, const Address& address) {
  return create_connection(client, address, getdefaulttimeout());
}

Socket create_connection(const Client& client, const Address& address,
                         std::optional<double> timeout,
                         const std::optional<Address>& source_address) {
  const auto& impl = client.impl();
  v1::CreateConnectionRequest req;
  *req.mutable_address() = ToProto(address);
  if (timeout) {
    if (!(*timeout >= 0)) throw std::invalid_argument("Timeout value out of range");
    internal::ToDuration(*timeout, req.mutable_timeout());
  }
  if (source_address) *req.mutable_source_address() = ToProto(*source_address);
  v1::SocketInfo info;
  std::optional<double> deadline;
  if (timeout) deadline = *timeout + impl->margin();
  impl->Call(deadline, [&](grpc::ClientContext* ctx) {
    return impl->sockets().CreateConnection(ctx, req, &info);
  });
  return FromInfo(client, info);
}

Socket fromfd(const Client& client, const std::string& handle) {
  const auto& impl = client.impl();
  auto info = CallOnHandle<v1::SocketInfo>(*impl, handle, &v1::SocketService::Stub::Attach);
  return FromInfo(client, info);
}

Socket fromfd(const Client& client, const std::string& handle, int /*family*/, int /*type*/,
              int /*proto*/) {
  return fromfd(client, handle);
}

Socket fromshare(const Client& client, const std::string& token) {
  const auto& impl = client.impl();
  v1::FromShareRequest req;
  req.set_token(token);
  v1::SocketInfo info;
  impl->Call(impl->quick(), [&](grpc::ClientContext* ctx) {
    return impl->sockets().FromShare(ctx, req, &info);
  });
  return FromInfo(client, info);
}

void close(const Client& client, const std::string& handle) {
  const auto& impl = client.impl();
  auto resp = CallOnHandle<v1::Empty>(*impl, handle, &v1::SocketService::Stub::Close);
}

}  // namespace sockwire
