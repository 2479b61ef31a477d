// The raw StreamFrame codec must agree byte for byte with protobuf, however
// gRPC happens to split a message into slices.
#include "grpc/frame_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sockwire/v1/stream.pb.h"

namespace sockwire::server {
namespace {

// `bytes` as a ByteBuffer cut into slices at the given offsets.
grpc::ByteBuffer Split(const std::string& bytes, std::vector<size_t> cuts) {
  std::vector<grpc::Slice> parts;
  size_t prev = 0;
  cuts.push_back(bytes.size());
  for (size_t c : cuts) {
    parts.emplace_back(bytes.data() + prev, c - prev);
    prev = c;
  }
  return grpc::ByteBuffer(parts.data(), parts.size());
}

std::string Joined(const std::vector<grpc::Slice>& v) {
  std::string s;
  for (const auto& x : v) s.append(reinterpret_cast<const char*>(x.begin()), x.size());
  return s;
}

std::string Flat(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> v;
  EXPECT_TRUE(bb.Dump(&v).ok());
  return Joined(v);
}

TEST(FrameCodec, ParsesWhatProtobufWritesAtEverySplit) {
  std::mt19937 rng(7);
  v1::StreamFrame f;
  f.set_handle("sw1.0011223344556677.00112233445566778899aabbccddeeff");
  std::string data(3000, '\0');
  for (auto& ch : data) ch = static_cast<char>(rng());
  f.set_data(data);
  f.set_credit(1 << 20);
  f.set_shutdown_write(true);
  const std::string bytes = f.SerializeAsString();
  for (size_t a = 0; a <= bytes.size(); a += 7) {
    for (size_t b = a; b <= bytes.size(); b += 331) {
      InFrame in;
      ASSERT_TRUE(ParseFrame(Split(bytes, {a, b}), &in).ok()) << a << "," << b;
      EXPECT_EQ(in.handle, f.handle());
      EXPECT_EQ(in.data_size, data.size());
      EXPECT_EQ(Joined(in.data), data);
      EXPECT_EQ(in.credit, f.credit());
      EXPECT_TRUE(in.shutdown_write);
    }
  }
}

TEST(FrameCodec, SkipsUnknownFieldsAndKeepsTheLastData) {
  v1::StreamFrame f;
  f.set_data("first");
  f.set_eof(true);  // Not a client field: skipped.
  f.mutable_error()->set_message("also skipped");
  std::string bytes = f.SerializeAsString();
  v1::StreamFrame g;
  g.set_data("second");
  bytes += g.SerializeAsString();  // Concatenation merges: the last data wins.
  bytes += std::string("\x7d\x01\x02\x03\x04", 5);  // Field 15, fixed32.
  bytes += std::string("\x81\x01\x01\x02\x03\x04\x05\x06\x07\x08", 10);  // Field 16, fixed64.
  InFrame in;
  ASSERT_TRUE(ParseFrame(Split(bytes, {}), &in).ok());
  EXPECT_EQ(Joined(in.data), "second");
  v1::StreamFrame check;
  ASSERT_TRUE(check.ParseFromString(bytes));
  EXPECT_EQ(check.data(), "second");
}

TEST(FrameCodec, NegativeCreditSurvivesTheVarint) {
  v1::StreamFrame f;
  f.set_credit(-5);
  InFrame in;
  ASSERT_TRUE(ParseFrame(Split(f.SerializeAsString(), {3}), &in).ok());
  EXPECT_EQ(in.credit, -5);  // The reactor rejects it; the codec must not hide it.
}

TEST(FrameCodec, RejectsTruncatedAndInvalidBytes) {
  v1::StreamFrame f;
  f.set_handle("h");
  f.set_data(std::string(100, 'x'));
  const std::string bytes = f.SerializeAsString();
  for (size_t cut : {size_t{1}, size_t{4}, size_t{5}, bytes.size() - 1}) {  // Never at a field boundary.
    InFrame in;
    absl::Status st = ParseFrame(Split(bytes.substr(0, cut), {}), &in);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << cut;
  }
  for (const std::string& bad : {std::string("\x00\x01", 2), std::string("\x0b"),   // Field 0; a group.
                                 std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")}) {
    InFrame in;
    EXPECT_EQ(ParseFrame(Split(bad, {}), &in).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(FrameCodec, BuildsWhatProtobufParses) {
  std::string payload(70000, 'z');
  payload[0] = 'a';
  payload.back() = 'b';
  grpc::Slice data(payload.data(), payload.size());
  for (int64_t credit : {int64_t{0}, int64_t{1}, int64_t{1} << 20, int64_t{1} << 40}) {
    for (bool eof : {false, true}) {
      for (bool with_data : {false, true}) {
        v1::StreamFrame f;
        ASSERT_TRUE(f.ParseFromString(Flat(BuildFrame(credit, eof, with_data ? &data : nullptr))));
        EXPECT_EQ(f.credit(), credit);
        EXPECT_EQ(f.eof(), eof);
        EXPECT_EQ(f.data(), with_data ? payload : "");
      }
    }
  }
  v1::ErrorDetail e;
  e.set_os_errno(104);
  e.set_message("Connection reset by peer");
  v1::StreamFrame f;
  ASSERT_TRUE(f.ParseFromString(Flat(BuildErrorFrame(e))));
  EXPECT_EQ(f.error().os_errno(), 104);
  EXPECT_EQ(f.error().message(), "Connection reset by peer");
}

}  // namespace
}  // namespace sockwire::server
