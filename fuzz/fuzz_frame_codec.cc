// The stream frame codec (server/grpc/frame_codec.*): every byte a client
// sends on a Stream call goes through ParseFrame before anything else.
//
// Input: byte 0 chooses how the rest is cut into slices (gRPC hands the
// message over in pieces, and ParseFrame walks across their borders); the
// rest is the frame. Checks, beyond "no crash, no ASan/UBSan report":
//   - data_size is the sum of the data slices;
//   - where the bytes are protobuf's own encoding of a StreamFrame,
//     ParseFrame accepts them too, with the same handle, credit and flags;
//   - BuildFrame's output parses back (protobuf) to what went in.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>

#include "grpc/frame_codec.h"
#include "sockwire/v1/stream.pb.h"

namespace {

grpc::ByteBuffer Slices(const uint8_t* data, size_t size, uint8_t cut) {
  std::vector<grpc::Slice> slices;
  size_t step = cut == 0 ? size + 1 : cut;
  for (size_t off = 0; off < size; off += step) {
    size_t n = std::min(step, size - off);
    slices.emplace_back(data + off, n);
  }
  if (slices.empty()) slices.emplace_back();
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Flatten(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  (void)bb.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t cut = data[0] % 17;
  grpc::ByteBuffer bb = Slices(data + 1, size - 1, cut);
  sockwire::server::InFrame f;
  absl::Status st = sockwire::server::ParseFrame(bb, &f);
  if (st.ok()) {
    size_t total = 0;
    for (const auto& s : f.data) total += s.size();
    if (total != f.data_size) abort();
  }

  // The contract: ParseFrame accepts what protobuf writes. Compare on inputs
  // that are protobuf's own encoding (protobuf also takes some malformed
  // input, e.g. over-long tags it truncates to 32 bits, that ParseFrame refuses).
  sockwire::v1::StreamFrame pb;
  if (pb.ParseFromArray(data + 1, static_cast<int>(size - 1)) &&
      pb.SerializeAsString() == std::string(reinterpret_cast<const char*>(data + 1), size - 1)) {
    // protobuf took it, so must ParseFrame; except groups, which protobuf
    // skips as unknown fields and ParseFrame refuses by design.
    if (!st.ok() && st.message().find("wire type") == absl::string_view::npos) abort();
    if (st.ok() && (f.handle != pb.handle() || f.credit != pb.credit() ||
                    f.shutdown_write != pb.shutdown_write() || f.flush != pb.flush())) {
      abort();
    }
  }

  if (st.ok()) {
    // Echo it back the way the daemon writes frames.
    std::string payload;
    for (const auto& s : f.data) payload.append(reinterpret_cast<const char*>(s.begin()), s.size());
    grpc::Slice slice(payload);
    grpc::ByteBuffer out = sockwire::server::BuildFrame(f.credit, f.shutdown_write, &slice);
    sockwire::v1::StreamFrame back;
    if (!back.ParseFromString(Flatten(out))) abort();
    if (back.credit() != f.credit || back.data() != payload) abort();
  }
  return 0;
}
