// StreamFrame (stream.proto) on the wire, without copying payload bytes.
//
// The stream reactor is registered as a raw method (grpc::ByteBuffer in and
// out). Parsing a StreamFrame with protobuf would copy every `data` field into
// a std::string, and serialising one would copy it again into a fresh buffer.
// Instead:
//   - ParseFrame walks the protobuf wire format over the received slices and
//     returns `data` as sub-slices of them (references, no copy);
//   - BuildFrame writes the few header bytes into a small slice and puts the
//     payload slice (filled by recv() directly) after it.
// BuildFrame writes an encoding protobuf parses (its field order differs from
// protobuf's own output) and ParseFrame accepts what protobuf writes, so
// clients keep using the generated StreamFrame class.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire::server {

// A client -> daemon frame.
struct InFrame {
  std::string handle;
  // The `data` field as references into the received buffer, in order.
  std::vector<grpc::Slice> data;
  size_t data_size = 0;
  int64_t credit = 0;
  bool shutdown_write = false;
  bool flush = false;
};

// Parses `bb` into `out` (which it clears first). INVALID_ARGUMENT (reason
// MALFORMED_FRAME) if the bytes are not a StreamFrame. Unknown fields are
// skipped, as protobuf does, except groups (proto2 only, never in a
// StreamFrame), which are refused; a repeated singular field keeps its last
// value. The handle is not checked for UTF-8 here: an invalid one is simply
// an unknown handle.
absl::Status ParseFrame(const grpc::ByteBuffer& bb, InFrame* out);

// A daemon -> client frame: `credit` (when non-zero), `eof` (when set) and
// `data` (when given and non-empty; referenced, not copied).
grpc::ByteBuffer BuildFrame(int64_t credit, bool eof, const grpc::Slice* data);

// The last frame of a failed stream (serialised by protobuf: rare path).
grpc::ByteBuffer BuildErrorFrame(const sockwire::v1::ErrorDetail& error);

}  // namespace sockwire::server
