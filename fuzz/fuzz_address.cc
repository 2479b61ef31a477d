// Addresses and handles, the two things every socket call names
// (server/core/address.*, the handle check of server/core/registry.*).
//
// Input: byte 0 picks the family and flags, bytes 1-4 the port, then
// "HOST\0PATH\0HANDLE" and the rest is a raw sockaddr. Checks beyond "no
// crash, no ASan/UBSan report":
//   - an address ToSockAddr accepts converts back (FromSockAddr) to the same
//     family and port, and converts again to the same bytes;
//   - FromSockAddr takes any bytes of any length;
//   - a handle lookup on an empty table never succeeds.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/registry.h"
#include "server/options.h"

namespace {

std::string_view Next(std::string_view* in) {
  size_t z = in->find('\0');
  std::string_view part = in->substr(0, z);
  in->remove_prefix(z == std::string_view::npos ? in->size() : z + 1);
  return part;
}

sockwire::core::Registry& Reg() {
  static auto* reg = new sockwire::core::Registry(sockwire::server::Options{}, "0123456789abcdef");
  return *reg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sockwire::core;
  if (size < 5) return 0;
  static const int kFamilies[] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, AF_PACKET};
  uint8_t sel = data[0];
  Address a;
  a.family = kFamilies[sel % 5];
  a.abstract = (sel & 0x08) != 0;
  int socket_family = kFamilies[(sel >> 4) % 5];
  uint32_t port;
  std::memcpy(&port, data + 1, 4);
  a.port = (sel & 0x80) ? port : (port & 0xffff);
  a.scope_id = (sel & 0x40) ? port >> 8 : 0;
  std::string_view in(reinterpret_cast<const char*>(data + 5), size - 5);
  a.host = std::string(Next(&in));
  a.path = std::string(Next(&in));
  std::string handle(Next(&in));

  SockAddr sa;
  auto r = ToSockAddr(a, socket_family, &sa);
  if (r.ok() && *r == ParseResult::kOk) {
    if (sa.len > sizeof sa.storage) abort();
    Address back = FromSockAddr(sa.get(), sa.len);
    if (back.family != sa.family()) abort();
    if ((back.family == AF_INET || back.family == AF_INET6) && back.port != a.port) abort();
    SockAddr again;
    auto r2 = ToSockAddr(back, back.family, &again);
    if (!r2.ok() || *r2 != ParseResult::kOk) abort();
    if (again.len != sa.len || std::memcmp(again.get(), sa.get(), sa.len) != 0) abort();
  }

  // Raw bytes as a sockaddr of any claimed length (kernel-supplied in the
  // daemon, but recvfrom/accept hand over whatever length they report).
  sockaddr_storage raw{};
  size_t n = std::min(in.size(), sizeof raw);
  std::memcpy(&raw, in.data(), n);
  (void)FromSockAddr(reinterpret_cast<sockaddr*>(&raw), static_cast<socklen_t>(n));

  static auto session = *Reg().OpenSession();
  auto found = Reg().Find(session, handle);
  if (found.ok()) abort();
  return 0;
}
