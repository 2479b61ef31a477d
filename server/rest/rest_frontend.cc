#include "rest/rest_frontend.h"

namespace sockwire::server {
namespace {

// Placeholder until the REST gateway lands: refuses to start.
class UnimplementedRest : public Frontend {
 public:
  absl::StatusOr<std::string> Start() override {
    return absl::UnimplementedError("the REST gateway is not built yet");
  }
  void Shutdown() override {}
};

}  // namespace

std::unique_ptr<Frontend> MakeRestFrontend(Daemon&) { return std::make_unique<UnimplementedRest>(); }

}  // namespace sockwire::server
