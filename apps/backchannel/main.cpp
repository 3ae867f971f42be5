// backchannel: the command-line client.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "apps/backchannel/cli.hpp"
#include "core/secret.hpp"

int main(int argc, char** argv) {
  bc::secure_memory::harden_process();
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    return bc::cli::run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backchannel: internal error: %s\n", e.what());
    return 1;
  }
}
