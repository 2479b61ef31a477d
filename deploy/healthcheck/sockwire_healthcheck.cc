// sockwire-healthcheck: asks a sockwired the standard gRPC health question
// (grpc.health.v1.Health/Check, service "") and exits 0 when it answers
// SERVING, 1 otherwise (not running, draining, not answering in time). For
// container HEALTHCHECKs and Kubernetes exec probes on the daemon's unix
// socket, where a TCP or gRPC probe cannot reach.
//
//   sockwire-healthcheck [--timeout=SECONDS] [TARGET]
//
// TARGET defaults to $SOCKWIRE_TARGET, then unix:/run/sockwire/sockwired.sock.
// The health service answers without a session or bearer token.
//
// The two messages are built by hand (an empty HealthCheckRequest; a
// HealthCheckResponse is field 1, a varint) so the probe needs no generated
// code: it is a few hundred KiB beside the daemon.
#include <cstdint>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace {

constexpr char kUsage[] = "usage: sockwire-healthcheck [--timeout=SECONDS] [TARGET]\n";

// HealthCheckResponse.status (field 1, varint); -1 when absent or malformed.
int64_t StatusField(const std::string& msg) {
  size_t i = 0;
  auto varint = [&](uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; i < msg.size() && shift < 64; shift += 7) {
      uint8_t b = static_cast<uint8_t>(msg[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  };
  int64_t status = -1;
  while (i < msg.size()) {
    uint64_t key = 0, v = 0;
    if (!varint(&key)) return -1;
    switch (key & 7) {
      case 0:  // varint
        if (!varint(&v)) return -1;
        if ((key >> 3) == 1) status = static_cast<int64_t>(v);
        break;
      case 2:  // length-delimited: skip
        if (!varint(&v) || v > msg.size() - i) return -1;
        i += v;
        break;
      default:
        return -1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  double timeout_s = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--timeout=", 0) == 0) {
      char* end = nullptr;
      timeout_s = std::strtod(a.c_str() + 10, &end);
      if (end == nullptr || *end != '\0' || timeout_s <= 0) {
        std::cerr << kUsage;
        return 2;
      }
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (target.empty() && a.rfind("--", 0) != 0) {
      target = a;
    } else {
      std::cerr << kUsage;
      return 2;
    }
  }
  if (target.empty()) {
    const char* env = std::getenv("SOCKWIRE_TARGET");
    target = env != nullptr && *env != '\0' ? env : "unix:/run/sockwire/sockwired.sock";
  }

  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  grpc::ByteBuffer request, response;  // An empty request: service "".
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status st = done.get_future().get();
  if (!st.ok()) {
    std::cerr << "sockwire-healthcheck: " << target << ": " << st.error_message() << "\n";
    return 1;
  }
  grpc::Slice all;
  std::string body;
  if (response.TrySingleSlice(&all).ok()) {
    body.assign(reinterpret_cast<const char*>(all.begin()), all.size());
  } else if (response.DumpToSingleSlice(&all).ok()) {
    body.assign(reinterpret_cast<const char*>(all.begin()), all.size());
  }
  int64_t status = StatusField(body);
  if (status != 1) {  // SERVING
    std::cerr << "sockwire-healthcheck: " << target << ": not serving (status " << status << ")\n";
    return 1;
  }
  std::cout << "SERVING\n";
  return 0;
}
