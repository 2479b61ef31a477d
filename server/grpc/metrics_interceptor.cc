#include "grpc/metrics_interceptor.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
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

// Per method: its labels and metric children, looked up once. Only methods
// a compiled-in service declares get an entry (bounded); the rest share one.
struct MethodStats {
  std::string service, method;
  obs::Histogram* duration = nullptr;
  std::atomic<obs::Counter*> calls[17] = {};
  obs::Counter& Calls(grpc::StatusCode c) {
    int i = static_cast<int>(c);
    if (i < 0 || i > 16) i = static_cast<int>(grpc::StatusCode::UNKNOWN);
    obs::Counter* p = calls[i].load(std::memory_order_acquire);
    if (p == nullptr) {
      p = &obs::metrics::Calls(service, method, CodeName(static_cast<grpc::StatusCode>(i)));
      calls[i].store(p, std::memory_order_release);
    }
    return *p;
  }
};

MethodStats& StatsFor(const char* full) {
  static std::mutex mu;
  static auto* by_name = new std::unordered_map<std::string, std::unique_ptr<MethodStats>>;
  static MethodStats* unknown = [] {
    auto* u = new MethodStats{"unknown", "unknown"};
    u->duration = &obs::metrics::CallDuration(u->service, u->method);
    return u;
  }();
  std::string key = full != nullptr ? full : "";
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = by_name->find(key); it != by_name->end()) return *it->second;
  auto st = std::make_unique<MethodStats>();
  SplitMethod(full, &st->service, &st->method);
  if (st->service == "unknown") return *unknown;
  st->duration = &obs::metrics::CallDuration(st->service, st->method);
  return *by_name->emplace(key, std::move(st)).first->second;
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
    MethodStats& stats = StatsFor(info_->method());
    const std::string& method = stats.method;
    const char* code = CodeName(st.error_code());
    stats.Calls(st.error_code()).Inc();
    stats.duration->Observe(secs);
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
