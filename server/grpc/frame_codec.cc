#include "grpc/frame_codec.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"
#include "sockwire/v1/stream.pb.h"

namespace sockwire::server {
namespace {

// StreamFrame field numbers and their wire keys (field << 3 | wire type).
constexpr uint32_t kHandle = 1, kData = 2, kCredit = 3, kShutdownWrite = 4, kFlush = 7;
constexpr int kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;

absl::Status Malformed(std::string_view why) {
  return core::RequestError(absl::StatusCode::kInvalidArgument, "MALFORMED_FRAME",
                            std::string("not a StreamFrame: ") + std::string(why));
}

// Reads across the slice boundaries of one message.
class Cursor {
 public:
  explicit Cursor(const std::vector<grpc::Slice>& s) : s_(s) { SkipEmpty(); }

  bool done() const { return i_ == s_.size(); }

  bool Byte(uint8_t* b) {
    if (done()) return false;
    *b = s_[i_].begin()[off_];
    Advance(1);
    return true;
  }

  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // More than ten bytes.
  }

  // The next `n` bytes as references (appended to `out`), or skipped when
  // `out` is null. False if the message ends first.
  bool Take(uint64_t n, std::vector<grpc::Slice>* out) {
    while (n > 0) {
      if (done()) return false;
      size_t avail = s_[i_].size() - off_;
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, avail));
      if (out != nullptr) out->push_back(s_[i_].sub(off_, off_ + k));
      Advance(k);
      n -= k;
    }
    return true;
  }

  bool Copy(uint64_t n, std::string* out) {
    out->clear();
    while (n > 0) {
      if (done()) return false;
      size_t avail = s_[i_].size() - off_;
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, avail));
      out->append(reinterpret_cast<const char*>(s_[i_].begin()) + off_, k);
      Advance(k);
      n -= k;
    }
    return true;
  }

 private:
  void Advance(size_t k) {
    off_ += k;
    if (off_ == s_[i_].size()) {
      ++i_;
      off_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (i_ < s_.size() && s_[i_].size() == 0) ++i_;
  }

  const std::vector<grpc::Slice>& s_;
  size_t i_ = 0;
  size_t off_ = 0;
};

// Appends `v` as a varint.
size_t PutVarint(uint8_t* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}

}  // namespace

absl::Status ParseFrame(const grpc::ByteBuffer& bb, InFrame* out) {
  *out = InFrame();
  std::vector<grpc::Slice> slices;
  if (!bb.Valid()) return absl::OkStatus();  // An empty message: an empty frame.
  if (!bb.Dump(&slices).ok()) return Malformed("unreadable buffer");
  Cursor c(slices);
  while (!c.done()) {
    uint64_t key;
    if (!c.Varint(&key)) return Malformed("truncated field key");
    uint64_t field = key >> 3;
    int type = static_cast<int>(key & 7);
    if (field == 0 || field > (uint64_t{1} << 29) - 1) return Malformed("invalid field number");
    uint64_t v;
    switch (type) {
      case kVarint:
        if (!c.Varint(&v)) return Malformed("truncated varint");
        if (field == kCredit) out->credit = static_cast<int64_t>(v);
        if (field == kShutdownWrite) out->shutdown_write = v != 0;
        if (field == kFlush) out->flush = v != 0;
        break;
      case kLen:
        if (!c.Varint(&v)) return Malformed("truncated length");
        if (field == kData) {
          out->data.clear();  // A repeated singular field: the last one wins.
          out->data_size = static_cast<size_t>(v);
          if (!c.Take(v, &out->data)) return Malformed("truncated data");
        } else if (field == kHandle) {
          if (!c.Copy(v, &out->handle)) return Malformed("truncated handle");
        } else if (!c.Take(v, nullptr)) {
          return Malformed("truncated field");
        }
        break;
      case kFixed64:
        if (!c.Take(8, nullptr)) return Malformed("truncated fixed64");
        break;
      case kFixed32:
        if (!c.Take(4, nullptr)) return Malformed("truncated fixed32");
        break;
      default:  // Groups (3, 4) do not occur in proto3; 6 and 7 are invalid.
        return Malformed("unsupported wire type");
    }
    // A known field with the wrong wire type would be an unknown field to
    // protobuf; we do the same (it was skipped above).
  }
  return absl::OkStatus();
}

grpc::ByteBuffer BuildFrame(int64_t credit, bool eof, const grpc::Slice* data) {
  uint8_t head[32];
  size_t n = 0;
  if (credit != 0) {
    head[n++] = kCredit << 3 | kVarint;
    n += PutVarint(head + n, static_cast<uint64_t>(credit));
  }
  if (eof) {
    head[n++] = 5 << 3 | kVarint;  // eof = 5
    head[n++] = 1;
  }
  bool with_data = data != nullptr && data->size() > 0;
  if (with_data) {
    head[n++] = kData << 3 | kLen;
    n += PutVarint(head + n, data->size());
  }
  grpc::Slice parts[2] = {grpc::Slice(head, n), with_data ? *data : grpc::Slice()};
  return grpc::ByteBuffer(parts, with_data ? 2 : 1);
}

grpc::ByteBuffer BuildErrorFrame(const sockwire::v1::ErrorDetail& error) {
  sockwire::v1::StreamFrame f;
  *f.mutable_error() = error;
  std::string bytes = f.SerializeAsString();
  grpc::Slice s(bytes);
  return grpc::ByteBuffer(&s, 1);
}

}  // namespace sockwire::server
