// backchannel-relay: the store-and-forward relay server.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "core/secret.hpp"

namespace {
constexpr std::string_view kUsage =
    "usage: backchannel-relay --listen HOST:PORT --data DIR [--tls-cert F --tls-key F]\n"
    "                         [--config FILE] | --version | --help\n";
}  // namespace

int main(int argc, char** argv) {
  bc::secure_memory::harden_process();
  if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("backchannel-relay %s\n", BC_VERSION);
    return 0;
  }
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
    return 0;
  }
  std::fwrite(kUsage.data(), 1, kUsage.size(), stderr);
  return 2;
}
