#include "grpc/metrics_interceptor.h"

#include <chrono>
#include <string>

#include <google/protobuf/descriptor.h>

#include "google/rpc/status.pb.h"
#include "server/obs/log.h"
#include "server/obs/metrics.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

const char* CodeName(grpc::StatusCode c) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                 "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

// "/pkg.Service/Method" -> service, method; names no compiled-in service
// declares become "unknown", so a caller cannot grow the label set.
void SplitMethod(const char* full, std::string* service, std::string* method) {
  std::string m = full != nullptr ? full : "";
  auto slash = m.rfind('/');
  if (m.size() > 1 && m[0] == '/' && slash != std::string::npos && slash > 1) {
    std::string dotted = m.substr(1, slash - 1) + "." + m.substr(slash + 1);
    if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted) != nullptr) {
      *service = m.substr(1, slash - 1);
      *method = m.substr(slash + 1);
      return;
    }
  }
  *service = "unknown";
  *method = "unknown";
}

// The reason of the status's ErrorDetail, if any.
bool DetailOf(const grpc::Status& st, sockwire::v1::ErrorDetail* d) {
  if (st.error_details().empty()) return false;
  google::rpc::Status rs;
  if (!rs.ParseFromString(st.error_details())) return false;
  for (const auto& any : rs.details()) {
    if (any.UnpackTo(d)) return true;
  }
  return false;
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(grpc::experimental::ServerRpcInfo* info)
      : info_(info), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) Record(methods->GetSendStatus());
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& st) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string service, method;
    SplitMethod(info_->method(), &service, &method);
    const char* code = CodeName(st.error_code());
    obs::metrics::Calls(service, method, code).Inc();
    obs::metrics::CallDuration(service, method).Observe(secs);
    if (st.ok()) {
      if (obs::Enabled(obs::Level::kDebug)) obs::LogLimited(obs::Level::kDebug, "call", {{"method", method}});
      return;
    }
    sockwire::v1::ErrorDetail d;
    bool has = DetailOf(st, &d);
    std::string reason = has && !d.reason().empty() ? d.reason() : "UNSPECIFIED";
    std::string peer = info_->server_context() != nullptr ? info_->server_context()->peer() : "";
    switch (st.error_code()) {
      case grpc::StatusCode::PERMISSION_DENIED:
        if (has && d.kind() == sockwire::v1::ERROR_KIND_POLICY) {
          obs::metrics::PolicyDenials(reason).Inc();
          obs::LogLimited(obs::Level::kWarning, "policy_denied",
                          {{"method", method}, {"reason", reason}, {"peer", peer}, {"message", st.error_message()}});
        }
        break;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        obs::metrics::QuotaRefusals(has ? reason : "GRPC_LIMIT").Inc();
        obs::LogLimited(obs::Level::kWarning, "limit_reached",
                        {{"method", method}, {"reason", reason}, {"peer", peer}, {"message", st.error_message()}});
        break;
      case grpc::StatusCode::UNKNOWN:
      case grpc::StatusCode::INTERNAL:
      case grpc::StatusCode::DATA_LOSS:
        obs::LogLimited(obs::Level::kError, "call_failed",
                        {{"method", method}, {"code", code}, {"peer", peer}, {"message", st.error_message()}});
        break;
      default:
        if (obs::Enabled(obs::Level::kDebug)) {
          obs::LogLimited(obs::Level::kDebug, "call_error",
                          {{"method", method}, {"code", code}, {"message", st.error_message()}});
        }
    }
  }

  grpc::experimental::ServerRpcInfo* info_;
  std::chrono::steady_clock::time_point start_;
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeMetricsInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace sockwire::server
