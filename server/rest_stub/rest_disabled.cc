// Built instead of server/rest/ when SOCKWIRE_REST=OFF: --rest-listen is refused.
#include "rest/rest_frontend.h"

namespace sockwire::server {
namespace {

class DisabledRest : public Frontend {
 public:
  absl::StatusOr<std::string> Start() override {
    return absl::UnimplementedError("this sockwired was built without the REST gateway (SOCKWIRE_REST=OFF)");
  }
  void Shutdown() override {}
};

}  // namespace

std::unique_ptr<Frontend> MakeRestFrontend(Daemon&) { return std::make_unique<DisabledRest>(); }

}  // namespace sockwire::server
