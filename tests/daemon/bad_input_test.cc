// Bad input gets a clear INVALID_ARGUMENT / NOT_FOUND / UNAUTHENTICATED with a
// structured detail, and the daemon keeps serving everyone else: every test
// of the fixture ends with an echo round trip by fresh clients.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "google/rpc/status.pb.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

using std::chrono::seconds;

constexpr int64_t kTwoToThe40 = int64_t{1} << 40;

class BadInput : public ::testing::Test {
 protected:
  void TearDown() override {
    // Whatever the test sent, the daemon still serves another client.
    ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d_));
  }

  std::string NewSocket(v1::Family family = v1::FAMILY_INET,
                        v1::SocketType type = v1::SOCKET_TYPE_STREAM) {
    auto s = Create(c_, family, type);
    EXPECT_TRUE(s.ok()) << s.Describe();
    return s->handle();
  }

  DaemonProcess d_;
  Client c_{d_};
};

// "sw1.<epoch>.<random>" -> same epoch, other random part.
std::string SameEpochOtherRandom(const std::string& handle) {
  auto dot = handle.rfind('.');
  std::string random = handle.substr(dot + 1);
  for (char& ch : random) ch = (ch == '0') ? '1' : '0';
  return handle.substr(0, dot + 1) + random;
}

TEST_F(BadInput, UnknownHandleIsNotFound) {
  const std::string real = NewSocket();
  const std::string unknown = SameEpochOtherRandom(real);
  ASSERT_NE(unknown, real);
  ASSERT_EQ(unknown.size(), real.size());
  auto r = GetInfo(c_, unknown);
  SW_EXPECT_CODE(r, grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(r.status.error_message().empty());
  EXPECT_NE(r.detail.reason(), "DAEMON_RESTARTED") << r.Describe();
  SW_EXPECT_CODE(Recv(c_, unknown, 16, 0, 2000), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Bind(c_, unknown, Inet("127.0.0.1", 0)), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Close(c_, unknown), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Attach(c_, unknown), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Poll(c_, {{unknown, POLLIN}}, 0), grpc::StatusCode::NOT_FOUND);
  // The real one is untouched.
  SW_EXPECT_OK(GetInfo(c_, real));
}

TEST_F(BadInput, ForgedOrMalformedHandleIsInvalidArgument) {
  const std::string real = NewSocket();
  const std::string epoch_part = real.substr(0, real.rfind('.') + 1);  // "sw1.<epoch>."
  for (const std::string& forged :
       {std::string("abc"), std::string(""), std::string("sw1."), std::string("sw1.zz.yy"),
        epoch_part + "0123",                              // random part too short
        epoch_part + std::string(32, 'g'),                // not hex
        "sw9" + real.substr(3),                           // unknown version
        real + "00",                                      // too long
        std::string(10000, 'x'), std::string("sw1.\0\0\0", 7)}) {
    auto r = GetInfo(c_, forged);
    SW_EXPECT_CODE(r, grpc::StatusCode::INVALID_ARGUMENT) << " handle '" << forged.substr(0, 60) << "'";
    EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_REQUEST) << r.Describe();
    EXPECT_FALSE(r.status.error_message().empty());
  }
  SW_EXPECT_CODE(Recv(c_, "abc", 16), grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(Close(c_, ""), grpc::StatusCode::INVALID_ARGUMENT);
  // Share tokens are opaque: an empty one is malformed or simply unknown.
  auto no_token = FromShare(c_, "");
  EXPECT_TRUE(no_token.code() == grpc::StatusCode::INVALID_ARGUMENT ||
              no_token.code() == grpc::StatusCode::NOT_FOUND)
      << no_token.Describe();
}

TEST_F(BadInput, ClosedHandleIsNotFound) {
  const std::string h = NewSocket();
  SW_ASSERT_OK(Close(c_, h));
  auto r = GetInfo(c_, h);
  SW_EXPECT_CODE(r, grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Close(c_, h), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Recv(c_, h, 16, 0, 2000), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(SendAll(c_, h, "x"), grpc::StatusCode::NOT_FOUND);
  auto list = List(c_);
  SW_ASSERT_OK(list);
  EXPECT_EQ(list->sockets_size(), 0);
}

TEST_F(BadInput, MalformedAddressesAreInvalidArgument) {
  const std::string h = NewSocket();
  auto bad_host = Bind(c_, h, Inet("999.1.1.1", 0));
  SW_EXPECT_CODE(bad_host, grpc::StatusCode::INVALID_ARGUMENT);

  v1::AddressRequest missing;
  missing.set_handle(h);
  auto no_address = Invoke(c_, &v1::SocketService::Stub::Bind, missing);
  SW_EXPECT_CODE(no_address, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_address.detail.kind(), v1::ERROR_KIND_REQUEST) << no_address.Describe();
  SW_EXPECT_CODE(Invoke(c_, &v1::SocketService::Stub::Connect, missing),
                 grpc::StatusCode::INVALID_ARGUMENT);

  auto big_port = Bind(c_, h, Inet("127.0.0.1", 70000));
  SW_EXPECT_CODE(big_port, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(big_port.detail.kind(), v1::ERROR_KIND_REQUEST) << big_port.Describe();
  SW_EXPECT_CODE(Connect(c_, h, Inet("127.0.0.1", 70000)), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string u = NewSocket(v1::FAMILY_UNIX);
  auto long_path = Bind(c_, u, UnixPath(d_.temp_dir() + "/" + std::string(200, 'p')));
  SW_EXPECT_CODE(long_path, grpc::StatusCode::INVALID_ARGUMENT);
  auto long_abstract = Bind(c_, u, UnixAbstract(std::string(200, 'a')));
  SW_EXPECT_CODE(long_abstract, grpc::StatusCode::INVALID_ARGUMENT);

  const std::string v6 = NewSocket(v1::FAMILY_INET6);
  SW_EXPECT_CODE(Bind(c_, v6, Inet6("::1", 70000)), grpc::StatusCode::INVALID_ARGUMENT);

  // sendto() without an address.
  const std::string udp = NewSocket(v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  v1::SendToRequest req;
  req.set_handle(udp);
  req.set_data("x");
  SW_EXPECT_CODE(Invoke(c_, &v1::SocketService::Stub::SendTo, req),
                 grpc::StatusCode::INVALID_ARGUMENT);

  // The socket is still usable after all that.
  SW_EXPECT_OK(Bind(c_, h, Inet("127.0.0.1", 0)));
}

TEST_F(BadInput, AddressOfTheWrongFamilyIsInvalidArgument) {
  const std::string inet = NewSocket(v1::FAMILY_INET);
  auto r = Bind(c_, inet, Inet6("::1", 0));
  SW_EXPECT_CODE(r, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(r.status.error_message().empty());
  SW_EXPECT_CODE(Bind(c_, inet, UnixPath(d_.temp_dir() + "/x.sock")),
                 grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(Connect(c_, inet, Inet6("::1", 80)), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string unix_sock = NewSocket(v1::FAMILY_UNIX);
  SW_EXPECT_CODE(Bind(c_, unix_sock, Inet("127.0.0.1", 0)), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string udp = NewSocket(v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_EXPECT_CODE(SendTo(c_, udp, "x", Inet6("::1", 9)), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BadInput, AbsurdSizesAreRefused) {
  auto pair = CreatePair(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  const std::string h = pair->second().handle();
  auto huge = Recv(c_, h, kTwoToThe40);
  SW_EXPECT_CODE(huge, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(huge.detail.reason(), "TOO_LARGE") << huge.Describe();
  EXPECT_EQ(huge.detail.kind(), v1::ERROR_KIND_REQUEST) << huge.Describe();
  EXPECT_LT(huge.elapsed.count(), 5000) << "refused before waiting";

  auto huge_from = RecvFrom(c_, h, kTwoToThe40);
  SW_EXPECT_CODE(huge_from, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(huge_from.detail.reason(), "TOO_LARGE") << huge_from.Describe();
  auto huge_msg = RecvMsg(c_, h, kTwoToThe40, 0);
  SW_EXPECT_CODE(huge_msg, grpc::StatusCode::INVALID_ARGUMENT);
  auto huge_anc = RecvMsg(c_, h, 16, kTwoToThe40);
  SW_EXPECT_CODE(huge_anc, grpc::StatusCode::INVALID_ARGUMENT);

  auto negative = Recv(c_, h, -1);
  SW_EXPECT_CODE(negative, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(negative.status.error_message().empty());
  SW_EXPECT_CODE(RecvFrom(c_, h, -5), grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(RecvMsg(c_, h, -1, 0), grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(RecvMsg(c_, h, 16, -1), grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(GetRawOpt(c_, h, SOL_SOCKET, SO_TYPE, 1u << 30),
                 grpc::StatusCode::INVALID_ARGUMENT);

  // Nothing was consumed or broken by the refusals.
  SW_ASSERT_OK(SendAll(c_, pair->first().handle(), "fine"));
  auto got = Recv(c_, h, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "fine");
}

TEST_F(BadInput, UnknownEnumValuesAreInvalidArgument) {
  const std::string h = NewSocket();
  SW_EXPECT_CODE(SetOpt(c_, h, static_cast<v1::OptionName>(999), 1),
                 grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(GetOpt(c_, h, static_cast<v1::OptionName>(999)),
                 grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(GetOpt(c_, h, v1::OPTION_NAME_UNSPECIFIED), grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(Ioctl(c_, h, static_cast<v1::IoctlRequestCode>(77)),
                 grpc::StatusCode::INVALID_ARGUMENT);
  SW_EXPECT_CODE(Ioctl(c_, h, v1::IOCTL_UNSPECIFIED), grpc::StatusCode::INVALID_ARGUMENT);
  auto pair = CreatePair(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  SW_EXPECT_CODE(Shutdown(c_, pair->first().handle(), static_cast<v1::ShutdownHow>(9)),
                 grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BadInput, MissingOrUnknownSessionIsUnauthenticated) {
  auto stub = v1::SocketService::NewStub(d_.NewChannel());
  {
    grpc::ClientContext ctx;  // no metadata at all
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::CreateRequest req;
    req.set_family(v1::FAMILY_INET);
    req.set_type(v1::SOCKET_TYPE_STREAM);
    auto r = InvokeWith(stub.get(), &v1::SocketService::Stub::Create, &ctx, req);
    SW_EXPECT_CODE(r, grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    auto r = InvokeWith(stub.get(), &v1::SocketService::Stub::List, &ctx, v1::ListRequest());
    SW_EXPECT_CODE(r, grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    auto ctx = SessionContext("not-a-session");
    auto r = InvokeWith(stub.get(), &v1::SocketService::Stub::List, ctx.get(), v1::ListRequest());
    SW_EXPECT_CODE(r, grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    auto ctx = SessionContext("");
    auto r = InvokeWith(stub.get(), &v1::SocketService::Stub::GetInfo, ctx.get(),
                        HandleReq(NewSocket()));
    SW_EXPECT_CODE(r, grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    auto session_stub = v1::SessionService::NewStub(d_.NewChannel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    auto hold = session_stub->Hold(&ctx, v1::HoldRequest());
    v1::HoldEvent event;
    EXPECT_FALSE(hold->Read(&event));
    EXPECT_EQ(hold->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(BadInput, ErrorsCarryGoogleRpcStatusDetails) {
  auto ctx = c_.Context();
  v1::HandleRequest req = HandleReq("abc");
  v1::SocketInfo resp;
  grpc::Status st = c_.stub()->GetInfo(ctx.get(), req, &resp);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_FALSE(st.error_details().empty()) << "grpc-status-details-bin missing";
  google::rpc::Status rpc_status;
  ASSERT_TRUE(rpc_status.ParseFromString(st.error_details()));
  EXPECT_EQ(rpc_status.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  ASSERT_GE(rpc_status.details_size(), 1);
  EXPECT_EQ(rpc_status.details(0).type_url(), "type.googleapis.com/sockwire.v1.ErrorDetail");
  v1::ErrorDetail from_any;
  ASSERT_TRUE(rpc_status.details(0).UnpackTo(&from_any));
  v1::ErrorDetail from_trailer = DecodeErrorDetail(*ctx);
  EXPECT_EQ(from_any.SerializeAsString(), from_trailer.SerializeAsString());
  EXPECT_EQ(from_any.kind(), v1::ERROR_KIND_REQUEST);
}

TEST_F(BadInput, ClientVanishingMidCallLeavesDaemonServing) {
  auto pair = CreatePair(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  Client other_channel(d_.NewChannel(), c_.session());
  SW_ASSERT_OK(List(other_channel));  // connection up before the baseline
  const int baseline = d_.OpenFdCount();

  grpc::ClientContext ctx;
  ctx.AddMetadata("sockwire-session", c_.session());
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
  Result<v1::RecvResponse> vanished;
  std::thread t([&] {
    // MSG_PEEK: the cancel and the later send travel on different
    // connections, so the daemon may see the send first; a peek that
    // completes in that window consumes nothing.
    vanished = InvokeWith(other_channel.stub(), &v1::SocketService::Stub::Recv, &ctx,
                          RecvReq(pair->second().handle(), 1024, MSG_PEEK));
  });
  // Let the call reach the daemon: a round trip on the same connection.
  SW_ASSERT_OK(List(other_channel));
  ctx.TryCancel();
  t.join();
  SW_EXPECT_CODE(vanished, grpc::StatusCode::CANCELLED);

  int last = -1;
  EXPECT_TRUE(WaitFor([&] {
    last = d_.OpenFdCount();
    return last <= baseline;  // gRPC may close a transient fd of its own meanwhile.
  }, seconds(5))) << "open descriptors " << last << ", baseline " << baseline;

  // The socket serves the next recv.
  SW_ASSERT_OK(SendAll(c_, pair->first().handle(), "after cancel"));
  auto got = Recv(c_, pair->second().handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "after cancel");
}

TEST_F(BadInput, ManyCancelledCallsLeakNothing) {
  auto pair = CreatePair(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  SW_ASSERT_OK(List(c_));
  const int baseline = d_.OpenFdCount();
  for (int i = 0; i < 100; ++i) {
    // Each recv gives up after 20 ms of gRPC deadline.
    auto r = Recv(c_, pair->second().handle(), 16, 0, 20);
    EXPECT_EQ(r.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.Describe();
  }
  int last = -1;
  EXPECT_TRUE(WaitFor([&] {
    last = d_.OpenFdCount();
    return last <= baseline;  // gRPC may close a transient fd of its own meanwhile.
  }, seconds(5))) << "open descriptors " << last << ", baseline " << baseline;
}

// ---- Tests that need their own daemons -------------------------------------

TEST(BadInputRestart, StaleHandleFromBeforeRestartIsNotFoundDaemonRestarted) {
  std::string stale;
  {
    DaemonProcess a;
    Client c(a);
    auto s = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
    SW_ASSERT_OK(s);
    stale = s->handle();
    a.Stop();
  }
  DaemonProcess b;
  Client c(b);
  auto fresh = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(fresh);
  ASSERT_NE(fresh->handle().substr(0, fresh->handle().rfind('.')),
            stale.substr(0, stale.rfind('.')))
      << "a restarted daemon has a new epoch";
  auto r = GetInfo(c, stale);
  SW_EXPECT_CODE(r, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(r.detail.reason(), "DAEMON_RESTARTED") << r.Describe();
  EXPECT_FALSE(r.status.error_message().empty());
  auto recv = Recv(c, stale, 16);
  SW_EXPECT_CODE(recv, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(recv.detail.reason(), "DAEMON_RESTARTED") << recv.Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(b));
}

TEST(BadInputLimits, MessageSizeLimit) {
  DaemonProcess d({"--max-message-bytes=65536"});
  Client c(d);
  auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  auto big_recv = Recv(c, pair->second().handle(), 65537);
  SW_EXPECT_CODE(big_recv, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(big_recv.detail.reason(), "TOO_LARGE") << big_recv.Describe();
  // At the limit is fine: it waits (and times out, nothing was sent).
  auto at_limit = Recv(c, pair->second().handle(), 65536, 0, 200);
  SW_EXPECT_CODE(at_limit, grpc::StatusCode::DEADLINE_EXCEEDED);
  auto big_send = SendAll(c, pair->first().handle(), std::string(200000, 'x'));
  EXPECT_FALSE(big_send.ok());
  EXPECT_TRUE(big_send.code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
              big_send.code() == grpc::StatusCode::INVALID_ARGUMENT)
      << big_send.Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d));
}

TEST(BadInputLimits, HandlesPerSessionQuota) {
  DaemonProcess d({"--max-handles-per-session=5"});
  Client c(d);
  for (int i = 0; i < 5; ++i) SW_ASSERT_OK(Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM));
  auto sixth = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_EXPECT_CODE(sixth, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(sixth.detail.kind(), v1::ERROR_KIND_POLICY) << sixth.Describe();
  // The quota is per session: another client is unaffected.
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d));
}

}  // namespace
}  // namespace sockwire::testing
